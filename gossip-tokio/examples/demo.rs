//! Five nodes on 127.0.0.1 over real UDP, in wall-clock time: they join
//! through n0, n1 broadcasts and every node delivers it, n2 writes a key of
//! the replicated store and every node reads it, n3 crashes (its task stops
//! without leaving) and the others suspect it, then declare it failed, and n4
//! leaves gracefully. Prints each step and each event as it happens, with the
//! seconds since the start, and after each step a table of every node's view.
//! Ends by itself in about 15 seconds.
//!
//! `cargo run --release -p gossip-tokio --example demo`
//!
//! With `-- --encrypt`, every datagram is sealed (XChaCha20-Poly1305) with a
//! key drawn for this run, and the end shows what each node sealed and
//! opened.
//!
//! (`RUST_LOG=gossip_tokio=debug` shows the adapter's own log on stderr.)

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use gossip_core::{Config, Encryption, Event, Key, Keyring, MemberState};
use gossip_tokio::{Builder, Gossip, RecvError};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

const NODES: usize = 5;
const KEY: &[u8] = b"config/leader";
/// How long any step may take before the demo gives up.
const PATIENCE: Duration = Duration::from_secs(30);
/// A pause before each step, so that the cluster is seen idling a little.
const PAUSE: Duration = Duration::from_millis(1_500);

/// An event, the node it happened on, and when it was received.
type Heard = (Duration, usize, Event<SocketAddr>);

struct Demo {
    start: Instant,
    nodes: Vec<Gossip>,
    /// Nodes whose task was stopped (crashed, or shut down after leaving).
    stopped: Vec<bool>,
    heard: mpsc::UnboundedReceiver<Heard>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let encrypt = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--encrypt") => true,
        Some(other) => {
            eprintln!("usage: demo [--encrypt] (not {other:?})");
            return ExitCode::FAILURE;
        }
    };
    match run(encrypt).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(encrypt: bool) -> Result<(), String> {
    println!("5 nodes on 127.0.0.1 over UDP, Config::local(); events as each node sees them");
    let encryption = encrypt.then(|| {
        let mut bytes = [0; gossip_core::KEY_LEN];
        getrandom::fill(&mut bytes).expect("the system's random generator");
        let key = Key::from_bytes(bytes);
        println!(
            "every datagram sealed with key {} (drawn for this run)",
            key.id()
        );
        Encryption::new(Keyring::new(key)).with_label("demo")
    });
    println!("tables: every node's view (A alive, S suspect, F failed, L left, - unknown)\n");
    let start = Instant::now();
    let (tx, heard) = mpsc::unbounded_channel();
    let mut demo = Demo {
        start,
        nodes: Vec::new(),
        stopped: vec![false; NODES],
        heard,
    };

    demo.step("n0..n4 start; n1..n4 join through n0");
    for i in 0..NODES {
        let mut builder = Builder::new(format!("n{i}")).config(Config::local());
        if let Some(encryption) = &encryption {
            builder = builder.encryption(encryption.clone());
        }
        if let Some(seed) = demo.nodes.first() {
            builder = builder.seeds([seed.local_addr()]);
        }
        let node = Gossip::start(builder)
            .await
            .map_err(|e| format!("n{i}: {e}"))?;
        forward_events(i, &node, start, tx.clone());
        demo.nodes.push(node);
    }
    demo.until("every node sees 5 live members", async |nodes| {
        all_live(nodes, async |n| {
            n.stats().await.is_ok_and(|s| s.live_members == NODES)
        })
        .await
    })
    .await?;
    demo.table().await;

    demo.pause().await;
    demo.step("n1 broadcasts \"deploy v2\"");
    demo.nodes[1]
        .broadcast(b"deploy v2".to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let mut delivered = [false; NODES];
    demo.until_event("every node delivered it", |node, event| {
        if matches!(event, Event::Broadcast(b) if b.payload == b"deploy v2") {
            delivered[node] = true;
        }
        delivered.iter().all(|&d| d)
    })
    .await?;
    demo.table().await;

    demo.pause().await;
    demo.step("n2 sets config/leader = \"n2\"");
    demo.nodes[2]
        .set(KEY.to_vec(), b"n2".to_vec())
        .await
        .map_err(|e| e.to_string())?;
    demo.until("every node reads config/leader = n2", async |nodes| {
        all_live(nodes, async |n| {
            n.get(KEY.to_vec()).await.ok().flatten().as_deref() == Some(b"n2")
        })
        .await
    })
    .await?;
    demo.table().await;

    demo.pause().await;
    demo.step("n3 crashes (its task stops; it does not leave)");
    demo.nodes[3].shutdown().await;
    demo.stopped[3] = true;
    demo.until("a node suspects n3", async |nodes| {
        any_live(nodes, async |n| {
            state_of(n, "n3").await == Some(MemberState::Suspect)
        })
        .await
    })
    .await?;
    demo.table().await;
    demo.until("every node declared n3 failed", async |nodes| {
        all_live(nodes, async |n| {
            state_of(n, "n3").await == Some(MemberState::Failed)
        })
        .await
    })
    .await?;
    demo.table().await;

    demo.pause().await;
    demo.step("n4 leaves gracefully, then stops");
    demo.nodes[4].leave().await.map_err(|e| e.to_string())?;
    demo.until("n0..n2 saw n4 leave", async |nodes| {
        all_live(nodes, async |n| {
            n.name() == "n4" || state_of(n, "n4").await == Some(MemberState::Left)
        })
        .await
    })
    .await?;
    demo.nodes[4].shutdown().await;
    demo.stopped[4] = true;
    demo.table().await;

    if encrypt {
        for node in &demo.nodes[..3] {
            let stats = node.stats().await.map_err(|e| e.to_string())?.stats;
            println!(
                "          {}: {} datagrams sealed, {} opened, {} refused unopened",
                node.name(),
                stats.seal.datagrams_sealed,
                stats.seal.datagrams_opened,
                stats.datagrams.rejected.unauthenticated
                    + stats.datagrams.rejected.unknown_key
                    + stats.datagrams.rejected.plaintext_refused
            );
        }
    }

    demo.pause().await;
    demo.step("n0..n2 shut down");
    for node in &demo.nodes {
        node.shutdown().await;
    }
    demo.drain();
    println!("{:>8.3}s  done", demo.elapsed().as_secs_f64());
    Ok(())
}

impl Demo {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn step(&mut self, what: &str) {
        self.drain();
        println!("{:>8.3}s  ── {what}", self.elapsed().as_secs_f64());
    }

    async fn pause(&mut self) {
        let until = Instant::now() + PAUSE;
        while Instant::now() < until {
            self.drain();
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints the events received so far.
    fn drain(&mut self) {
        while let Ok((at, node, event)) = self.heard.try_recv() {
            if let Some(line) = describe(node, &event) {
                println!("{:>8.3}s  n{node}: {line}", at.as_secs_f64());
            }
        }
    }

    /// Polls `check` over the running nodes (printing events meanwhile) until
    /// it holds; fails after [`PATIENCE`].
    async fn until(
        &mut self,
        what: &str,
        check: impl AsyncFn(&[&Gossip]) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let running: Vec<&Gossip> = self.running().collect();
            let done = check(&running).await;
            self.drain();
            if done {
                println!("{:>8.3}s  ✓ {what}", self.elapsed().as_secs_f64());
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not done in {PATIENCE:?}: {what}"));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Prints events until `done` (given each one) says so; fails after
    /// [`PATIENCE`].
    async fn until_event(
        &mut self,
        what: &str,
        mut done: impl FnMut(usize, &Event<SocketAddr>) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let heard = tokio::time::timeout_at(deadline, self.heard.recv())
                .await
                .map_err(|_| format!("not done in {PATIENCE:?}: {what}"))?
                .ok_or("the event forwarders stopped")?;
            let (at, node, event) = heard;
            if let Some(line) = describe(node, &event) {
                println!("{:>8.3}s  n{node}: {line}", at.as_secs_f64());
            }
            if done(node, &event) {
                println!("{:>8.3}s  ✓ {what}", self.elapsed().as_secs_f64());
                return Ok(());
            }
        }
    }

    fn running(&self) -> impl Iterator<Item = &Gossip> {
        self.nodes
            .iter()
            .zip(&self.stopped)
            .filter(|(_, stopped)| !**stopped)
            .map(|(node, _)| node)
    }

    /// Prints every node's view of every member, its value of the key and its
    /// socket's datagram counts.
    async fn table(&mut self) {
        self.drain();
        let mut lines = vec![format!(
            "{:>10}{}{:>16}{:>18}",
            "",
            (0..NODES)
                .map(|i| format!("{:>4}", format!("n{i}")))
                .collect::<String>(),
            "config/leader",
            "datagrams in/out"
        )];
        for (i, node) in self.nodes.iter().enumerate() {
            let row = format!("{:>10}", format!("n{i}"));
            let (Ok(members), Ok(status), Ok(value)) = (
                node.members().await,
                node.stats().await,
                node.get(KEY.to_vec()).await,
            ) else {
                lines.push(format!("{row}    (stopped)"));
                continue;
            };
            let marks: String = (0..NODES)
                .map(|j| {
                    let name = format!("n{j}");
                    let state = members.iter().find(|m| m.name() == name.as_str());
                    format!("{:>4}", state.map_or("-", |m| mark(m.state())))
                })
                .collect();
            let value = value.map_or("-".into(), |v| String::from_utf8_lossy(&v).into_owned());
            let traffic = format!(
                "{} / {}",
                status.socket.datagrams_in, status.socket.datagrams_out
            );
            lines.push(format!("{row}{marks}{value:>16}{traffic:>18}"));
        }
        println!("{}", lines.join("\n"));
    }
}

/// True if `check` holds for every node (the nodes are asked in turn).
async fn all_live(nodes: &[&Gossip], check: impl AsyncFn(&Gossip) -> bool) -> bool {
    for node in nodes {
        if !check(node).await {
            return false;
        }
    }
    true
}

/// True if `check` holds for some node.
async fn any_live(nodes: &[&Gossip], check: impl AsyncFn(&Gossip) -> bool) -> bool {
    for node in nodes {
        if check(node).await {
            return true;
        }
    }
    false
}

async fn state_of(node: &Gossip, name: &str) -> Option<MemberState> {
    let members = node.members().await.ok()?;
    members.iter().find(|m| m.name() == name).map(|m| m.state())
}

fn mark(state: MemberState) -> &'static str {
    match state {
        MemberState::Alive => "A",
        MemberState::Suspect => "S",
        MemberState::Failed => "F",
        MemberState::Left => "L",
    }
}

/// Forwards node `i`'s events, stamped with the time they were received, to
/// one channel, so that the demo prints them in one place and in order.
fn forward_events(i: usize, node: &Gossip, start: Instant, to: mpsc::UnboundedSender<Heard>) {
    let mut events = node.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if to.send((start.elapsed(), i, event)).is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    eprintln!("n{i}: {missed} events missed");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// The line printed for node `node`'s event, if it is one the demo shows:
/// n0's view of the joins, and every node's view of the rest (the core's
/// `Display` of the event).
fn describe(node: usize, event: &Event<SocketAddr>) -> Option<String> {
    let shown = match event {
        Event::MemberJoined(_) => node == 0,
        Event::JoinCompleted { .. } | Event::Converged(_) | Event::MemberUpdated(_) => false,
        _ => true,
    };
    shown.then(|| event.to_string())
}
