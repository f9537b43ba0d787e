//! The results of a scenario: one serializable structure, printed as a table,
//! JSON or CSV.

use std::fmt;
use std::time::Duration;

use gossip_core::{Instant, MessageKind, Traffic};
use serde::Serialize;

use crate::replicas::{ConvergenceClaims, STATE_KINDS, StateCheck};
use crate::scenario::Scenario;
use crate::simulation::Simulation;
use crate::topology::RttPrediction;

/// Summary of a set of durations, in seconds. There is none of an empty set:
/// a figure of events that never happened is `None` (`never` in the table,
/// `null` in JSON), not zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (in any order); `None` if there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Summary {
            count: values.len(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            median: at(0.5),
            p90: at(0.9),
            min: values[0],
            max: values[values.len() - 1],
        })
    }
}

/// When membership was full (every running node counts exactly the running
/// nodes as live).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MembershipReport {
    /// First sample with full membership everywhere, seconds from the start.
    pub first_full_s: Option<f64>,
    /// Full membership at the end of the run.
    pub full_at_end: bool,
    /// Since when (seconds) it has been full without a break, if it is at the end.
    pub full_since_s: Option<f64>,
    /// Nodes running at the end.
    pub running_at_end: usize,
    /// False if the run did not track views (sparse starts).
    pub tracked: bool,
}

/// How crashes were detected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureReport {
    /// Crashes (a node restarted before everyone knew of its crash counts as a
    /// restart instead).
    pub count: usize,
    /// Restarts: crashes superseded by the node coming back as a new generation.
    pub restarts: usize,
    /// Crashes some node declared failed.
    pub detected: usize,
    /// Crashes every running node learned of.
    pub known_by_all: usize,
    /// Time from crash to first declaration of failure, over the crashes
    /// detected (`detected` of them); `None` if none was.
    pub detection_s: Option<Summary>,
    /// Time from crash until every running node knew, over the crashes known
    /// by all (`known_by_all` of them); `None` if none was.
    pub all_know_s: Option<Summary>,
    /// Time from the first declaration until every running node knew, over
    /// the crashes known by all; `None` if none was.
    pub spread_s: Option<Summary>,
    /// The same in gossip rounds (`gossip_interval`).
    pub spread_rounds: Option<Summary>,
    /// SWIM's expectation for detection: e/(e−1) protocol periods to the first
    /// failed probe, plus the suspicion timeout.
    pub expected_detection_s: f64,
    /// The suspicion timeout at the starting cluster size.
    pub suspicion_timeout_s: f64,
}

/// A live node reported failed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FalsePositiveRecord {
    /// When, in seconds.
    pub at_s: f64,
    /// Who declared it.
    pub observer: u32,
    /// Who was live yet declared failed.
    pub subject: u32,
    /// The declaring node had slow spells.
    pub observer_was_slow: bool,
    /// The node declared failed had slow spells.
    pub subject_was_slow: bool,
}

/// False alarms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FalsePositiveReport {
    /// Reports of a live node as failed (one per observer and event).
    pub count: usize,
    /// Live nodes reported failed by anyone.
    pub distinct_nodes: usize,
    /// Of `count`, reports about nodes that had slow spells (which did fail to
    /// answer in time); the rest are about healthy nodes.
    pub about_slow_nodes: usize,
    /// Not counted in `count`: failures declared about running, reachable
    /// nodes that the declarer began to suspect while a partition cut them
    /// apart (right after a heal, before they could refute).
    pub declared_after_heal: usize,
    /// Suspicions raised (true and false, by every node).
    pub suspicions: u64,
    /// The first few.
    pub first: Vec<FalsePositiveRecord>,
}

/// What the nodes sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrafficReport {
    /// Bytes sent per running node per second.
    pub bytes_per_node_per_s: f64,
    /// Datagrams sent per running node per second.
    pub messages_per_node_per_s: f64,
    /// All bytes sent.
    pub bytes: u64,
    /// All datagrams sent.
    pub messages: u64,
    /// Bytes sent from one datacentre to another (0 without a geometry).
    pub cross_dc_bytes: u64,
    /// Datagrams sent from one datacentre to another (0 without a geometry).
    pub cross_dc_messages: u64,
    /// `cross_dc_bytes` as a share of all bytes sent.
    pub cross_dc_share: f64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost.
    pub lost: u64,
    /// FNV-1a hash over every delivery (time, sender, receiver, bytes): two runs
    /// with equal hashes were identical.
    pub delivery_hash: u64,
    /// The messages sent of each kind that was sent, most bytes first.
    pub by_kind: Vec<KindTraffic>,
}

/// How user broadcasts spread.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BroadcastReport {
    /// Broadcasts sent.
    pub count: usize,
    /// Broadcasts every node running at the end delivered.
    pub reached_all: usize,
    /// Mean share of the nodes running at the end that a broadcast never
    /// reached (Demers' residue).
    pub residue: f64,
    /// Time from sending until the last running node delivered it, over the
    /// broadcasts that reached all (`reached_all` of them); `None` if none did.
    pub all_reached_s: Option<Summary>,
    /// The same in rounds: synchronous rounds in rounds mode, gossip intervals
    /// otherwise.
    pub all_reached_rounds: Option<Summary>,
    /// Copies of a broadcast sent per node (pushes and pull answers), averaged
    /// over broadcasts: Demers' traffic m.
    pub messages_per_node: f64,
    /// Deliveries of a broadcast to a node that had delivered it already
    /// (must be 0).
    pub duplicates: usize,
    /// Mean share of running nodes reached, against time since sending: one
    /// point per round (rounds mode) or per sample interval.
    pub curve: Vec<CurvePoint>,
}

/// A point of the mean infection curve of the broadcasts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Time since sending: rounds in rounds mode, seconds otherwise.
    pub t: f64,
    /// Mean share of the running nodes that had delivered.
    pub reached: f64,
}

impl BroadcastReport {
    fn new(scenario: &Scenario, sim: &Simulation) -> Self {
        let spreads = sim.metrics().broadcasts();
        if spreads.is_empty() {
            return BroadcastReport::default();
        }
        let running: Vec<u32> = sim.running().collect();
        let n = running.len().max(1);
        let round = if scenario.rounds {
            crate::scenario::ROUND
        } else {
            sim.config().gossip_interval
        };
        let rounds_between = |from: Instant, to: Instant| {
            if scenario.rounds {
                // Round boundaries crossed: a broadcast sent mid-round 0 and
                // delivered just after boundary r took r rounds.
                let r = round.as_nanos();
                (to.as_nanos() as u128 / r - from.as_nanos() as u128 / r) as f64
            } else {
                (to - from).as_secs_f64() / round.as_secs_f64()
            }
        };
        let done: Vec<(Instant, Instant)> = spreads
            .iter()
            .filter_map(|s| Some((s.sent_at, s.all_reached_at(running.iter().copied())?)))
            .collect();
        let step = if scenario.rounds {
            round
        } else {
            scenario.sample_interval
        };
        let horizon = spreads
            .iter()
            .filter_map(|s| s.deliveries.last().map(|&(_, at)| at - s.sent_at))
            .max()
            .unwrap_or_default();
        let points = (horizon.as_nanos() / step.as_nanos().max(1)) as u32 + 2;
        let curve = (0..points)
            .map(|i| {
                let after = step * i
                    + if scenario.rounds {
                        step / 2
                    } else {
                        Duration::ZERO
                    };
                let reached: f64 = spreads
                    .iter()
                    .map(|s| s.reached_within(after) as f64 / n as f64)
                    .sum::<f64>()
                    / spreads.len() as f64;
                CurvePoint {
                    t: if scenario.rounds {
                        f64::from(i)
                    } else {
                        after.as_secs_f64()
                    },
                    reached: reached.min(1.0),
                }
            })
            .collect();
        BroadcastReport {
            count: spreads.len(),
            reached_all: done.len(),
            residue: spreads
                .iter()
                .map(|s| s.residue(running.iter().copied()))
                .sum::<f64>()
                / spreads.len() as f64,
            all_reached_s: Summary::of(done.iter().map(|&(a, b)| (b - a).as_secs_f64()).collect()),
            all_reached_rounds: Summary::of(
                done.iter().map(|&(a, b)| rounds_between(a, b)).collect(),
            ),
            messages_per_node: sim.broadcast_messages() as f64 / n as f64 / spreads.len() as f64,
            duplicates: spreads.iter().map(|s| s.duplicates).sum(),
            curve,
        }
    }
}

/// Messages of one kind, sent by all nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct KindTraffic {
    /// The kind, as `MessageKind` spells it.
    pub kind: &'static str,
    /// Messages (several may share a datagram).
    pub messages: u64,
    /// Their encoded bytes, datagram headers excluded.
    pub bytes: u64,
    /// Messages per running node per second.
    pub messages_per_node_per_s: f64,
    /// Bytes per running node per second.
    pub bytes_per_node_per_s: f64,
}

impl KindTraffic {
    /// `traffic` of `kind` over `node_seconds` of running nodes.
    fn new(kind: MessageKind, traffic: Traffic, node_seconds: f64) -> Self {
        KindTraffic {
            kind: kind.name(),
            messages: traffic.messages,
            bytes: traffic.bytes,
            messages_per_node_per_s: per_node_second(traffic.messages, node_seconds),
            bytes_per_node_per_s: per_node_second(traffic.bytes, node_seconds),
        }
    }
}

/// The replicated store: the writes, when the replicas converged, whether they
/// hold what the writes call for, and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StateReport {
    /// Writes and deletes the nodes acknowledged.
    pub writes: usize,
    /// Of those, deletes.
    pub deletes: usize,
    /// Writes and deletes the nodes refused.
    pub refused: usize,
    /// When the last acknowledged write was made, seconds from the start.
    pub last_write_s: Option<f64>,
    /// The later of the last write and the last heal: the replicas converge
    /// from there.
    pub settle_from_s: Option<f64>,
    /// The first time from `settle_from_s` on that every running replica held
    /// the same state (equal Merkle roots), checked after every input.
    pub converged_s: Option<f64>,
    /// Time to convergence: `converged_s − settle_from_s`.
    pub time_to_converge_s: Option<f64>,
    /// Every running replica holds the same state at the end.
    pub converged_at_end: bool,
    /// The running replicas at the end, against the acknowledged writes.
    pub check: StateCheck,
    /// The nodes' own estimates of convergence against the truth.
    pub claims: ConvergenceClaims,
    /// Rumored and synced entries.
    pub key_entry: KindTraffic,
    /// Digests piggybacked on probes and acks.
    pub state_root: KindTraffic,
    /// Anti-entropy: tree levels compared.
    pub sync_hashes: KindTraffic,
    /// Anti-entropy: the leaves that differ, before their entries.
    pub sync_entries: KindTraffic,
    /// Anti-entropy rounds started.
    pub sync_rounds: u64,
    /// Of those, rounds that found the replicas equal.
    pub syncs_in_sync: u64,
    /// Anti-entropy steps answered (a tree level compared).
    pub sync_steps: u64,
    /// Entries sent in anti-entropy answers.
    pub sync_entries_sent: u64,
    /// Changes learned from other nodes (rumors and anti-entropy).
    pub key_changes_received: u64,
    /// New keys dropped because a store was full.
    pub keys_refused: u64,
}

impl StateReport {
    fn new(sim: &Simulation, node_seconds: f64) -> Self {
        let metrics = sim.metrics();
        let writes = metrics.writes();
        if writes.is_empty() && metrics.writes_refused() == 0 {
            return StateReport::default();
        }
        let totals = sim.state_totals();
        let [key_entry, state_root, sync_hashes, sync_entries] =
            STATE_KINDS.map(|kind| KindTraffic::new(kind, totals.traffic[kind], node_seconds));
        let settle_from = metrics.state_settle_from();
        let converged = metrics.state_converged_at();
        StateReport {
            writes: writes.len(),
            deletes: writes.iter().filter(|w| w.value.is_none()).count(),
            refused: metrics.writes_refused(),
            last_write_s: writes.last().map(|w| secs(w.at)),
            settle_from_s: settle_from.map(secs),
            converged_s: converged.map(secs),
            time_to_converge_s: converged
                .zip(settle_from)
                .map(|(end, start)| (end - start).as_secs_f64()),
            converged_at_end: metrics.state_agreed_since().is_some(),
            check: sim.check_state(),
            claims: metrics.convergence_claims(),
            key_entry,
            state_root,
            sync_hashes,
            sync_entries,
            sync_rounds: totals.syncs,
            syncs_in_sync: totals.syncs_in_sync,
            sync_steps: totals.sync_steps,
            sync_entries_sent: totals.sync_entries_sent,
            key_changes_received: totals.key_changes_received,
            keys_refused: totals.keys_refused,
        }
    }
}

/// One point of the time series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Seconds from the start.
    pub t: f64,
    /// Nodes running.
    pub running: usize,
    /// Running nodes with full membership.
    pub full_membership: usize,
    /// Mean members each running node counts live.
    pub mean_live_view: f64,
    /// Datagrams sent in the interval.
    pub messages: u64,
    /// Bytes sent in the interval.
    pub bytes: u64,
    /// Failures declared in the interval.
    pub failures_declared: u64,
    /// False positives so far.
    pub false_positives: usize,
    /// The most running nodes whose replicated stores hold one state.
    pub state_agreeing: usize,
}

/// One crash: when it happened, was detected and was known, and when each node
/// learned of it (the infection curve of the failure rumor).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Infection {
    /// The node that crashed.
    pub node: u32,
    /// When, in seconds.
    pub crashed_s: f64,
    /// When some node first suspected it.
    pub first_suspected_s: Option<f64>,
    /// When some node first declared it failed.
    pub first_failed_s: Option<f64>,
    /// When every running node knew.
    pub all_know_s: Option<f64>,
    /// When each node learned (seconds, in order).
    pub learned_s: Vec<f64>,
}

/// Wall-clock cost of the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WallTime {
    /// Building and bootstrapping the cluster.
    pub setup_s: f64,
    /// All of it.
    pub total_s: f64,
}

/// Everything a scenario measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// What was run.
    pub scenario: Scenario,
    /// Membership convergence.
    pub membership: MembershipReport,
    /// Crash detection.
    pub failures: FailureReport,
    /// False alarms.
    pub false_positives: FalsePositiveReport,
    /// Traffic.
    pub traffic: TrafficReport,
    /// User broadcasts.
    pub broadcasts: BroadcastReport,
    /// The replicated store.
    pub state: StateReport,
    /// How well the network coordinates predicted the geometry's round trips
    /// at the end (with a geometry and coordinates on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<RttPrediction>,
    /// The course of the run.
    pub series: Vec<Point>,
    /// The infection curve of each crash.
    pub infections: Vec<Infection>,
    /// Wall-clock cost.
    pub wall: WallTime,
}

fn secs(at: Instant) -> f64 {
    at.since_epoch().as_secs_f64()
}

/// `count` per running node per second, over `node_seconds` of running nodes.
fn per_node_second(count: u64, node_seconds: f64) -> f64 {
    if node_seconds > 0.0 {
        count as f64 / node_seconds
    } else {
        0.0
    }
}

impl Report {
    pub(crate) fn new(
        scenario: &Scenario,
        sim: &Simulation,
        setup: Duration,
        total: Duration,
    ) -> Self {
        let metrics = sim.metrics();
        let config = sim.config();
        // The n of SWIM's formulas is the number of members a node knows.
        let n = match scenario.start {
            crate::scenario::Start::Sparse(k) => k + 1,
            _ => scenario.nodes,
        }
        .max(1);
        let period = config.probe_interval.as_secs_f64();
        let suspicion_timeout =
            f64::from(config.suspicion_mult) * (n as f64).log10().max(1.0) * period;
        let e = std::f64::consts::E;
        let (failures, restarts): (Vec<_>, Vec<_>) =
            metrics.failures().iter().partition(|f| !f.superseded);
        let gossip = config.gossip_interval.as_secs_f64();
        let spread: Vec<f64> = failures
            .iter()
            .filter_map(|f| Some(secs(f.all_know_at?) - secs(f.first_failed?)))
            .collect();
        let samples = metrics.samples();
        let interval = scenario.sample_interval.as_secs_f64();
        let node_seconds: f64 = samples.iter().map(|s| s.running as f64 * interval).sum();
        let (messages, bytes) = metrics
            .traffic()
            .fold((0, 0), |(m, b), (dm, db)| (m + dm, b + db));
        let false_positives = metrics.false_positives();
        let mut distinct: Vec<u32> = false_positives.iter().map(|f| f.subject).collect();
        distinct.sort_unstable();
        distinct.dedup();
        Report {
            scenario: scenario.clone(),
            membership: MembershipReport {
                first_full_s: metrics.first_full_membership().map(secs),
                full_at_end: metrics.full_membership_since().is_some(),
                full_since_s: metrics.full_membership_since().map(secs),
                running_at_end: sim.running().count(),
                tracked: metrics.tracks_views(),
            },
            failures: FailureReport {
                count: failures.len(),
                restarts: restarts.len(),
                detected: failures.iter().filter(|f| f.first_failed.is_some()).count(),
                known_by_all: failures.iter().filter(|f| f.all_know_at.is_some()).count(),
                detection_s: Summary::of(
                    failures
                        .iter()
                        .filter_map(|f| f.detection())
                        .map(|d| d.as_secs_f64())
                        .collect(),
                ),
                all_know_s: Summary::of(
                    failures
                        .iter()
                        .filter_map(|f| f.all_know())
                        .map(|d| d.as_secs_f64())
                        .collect(),
                ),
                spread_rounds: Summary::of(spread.iter().map(|s| s / gossip).collect()),
                spread_s: Summary::of(spread),
                expected_detection_s: e / (e - 1.0) * period + suspicion_timeout,
                suspicion_timeout_s: suspicion_timeout,
            },
            false_positives: FalsePositiveReport {
                count: false_positives.len(),
                distinct_nodes: distinct.len(),
                about_slow_nodes: false_positives
                    .iter()
                    .filter(|f| sim.was_slow(f.subject))
                    .count(),
                declared_after_heal: metrics.declared_after_heal(),
                suspicions: metrics.suspicions(),
                first: false_positives
                    .iter()
                    .take(20)
                    .map(|f| FalsePositiveRecord {
                        at_s: secs(f.at),
                        observer: f.observer,
                        subject: f.subject,
                        observer_was_slow: sim.was_slow(f.observer),
                        subject_was_slow: sim.was_slow(f.subject),
                    })
                    .collect(),
            },
            traffic: TrafficReport {
                bytes_per_node_per_s: per_node_second(bytes, node_seconds),
                messages_per_node_per_s: per_node_second(messages, node_seconds),
                bytes,
                messages,
                cross_dc_bytes: metrics.cross_dc_bytes(),
                cross_dc_messages: metrics.cross_dc_messages(),
                cross_dc_share: if bytes > 0 {
                    metrics.cross_dc_bytes() as f64 / bytes as f64
                } else {
                    0.0
                },
                delivered: sim.trace().delivered,
                lost: sim.trace().lost,
                delivery_hash: sim.trace().hash,
                by_kind: {
                    let totals = sim.state_totals().traffic;
                    let mut by_kind: Vec<KindTraffic> = totals
                        .iter()
                        .filter(|(_, t)| t.messages > 0)
                        .map(|(kind, t)| KindTraffic::new(kind, t, node_seconds))
                        .collect();
                    by_kind.sort_by_key(|kind| std::cmp::Reverse(kind.bytes));
                    by_kind
                },
            },
            broadcasts: BroadcastReport::new(scenario, sim),
            state: StateReport::new(sim, node_seconds),
            coordinates: RttPrediction::measure(sim).filter(|p| p.pairs > 0),
            series: samples
                .iter()
                .map(|s| Point {
                    t: secs(s.at),
                    running: s.running,
                    full_membership: s.full_membership,
                    mean_live_view: s.mean_live_view,
                    messages: s.messages,
                    bytes: s.bytes,
                    failures_declared: s.failures_declared,
                    false_positives: s.false_positives,
                    state_agreeing: s.state_agreeing,
                })
                .collect(),
            infections: failures
                .iter()
                .map(|f| Infection {
                    node: f.node,
                    crashed_s: secs(f.crashed_at),
                    first_suspected_s: f.first_suspected.map(secs),
                    first_failed_s: f.first_failed.map(secs),
                    all_know_s: f.all_know_at.map(secs),
                    learned_s: f.learned.iter().copied().map(secs).collect(),
                })
                .collect(),
            wall: WallTime {
                setup_s: setup.as_secs_f64(),
                total_s: total.as_secs_f64(),
            },
        }
    }

    /// The time series as CSV, one row per sample.
    pub fn series_csv(&self) -> String {
        let mut csv = String::from(
            "t_s,running,full_membership,mean_live_view,messages,bytes,failures_declared,false_positives,state_agreeing\n",
        );
        for p in &self.series {
            csv += &format!(
                "{},{},{},{:.3},{},{},{},{},{}\n",
                p.t,
                p.running,
                p.full_membership,
                p.mean_live_view,
                p.messages,
                p.bytes,
                p.failures_declared,
                p.false_positives,
                p.state_agreeing
            );
        }
        csv
    }

    /// Each crash as CSV: when it happened, was detected, and was known by all.
    pub fn failures_csv(&self) -> String {
        let mut csv = String::from("node,crashed_s,first_suspected_s,first_failed_s,all_know_s\n");
        let opt = |t: Option<f64>| t.map(|t| t.to_string()).unwrap_or_default();
        for f in &self.infections {
            csv += &format!(
                "{},{},{},{},{}\n",
                f.node,
                f.crashed_s,
                opt(f.first_suspected_s),
                opt(f.first_failed_s),
                opt(f.all_know_s)
            );
        }
        csv
    }

    /// Each crash's infection curve as CSV: one row per node that learned.
    pub fn infections_csv(&self) -> String {
        let mut csv = String::from("node,crashed_s,learned_s,known_by\n");
        for infection in &self.infections {
            for (i, t) in infection.learned_s.iter().enumerate() {
                csv += &format!(
                    "{},{},{},{}\n",
                    infection.node,
                    infection.crashed_s,
                    t,
                    i + 1
                );
            }
        }
        csv
    }
}

fn opt_s(value: Option<f64>) -> String {
    value.map_or_else(|| "never".into(), |v| format!("{v:.1} s"))
}

/// `figures` of a summary of the events that happened, `never` if none did,
/// and how many of `of` never happened if some did not.
fn happened(summary: Option<&Summary>, of: usize, figures: impl Fn(&Summary) -> String) -> String {
    match summary {
        None => "never".into(),
        Some(s) if s.count < of => format!("{} ({} of {of} never)", figures(s), of - s.count),
        Some(s) => figures(s),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scenario;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, value: String| {
            writeln!(f, "  {name:<34} {value}")
        };
        writeln!(
            f,
            "{} nodes, {} simulated, seed {}, start {:?}, loss {:.1}%",
            s.nodes,
            crate::units::format_duration(s.duration),
            s.seed,
            s.start,
            s.network.loss * 100.0
        )?;
        writeln!(f, "membership")?;
        if self.membership.tracked {
            row(
                f,
                "full membership first reached",
                opt_s(self.membership.first_full_s),
            )?;
            row(
                f,
                "full membership at the end",
                match self.membership.full_since_s {
                    Some(since) => format!("yes, since {since:.1} s"),
                    None => "no".into(),
                },
            )?;
        } else {
            row(f, "full membership", "not tracked (sparse views)".into())?;
        }
        row(
            f,
            "nodes running at the end",
            self.membership.running_at_end.to_string(),
        )?;
        let fr = &self.failures;
        if fr.restarts > 0 {
            writeln!(f, "restarts")?;
            row(
                f,
                "nodes restarted as a new generation",
                fr.restarts.to_string(),
            )?;
        }
        if fr.count > 0 {
            writeln!(f, "failures")?;
            row(
                f,
                "crashes / detected / known by all",
                format!("{} / {} / {}", fr.count, fr.detected, fr.known_by_all),
            )?;
            row(
                f,
                "first detection (mean, median, max)",
                happened(fr.detection_s.as_ref(), fr.count, |d| {
                    format!("{:.2} s, {:.2} s, {:.2} s", d.mean, d.median, d.max)
                }),
            )?;
            row(
                f,
                "expected by SWIM",
                format!(
                    "{:.2} s (e/(e-1) periods + suspicion timeout {:.1} s)",
                    fr.expected_detection_s, fr.suspicion_timeout_s
                ),
            )?;
            row(
                f,
                "all live nodes know (mean, max)",
                happened(fr.all_know_s.as_ref(), fr.count, |a| {
                    format!("{:.2} s, {:.2} s", a.mean, a.max)
                }),
            )?;
            let spread = fr.spread_s.zip(fr.spread_rounds);
            row(
                f,
                "spread after detection (mean, max)",
                match spread {
                    Some((s, r)) => format!(
                        "{:.2} s, {:.2} s ({:.1} / {:.1} gossip rounds)",
                        s.mean, s.max, r.mean, r.max
                    ),
                    None => "never".into(),
                },
            )?;
        }
        writeln!(f, "false alarms")?;
        let fp = &self.false_positives;
        row(
            f,
            "live nodes reported failed",
            format!("{} reports about {} nodes", fp.count, fp.distinct_nodes),
        )?;
        if fp.about_slow_nodes > 0 {
            row(
                f,
                "  of which about slow nodes",
                format!(
                    "{} (healthy nodes: {})",
                    fp.about_slow_nodes,
                    fp.count - fp.about_slow_nodes
                ),
            )?;
        }
        if fp.declared_after_heal > 0 {
            row(
                f,
                "failed after a heal (suspected while cut off)",
                fp.declared_after_heal.to_string(),
            )?;
        }
        row(f, "suspicions raised", fp.suspicions.to_string())?;
        writeln!(f, "traffic")?;
        let t = &self.traffic;
        row(
            f,
            "per node per second",
            format!(
                "{:.0} bytes, {:.2} datagrams",
                t.bytes_per_node_per_s, t.messages_per_node_per_s
            ),
        )?;
        row(
            f,
            "datagrams delivered / lost",
            format!("{} / {}", t.delivered, t.lost),
        )?;
        if let Some(geometry) = s.network.geometry.as_ref().and_then(|g| g.geometry().ok()) {
            row(
                f,
                &format!("between {} datacentres", geometry.datacenters()),
                format!(
                    "{:.1}% of bytes: {} bytes in {} datagrams",
                    t.cross_dc_share * 100.0,
                    t.cross_dc_bytes,
                    t.cross_dc_messages
                ),
            )?;
        }
        if let Some(p) = &self.coordinates {
            writeln!(
                f,
                "network coordinates (predicted round trips vs the geometry's)"
            )?;
            row(
                f,
                "median relative error",
                format!(
                    "{:.1}% ({:.1}% between datacentres, {:.0}% inside one), p90 {:.0}%",
                    p.median * 100.0,
                    p.median_between * 100.0,
                    p.median_inside * 100.0,
                    p.p90 * 100.0
                ),
            )?;
            row(
                f,
                "own datacentre ranked nearest",
                format!(
                    "{:.2}% of pairs; mean error estimate {:.2}; {} pairs unknown",
                    p.inside_ranked_nearest * 100.0,
                    p.mean_error_estimate,
                    p.unknown
                ),
            )?;
        }
        let b = &self.broadcasts;
        if b.count > 0 {
            let unit = if s.rounds {
                "rounds"
            } else {
                "gossip intervals"
            };
            writeln!(f, "broadcasts")?;
            row(
                f,
                "sent / reached every node",
                format!("{} / {}", b.count, b.reached_all),
            )?;
            row(
                f,
                "time to reach all (mean, max)",
                happened(b.all_reached_s.as_ref(), b.count, |s| {
                    // Of the same broadcasts as `all_reached_s`.
                    let r = b.all_reached_rounds.unwrap_or_default();
                    format!(
                        "{:.2} s, {:.2} s ({:.1} / {:.1} {unit})",
                        s.mean, s.max, r.mean, r.max
                    )
                }),
            )?;
            row(
                f,
                "residue (share never reached)",
                format!("{:.4}", b.residue),
            )?;
            row(
                f,
                "copies sent per node per broadcast",
                format!("{:.2}", b.messages_per_node),
            )?;
            row(f, "delivered twice to one node", b.duplicates.to_string())?;
        }
        let st = &self.state;
        if st.writes + st.refused > 0 {
            writeln!(f, "state")?;
            row(
                f,
                "writes acknowledged / refused",
                format!("{} ({} deletes) / {}", st.writes, st.deletes, st.refused),
            )?;
            let since = match (st.settle_from_s, st.last_write_s) {
                (Some(from), Some(last)) if from <= last => {
                    format!("the last write at {last:.1} s")
                }
                (Some(from), _) => format!("the heal at {from:.1} s"),
                _ => "the start".into(),
            };
            row(
                f,
                "time to convergence",
                match st.time_to_converge_s {
                    Some(t) => format!("{t:.2} s after {since}"),
                    None => format!("never after {since}"),
                },
            )?;
            row(
                f,
                "replicas agree at the end",
                if st.converged_at_end { "yes" } else { "no" }.into(),
            )?;
            let c = &st.check;
            row(
                f,
                "lost writes / resurrected deletes",
                format!(
                    "{} / {} (keys: {} written, {} with a clear last write, {} divergent)",
                    c.lost_writes, c.resurrected_deletes, c.keys, c.ordered_keys, c.divergent_keys
                ),
            )?;
            let claims = &st.claims;
            row(
                f,
                "nodes that claimed it / lag",
                match (claims.lag_median_s, claims.lag_max_s) {
                    (Some(median), Some(max)) => format!(
                        "{} (median {median:.2} s, max {max:.2} s), {} premature claims",
                        claims.claimed, claims.premature
                    ),
                    _ => format!("none, {} premature claims", claims.premature),
                },
            )?;
            let per_node = |t: &KindTraffic| format!("{:.0} B", t.bytes_per_node_per_s);
            row(
                f,
                "bytes per node per second",
                format!(
                    "KeyEntry {}, StateRoot {}, SyncHashes {}, SyncEntries {}",
                    per_node(&st.key_entry),
                    per_node(&st.state_root),
                    per_node(&st.sync_hashes),
                    per_node(&st.sync_entries)
                ),
            )?;
            row(
                f,
                "sync rounds / found equal / steps",
                format!(
                    "{} / {} / {}",
                    st.sync_rounds, st.syncs_in_sync, st.sync_steps
                ),
            )?;
            row(f, "entries sent by sync", st.sync_entries_sent.to_string())?;
        }
        writeln!(f, "wall time")?;
        row(
            f,
            "setup / total",
            format!("{:.1} s / {:.1} s", self.wall.setup_s, self.wall.total_s),
        )
    }
}
