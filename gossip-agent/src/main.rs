//! `agent`: a gossip node over real UDP, for trying the library by hand and
//! for tests that run one process per member, on either adapter
//! (`--adapter tokio`, the default, or `--adapter std`): the two speak the
//! same wire and mix in one cluster.
//!
//! It prints `listening on <addr>` first, then one line per event on stdout
//! (`joined n2 127.0.0.1:40000`, `broadcast from n2: hello`, …), and reads
//! commands from stdin, one per line (`members`, `broadcast <text>`,
//! `set <key> <value>`, `get <key>`, `delete <key>`, `stats`, `leave`,
//! `help`). `leave`, the end of stdin and Ctrl-C leave the cluster gracefully
//! and exit. Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

mod command;
mod print;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use clap::{Parser, ValueEnum};
use gossip_core::{Config, Encryption, Key, Keyring};
use gossip_tokio::{Builder, LeaveError};
use tracing_subscriber::EnvFilter;

use gossip_agent::node::RecvError;
use gossip_agent::{Adapter, Node, Subscription};

use crate::command::{Command, Next};

/// A gossip node over UDP: prints the cluster's events on stdout, one per
/// line, and reads commands on stdin, one per line (type `help`).
///
/// The first line printed is `listening on <addr>`: the address other agents
/// join through. `leave`, the end of stdin and Ctrl-C leave the cluster
/// gracefully and exit. Logs go to stderr, filtered by RUST_LOG (default
/// `warn`).
#[derive(Debug, Parser)]
#[command(name = "agent", version, after_long_help = command::HELP)]
struct Cli {
    /// This node's name, unique in the cluster.
    #[arg(long)]
    name: String,

    /// The UDP address to bind (port 0: the system picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    bind: SocketAddr,

    /// The address other members reach this node at, if not the bound one
    /// (needed when binding 0.0.0.0, or behind NAT).
    #[arg(long, value_name = "ADDR")]
    advertise: Option<SocketAddr>,

    /// A member to join the cluster through; repeat for several. Without
    /// any, this node starts a cluster of its own.
    #[arg(long = "join", value_name = "ADDR")]
    seeds: Vec<SocketAddr>,

    /// Metadata other members see, as key=value; repeat for several (sent
    /// as `k=v,k2=v2`).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    meta: Vec<String>,

    /// The protocol's timings: `lan` for one network, `wan` across
    /// datacentres, `local` for members on one host.
    #[arg(long, value_enum, default_value_t = Preset::Lan)]
    preset: Preset,

    /// The adapter that runs the node: `tokio` (one task on a tokio
    /// runtime) or `std` (one blocking thread, no async runtime).
    #[arg(long, value_enum, default_value_t = Adapter::Tokio)]
    adapter: Adapter,

    /// Encrypt every datagram with the keys in this file: one key per line
    /// as 64 hexadecimal digits, the first the primary (it seals); blank
    /// lines and lines starting with # are skipped.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,

    /// The cluster's label, authenticated with every encrypted datagram:
    /// clusters with other labels cannot read each other's datagrams.
    #[arg(long, value_name = "TEXT", requires = "key_file")]
    label: Option<String>,

    /// Also accept plaintext datagrams (a rolling upgrade to encryption).
    #[arg(long, requires = "key_file")]
    accept_plaintext: bool,

    /// Send plaintext while holding keys (the first step of a rolling
    /// upgrade, while some members cannot open sealed datagrams yet).
    #[arg(long, requires = "accept_plaintext")]
    send_plaintext: bool,
}

/// A protocol configuration preset.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    /// A local network with sub-millisecond round trips.
    Lan,
    /// Members across datacentres.
    Wan,
    /// Every member on one host (loopback).
    Local,
}

impl Preset {
    fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }
}

/// Accepts `key=value` with a non-empty key.
fn key_value(pair: &str) -> Result<String, String> {
    match pair.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(pair.to_owned()),
        _ => Err(format!("expected key=value, got {pair:?}")),
    }
}

impl Cli {
    fn builder(&self) -> Result<Builder, String> {
        let mut builder = Builder::new(&self.name)
            .bind(self.bind)
            .config(self.preset.config())
            .metadata(self.meta.join(",").into_bytes());
        if let Some(addr) = self.advertise {
            builder = builder.advertise(addr);
        }
        if !self.seeds.is_empty() {
            builder = builder.seeds(self.seeds.iter().copied());
        }
        if let Some(path) = &self.key_file {
            let keyring = read_keyring(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let encryption = Encryption::new(keyring)
                .with_label(self.label.as_deref().unwrap_or_default())
                .with_mode(!self.send_plaintext, self.accept_plaintext);
            builder = builder.encryption(encryption);
        }
        Ok(builder)
    }
}

/// The keys of a key file: one per line, the first the primary.
fn read_keyring(path: &std::path::Path) -> Result<Keyring, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut keys = text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| Key::from_hex(line).map_err(|e| format!("line {}: {e}", n + 1)));
    let primary = keys.next().ok_or("no key in the file")??;
    let others = keys.collect::<Result<Vec<_>, _>>()?;
    Keyring::with_keys(primary, others).map_err(|e| e.to_string())
}

/// What the agent's loop waits for.
enum Input {
    /// A line read on stdin.
    Line(String),
    /// Stdin ended.
    End,
    /// Ctrl-C (or SIGTERM).
    Interrupt,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();

    let builder = match cli.builder() {
        Ok(builder) => builder,
        Err(error) => {
            eprintln!("agent: --key-file {error}");
            return ExitCode::FAILURE;
        }
    };
    let node = match Node::start(cli.adapter, builder) {
        Ok(node) => node,
        Err(error) => {
            eprintln!("agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The first subscriber sees every event since the start; they are
    // printed after the address.
    let events = node.events();
    print::line(format_args!("listening on {}", node.advertise_addr()));
    let printer = std::thread::spawn(move || print_events(events));

    let (sender, inputs) = mpsc::sync_channel(64);
    read_stdin(sender.clone());
    on_interrupt(sender);
    serve(&node, &inputs);
    let code = leave(&node);
    node.shutdown();
    // The node has stopped: the printer prints what is left and ends.
    let _ = printer.join();
    code
}

/// Carries out the commands read on stdin until `leave`, the end of input
/// or Ctrl-C.
fn serve(node: &Node, inputs: &Receiver<Input>) {
    while let Ok(Input::Line(line)) = inputs.recv() {
        match Command::parse(&line) {
            Ok(command) => {
                if command.run(node) == Next::Leave {
                    return;
                }
            }
            Err(error) => print::line(format_args!("error: {error}")),
        }
    }
}

/// Leaves gracefully; a departure not yet fully gossiped when the leave
/// timeout passed is still a departure.
fn leave(node: &Node) -> ExitCode {
    match node.leave() {
        Ok(()) => {}
        Err(error @ LeaveError::TimedOut) => print::line(format_args!("error: {error}")),
        Err(error) => {
            print::line(format_args!("error: {error}"));
            return ExitCode::FAILURE;
        }
    }
    print::line("left the cluster");
    ExitCode::SUCCESS
}

/// Prints every event until the node stops.
fn print_events(mut events: Subscription) {
    loop {
        match events.recv() {
            Ok(event) => print::line(print::event(&event)),
            Err(RecvError::Lagged(missed)) => print::line(format_args!("missed {missed} events")),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Stdin's lines, read on a thread of their own: a blocking read cannot be
/// cancelled, and a plain thread does not keep the process alive at exit.
fn read_stdin(inputs: SyncSender<Input>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "stdin read failed");
                    break;
                }
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if inputs.send(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = inputs.send(Input::End);
    });
}

/// The first Ctrl-C (or SIGTERM) leaves gracefully; a second one exits at
/// once, without waiting for the leave to spread.
fn on_interrupt(inputs: SyncSender<Input>) {
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);
    let handler = move || {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            print::line("error: interrupted again; exiting without a graceful leave");
            std::process::exit(1);
        }
        let _ = inputs.try_send(Input::Interrupt);
    };
    if let Err(error) = ctrlc::set_handler(handler) {
        tracing::warn!(%error, "cannot listen for Ctrl-C");
    }
}
