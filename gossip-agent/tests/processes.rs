//! `agent` processes on 127.0.0.1, driven through their stdin and read
//! through their stdout: they form a cluster, deliver a broadcast, replicate
//! a key and see a graceful leave. Timings here are generous deadlines, not
//! measurements.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(30);

/// One `agent` process; killed when dropped, so that a failed test leaves
/// no process behind.
struct Agent {
    name: String,
    addr: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line read so far, for the message of a failed wait.
    seen: Vec<String>,
}

impl Agent {
    /// Starts `agent --name <name> --preset local [--join <seed>]` and reads
    /// its `listening on` line.
    fn spawn(name: &str, seed: Option<&str>) -> Agent {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agent"));
        command.args(["--name", name, "--preset", "local"]);
        if let Some(seed) = seed {
            command.args(["--join", seed]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("agent starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut agent = Agent {
            name: name.to_owned(),
            addr: String::new(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        };
        let first = agent.next_line(Instant::now() + PATIENCE);
        agent.addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name}'s first line is {first:?}"))
            .to_owned();
        agent
    }

    /// Writes one command line.
    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{command}").expect("agent reads its stdin");
        stdin.flush().unwrap();
    }

    /// The next line, or a panic at `deadline`.
    fn next_line(&mut self, deadline: Instant) -> String {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} printed nothing more in time; it printed:\n{}",
                self.name,
                self.seen.join("\n")
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{} closed its stdout; it printed:\n{}",
                self.name,
                self.seen.join("\n")
            ),
        }
    }

    /// Reads lines until one for which `pick` gives a value.
    fn until<T>(&mut self, deadline: Instant, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let line = self.next_line(deadline);
            if let Some(value) = pick(&line) {
                return value;
            }
        }
    }

    /// Reads lines until `expected`.
    fn expect(&mut self, deadline: Instant, expected: &str) {
        self.until(deadline, |line| (line == expected).then_some(()));
    }

    /// Asks `members` until the answer counts `n` live.
    fn wait_for_live(&mut self, n: usize, deadline: Instant) {
        loop {
            self.send("members");
            let live = self.until(deadline, |line| {
                line.strip_suffix(" live")?.parse::<usize>().ok()
            });
            if live == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} sees {live} live, not {n}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks `get <key>` until the answer is `<key> = <value>`.
    fn wait_for_value(&mut self, key: &str, value: &str, deadline: Instant) {
        let expected = format!("{key} = {value}");
        let unset = format!("{key} is not set");
        loop {
            self.send(&format!("get {key}"));
            let answer = self.until(deadline, |line| {
                (line == expected || line == unset || line.starts_with(&format!("{key} = ")))
                    .then(|| line.to_owned())
            });
            if answer == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} answers {answer:?}, not {expected:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the process to exit.
    fn wait_for_exit(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` agents named `a0`, `a1`, …, all joined through `a0`.
fn cluster(n: usize) -> Vec<Agent> {
    let first = Agent::spawn("a0", None);
    let seed = first.addr.clone();
    let mut agents = vec![first];
    for i in 1..n {
        agents.push(Agent::spawn(&format!("a{i}"), Some(&seed)));
    }
    agents
}

#[test]
fn four_agents_form_a_cluster_share_a_broadcast_and_a_key_and_see_a_leave() {
    let mut agents = cluster(4);
    let deadline = Instant::now() + PATIENCE;
    for agent in &mut agents {
        agent.wait_for_live(4, deadline);
    }

    agents[1].send("broadcast hello");
    let deadline = Instant::now() + PATIENCE;
    for agent in agents.iter_mut().filter(|a| a.name != "a1") {
        agent.expect(deadline, "broadcast from a1: hello");
    }

    agents[2].send("set color blue");
    agents[2].expect(deadline, "ok");
    let deadline = Instant::now() + PATIENCE;
    for agent in agents.iter_mut().filter(|a| a.name != "a2") {
        agent.wait_for_value("color", "blue", deadline);
    }

    let deadline = Instant::now() + PATIENCE;
    agents[3].send("leave");
    agents[3].expect(deadline, "left the cluster");
    let status = agents[3].wait_for_exit(deadline);
    assert!(status.success(), "a3 exited with {status}");
    for agent in &mut agents[..3] {
        agent.expect(deadline, "left a3");
    }
}

#[test]
fn a_lone_agent_answers_every_command_and_leaves_at_the_end_of_its_input() {
    let mut agent = Agent::spawn("solo", None);
    let deadline = Instant::now() + PATIENCE;
    agent.send("");
    agent.send("get color");
    let answer = agent.until(deadline, |line| {
        (line.is_empty() || line.starts_with("color")).then(|| line.to_owned())
    });
    assert_eq!(answer, "color is not set", "an empty line prints nothing");
    let mut ask = |command: &str, expected: &str| {
        agent.send(command);
        agent.expect(deadline, expected);
    };
    ask("delete color", "color is not set");
    ask("set color deep  blue", "ok");
    ask("get color", "color = deep  blue");
    ask("delete color", "deleted");
    ask("broadcast hi there", "broadcast sent");
    ask("frobnicate", "error: unknown command frobnicate (try help)");
    ask("get", "error: usage: get <key>");
    ask("help", "  help               this list");
    ask("members", "1 live");

    agent.stdin = None; // end of input
    agent.expect(deadline, "left the cluster");
    let status = agent.wait_for_exit(deadline);
    assert!(status.success(), "the agent exited with {status}");
}

#[test]
fn an_agent_given_a_bad_argument_exits_with_an_error_on_stderr() {
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["--name", "x", "--meta", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("key=value"));
}
