//! Measures, for the README, what a cluster of gossip nodes costs on
//! 127.0.0.1, all in this one process, on each adapter: gossip-tokio (every
//! node a task of one tokio multi-thread runtime with two workers) and
//! gossip-std (every node a thread of its own):
//!
//! - convergence: 50 nodes are started together, every one but node 0
//!   joining through node 0, and the wall time is taken from the first start
//!   until every node reports 50 live members (`Gossip::stats().live_members`),
//!   for `Config::lan()` (the default) and `Config::local()`;
//! - idle cost: once converged (and after a short settle), the nodes idle for
//!   a measured window; the process's CPU time (user + system, from
//!   `/proc/self/stat`) over the window gives CPU milliseconds per node per
//!   minute, and the nodes' counters give datagrams and bytes per node per
//!   second;
//! - command round trip: the wall time of a `get` on one node of the idle
//!   cluster, from the calling thread's request to its answer (median and
//!   99th percentile of 2,000).
//!
//! `cargo run --release -p gossip-agent --example loopback_figures`
//! (about 5 minutes; `-- --idle 20s` shortens the idle windows,
//! `-- --adapters std` measures one adapter, `-- --help` lists the other
//! flags).
//!
//! The CPU time is the whole process's: the runtime's own work (timers, epoll,
//! wake-ups) is counted, shared among the nodes, as it would be in a
//! one-node-per-process deployment's overhead. Linux only (`/proc`).

use std::process::ExitCode;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use gossip_agent::{Adapter, Node};
use gossip_core::Config;
use gossip_tokio::Builder;

#[derive(Parser)]
#[command(about = "Convergence time and idle cost of gossip nodes on loopback, on each adapter")]
struct Args {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// Adapters to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["tokio", "std"])]
    adapters: Vec<Adapter>,
    /// Configurations to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["lan", "local"])]
    configs: Vec<Preset>,
    /// Convergence runs per configuration, each with a fresh cluster; the
    /// idle cost is measured after the last.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// How long the converged cluster idles while its cost is measured
    /// (e.g. 60s, 20s, 1m, 500ms).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    idle: Duration,
    /// How long the converged cluster runs before the idle window opens, so
    /// that the joins' rumors have died out.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    Lan,
    Local,
}

impl Preset {
    fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Local => "local",
        }
    }

    fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Local => Config::local(),
        }
    }
}

/// Give up on convergence after this long.
const PATIENCE: Duration = Duration::from_secs(120);
/// How often the nodes are asked for their live members while converging.
const POLL: Duration = Duration::from_millis(10);
/// Commands timed for the round trip.
const ROUND_TRIPS: usize = 2_000;

fn adapter_name(adapter: Adapter) -> &'static str {
    match adapter {
        Adapter::Tokio => "tokio",
        Adapter::Std => "std",
    }
}

/// Starts nodes on one adapter; tokio nodes share one runtime.
struct Starter {
    adapter: Adapter,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Starter {
    fn start(&self, builder: Builder) -> Result<Node, gossip_tokio::StartError> {
        match self.adapter {
            Adapter::Tokio => Node::start_on(&self.runtime, builder),
            Adapter::Std => Node::start(Adapter::Std, builder),
        }
    }
}

struct Convergence {
    adapter: Adapter,
    preset: Preset,
    run: usize,
    /// From the first start until the last node was started.
    all_started: Duration,
    /// From the first start until each node first reported every member live,
    /// sorted.
    reached: Vec<Duration>,
    /// Datagrams the nodes could not send (the socket said it would block)
    /// until convergence.
    sends_dropped: u64,
}

struct Idle {
    adapter: Adapter,
    preset: Preset,
    window: Duration,
    cpu: Duration,
    totals: Totals,
    /// Every node still saw every member live at the end of the window.
    still_converged: bool,
    /// Wall time of a `get`'s round trip, sorted.
    round_trips: Vec<Duration>,
}

/// The nodes' counters, summed.
#[derive(Clone, Copy, Default)]
struct Totals {
    datagrams_out: u64,
    datagrams_in: u64,
    bytes_out: u64,
    bytes_in: u64,
    suspicions: u64,
    failures: u64,
    sends_dropped: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.nodes < 2 || args.runs == 0 {
        eprintln!("need at least 2 nodes and 1 run");
        return ExitCode::FAILURE;
    }
    let (ticks, source) = clock_ticks();
    println!(
        "{} nodes on 127.0.0.1 in one process: tokio, one multi-thread runtime with 2 workers; \
         std, a thread per node",
        args.nodes
    );
    println!("CPU time from /proc/self/stat (utime + stime), CLK_TCK = {ticks} ({source})\n");

    let mut convergences = Vec::new();
    let mut idles = Vec::new();
    for &adapter in &args.adapters {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let starter = Starter {
            adapter,
            runtime: Arc::new(runtime),
        };
        for &preset in &args.configs {
            for run in 1..=args.runs {
                let (nodes, convergence) = match converge(&starter, preset, run, args.nodes) {
                    Ok(converged) => converged,
                    Err(error) => {
                        eprintln!("{error}");
                        return ExitCode::FAILURE;
                    }
                };
                println!(
                    "{:<6}{:<6} run {run}: converged in {:.3} s",
                    adapter_name(adapter),
                    preset.name(),
                    convergence.reached.last().unwrap().as_secs_f64()
                );
                convergences.push(convergence);
                if run == args.runs {
                    sleep(args.settle);
                    println!(
                        "{:<6}{:<6} idling {:.0} s (after a {:.0} s settle)",
                        adapter_name(adapter),
                        preset.name(),
                        args.idle.as_secs_f64(),
                        args.settle.as_secs_f64()
                    );
                    idles.push(idle(adapter, preset, &nodes, args.idle, ticks));
                }
                for node in &nodes {
                    node.shutdown();
                }
            }
        }
    }

    let n = args.nodes;
    println!("\nconvergence: from the first start until every node reports {n} live members");
    println!(
        "{:<8}{:<8}{:>5}{:>14}{:>14}{:>14}{:>14}{:>15}",
        "adapter",
        "config",
        "run",
        "all started",
        "first node",
        "median node",
        "last node",
        "sends dropped"
    );
    for c in &convergences {
        println!(
            "{:<8}{:<8}{:>5}{:>14}{:>14}{:>14}{:>14}{:>15}",
            adapter_name(c.adapter),
            c.preset.name(),
            c.run,
            millis(c.all_started),
            millis(c.reached[0]),
            millis(c.reached[c.reached.len() / 2]),
            millis(*c.reached.last().unwrap()),
            c.sends_dropped,
        );
    }

    println!("\nidle cost per node (after convergence; all {n} nodes in this process)");
    println!(
        "{:<8}{:<8}{:>8}{:>15}{:>17}{:>14}{:>14}{:>13}{:>16}{:>15}",
        "adapter",
        "config",
        "window",
        "CPU ms/min",
        "datagrams out/s",
        "bytes out/s",
        "bytes in/s",
        "suspicions",
        "still converged",
        "get µs p50/p99"
    );
    for i in &idles {
        let nodes = n as f64;
        let secs = i.window.as_secs_f64();
        let cpu_ms_per_min = i.cpu.as_secs_f64() * 1_000.0 / nodes / (secs / 60.0);
        let micros = |q: usize| i.round_trips[q * (i.round_trips.len() - 1) / 100].as_micros();
        println!(
            "{:<8}{:<8}{:>7.1}s{:>15.1}{:>17.2}{:>14.0}{:>14.0}{:>13}{:>16}{:>15}",
            adapter_name(i.adapter),
            i.preset.name(),
            secs,
            cpu_ms_per_min,
            i.totals.datagrams_out as f64 / nodes / secs,
            i.totals.bytes_out as f64 / nodes / secs,
            i.totals.bytes_in as f64 / nodes / secs,
            i.totals.suspicions,
            if i.still_converged { "yes" } else { "NO" },
            format!("{} / {}", micros(50), micros(99)),
        );
        if i.totals.failures > 0 || i.totals.sends_dropped > 0 {
            println!(
                "        ({} failures declared, {} sends dropped in the window)",
                i.totals.failures, i.totals.sends_dropped
            );
        }
    }
    println!(
        "\nCPU time is the process's, over all {n} nodes and the runtime, divided by {n}; \
         bytes are datagram payloads (no IP/UDP headers)."
    );
    ExitCode::SUCCESS
}

/// Starts `n` nodes with `preset`'s configuration, all but node 0 joining
/// through node 0, and waits until every node reports `n` live members.
fn converge(
    starter: &Starter,
    preset: Preset,
    run: usize,
    n: usize,
) -> Result<(Vec<Node>, Convergence), String> {
    let start = Instant::now();
    let builder = |i: usize| Builder::new(format!("n{i}")).config(preset.config());
    let first = starter.start(builder(0)).map_err(|e| format!("n0: {e}"))?;
    let seed = first.advertise_addr();
    let mut nodes = vec![first];
    for i in 1..n {
        let node = starter
            .start(builder(i).seeds([seed]))
            .map_err(|e| format!("n{i}: {e}"))?;
        nodes.push(node);
    }
    let all_started = start.elapsed();

    let mut reached: Vec<Option<Duration>> = vec![None; n];
    loop {
        for (node, reached) in nodes.iter().zip(&mut reached) {
            if reached.is_none() {
                let status = node.stats().map_err(|e| e.to_string())?;
                if status.live_members == n {
                    *reached = Some(start.elapsed());
                }
            }
        }
        if reached.iter().all(Option::is_some) {
            break;
        }
        if start.elapsed() > PATIENCE {
            let behind = reached.iter().filter(|r| r.is_none()).count();
            return Err(format!(
                "{}: {behind} nodes did not see {n} live members in {PATIENCE:?}",
                preset.name()
            ));
        }
        sleep(POLL);
    }
    let mut reached: Vec<Duration> = reached.into_iter().flatten().collect();
    reached.sort();
    let sends_dropped = totals(&nodes).sends_dropped;
    Ok((
        nodes,
        Convergence {
            adapter: starter.adapter,
            preset,
            run,
            all_started,
            reached,
            sends_dropped,
        },
    ))
}

/// Lets `nodes` idle for `window`, measuring the process's CPU time and the
/// nodes' traffic over it; then times the round trip of a command.
fn idle(adapter: Adapter, preset: Preset, nodes: &[Node], window: Duration, ticks: u64) -> Idle {
    let before = totals(nodes);
    let cpu_before = process_cpu(ticks);
    let opened = Instant::now();
    sleep(window);
    let cpu_after = process_cpu(ticks);
    let window = opened.elapsed();
    let after = totals(nodes);
    let still_converged = nodes
        .iter()
        .all(|node| node.stats().is_ok_and(|s| s.live_members == nodes.len()));
    let mut round_trips: Vec<Duration> = (0..ROUND_TRIPS)
        .map(|_| {
            let asked = Instant::now();
            let _ = nodes[0].get(b"k".to_vec());
            asked.elapsed()
        })
        .collect();
    round_trips.sort();
    Idle {
        adapter,
        preset,
        window,
        cpu: cpu_after.saturating_sub(cpu_before),
        totals: Totals {
            datagrams_out: after.datagrams_out - before.datagrams_out,
            datagrams_in: after.datagrams_in - before.datagrams_in,
            bytes_out: after.bytes_out - before.bytes_out,
            bytes_in: after.bytes_in - before.bytes_in,
            suspicions: after.suspicions - before.suspicions,
            failures: after.failures - before.failures,
            sends_dropped: after.sends_dropped - before.sends_dropped,
        },
        still_converged,
        round_trips,
    }
}

fn totals(nodes: &[Node]) -> Totals {
    let mut sum = Totals::default();
    for node in nodes {
        let Ok(status) = node.stats() else {
            continue;
        };
        sum.datagrams_out += status.socket.datagrams_out;
        sum.datagrams_in += status.socket.datagrams_in;
        sum.sends_dropped += status.socket.sends_dropped;
        sum.bytes_out += status.stats.datagrams.bytes_out;
        sum.bytes_in += status.stats.datagrams.bytes_in;
        sum.suspicions += status.stats.members.suspicions;
        sum.failures += status.stats.members.failures_declared;
    }
    sum
}

/// This process's CPU time (user + system, every thread), from fields 14 and
/// 15 of `/proc/self/stat`, in clock ticks of `1 / ticks` s.
fn process_cpu(ticks: u64) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux only)");
    // The command name (field 2) is in parentheses and may hold spaces: count
    // fields after its closing parenthesis, where field 3 is the first.
    let rest = &stat[stat.rfind(')').expect("a /proc/self/stat line") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a number of clock ticks") };
    let used = field(14) + field(15);
    Duration::from_nanos(used * 1_000_000_000 / ticks)
}

/// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`), asked of
/// `getconf`, since calling `sysconf` would need `libc` and unsafe code; 100
/// (Linux's value on every common architecture) if `getconf` is missing.
fn clock_ticks() -> (u64, &'static str) {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .map_or((100, "assumed: getconf unavailable"), |t| {
            (t, "from getconf")
        })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |at| s.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 60s, 1m, 500ms)"))?;
    let secs = match unit {
        "ms" => value / 1_000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit {unit:?} (ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
