//! The commands the agent reads on stdin, one per line, and what each prints.

use gossip_agent::Node;
use gossip_core::{Key, KeyId};

use crate::print;

/// What `help` prints (and `agent --help` ends with).
pub(crate) const HELP: &str = "\
commands (one per line on stdin):
  members            list every member: member <name> <addr> <state> <metadata>, then <n> live
  broadcast <text>   send <text> to every member once
  set <key> <value>  write <key> in the replicated store
  get <key>          read <key> from this node's replica
  delete <key>       delete <key> from the replicated store
  rtt <name>         the round trip to member <name> predicted by the network coordinates
  stats              live members, datagrams in and out, socket errors, sealed and refused
  keys               the ids of the encryption keys, the primary first
  key install <hex>  install a key (64 hex digits) for opening: a rotation's first step
  key use <id>       seal with the installed key <id> (8 hex digits) from now on
  key remove <id>    remove the key <id> (not the primary)
  leave              leave the cluster gracefully and exit (as do end of input and Ctrl-C)
  help               this list";

/// One parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    /// An empty line: nothing to do.
    Nothing,
    /// `members`
    Members,
    /// `broadcast <text>`
    Broadcast(&'a str),
    /// `set <key> <value>`
    Set(&'a str, &'a str),
    /// `get <key>`
    Get(&'a str),
    /// `delete <key>`
    Delete(&'a str),
    /// `rtt <name>`
    Rtt(&'a str),
    /// `stats`
    Stats,
    /// `keys`
    Keys,
    /// `key install <hex>`
    InstallKey(Key),
    /// `key use <id>`
    UseKey(KeyId),
    /// `key remove <id>`
    RemoveKey(KeyId),
    /// `leave`
    Leave,
    /// `help`
    Help,
}

/// What the loop does after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next command.
    Continue,
    /// Leave the cluster and exit.
    Leave,
}

impl<'a> Command<'a> {
    /// Parses one line; the error is the message to print after `error: `.
    /// A broadcast's text and a set's value are the rest of the line, inner
    /// spaces included.
    pub(crate) fn parse(line: &'a str) -> Result<Self, String> {
        let line = line.trim();
        let (word, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(word, rest)| (word, rest.trim_start()));
        let usage = |usage: &str| Err(format!("usage: {usage}"));
        let single = |rest: &'a str| !rest.is_empty() && !rest.contains(char::is_whitespace);
        match word {
            "" => Ok(Command::Nothing),
            "members" if rest.is_empty() => Ok(Command::Members),
            "members" => usage("members"),
            "broadcast" if !rest.is_empty() => Ok(Command::Broadcast(rest)),
            "broadcast" => usage("broadcast <text>"),
            "set" => match rest.split_once(char::is_whitespace) {
                Some((key, value)) => Ok(Command::Set(key, value.trim_start())),
                None => usage("set <key> <value>"),
            },
            "get" if single(rest) => Ok(Command::Get(rest)),
            "get" => usage("get <key>"),
            "delete" if single(rest) => Ok(Command::Delete(rest)),
            "delete" => usage("delete <key>"),
            "rtt" if single(rest) => Ok(Command::Rtt(rest)),
            "rtt" => usage("rtt <name>"),
            "stats" if rest.is_empty() => Ok(Command::Stats),
            "keys" if rest.is_empty() => Ok(Command::Keys),
            "key" => match rest.split_once(char::is_whitespace) {
                Some(("install", hex)) => Key::from_hex(hex)
                    .map(Command::InstallKey)
                    .map_err(|e| e.to_string()),
                Some(("use", id)) => key_id(id).map(Command::UseKey),
                Some(("remove", id)) => key_id(id).map(Command::RemoveKey),
                _ => usage("key install <hex> | key use <id> | key remove <id>"),
            },
            "stats" => usage("stats"),
            "leave" if rest.is_empty() => Ok(Command::Leave),
            "leave" => usage("leave"),
            "help" => Ok(Command::Help),
            other => Err(format!("unknown command {other} (try help)")),
        }
    }

    /// Carries out the command on `gossip` and prints its answer. `leave` is
    /// not carried out here: the caller leaves, for every way of ending.
    pub(crate) fn run(self, node: &Node) -> Next {
        match self.answer(node) {
            Ok(next) => next,
            Err(error) => {
                print::line(format_args!("error: {error}"));
                Next::Continue
            }
        }
    }

    fn answer(self, node: &Node) -> Result<Next, Box<dyn std::error::Error>> {
        match self {
            Command::Nothing => {}
            Command::Members => {
                let mut members = node.members()?;
                members.sort_by(|a, b| a.name().as_str().cmp(b.name().as_str()));
                for member in &members {
                    print::line(print::member(member));
                }
                let live = members.iter().filter(|m| m.state().is_live()).count();
                print::line(format_args!("{live} live"));
            }
            Command::Broadcast(text) => {
                node.broadcast(text.as_bytes().to_vec())?;
                print::line("broadcast sent");
            }
            Command::Set(key, value) => {
                node.set(key.into(), value.into())?;
                print::line("ok");
            }
            Command::Get(key) => match node.get(key.into())? {
                Some(value) => print::line(format_args!("{key} = {}", print::text(&value))),
                None => print::line(format_args!("{key} is not set")),
            },
            Command::Delete(key) => {
                if node.delete(key.into())? {
                    print::line("deleted");
                } else {
                    print::line(format_args!("{key} is not set"));
                }
            }
            Command::Rtt(name) => match node.estimated_rtt(name)? {
                Some(rtt) => {
                    print::line(format_args!("rtt {name} {:.3} ms", rtt.as_secs_f64() * 1e3))
                }
                None => print::line(format_args!("rtt {name} unknown")),
            },
            Command::Stats => {
                let status = node.stats()?;
                let socket = status.socket;
                let (stats, rejected) = (&status.stats, &status.stats.datagrams.rejected);
                print::line(format_args!(
                    "stats: {} live, {} datagrams in, {} datagrams out, {} socket errors, {} sends dropped, \
                     {} sealed, {} opened, {} plaintext accepted, {} refused unopened",
                    status.live_members,
                    socket.datagrams_in,
                    socket.datagrams_out,
                    socket.recv_errors + socket.send_errors,
                    socket.sends_dropped,
                    stats.seal.datagrams_sealed,
                    stats.seal.datagrams_opened,
                    stats.seal.plaintext_accepted,
                    rejected.unauthenticated
                        + rejected.unknown_key
                        + rejected.plaintext_refused
                        + rejected.sealed_refused,
                ));
            }
            Command::Keys => match node.keys()? {
                Some(ids) => {
                    for (i, id) in ids.iter().enumerate() {
                        let primary = if i == 0 { " primary" } else { "" };
                        print::line(format_args!("key {id}{primary}"));
                    }
                }
                None => print::line("encryption is off"),
            },
            Command::InstallKey(key) => {
                let id = key.id();
                node.install_key(key)?;
                print::line(format_args!("installed key {id}"));
            }
            Command::UseKey(id) => {
                node.use_key(id)?;
                print::line(format_args!("sealing with key {id}"));
            }
            Command::RemoveKey(id) => {
                node.remove_key(id)?;
                print::line(format_args!("removed key {id}"));
            }
            Command::Leave => return Ok(Next::Leave),
            Command::Help => HELP.lines().for_each(print::line),
        }
        Ok(Next::Continue)
    }
}

/// A key id: 8 hexadecimal digits, as `keys` prints them.
fn key_id(text: &str) -> Result<KeyId, String> {
    let text = text.trim();
    match u32::from_str_radix(text, 16) {
        Ok(id) if text.len() == 8 => Ok(KeyId(id)),
        _ => Err(format!("a key id is 8 hexadecimal digits, not {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_broadcasts_keep_their_inner_spaces() {
        assert_eq!(
            Command::parse("broadcast  hello  world \r"),
            Ok(Command::Broadcast("hello  world"))
        );
        assert_eq!(
            Command::parse("set color deep  blue"),
            Ok(Command::Set("color", "deep  blue"))
        );
        assert_eq!(Command::parse("get color"), Ok(Command::Get("color")));
    }

    #[test]
    fn empty_lines_do_nothing_and_unknown_words_are_named() {
        assert_eq!(Command::parse("   "), Ok(Command::Nothing));
        assert_eq!(
            Command::parse("frobnicate now"),
            Err("unknown command frobnicate (try help)".to_owned())
        );
    }

    #[test]
    fn missing_or_extra_arguments_print_the_usage() {
        assert_eq!(
            Command::parse("set color"),
            Err("usage: set <key> <value>".to_owned())
        );
        assert_eq!(
            Command::parse("get a b"),
            Err("usage: get <key>".to_owned())
        );
        assert_eq!(
            Command::parse("broadcast"),
            Err("usage: broadcast <text>".to_owned())
        );
        assert_eq!(Command::parse("leave now"), Err("usage: leave".to_owned()));
        assert_eq!(Command::parse("rtt"), Err("usage: rtt <name>".to_owned()));
        assert_eq!(Command::parse("rtt n2"), Ok(Command::Rtt("n2")));
        assert_eq!(
            Command::parse("key use 12"),
            Err("a key id is 8 hexadecimal digits, not \"12\"".to_owned())
        );
        assert_eq!(
            Command::parse("key use 0000001f"),
            Ok(Command::UseKey(KeyId(0x1f)))
        );
        assert!(Command::parse("key install 00ff").is_err());
    }
}
