//! `agent` processes on 127.0.0.1, driven through their stdin and read
//! through their stdout, half of them on the tokio adapter and half on the
//! std one: they form one cluster, deliver broadcasts, replicate keys and see
//! graceful leaves. Timings here are generous deadlines, not measurements.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{AGENT, Agent};

const PATIENCE: Duration = Duration::from_secs(30);

/// Starts `agent --name <name> --preset local --adapter <adapter> [--join
/// <seed>]`.
fn spawn(name: &str, adapter: &str, seed: Option<&str>) -> Agent {
    let mut command = Command::new(AGENT);
    command.args(["--name", name, "--preset", "local", "--adapter", adapter]);
    if let Some(seed) = seed {
        command.args(["--join", seed]);
    }
    Agent::spawn(name, command, PATIENCE)
}

/// `n` agents named `a0`, `a1`, …, all joined through `a0`; the even ones
/// on the tokio adapter, the odd ones on the std adapter.
fn cluster(n: usize) -> Vec<Agent> {
    let adapter = |i: usize| if i % 2 == 0 { "tokio" } else { "std" };
    let first = spawn("a0", adapter(0), None);
    let seed = first.addr.clone();
    let mut agents = vec![first];
    for i in 1..n {
        agents.push(spawn(&format!("a{i}"), adapter(i), Some(&seed)));
    }
    agents
}

#[test]
fn tokio_and_std_agents_form_one_cluster_share_broadcasts_and_keys_and_see_leaves() {
    let mut agents = cluster(4);
    let deadline = Instant::now() + PATIENCE;
    for agent in &mut agents {
        agent.wait_for_live(4, deadline);
    }

    // a1 runs on std, a2 on tokio: each one's broadcast and key reach all.
    agents[1].send("broadcast hello from std");
    agents[2].send("broadcast hello from tokio");
    let deadline = Instant::now() + PATIENCE;
    for agent in &mut agents {
        // Every member delivers both, the senders included, in any order.
        agent.expect_all(
            deadline,
            &[
                "broadcast from a1: hello from std",
                "broadcast from a2: hello from tokio",
            ],
        );
    }

    agents[1].send("set shape round");
    agents[1].expect(deadline, "ok");
    agents[2].send("set color blue");
    agents[2].expect(deadline, "ok");
    let deadline = Instant::now() + PATIENCE;
    for agent in &mut agents {
        agent.wait_for_value("shape", "round", deadline);
        agent.wait_for_value("color", "blue", deadline);
    }

    // Probes carry coordinates: a std agent predicts its round trip to a
    // tokio one and back (on loopback, well under 50 ms) once they have met.
    let deadline = Instant::now() + PATIENCE;
    for (asking, other) in [(1, "a2"), (2, "a1")] {
        let prefix = format!("rtt {other} ");
        let rtt_ms = loop {
            agents[asking].send(&format!("rtt {other}"));
            let answer = agents[asking].until(deadline, |line| {
                Some(line.strip_prefix(&prefix)?.to_owned())
            });
            if let Some(ms) = answer.strip_suffix(" ms") {
                break ms.parse::<f64>().unwrap();
            }
            assert_eq!(answer, "unknown");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(rtt_ms < 50.0, "{rtt_ms} ms between two loopback agents");
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
fn a_lone_agent_on_either_adapter_answers_every_command_and_leaves_at_the_end_of_its_input() {
    for adapter in ["tokio", "std"] {
        a_lone_agent_answers_every_command(adapter);
    }
}

fn a_lone_agent_answers_every_command(adapter: &str) {
    let mut agent = spawn("solo", adapter, None);
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

    agent.close_stdin();
    agent.expect(deadline, "left the cluster");
    let status = agent.wait_for_exit(deadline);
    assert!(status.success(), "the {adapter} agent exited with {status}");
}

#[test]
fn an_agent_given_a_bad_argument_exits_with_an_error_on_stderr() {
    let output = Command::new(AGENT)
        .args(["--name", "x", "--meta", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("key=value"));
}

#[test]
fn encrypted_agents_shut_out_one_without_the_key_and_rotate_keys_on_stdin() {
    const OLD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const NEW: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let dir = std::env::temp_dir().join(format!("gossip-agent-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("keys");
    std::fs::write(&key_file, format!("# the cluster's key\n{OLD}\n")).unwrap();
    let encrypted = |name: &str, adapter: &str, seed: Option<&str>| {
        let mut command = Command::new(AGENT);
        command.args(["--name", name, "--preset", "local", "--adapter", adapter]);
        command
            .arg("--key-file")
            .arg(&key_file)
            .args(["--label", "test"]);
        if let Some(seed) = seed {
            command.args(["--join", seed]);
        }
        Agent::spawn(name, command, PATIENCE)
    };
    let mut a0 = encrypted("e0", "tokio", None);
    let seed = a0.addr.clone();
    let mut a1 = encrypted("e1", "std", Some(&seed));
    let deadline = Instant::now() + PATIENCE;
    a0.wait_for_live(2, deadline);
    a1.wait_for_live(2, deadline);

    // An agent without the key cannot join, and its datagrams are counted.
    let mut outsider = spawn("plain", "std", Some(&seed));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(outsider.members(PATIENCE).live, 1, "joined without the key");
    assert_eq!(a0.members(PATIENCE).live, 2);
    a0.send("stats");
    let refused = a0.until(deadline, |line| {
        let counts = line.strip_prefix("stats: ")?;
        let field = counts
            .split(", ")
            .find(|f| f.ends_with(" refused unopened"))?;
        field.split(' ').next()?.parse::<u64>().ok()
    });
    assert!(refused > 0, "e0 counted no refused datagram");

    // Rotate: install the new key on both, use it on both, remove the old one.
    let new_id = gossip_core::Key::from_hex(NEW).unwrap().id().to_string();
    let old_id = gossip_core::Key::from_hex(OLD).unwrap().id().to_string();
    for agent in [&mut a0, &mut a1] {
        agent.send(&format!("key install {NEW}"));
        agent.expect(deadline, &format!("installed key {new_id}"));
    }
    for agent in [&mut a0, &mut a1] {
        agent.send(&format!("key use {new_id}"));
        agent.expect(deadline, &format!("sealing with key {new_id}"));
    }
    for agent in [&mut a0, &mut a1] {
        agent.send(&format!("key remove {old_id}"));
        agent.expect(deadline, &format!("removed key {old_id}"));
        agent.send("keys");
        agent.expect(deadline, &format!("key {new_id} primary"));
    }
    a1.send("broadcast after the rotation");
    a0.expect(deadline, "broadcast from e1: after the rotation");
    a0.wait_for_live(2, deadline);
    let _ = std::fs::remove_dir_all(&dir);
}
