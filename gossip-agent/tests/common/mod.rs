//! Driving `agent` processes from a test: spawn one, write commands to its
//! stdin, read its stdout lines as they come (timestamped), parse a
//! `members` answer, and kill it when dropped so that a failed test leaves
//! no process behind (printing what it said, if the test is failing).

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The agent under test.
pub(crate) const AGENT: &str = env!("CARGO_BIN_EXE_agent");

/// One running agent.
pub(crate) struct Agent {
    pub(crate) name: String,
    /// The address from its `listening on` line.
    pub(crate) addr: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line read, but the answers to [`Agent::members`], with the time
    /// it was read.
    pub(crate) events: Vec<(Instant, String)>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts `command` (an agent, or something that runs one) with its
    /// stdio piped, and reads its `listening on <addr>` line, waiting up to
    /// `patience`.
    pub(crate) fn spawn(name: &str, mut command: Command, patience: Duration) -> Agent {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}'s agent: {e}"));
        let (lines, receiver) = channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if lines.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr_lines);
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let mut agent = Agent {
            name: name.to_owned(),
            addr: String::new(),
            stdin: child.stdin.take(),
            child,
            lines: receiver,
            events: Vec::new(),
            stderr: stderr_lines,
        };
        let first = agent.next_line(Instant::now() + patience);
        agent.addr = first
            .as_deref()
            .and_then(|line| line.strip_prefix("listening on "))
            .unwrap_or_else(|| panic!("{name}'s first line is {first:?}"))
            .to_owned();
        agent
    }

    /// Writes one command line.
    pub(crate) fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        if let Err(e) = writeln!(stdin, "{command}").and_then(|()| stdin.flush()) {
            panic!("cannot send `{command}` to {}: {e}", self.name);
        }
    }

    /// Closes stdin: the agent leaves the cluster and exits.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line, or `None` at `deadline` or the end of output.
    pub(crate) fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok((at, line)) => {
                self.events.push((at, line.clone()));
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one for which `pick` gives a value; panics at
    /// `deadline` with everything the agent printed.
    pub(crate) fn until<T>(
        &mut self,
        deadline: Instant,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        loop {
            let Some(line) = self.next_line(deadline) else {
                let printed = self.printed();
                panic!(
                    "{} printed nothing wanted in time; it printed:\n{printed}",
                    self.name
                );
            };
            if let Some(value) = pick(&line) {
                return value;
            }
        }
    }

    /// Reads lines until `expected`.
    pub(crate) fn expect(&mut self, deadline: Instant, expected: &str) {
        self.until(deadline, |line| (line == expected).then_some(()));
    }

    /// Reads lines until every one of `expected` was printed, in any order.
    pub(crate) fn expect_all(&mut self, deadline: Instant, expected: &[&str]) {
        let mut missing: Vec<&str> = expected.to_vec();
        while !missing.is_empty() {
            let seen = self.until(deadline, |line| missing.iter().position(|m| *m == line));
            missing.swap_remove(seen);
        }
    }

    /// Reads whatever lines have already arrived.
    pub(crate) fn read_ready(&mut self) {
        loop {
            match self.lines.try_recv() {
                Ok(line) => self.events.push(line),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// True if the agent has printed `event` (a whole line).
    pub(crate) fn saw(&mut self, event: &str) -> bool {
        self.read_ready();
        self.events.iter().any(|(_, line)| line == event)
    }

    /// When the agent first printed `event` at or after `since`.
    pub(crate) fn first_seen(&mut self, event: &str, since: Instant) -> Option<Instant> {
        self.read_ready();
        self.events
            .iter()
            .find(|(at, line)| *at >= since && line == event)
            .map(|(at, _)| *at)
    }

    /// Sends `members` and reads the answer: `member …` lines, then `<n>
    /// live`, within `patience`. Event lines printed meanwhile are kept.
    pub(crate) fn members(&mut self, patience: Duration) -> Members {
        self.send("members");
        let deadline = Instant::now() + patience;
        let mut members = Vec::new();
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Ok((at, line)) = self.lines.recv_timeout(wait) else {
                panic!("{} did not answer `members` within {patience:?}", self.name);
            };
            if let Some(rest) = line.strip_prefix("member ") {
                // The metadata, last, may hold spaces; it is not checked.
                let mut fields = rest.splitn(4, ' ');
                let mut field = || fields.next().unwrap_or_default().to_owned();
                members.push(Member {
                    name: field(),
                    addr: field(),
                    state: field(),
                });
            } else if let Some(live) = line.strip_suffix(" live").and_then(|n| n.parse().ok()) {
                return Members { members, live };
            } else {
                self.events.push((at, line));
            }
        }
    }

    /// Asks `members` until the answer counts `n` live; panics at `deadline`.
    pub(crate) fn wait_for_live(&mut self, n: usize, deadline: Instant) {
        self.ask_until(deadline, format!("{n} live"), |agent| {
            let patience = deadline.saturating_duration_since(Instant::now());
            format!("{} live", agent.members(patience).live)
        });
    }

    /// Asks `get <key>` until the answer is `<key> = <value>`; panics at
    /// `deadline`.
    pub(crate) fn wait_for_value(&mut self, key: &str, value: &str, deadline: Instant) {
        let unset = format!("{key} is not set");
        let set = format!("{key} = ");
        self.ask_until(deadline, format!("{set}{value}"), |agent| {
            agent.send(&format!("get {key}"));
            agent.until(deadline, |line| {
                (line == unset || line.starts_with(&set)).then(|| line.to_owned())
            })
        });
    }

    /// Asks (with `ask`, which returns the answer) every 100 ms until the
    /// answer is `expected`; panics at `deadline` with the last answer.
    fn ask_until(
        &mut self,
        deadline: Instant,
        expected: String,
        mut ask: impl FnMut(&mut Self) -> String,
    ) {
        loop {
            let answer = ask(self);
            if answer == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} answers {answer:?}, not {expected:?}",
                self.name
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status, if the process has ended.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit; panics at `deadline`.
    pub(crate) fn wait_for_exit(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line printed so far (answers to `members` aside).
    fn printed(&mut self) -> String {
        self.read_ready();
        let lines: Vec<&str> = self.events.iter().map(|(_, l)| l.as_str()).collect();
        lines.join("\n")
    }

    /// Prints everything the agent said, for a failed run.
    fn dump(&mut self) {
        let printed = self.printed();
        eprintln!("---- {} stdout ----\n{printed}", self.name);
        eprintln!("---- {} stderr ----", self.name);
        for line in self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            eprintln!("{line}");
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if thread::panicking() {
            self.dump();
        }
    }
}

/// One `members` answer.
#[derive(Debug)]
pub(crate) struct Members {
    pub(crate) members: Vec<Member>,
    pub(crate) live: usize,
}

/// One `member <name> <addr> <state> <metadata>` line.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) state: String,
}

impl Members {
    pub(crate) fn find(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    pub(crate) fn state_of(&self, name: &str) -> Option<&str> {
        self.find(name).map(|m| m.state.as_str())
    }

    pub(crate) fn addr_of(&self, name: &str) -> Option<&str> {
        self.find(name).map(|m| m.addr.as_str())
    }
}
