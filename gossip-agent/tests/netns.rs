//! Three hosts, each in its own Linux network namespace with its own address,
//! joined by a bridge in a fourth ("switch") namespace; one `agent` per host,
//! host 2's on the std adapter and the others' on tokio. They converge; host
//! 3's link goes down and the others declare it failed; the link comes back
//! and host 3 rejoins (the partition heals by push-pull with failed members).
//!
//! Needs root and `ip` (iproute2) with network-namespace support; without
//! them the test prints `skipped: <reason>` and passes. It never touches the
//! root namespace's interfaces or routes: every link is created inside the
//! test's own namespaces, whose names carry the process id, and a guard kills
//! the agents and deletes the namespaces when the test ends, even on panic.
//! The deadlines are wall-clock bounds with wide margins; the timings the test
//! prints (see them with `--nocapture`) are what it measured.

mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{AGENT, Agent, Members};
/// The hosts' /24 (host N is `.N`): private, and only ever configured inside
/// the test's namespaces, so it cannot clash with the machine's own networks.
const SUBNET: &str = "10.213.77";
const PORT: u16 = 7946;
const HOSTS: usize = 3;
/// The host-side interface in each host namespace.
const HOST_LINK: &str = "eth0";

/// For an agent to print `listening on`.
const START: Duration = Duration::from_secs(10);
/// For an agent to answer `members`.
const ANSWER: Duration = Duration::from_secs(5);
/// For the three to see each other.
const CONVERGE: Duration = Duration::from_secs(30);
/// For hosts 1 and 2 to declare host 3 failed once its link is down.
const DETECT: Duration = Duration::from_secs(40);
/// For host 3, cut off, to declare hosts 1 and 2 failed: alone, its local
/// health (Lifeguard) sinks, which slows its probes and leaves its
/// suspicions unconfirmed (the longest timeout): 20 to 30 s here.
const ALONE: Duration = Duration::from_secs(45);
/// How long the link stays down once every side has declared the other
/// failed: past `gossip_to_the_dead` (15 s with `--preset local`).
const OUTAGE: Duration = Duration::from_secs(17);
/// For host 3 to be back once its link is up: a push-pull with a failed
/// member comes every 15 s with `--preset local`.
const HEAL: Duration = Duration::from_secs(60);
/// Between two looks at the member tables.
const POLL: Duration = Duration::from_millis(250);

#[test]
fn a_host_cut_off_is_declared_failed_and_rejoins_when_its_link_returns() {
    if let Some(reason) = cannot_run() {
        eprintln!("skipped: {reason}");
        return;
    }
    let mut net = match Net::build() {
        Ok(net) => net,
        Err(reason) => {
            eprintln!("skipped: cannot build the test network: {reason}");
            return;
        }
    };
    net.log(&format!(
        "namespaces {} (switch) and {}",
        net.switch,
        net.hosts.join(", ")
    ));

    for i in 1..=HOSTS {
        net.start_agent(i);
    }
    let took = net.until("all see 3 live", CONVERGE, &[1, 2, 3], |_, view| {
        view.live == HOSTS && (1..=HOSTS).all(|j| view.state_of(&host(j)) == Some("alive"))
    });
    net.log(&format!("converged in {took:.1?}"));
    for i in 1..=HOSTS {
        let view = net.agents[i - 1].members(ANSWER);
        for j in 1..=HOSTS {
            assert_eq!(
                view.addr_of(&host(j)),
                Some(addr(j).as_str()),
                "{} lists {} at the wrong address:\n{view:?}",
                host(i),
                host(j)
            );
        }
    }
    net.until_event(1, &format!("joined h2 {}", addr(2)), ANSWER);
    net.until_event(1, &format!("joined h3 {}", addr(3)), ANSWER);

    // Host 3's cable is pulled.
    net.ip(&["-n", &net.hosts[2], "link", "set", HOST_LINK, "down"])
        .expect("take host 3's link down");
    let cut = Instant::now();
    net.log("h3's link is down");
    let took = net.until("h1 and h2 see h3 failed", DETECT, &[1, 2], |agent, view| {
        agent.saw("failed h3") && view.state_of("h3") == Some("failed") && view.live == HOSTS - 1
    });
    net.log(&format!(
        "h1 and h2 declared h3 failed {took:.1?} after its link went down"
    ));
    for i in [1, 2] {
        for event in ["suspected h3", "failed h3"] {
            if let Some(at) = net.agents[i - 1].first_seen(event, cut) {
                net.log(&format!(
                    "h{i} printed `{event}` {:.1?} after the cut",
                    at - cut
                ));
            }
        }
    }
    // The partition is symmetric: h3, alone, declares the others failed.
    net.until("h3 sees h1 and h2 failed", ALONE, &[3], |_, view| {
        view.live == 1
            && view.state_of("h1") == Some("failed")
            && view.state_of("h2") == Some("failed")
    });
    for event in ["suspected h1", "suspected h2", "failed h1", "failed h2"] {
        if let Some(at) = net.agents[2].first_seen(event, cut) {
            net.log(&format!(
                "h3 printed `{event}` {:.1?} after the cut",
                at - cut
            ));
        }
    }
    // Stay cut off past the window in which members still gossip to the
    // newly failed: from then on only a push-pull with a failed member can
    // bring the two sides together again.
    thread::sleep(OUTAGE);

    // The cable is plugged back in.
    net.ip(&["-n", &net.hosts[2], "link", "set", HOST_LINK, "up"])
        .expect("bring host 3's link back up");
    let plugged = Instant::now();
    net.log("h3's link is up again");
    let took = net.until("h3 is back everywhere", HEAL, &[1, 2, 3], |_, view| {
        view.live == HOSTS && (1..=HOSTS).all(|j| view.state_of(&host(j)) == Some("alive"))
    });
    net.log(&format!("h3 rejoined {took:.1?} after its link came back"));
    for agent in &net.agents {
        let since: Vec<&str> = agent
            .events
            .iter()
            .filter(|(at, _)| *at >= plugged)
            .map(|(_, line)| line.as_str())
            .collect();
        net.log(&format!(
            "{} since the link came back: {since:?}",
            agent.name
        ));
    }
    net.log(&format!("scenario took {:.1?}", net.begin.elapsed()));
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("network namespaces need Linux".into());
    }
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Some(format!(
                "needs root to create network namespaces (euid {uid})"
            ));
        }
        None => return Some("cannot read the effective user id from /proc/self/status".into()),
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`ip -V` failed ({})", out.status)),
        Err(e) => Some(format!("`ip` (iproute2) not found: {e}")),
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn host(i: usize) -> String {
    format!("h{i}")
}

fn addr(i: usize) -> String {
    format!("{SUBNET}.{i}:{PORT}")
}

/// The test network and its agents; dropping it kills the agents and deletes
/// the namespaces (and with them every link the test made).
struct Net {
    /// Namespaces created so far, deleted in reverse order on drop.
    created: Vec<String>,
    switch: String,
    hosts: Vec<String>,
    agents: Vec<Agent>,
    begin: Instant,
}

impl Net {
    /// Namespaces `<prefix>-sw` (a bridge `br0`) and `<prefix>-hN` (`eth0`
    /// at 10.213.77.N/24, its peer `pN` a port of the bridge).
    fn build() -> Result<Net, String> {
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        let prefix = format!("gossip-netns-{}-{nonce}", std::process::id());
        let mut net = Net {
            created: Vec::new(),
            switch: format!("{prefix}-sw"),
            hosts: (1..=HOSTS).map(|i| format!("{prefix}-h{i}")).collect(),
            agents: Vec::new(),
            begin: Instant::now(),
        };
        let sw = net.switch.clone();
        net.add_namespace(&sw)?;
        net.ip(&["-n", &sw, "link", "set", "lo", "up"])?;
        net.ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        net.ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for (i, ns) in net.hosts.clone().iter().enumerate() {
            let port = format!("p{}", i + 1);
            net.add_namespace(ns)?;
            // Made in the switch namespace, its peer moved straight into the
            // host's: neither end ever exists in the root namespace.
            net.ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", HOST_LINK,
                "netns", ns,
            ])?;
            net.ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            net.ip(&["-n", &sw, "link", "set", &port, "up"])?;
            let cidr = format!("{SUBNET}.{}/24", i + 1);
            net.ip(&["-n", ns, "addr", "add", &cidr, "dev", HOST_LINK])?;
            net.ip(&["-n", ns, "link", "set", HOST_LINK, "up"])?;
            net.ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // `ip netns exec` must work too (it remounts /sys).
        net.ip(&["netns", "exec", &net.hosts[0], "true"])?;
        Ok(net)
    }

    fn add_namespace(&mut self, name: &str) -> Result<(), String> {
        self.ip(&["netns", "add", name])?;
        self.created.push(name.to_owned());
        Ok(())
    }

    /// Runs `ip args…`; its stderr is the error.
    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("`ip {}`: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`ip {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn log(&self, what: &str) {
        eprintln!("[{:6.1?}] {what}", self.begin.elapsed());
    }

    /// Starts host `i`'s agent (hosts after the first join through host 1;
    /// host 2 on the std adapter, the others on tokio) and waits for its
    /// `listening on` line.
    fn start_agent(&mut self, i: usize) {
        let name = host(i);
        let bind = addr(i);
        let seed = addr(1);
        let mut args = vec!["netns", "exec", &self.hosts[i - 1], AGENT];
        args.extend(["--name", &name, "--bind", &bind, "--preset", "local"]);
        // Host 2 runs the blocking adapter: the cluster mixes the two.
        args.extend(["--adapter", if i == 2 { "std" } else { "tokio" }]);
        if i > 1 {
            args.extend(["--join", &seed]);
        }
        let mut command = Command::new("ip");
        command.args(&args);
        let agent = Agent::spawn(&name, command, START);
        assert_eq!(agent.addr, bind, "{name}'s listening address");
        self.agents.push(agent);
        self.log(&format!("{name} is listening on {bind}"));
    }

    /// Polls the member tables of hosts `which` (1-based) until `check`
    /// holds for every one of them; returns how long it took, or panics
    /// after `patience` with the tables last seen.
    fn until(
        &mut self,
        what: &str,
        patience: Duration,
        which: &[usize],
        check: impl Fn(&mut Agent, &Members) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let mut all = true;
            let mut tables = String::new();
            for &i in which {
                let agent = &mut self.agents[i - 1];
                let view = agent.members(ANSWER);
                all &= check(agent, &view);
                let _ = writeln!(tables, "{}: {view:?}", agent.name);
            }
            if all {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < patience,
                "not {what} within {patience:?}; last seen:\n{tables}"
            );
            thread::sleep(POLL);
        }
    }

    /// Waits for host `i` to print the event line `event`.
    fn until_event(&mut self, i: usize, event: &str, patience: Duration) {
        let agent = &mut self.agents[i - 1];
        let deadline = Instant::now() + patience;
        while !agent.saw(event) {
            assert!(
                agent.next_line(deadline).is_some(),
                "{} never printed `{event}`",
                agent.name
            );
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        // End of stdin is a leave: give the agents a moment to go politely.
        for agent in &mut self.agents {
            agent.close_stdin();
        }
        let polite = Instant::now()
            + if panicking {
                Duration::ZERO
            } else {
                Duration::from_secs(5)
            };
        for agent in &mut self.agents {
            while Instant::now() < polite && agent.exited().is_none() {
                thread::sleep(Duration::from_millis(50));
            }
        }
        // Dropping an agent kills it if it is still running, and prints
        // what it said if the test is failing.
        self.agents.clear();
        for ns in self.created.drain(..).rev() {
            if let Err(e) = Command::new("ip")
                .args(["netns", "del", &ns])
                .status()
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    if s.success() {
                        Ok(())
                    } else {
                        Err(s.to_string())
                    }
                })
            {
                eprintln!("warning: could not delete namespace {ns}: {e}");
            }
        }
    }
}
