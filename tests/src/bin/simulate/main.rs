//! `simulate`: runs a cluster of gossip nodes in virtual time and reports what
//! happened, as a table, JSON, CSV files or an SVG plot.
//!
//! ```text
//! simulate --nodes 1000 --loss 0.05 --kill 10 --duration 5m --seed 7 --svg run.svg
//! simulate --scenario tests/scenarios/crash.toml --seed 3 --json
//! ```
//!
//! The flags describe a [`Scenario`]; a scenario file describes the same thing in
//! TOML. `main` parses, builds the scenario, runs it and writes the outputs.

use std::cell::OnceCell;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use gossip_core::Config;
use gossip_sim::{
    BroadcastLoad, Bursts, Fault, GeometrySpec, Latency, LossyNodes, Mode, PeerSelectionSpec,
    Preset, Protocol, PullScheduleSpec, Report, Scenario, Start, TerminationSpec, TrafficReport,
    WriteLoad, format_duration, parse_duration,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Exit status for input that cannot run: flags, scenario files, output paths.
const INVALID_INPUT: u8 = 2;
/// Exit status when the run finished but its results could not be written.
const OUTPUT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(status) => return status,
    };
    if cli.output.dry_run {
        return match cli.scenario() {
            Ok(_) => ExitCode::SUCCESS,
            Err(message) => fail(INVALID_INPUT, &message),
        };
    }
    let prepared = cli.scenario().and_then(|s| Ok((s, cli.output.open()?)));
    let (scenario, outputs) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => return fail(INVALID_INPUT, &message),
    };
    if outputs.compare_modes {
        return compare_modes(scenario, outputs);
    }
    // Counted by allocation-counter's global allocator: a thread-local
    // count per allocation, nothing measurable beside a simulation.
    let mut report = None;
    let heap = allocation_counter::measure(|| report = Some(run_with_progress(&scenario)));
    let report = report.expect("the run returns a report");
    match outputs.write(&report, heap.bytes_max) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(OUTPUT_FAILED, &message),
    }
}

/// `--compare-modes`: the scenario once per broadcast mode, one table, and the
/// modes' infection curves in one plot.
fn compare_modes(scenario: Scenario, outputs: Outputs) -> ExitCode {
    let mut scenario = scenario;
    if scenario.broadcasts.is_none() {
        scenario.broadcasts = Some(BroadcastLoad::default());
    }
    let runs: Vec<(String, Report)> = [Mode::Push, Mode::Pull, Mode::PushPull]
        .into_iter()
        .map(|mode| {
            let mut run = scenario.clone();
            run.protocol.mode = Some(mode);
            (mode.to_string(), run_with_progress(&run))
        })
        .collect();
    let unit = if scenario.rounds { "rounds" } else { "s" };
    let mut table = format!(
        "{} nodes, loss {:.0}%, {} broadcast(s), seed {}\n\
         | mode | {unit} to reach all (mean, max) | copies sent per node | residue |\n\
         |---|---|---|---|\n",
        scenario.nodes,
        scenario.network.loss * 100.0,
        scenario.broadcasts.map_or(0, |b| b.count),
        scenario.seed
    );
    for (mode, report) in &runs {
        let b = &report.broadcasts;
        let reached = if scenario.rounds {
            b.all_reached_rounds
        } else {
            b.all_reached_s
        };
        let reach = match reached {
            Some(s) if b.reached_all == b.count => format!("{:.1}, {:.1}", s.mean, s.max),
            _ => format!("{} of {} never did", b.count - b.reached_all, b.count),
        };
        table += &format!(
            "| {mode} | {reach} | {:.2} | {:.4} |\n",
            b.messages_per_node, b.residue
        );
    }
    if outputs.table {
        print!("{table}");
    }
    if outputs.json {
        let reports: Vec<&Report> = runs.iter().map(|(_, r)| r).collect();
        match serde_json::to_string_pretty(&reports) {
            Ok(json) => println!("{json}"),
            Err(e) => return fail(OUTPUT_FAILED, &format!("cannot encode JSON: {e}")),
        }
    }
    if let Some((path, mut file)) = outputs.svg {
        let labelled: Vec<(&str, &Report)> = runs.iter().map(|(m, r)| (m.as_str(), r)).collect();
        let written = gossip_sim::plot::render_spread_svg(&labelled)
            .and_then(|svg| file.write_all(svg.as_bytes()).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return fail(
                OUTPUT_FAILED,
                &format!("cannot write {}: {e}", path.display()),
            );
        }
    }
    ExitCode::SUCCESS
}

/// The flags, or the exit status if they cannot run.
fn parse() -> Result<Cli, ExitCode> {
    let command = Cli::command();
    let matches = command.clone().try_get_matches().map_err(usage_error)?;
    let cli = Cli::from_arg_matches(&matches).map_err(usage_error)?;
    if cli.cluster.scenario.is_some() {
        let given = flags_a_file_describes(&command, &matches);
        if !given.is_empty() {
            let message = format!(
                "--scenario cannot be combined with {}: set that in the scenario file \
                 (only --nodes, --duration and --seed override the file)",
                given.join(", ")
            );
            return Err(fail(INVALID_INPUT, &message));
        }
    }
    Ok(cli)
}

/// The flags given on the command line that a scenario file describes
/// instead (every scenario flag but --nodes, --duration and --seed).
fn flags_a_file_describes(command: &clap::Command, matches: &ArgMatches) -> Vec<String> {
    // clap's derive names the group of a flattened struct's flags after it.
    let groups = [
        "SetupFlags",
        "ProtocolFlags",
        "BroadcastFlags",
        "WriteFlags",
        "NetworkFlags",
        "FaultFlags",
    ];
    command
        .get_groups()
        .filter(|group| groups.contains(&group.get_id().as_str()))
        .flat_map(|group| group.get_args())
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|id| command.get_arguments().find(|arg| arg.get_id() == id))
        .filter_map(|arg| arg.get_long())
        .map(|long| format!("--{long}"))
        .collect()
}

/// Runs a cluster of gossip nodes in virtual time and reports membership
/// convergence, failure detection, false alarms, traffic, broadcasts and the
/// convergence of the replicated store.
///
/// Durations are written like 250ms, 1.5s, 5m or 2m30s; a bare number is
/// seconds. Shares (P, FRACTION) are between 0 and 1.
#[derive(Parser, Debug)]
#[command(
    name = "simulate",
    version,
    after_help = "Exit status: 0 on success, 2 for invalid input (flags, scenario file, \
                  output paths), 1 if the results could not be written."
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterFlags,
    #[command(flatten)]
    setup: SetupFlags,
    #[command(flatten)]
    protocol: ProtocolFlags,
    #[command(flatten)]
    broadcasts: BroadcastFlags,
    #[command(flatten)]
    writes: WriteFlags,
    #[command(flatten)]
    network: NetworkFlags,
    #[command(flatten)]
    faults: FaultFlags,
    #[command(flatten)]
    output: OutputFlags,
}

/// User broadcasts: how they spread and how many are sent.
#[derive(Args, Debug)]
#[command(next_help_heading = "Broadcasts")]
struct BroadcastFlags {
    /// How broadcasts spread: push (rumor mongering), pull (digests out,
    /// missing broadcasts back) or push-pull [default: push-pull]
    #[arg(long, value_name = "MODE", value_parser = mode)]
    mode: Option<Mode>,
    /// When a node stops pushing a broadcast: limit (retransmit_mult ·
    /// ceil(log10(n + 1)) pushes), feedback:K (after K pushes to nodes that
    /// knew it) or coin:K (after each push, with probability 1/K) [default: limit]
    #[arg(long, value_name = "HOW", value_parser = termination)]
    termination: Option<TerminationSpec>,
    /// When a node pulls: while-active (every pull interval while it holds
    /// broadcasts; holding none, from a member whose probe showed it holds
    /// some) or periodic (every pull interval, always) [default: while-active]
    #[arg(long, value_name = "WHEN", value_parser = pull_schedule)]
    pull_schedule: Option<PullScheduleSpec>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Least time between pulls", |c| format_duration(c.pull_interval)))]
    pull_interval: Option<Duration>,
    #[arg(long, value_name = "N",
          help = preset_default("Members asked per periodic pull", |c| c.pull_fanout.to_string()))]
    pull_fanout: Option<usize>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("How long a broadcast is passed on, pushed or pulled",
                                |c| format_duration(c.broadcast_retention)))]
    retention: Option<Duration>,
    /// Broadcasts sent, each by a random node
    #[arg(long, value_name = "N")]
    broadcasts: Option<usize>,
    /// When the first broadcast is sent [default: 500ms]
    #[arg(long, value_name = "D", value_parser = duration, requires = "broadcasts")]
    broadcast_at: Option<Duration>,
    /// Time between broadcasts [default: 0s, all at once]
    #[arg(long, value_name = "D", value_parser = duration, requires = "broadcasts")]
    broadcast_every: Option<Duration>,
    /// Payload bytes of each broadcast [default: 32]
    #[arg(long, value_name = "BYTES", requires = "broadcasts")]
    broadcast_size: Option<usize>,
    /// Synchronous rounds of 1 s, to hold spreading against theory: each node
    /// contacts --gossip-fanout (default 1) random nodes per round, by a gossip
    /// round in push mode and by a pull in the pull modes; datagrams arrive
    /// within the round; probing is off. Times are reported in rounds
    #[arg(long)]
    rounds: bool,
}

/// Writes to the replicated store, and how the replicas reconcile.
#[derive(Args, Debug)]
#[command(next_help_heading = "Replicated state")]
struct WriteFlags {
    /// Writes and deletes made, each by a random running node to a random key;
    /// the report then says when the replicas converged and checks that no
    /// acknowledged write was lost and no deleted key came back
    #[arg(long, value_name = "N")]
    writes: Option<usize>,
    /// Distinct keys written: few keys make nodes write the same keys
    /// concurrently [default: 100]
    #[arg(long, value_name = "K", requires = "writes")]
    write_keys: Option<usize>,
    /// When the first write is made [default: 1s]
    #[arg(long, value_name = "D", value_parser = duration, requires = "writes")]
    write_at: Option<Duration>,
    /// Time over which the writes are spread evenly [default: 0s, all at once]
    #[arg(long, value_name = "D", value_parser = duration, requires = "writes")]
    write_over: Option<Duration>,
    /// Bytes of each value, at least 8 [default: 32]
    #[arg(long, value_name = "BYTES", requires = "writes")]
    write_size: Option<usize>,
    /// Share of the writes that are deletes [default: 0]
    #[arg(long, value_name = "F", value_parser = share, requires = "writes")]
    delete_fraction: Option<f64>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Time between anti-entropy rounds (Merkle tree comparison with one random member)",
                                |c| format_duration(c.state_sync_interval)))]
    sync_interval: Option<Duration>,
}

/// What the scenario is, and the flags a scenario file may be combined with.
#[derive(Args, Debug)]
#[command(next_help_heading = "Cluster")]
struct ClusterFlags {
    /// Load the scenario from a TOML file; only --nodes, --duration and --seed
    /// may be given with it, and they override the file
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Number of nodes [default: 100]
    #[arg(long, value_name = "N")]
    nodes: Option<usize>,
    /// Simulated time [default: 60s]
    #[arg(long, value_name = "D", value_parser = duration)]
    duration: Option<Duration>,
    /// Seed of every random choice; the same seed gives the same run [default: 0]
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
}

/// How the run starts and how finely it is recorded.
#[derive(Args, Debug)]
#[command(next_help_heading = "Start")]
struct SetupFlags {
    /// How the nodes find each other: converged (everyone knows everyone), join
    /// (all join through node 0 at once), staggered:INTERVAL (node i joins at
    /// i × INTERVAL) or sparse:K (each knows K random others; full membership
    /// is not tracked) [default: converged]
    #[arg(long, value_name = "HOW", value_parser = start)]
    start: Option<Start>,
    /// Resolution of the time series [default: 1s]
    #[arg(long, value_name = "D", value_parser = duration)]
    sample_interval: Option<Duration>,
}

/// Protocol settings: a preset and overrides of it.
#[derive(Args, Debug)]
#[command(next_help_heading = "Protocol")]
struct ProtocolFlags {
    /// Protocol preset; the flags below override it [default: lan]
    #[arg(long, value_enum)]
    preset: Option<PresetName>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Time between probes", |c| format_duration(c.probe_interval)))]
    probe_interval: Option<Duration>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Wait for a direct ack before asking others to probe",
                                |c| format_duration(c.probe_timeout)))]
    probe_timeout: Option<Duration>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Time between gossip rounds", |c| format_duration(c.gossip_interval)))]
    gossip_interval: Option<Duration>,
    #[arg(long, value_name = "N",
          help = preset_default("Members gossiped to per round", |c| c.gossip_fanout.to_string()))]
    gossip_fanout: Option<usize>,
    #[arg(long, value_name = "D", value_parser = duration,
          help = preset_default("Time between full state exchanges",
                                |c| format_duration(c.push_pull_interval)))]
    push_pull_interval: Option<Duration>,
    #[arg(long, value_name = "N",
          help = preset_default("Suspicion timeout in protocol periods, times max(1, log10 n)",
                                |c| c.suspicion_mult.to_string()))]
    suspicion_mult: Option<u32>,
    #[arg(long, value_name = "N",
          help = preset_default("Sends of each update, times ceil(log10(n + 1))",
                                |c| c.retransmit_mult.to_string()))]
    retransmit_mult: Option<u32>,
    #[arg(long, value_name = "N",
          help = preset_default("Members asked to probe on a node's behalf",
                                |c| c.indirect_checks.to_string()))]
    indirect_checks: Option<usize>,
    /// Do not exchange state with senders missing from the member table
    /// [default: discovery on]
    #[arg(long)]
    no_discovery: bool,
    /// Plain SWIM: turn off all of Lifeguard (local health, nacks, dynamic
    /// suspicion, buddy system); the flags below may turn parts back on
    /// [default: Lifeguard on]
    #[arg(long)]
    no_lifeguard: bool,
    #[arg(long, value_name = "N",
          help = preset_default("Lifeguard local health: probe interval and timeout stretch up to N times; 1 is off",
                                |c| c.awareness_max.to_string()))]
    awareness_max: Option<u32>,
    #[arg(long, value_name = "N",
          help = preset_default("Lifeguard dynamic suspicion: an unconfirmed suspicion lasts N times the minimum; 1 is off",
                                |c| c.suspicion_max_timeout_mult.to_string()))]
    suspicion_max_mult: Option<u32>,
    /// Lifeguard nacks on or off [default: on]
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    nacks: Option<bool>,
    /// Lifeguard buddy system on or off [default: on]
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    buddy: Option<bool>,
    /// Network coordinates on or off [default: on]
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    coordinates: Option<bool>,
    /// Gossip partners: uniform, or nearby (the nearest of 16 random members,
    /// or with 10% chance any member) [default: uniform]
    #[arg(long, value_name = "HOW")]
    peer_selection: Option<PeerSelectionSpec>,
}

/// The protocol presets, as flag values.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum PresetName {
    /// Config::lan()
    Lan,
    /// Config::wan()
    Wan,
    /// Config::local()
    Local,
}

impl From<PresetName> for Preset {
    fn from(name: PresetName) -> Self {
        match name {
            PresetName::Lan => Preset::Lan,
            PresetName::Wan => Preset::Wan,
            PresetName::Local => Preset::Local,
        }
    }
}

/// Help text ending in the value each preset gives a setting, read from the
/// presets themselves so that it cannot go stale.
fn preset_default(what: &str, value: fn(&Config) -> String) -> String {
    format!(
        "{what} [default: lan {}, wan {}, local {}]",
        value(&Config::lan()),
        value(&Config::wan()),
        value(&Config::local())
    )
}

/// The simulated network.
#[derive(Args, Debug)]
#[command(next_help_heading = "Network")]
struct NetworkFlags {
    /// One-way latency before jitter: 2ms (fixed), uniform:1ms..5ms, or
    /// pareto:MIN,SHAPE,MAX (long-tailed, e.g. pareto:1ms,1.5,1s) [default: 1ms]
    #[arg(long, value_name = "LATENCY", value_parser = latency)]
    latency: Option<Latency>,
    /// Place the nodes in datacentres: five_datacenters (us-east, us-west,
    /// europe, asia, south-america; 1 ms round trips inside, 62-150 ms
    /// between; node i in datacentre i mod 5). Replaces --latency; set
    /// --jitter 0ms to keep the geometry's round trips [default: none]
    #[arg(long, value_name = "NAME")]
    geometry: Option<String>,
    /// Extra delay, uniform in 0..D, per datagram [default: 1ms]
    #[arg(long, value_name = "D", value_parser = duration)]
    jitter: Option<Duration>,
    /// Share of datagrams lost, independently [default: 0]
    #[arg(long, value_name = "P", value_parser = share)]
    loss: Option<f64>,
    /// Bursty loss on top: long-run share lost, mean burst length in datagrams,
    /// share lost during a burst (e.g. 0.02,10,0.5) [default: none]
    #[arg(long, value_name = "MEAN,LEN,BAD", value_parser = bursts)]
    bursts: Option<Bursts>,
    /// Share of datagrams delivered twice [default: 0]
    #[arg(long, value_name = "P", value_parser = share)]
    duplicate: Option<f64>,
    /// Share of datagrams held back by up to DELAY, so later ones overtake them
    /// [default: 0; DELAY 50ms]
    #[arg(long, value_name = "P[,DELAY]", value_parser = reorder)]
    reorder: Option<Reorder>,
    /// A share of the nodes (at random) whose outgoing datagrams are lost at
    /// RATE instead: asymmetric links (e.g. 0.05,0.5) [default: none]
    #[arg(long, value_name = "FRACTION,RATE", value_parser = lossy_senders)]
    lossy_senders: Option<LossyNodes>,
}

/// What goes wrong during the run. Nodes are picked at random from the seed,
/// never node 0.
#[derive(Args, Debug)]
#[command(next_help_heading = "Faults")]
struct FaultFlags {
    /// Crash N nodes
    #[arg(long, value_name = "N")]
    kill: Option<usize>,
    /// When to crash them [default: a quarter of the duration]
    #[arg(long, value_name = "D", value_parser = duration, requires = "kill")]
    kill_at: Option<Duration>,
    /// N nodes leave gracefully
    #[arg(long, value_name = "N")]
    leave: Option<usize>,
    /// When they leave [default: a quarter of the duration]
    #[arg(long, value_name = "D", value_parser = duration, requires = "leave")]
    leave_at: Option<Duration>,
    /// Split the network, with FRACTION of the nodes on one side
    #[arg(long, value_name = "FRACTION", value_parser = share)]
    partition: Option<f64>,
    /// When the partition starts [default: a quarter of the duration]
    #[arg(long, value_name = "D", value_parser = duration, requires = "partition")]
    partition_at: Option<Duration>,
    /// How long the partition lasts [default: 60s]
    #[arg(long, value_name = "D", value_parser = duration, requires = "partition")]
    partition_for: Option<Duration>,
    /// Restart FRACTION of the nodes (new generation, rejoining through node 0)
    /// every --churn-every, from that mark until 80% of the duration
    #[arg(long, value_name = "FRACTION", value_parser = share)]
    churn: Option<f64>,
    /// Time between restarts [default: 60s]
    #[arg(long, value_name = "D", value_parser = duration, requires = "churn")]
    churn_every: Option<Duration>,
    /// How long a restarting node stays down [default: 0s, back at once]
    #[arg(long, value_name = "D", value_parser = duration, requires = "churn")]
    churn_downtime: Option<Duration>,
    /// FRACTION of the nodes handle incoming datagrams late during slow spells
    /// (slow message processing: CPU starvation, GC pauses); their timers fire
    /// on time
    #[arg(long, value_name = "FRACTION", value_parser = share)]
    slow: Option<f64>,
    /// Range of the added delay [default: 2s..4s]
    #[arg(long, value_name = "MIN..MAX", value_parser = delay_range, requires = "slow")]
    slow_delay: Option<(Duration, Duration)>,
    /// Length of a slow spell [default: 30s]
    #[arg(long, value_name = "D", value_parser = duration, requires = "slow")]
    slow_spell: Option<Duration>,
    /// One slow spell per period, at a random phase per node [default: 60s]
    #[arg(long, value_name = "D", value_parser = duration, requires = "slow")]
    slow_period: Option<Duration>,
    /// When the uniform loss rate changes to --new-loss
    #[arg(long, value_name = "D", value_parser = duration, requires = "new_loss")]
    loss_at: Option<Duration>,
    /// The uniform loss rate from --loss-at on
    #[arg(long, value_name = "P", value_parser = share, requires = "loss_at")]
    new_loss: Option<f64>,
}

/// Where the results go.
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
struct OutputFlags {
    /// Print the whole report as one JSON object on stdout, instead of the table
    #[arg(long)]
    json: bool,
    /// Write series.csv, failures.csv and infections.csv into DIR (created if
    /// missing)
    #[arg(long, value_name = "DIR")]
    csv: Option<PathBuf>,
    /// Write a plot of membership over time and of how each crash became known
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Do not print the table
    #[arg(long)]
    quiet: bool,
    /// Run the scenario once in each broadcast mode (push, pull, push-pull) and
    /// print one table comparing them; --svg then draws their infection curves
    #[arg(long)]
    compare_modes: bool,
    /// Check the flags and the scenario file, then exit without running or
    /// writing anything (status 0 if the scenario can run)
    #[arg(long)]
    dry_run: bool,
    /// After the table, print the most heap the run held at once, in all and
    /// per (observer, member) pair; the simulator's own (network, records) is
    /// included
    #[arg(long, conflicts_with_all = ["json", "quiet", "compare_modes"])]
    memory: bool,
    /// After the table, print what each kind of message cost: bytes and
    /// messages per node per second, the datagrams' headers apart (the JSON
    /// report always has them, as traffic.by_kind)
    #[arg(long, conflicts_with_all = ["json", "quiet", "compare_modes"])]
    by_kind: bool,
}

impl Cli {
    /// The scenario the flags (or the file and its overrides) describe, checked.
    fn scenario(&self) -> Result<Scenario, String> {
        let c = &self.cluster;
        let mut scenario = match &c.scenario {
            Some(path) => load(path)?,
            None => self.described_by_flags(),
        };
        if let Some(nodes) = c.nodes {
            scenario.nodes = nodes;
        }
        if let Some(duration) = c.duration {
            scenario.duration = duration;
        }
        if let Some(seed) = c.seed {
            scenario.seed = seed;
        }
        scenario.validate()?;
        Ok(scenario)
    }

    fn described_by_flags(&self) -> Scenario {
        let c = &self.cluster;
        let duration = c.duration.unwrap_or(Duration::from_secs(60));
        let mut scenario = Scenario::new(c.nodes.unwrap_or(100), duration);
        scenario.start = self.setup.start.unwrap_or(Start::Converged);
        if let Some(interval) = self.setup.sample_interval {
            scenario.sample_interval = interval;
        }
        scenario.protocol = self.protocol.protocol();
        self.broadcasts.apply(&mut scenario);
        self.writes.apply(&mut scenario);
        self.network.apply(&mut scenario.network);
        scenario.faults = self.faults.faults(duration);
        scenario
    }
}

impl BroadcastFlags {
    fn apply(&self, scenario: &mut Scenario) {
        let protocol = &mut scenario.protocol;
        protocol.mode = self.mode;
        protocol.termination = self.termination;
        protocol.pull_schedule = self.pull_schedule;
        protocol.pull_interval = self.pull_interval;
        protocol.pull_fanout = self.pull_fanout;
        protocol.broadcast_retention = self.retention;
        scenario.rounds = self.rounds;
        if let Some(count) = self.broadcasts {
            let default = BroadcastLoad::default();
            scenario.broadcasts = Some(BroadcastLoad {
                count,
                at: self.broadcast_at.unwrap_or(default.at),
                every: self.broadcast_every.unwrap_or(default.every),
                size: self.broadcast_size.unwrap_or(default.size),
            });
        }
    }
}

impl WriteFlags {
    fn apply(&self, scenario: &mut Scenario) {
        scenario.protocol.state_sync_interval = self.sync_interval;
        if let Some(count) = self.writes {
            let default = WriteLoad::default();
            scenario.writes = Some(WriteLoad {
                count,
                at: self.write_at.unwrap_or(default.at),
                over: self.write_over.unwrap_or(default.over),
                keys: self.write_keys.unwrap_or(default.keys),
                size: self.write_size.unwrap_or(default.size),
                delete_fraction: self.delete_fraction.unwrap_or(default.delete_fraction),
            });
        }
    }
}

impl ProtocolFlags {
    fn protocol(&self) -> Protocol {
        Protocol {
            preset: self.preset.map(Preset::from).unwrap_or_default(),
            probe_interval: self.probe_interval,
            probe_timeout: self.probe_timeout,
            gossip_interval: self.gossip_interval,
            gossip_fanout: self.gossip_fanout,
            push_pull_interval: self.push_pull_interval,
            suspicion_mult: self.suspicion_mult,
            retransmit_mult: self.retransmit_mult,
            indirect_checks: self.indirect_checks,
            discovery: self.no_discovery.then_some(false),
            lifeguard: self.no_lifeguard.then_some(false),
            awareness_max: self.awareness_max,
            nacks: self.nacks,
            suspicion_max_timeout_mult: self.suspicion_max_mult,
            buddy_system: self.buddy,
            coordinates: self.coordinates,
            peer_selection: self.peer_selection,
            ..Protocol::default()
        }
    }
}

impl NetworkFlags {
    fn apply(&self, network: &mut gossip_sim::NetworkSpec) {
        if let Some(latency) = self.latency {
            network.latency = latency;
        }
        if let Some(jitter) = self.jitter {
            network.jitter = jitter;
        }
        if let Some(loss) = self.loss {
            network.loss = loss;
        }
        network.bursts = self.bursts;
        if let Some(duplicate) = self.duplicate {
            network.duplicate = duplicate;
        }
        if let Some(reorder) = self.reorder {
            network.reorder = reorder.share;
            if let Some(delay) = reorder.delay {
                network.reorder_delay = delay;
            }
        }
        network.lossy_senders = self.lossy_senders;
        network.geometry = self.geometry.clone().map(GeometrySpec::Preset);
    }
}

impl FaultFlags {
    fn faults(&self, duration: Duration) -> Vec<Fault> {
        let quarter = duration / 4;
        let mut faults = Vec::new();
        if let Some(count) = self.kill {
            let at = self.kill_at.unwrap_or(quarter);
            faults.push(Fault::Crash { count, at });
        }
        if let Some(count) = self.leave {
            let at = self.leave_at.unwrap_or(quarter);
            faults.push(Fault::Leave { count, at });
        }
        if let Some(fraction) = self.partition {
            faults.push(Fault::Partition {
                fraction,
                at: self.partition_at.unwrap_or(quarter),
                lasting: self.partition_for.unwrap_or(Duration::from_secs(60)),
            });
        }
        if let Some(fraction) = self.churn {
            let every = self.churn_every.unwrap_or(Duration::from_secs(60));
            faults.push(Fault::Churn {
                fraction,
                downtime: self.churn_downtime.unwrap_or_default(),
                every,
                from: every,
                until: duration.mul_f64(0.8),
            });
        }
        if let Some(fraction) = self.slow {
            let (min_delay, max_delay) = self
                .slow_delay
                .unwrap_or((Duration::from_secs(2), Duration::from_secs(4)));
            faults.push(Fault::Slow {
                fraction,
                min_delay,
                max_delay,
                spell: self.slow_spell.unwrap_or(Duration::from_secs(30)),
                period: self.slow_period.unwrap_or(Duration::from_secs(60)),
            });
        }
        if let (Some(at), Some(loss)) = (self.loss_at, self.new_loss) {
            faults.push(Fault::Loss { loss, at });
        }
        faults
    }
}

/// Reads a scenario file; a TOML error is reported as `file:line:column: what`.
fn load(path: &Path) -> Result<Scenario, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read scenario file {}: {e}", path.display()))?;
    let at = |e: toml::de::Error| {
        let at = e.span().map_or(String::new(), |span| {
            let before = &text[..span.start];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{line}:{column}: ")
        });
        let message = e.message().trim().replace('\n', " ");
        format!("{}:{at}{message}", path.display())
    };
    toml::from_str(&text).map_err(at)
}

// Value parsers: each turns one flag's text into its value, or says why not.

fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, not {text:?}")),
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

fn mode(text: &str) -> Result<Mode, String> {
    text.parse()
}

fn pull_schedule(text: &str) -> Result<PullScheduleSpec, String> {
    text.parse()
}

fn termination(text: &str) -> Result<TerminationSpec, String> {
    text.parse()
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not between 0 and 1"));
    }
    Ok(value)
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

/// Splits `text` at `separator` into exactly `N` parts.
fn parts<'a, const N: usize>(
    text: &'a str,
    separator: &str,
    form: &str,
) -> Result<[&'a str; N], String> {
    let parts: Vec<&str> = text.split(separator).collect();
    parts
        .try_into()
        .map_err(|_| format!("`{text}` is not of the form {form}"))
}

fn start(text: &str) -> Result<Start, String> {
    let (kind, argument) = text.split_once(':').unwrap_or((text, ""));
    match (kind, argument) {
        ("converged", "") => Ok(Start::Converged),
        ("join", "") => Ok(Start::Join),
        ("staggered", interval) => duration(interval).map(Start::Staggered),
        ("sparse", k) => k
            .parse()
            .map(Start::Sparse)
            .map_err(|_| format!("`{k}` is not a number of nodes")),
        _ => Err(format!(
            "`{text}` is not converged, join, staggered:<interval> or sparse:<k>"
        )),
    }
}

fn latency(text: &str) -> Result<Latency, String> {
    if let Some(range) = text.strip_prefix("uniform:") {
        let [min, max] = parts(range, "..", "uniform:MIN..MAX")?;
        let (min, max) = (duration(min)?, duration(max)?);
        Ok(Latency::Uniform { min, max })
    } else if let Some(params) = text.strip_prefix("pareto:") {
        let [min, shape, max] = parts(params, ",", "pareto:MIN,SHAPE,MAX")?;
        let (min, shape, max) = (duration(min)?, number(shape)?, duration(max)?);
        Ok(Latency::Pareto { min, shape, max })
    } else {
        duration(text).map(Latency::Fixed)
    }
}

fn bursts(text: &str) -> Result<Bursts, String> {
    let [mean, len, bad] = parts(text, ",", "MEAN,LEN,BAD")?;
    Ok(Bursts {
        mean_loss: number(mean)?,
        burst_len: number(len)?,
        loss_bad: number(bad)?,
    })
}

/// `--reorder`: a share, and optionally how far datagrams are held back.
#[derive(Clone, Copy, Debug)]
struct Reorder {
    share: f64,
    delay: Option<Duration>,
}

fn reorder(text: &str) -> Result<Reorder, String> {
    let (p, delay) = match text.split_once(',') {
        Some((p, delay)) => (p, Some(duration(delay)?)),
        None => (text, None),
    };
    Ok(Reorder {
        share: share(p)?,
        delay,
    })
}

fn lossy_senders(text: &str) -> Result<LossyNodes, String> {
    let [fraction, rate] = parts(text, ",", "FRACTION,RATE")?;
    Ok(LossyNodes {
        fraction: share(fraction)?,
        rate: share(rate)?,
    })
}

fn delay_range(text: &str) -> Result<(Duration, Duration), String> {
    let [min, max] = parts(text, "..", "MIN..MAX")?;
    Ok((duration(min)?, duration(max)?))
}

/// Runs the scenario with a progress bar on stderr once the run has taken
/// [`SHOW_PROGRESS_AFTER`], if stderr is a terminal.
fn run_with_progress(scenario: &Scenario) -> Report {
    let progress = Progress {
        started: Instant::now(),
        simulated: scenario.duration,
        shown: io::stderr().is_terminal(),
        first: OnceCell::new(),
        bar: OnceCell::new(),
    };
    let report = scenario.run(Some(&|done| progress.update(done)));
    progress.finish();
    report
}

/// Short runs finish before a bar would be worth reading.
const SHOW_PROGRESS_AFTER: Duration = Duration::from_secs(2);

/// Positions of the bar: per mille of the simulated time.
const STEPS: u64 = 1000;

struct Progress {
    started: Instant,
    simulated: Duration,
    shown: bool,
    // The run's callback is a `Fn`, hence the cells.
    /// The first report: the time left is estimated from the pace since, which
    /// leaves out building the cluster.
    first: OnceCell<(Instant, f64)>,
    /// Created on the first report after SHOW_PROGRESS_AFTER.
    bar: OnceCell<ProgressBar>,
}

impl Progress {
    fn update(&self, done: f64) {
        let done = done.clamp(0.0, 1.0);
        let &(first_at, first_done) = self.first.get_or_init(|| (Instant::now(), done));
        if !self.shown || self.started.elapsed() < SHOW_PROGRESS_AFTER {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed:>4} [{wide_bar}] {percent:>3}%  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = ProgressBar::new(STEPS)
                .with_style(style)
                .with_elapsed(self.started.elapsed());
            // The run reports every 1% of simulated time; ticking keeps the
            // spinner and the elapsed time moving in between.
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let mut message = format!(
            "{} of {} simulated",
            format_duration(self.simulated.mul_f64(done)),
            format_duration(self.simulated)
        );
        if done > first_done {
            let left = first_at
                .elapsed()
                .mul_f64((1.0 - done) / (done - first_done));
            message += &format!(", about {} left", format_duration(round(left)));
        }
        bar.set_position((done * STEPS as f64) as u64);
        bar.set_message(message);
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

/// Whole seconds: an estimate has no business showing milliseconds.
fn round(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs_f64().round() as u64)
}

/// The outputs asked for, with files created before the run so that a bad
/// path fails in a second rather than after a long run.
struct Outputs {
    json: bool,
    table: bool,
    memory: bool,
    by_kind: bool,
    compare_modes: bool,
    csv: Option<PathBuf>,
    svg: Option<(PathBuf, File)>,
}

impl OutputFlags {
    fn open(&self) -> Result<Outputs, String> {
        if let Some(dir) = &self.csv {
            fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
        }
        let svg = match &self.svg {
            Some(path) => {
                let file = File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                Some((path.clone(), file))
            }
            None => None,
        };
        Ok(Outputs {
            json: self.json,
            table: !self.json && !self.quiet,
            memory: self.memory,
            by_kind: self.by_kind,
            compare_modes: self.compare_modes,
            csv: self.csv.clone(),
            svg,
        })
    }
}

/// The `--memory` section: the heap's peak while the scenario ran, in all
/// and per (observer, member) pair, laid out as the report's rows are.
fn memory(nodes: usize, peak: u64) -> String {
    let pairs = (nodes as u64 * nodes as u64).max(1);
    format!(
        "memory\n  {:<35}{:.1} MB\n  {:<35}{} B\n",
        "heap at its peak",
        peak as f64 / 1e6,
        "per (observer, member) pair",
        peak / pairs
    )
}

/// The `--by-kind` section: each kind of message sent, most bytes first, then
/// what the datagrams' headers (and seals) cost on top.
fn by_kind(traffic: &TrafficReport) -> String {
    let mut out = String::from("traffic by kind (per node per second)\n");
    for kind in &traffic.by_kind {
        out += &format!(
            "  {:<35}{:.1} bytes, {:.2} messages\n",
            kind.kind, kind.bytes_per_node_per_s, kind.messages_per_node_per_s
        );
    }
    let in_messages: f64 = traffic.by_kind.iter().map(|k| k.bytes_per_node_per_s).sum();
    out += &format!(
        "  {:<35}{:.1} bytes\n",
        "datagram headers",
        (traffic.bytes_per_node_per_s - in_messages).max(0.0)
    );
    out
}

impl Outputs {
    /// `heap_peak`: the most bytes of heap the run held at once.
    fn write(self, report: &Report, heap_peak: u64) -> Result<(), String> {
        let stdout_error = |e: io::Error| format!("cannot write to stdout: {e}");
        if self.json {
            let json = serde_json::to_string_pretty(report)
                .map_err(|e| format!("cannot encode the report as JSON: {e}"))?;
            writeln!(io::stdout().lock(), "{json}").map_err(stdout_error)?;
        }
        if self.table {
            write!(io::stdout().lock(), "{report}").map_err(stdout_error)?;
        }
        if self.memory {
            let memory = memory(report.scenario.nodes, heap_peak);
            write!(io::stdout().lock(), "{memory}").map_err(stdout_error)?;
        }
        if self.by_kind {
            let section = by_kind(&report.traffic);
            write!(io::stdout().lock(), "{section}").map_err(stdout_error)?;
        }
        if let Some(dir) = &self.csv {
            for (name, csv) in [
                ("series.csv", report.series_csv()),
                ("failures.csv", report.failures_csv()),
                ("infections.csv", report.infections_csv()),
            ] {
                let path = dir.join(name);
                fs::write(&path, csv)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        }
        if let Some((path, mut file)) = self.svg {
            let svg = gossip_sim::plot::render_svg(report)
                .map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
            file.write_all(svg.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// Help and version go to stdout with success; any other flag error becomes
/// the one-line message of [`fail`].
fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            // clap's message runs to the first blank line (a list of missing
            // flags continues on indented lines); usage and tips follow it.
            let text = error.to_string();
            let lines: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).collect();
            let joined = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
            let message = joined.strip_prefix("error: ").unwrap_or(&joined);
            fail(INVALID_INPUT, &format!("{message} (see simulate --help)"))
        }
    }
}

fn fail(status: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(status)
}
