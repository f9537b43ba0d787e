//! What the agent writes on stdout: one line per event, member or answer,
//! each flushed as soon as it is written (readers are often pipes).

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, Write};
use std::net::SocketAddr;

use gossip_core::{Event, MemberState};
use gossip_tokio::MemberInfo;

/// Writes `line` and a newline on stdout, and flushes. A closed stdout is
/// not fatal: the agent keeps serving the cluster and reading commands.
pub(crate) fn line(line: impl Display) {
    let mut out = io::stdout().lock();
    if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        tracing::debug!(%error, "stdout write failed");
    }
}

/// The line an event is printed as.
pub(crate) fn event(event: &Event<SocketAddr>) -> String {
    match event {
        Event::MemberJoined(m) => format!("joined {} {}", m.name(), m.addr()),
        Event::MemberSuspected(m) => format!("suspected {}", m.name()),
        Event::MemberFailed(m) => format!("failed {}", m.name()),
        Event::MemberRecovered(m) => format!("recovered {}", m.name()),
        Event::MemberLeft(m) => format!("left {}", m.name()),
        Event::MemberRestarted { member, .. } => format!("restarted {}", member.name()),
        Event::MemberUpdated(m) => format!("updated {}", m.name()),
        Event::JoinCompleted { .. } => "join completed".to_owned(),
        Event::JoinFailed { attempts } => format!("join failed after {attempts} attempts"),
        Event::LeaveCompleted => "leave completed".to_owned(),
        Event::Broadcast(b) => format!("broadcast from {}: {}", b.origin, text(&b.payload)),
        Event::KeyChanged(change) => match &change.value {
            Some(value) => format!(
                "key {} = {} (by {})",
                text(&change.key),
                text(value),
                change.origin
            ),
            None => format!("key {} deleted (by {})", text(&change.key), change.origin),
        },
        Event::Converged(c) => format!(
            "converged with {} of {} live members",
            c.agreeing, c.members
        ),
        Event::Refuted { incarnation, .. } => format!("refuted (incarnation {incarnation})"),
        Event::NameConflict { addr, .. } => {
            format!("name conflict: another process announces this name from {addr}")
        }
        other => format!("{other:?}"),
    }
}

/// The line a member is printed as: `member <name> <addr> <state> <metadata>`.
pub(crate) fn member(member: &MemberInfo) -> String {
    let metadata = member.metadata().as_bytes();
    let metadata = if metadata.is_empty() {
        Cow::Borrowed("-")
    } else {
        text(metadata)
    };
    format!(
        "member {} {} {} {}",
        member.name(),
        member.addr(),
        state(member.state()),
        metadata
    )
}

/// A member's state in lower case.
pub(crate) fn state(state: MemberState) -> &'static str {
    match state {
        MemberState::Alive => "alive",
        MemberState::Suspect => "suspect",
        MemberState::Failed => "failed",
        MemberState::Left => "left",
    }
}

/// Bytes as lossy UTF-8, with line breaks escaped so that one item stays on
/// one line.
pub(crate) fn text(bytes: &[u8]) -> Cow<'_, str> {
    let lossy = String::from_utf8_lossy(bytes);
    if lossy.contains(['\n', '\r']) {
        Cow::Owned(lossy.replace('\n', "\\n").replace('\r', "\\r"))
    } else {
        lossy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_as_lossy_utf8_on_one_line() {
        assert_eq!(text(b"blue"), "blue");
        assert_eq!(text(b"a\nb\r"), "a\\nb\\r");
        assert_eq!(text(&[b'x', 0xff]), "x\u{fffd}");
    }

    #[test]
    fn a_join_failure_and_a_refutation_print_their_numbers() {
        assert_eq!(
            event(&Event::JoinFailed { attempts: 3 }),
            "join failed after 3 attempts"
        );
        assert_eq!(
            event(&Event::Refuted {
                generation: 1,
                incarnation: 7
            }),
            "refuted (incarnation 7)"
        );
        assert_eq!(
            event(&Event::NameConflict {
                addr: "10.0.0.7:7946".parse().unwrap(),
                generation: 1
            }),
            "name conflict: another process announces this name from 10.0.0.7:7946"
        );
    }
}
