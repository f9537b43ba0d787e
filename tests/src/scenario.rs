//! A whole simulated run described as data (from CLI flags or a TOML file), and
//! the report it produces.

use std::time::Duration;

use gossip_core::{
    Config, Dissemination, FAR_PERCENT, Instant, NEAR_CANDIDATES, PeerSelection, PullSchedule,
    Termination,
};
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::geometry::{DEFAULT_JITTER_SHARE, Geometry};
use crate::network::{
    DEFAULT_REORDER_DELAY, GilbertElliott, LAN_JITTER, LAN_LATENCY, Latency, Network, NodeId,
};
use crate::report::Report;
use crate::simulation::{Action, SimRng, Simulation};
use crate::units::duration as dur;

/// How the nodes find each other at the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Every node already knows every other: the steady state of a cluster that
    /// formed long ago.
    #[default]
    Converged,
    /// Every node joins through node 0 at time zero.
    Join,
    /// Node i joins through node 0 at `i × interval`.
    Staggered(#[serde(with = "dur")] Duration),
    /// Every node knows `k` random others (for clusters too large for full
    /// membership in memory: 100,000 nodes would need 10¹⁰ member records).
    /// Push-pull and discovery are switched off, since any exchange of tables
    /// would spread the views towards full membership.
    Sparse(usize),
}

/// A protocol preset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// `Config::lan()`.
    #[default]
    Lan,
    /// `Config::wan()`.
    Wan,
    /// `Config::local()`.
    Local,
}

/// How broadcasts spread ([`Dissemination`]), as scenarios name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Rumor mongering.
    Push,
    /// Digests sent out, missing broadcasts sent back.
    Pull,
    /// Both.
    #[default]
    PushPull,
}

impl From<Mode> for Dissemination {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Push => Dissemination::Push,
            Mode::Pull => Dissemination::Pull,
            Mode::PushPull => Dissemination::PushPull,
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "push" => Ok(Mode::Push),
            "pull" => Ok(Mode::Pull),
            "push-pull" => Ok(Mode::PushPull),
            _ => Err(format!("`{text}` is not push, pull or push-pull")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Push => "push",
            Mode::Pull => "pull",
            Mode::PushPull => "push-pull",
        })
    }
}

/// When a node pulls ([`PullSchedule`]), as scenarios name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullScheduleSpec {
    /// While the node, or a member it hears from, holds broadcasts.
    WhileActive,
    /// Every pull interval.
    Periodic,
}

impl From<PullScheduleSpec> for PullSchedule {
    fn from(spec: PullScheduleSpec) -> Self {
        match spec {
            PullScheduleSpec::WhileActive => PullSchedule::WhileActive,
            PullScheduleSpec::Periodic => PullSchedule::Periodic,
        }
    }
}

impl std::str::FromStr for PullScheduleSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "while-active" => Ok(PullScheduleSpec::WhileActive),
            "periodic" => Ok(PullScheduleSpec::Periodic),
            _ => Err(format!("`{text}` is not while-active or periodic")),
        }
    }
}

/// When a node stops pushing a broadcast ([`Termination`]), written `limit`,
/// `feedback:K` (feedback and counter) or `coin:K` (blind and coin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerminationSpec(pub Termination);

impl std::str::FromStr for TerminationSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let k = |k: &str| {
            k.parse::<u32>()
                .map_err(|_| format!("`{k}` is not a number of contacts"))
        };
        match text.split_once(':') {
            None if text == "limit" => Ok(TerminationSpec(Termination::RetransmitLimit)),
            Some(("feedback", n)) => Ok(TerminationSpec(Termination::FeedbackCounter { k: k(n)? })),
            Some(("coin", n)) => Ok(TerminationSpec(Termination::BlindCoin { k: k(n)? })),
            _ => Err(format!("`{text}` is not limit, feedback:K or coin:K")),
        }
    }
}

impl TryFrom<String> for TerminationSpec {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<TerminationSpec> for String {
    fn from(spec: TerminationSpec) -> String {
        match spec.0 {
            Termination::FeedbackCounter { k } => format!("feedback:{k}"),
            Termination::BlindCoin { k } => format!("coin:{k}"),
            _ => "limit".into(),
        }
    }
}

/// Protocol settings that override the preset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// The preset the overrides apply to.
    #[serde(default)]
    pub preset: Preset,
    /// `Config::probe_interval`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub probe_interval: Option<Duration>,
    /// `Config::probe_timeout`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub probe_timeout: Option<Duration>,
    /// `Config::gossip_interval`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub gossip_interval: Option<Duration>,
    /// `Config::gossip_fanout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_fanout: Option<usize>,
    /// `Config::push_pull_interval`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub push_pull_interval: Option<Duration>,
    /// `Config::suspicion_mult`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicion_mult: Option<u32>,
    /// `Config::retransmit_mult`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retransmit_mult: Option<u32>,
    /// `Config::indirect_checks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirect_checks: Option<usize>,
    /// `Config::discovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<bool>,
    /// `false`: `Config::without_lifeguard`, before the overrides below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifeguard: Option<bool>,
    /// `Config::awareness_max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awareness_max: Option<u32>,
    /// `Config::nacks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacks: Option<bool>,
    /// `Config::suspicion_max_timeout_mult`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicion_max_timeout_mult: Option<u32>,
    /// `Config::buddy_system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buddy_system: Option<bool>,
    /// `Config::dissemination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// `Config::termination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<TerminationSpec>,
    /// `Config::pull_schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_schedule: Option<PullScheduleSpec>,
    /// `Config::pull_interval`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub pull_interval: Option<Duration>,
    /// `Config::pull_fanout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_fanout: Option<usize>,
    /// `Config::broadcast_retention`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub broadcast_retention: Option<Duration>,
    /// `Config::max_broadcasts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_broadcasts: Option<usize>,
    /// `Config::state_sync_interval`.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub state_sync_interval: Option<Duration>,
    /// `Config::coordinates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<bool>,
    /// `Config::peer_selection`: `uniform`, or `nearby`
    /// ([`PeerSelection::NEARBY`] with the two overrides below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_selection: Option<PeerSelectionSpec>,
    /// `PeerSelection::Nearby::candidates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_candidates: Option<u8>,
    /// `PeerSelection::Nearby::far_percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub far_percent: Option<u8>,
}

/// How gossip partners are chosen ([`PeerSelection`]), as scenarios name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerSelectionSpec {
    /// [`PeerSelection::Uniform`].
    Uniform,
    /// [`PeerSelection::Nearby`].
    Nearby,
}

impl std::str::FromStr for PeerSelectionSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "uniform" => Ok(PeerSelectionSpec::Uniform),
            "nearby" => Ok(PeerSelectionSpec::Nearby),
            _ => Err(format!("`{text}` is not uniform or nearby")),
        }
    }
}

impl Protocol {
    /// The configuration this describes.
    pub fn config(&self) -> Config {
        let mut config = match self.preset {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        };
        if self.lifeguard == Some(false) {
            config = config.without_lifeguard();
        }
        macro_rules! apply {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field { config.$field = value; }
            )*};
        }
        apply!(
            probe_interval,
            probe_timeout,
            gossip_interval,
            gossip_fanout,
            push_pull_interval,
            suspicion_mult,
            retransmit_mult,
            indirect_checks,
            discovery,
            awareness_max,
            nacks,
            suspicion_max_timeout_mult,
            buddy_system,
            pull_interval,
            pull_fanout,
            broadcast_retention,
            max_broadcasts,
            state_sync_interval,
            coordinates
        );
        config.peer_selection = match self.peer_selection {
            None => config.peer_selection,
            Some(PeerSelectionSpec::Uniform) => PeerSelection::Uniform,
            Some(PeerSelectionSpec::Nearby) => PeerSelection::Nearby {
                candidates: self.near_candidates.unwrap_or(NEAR_CANDIDATES),
                far_percent: self.far_percent.unwrap_or(FAR_PERCENT),
            },
        };
        if let Some(mode) = self.mode {
            config.dissemination = mode.into();
        }
        if let Some(termination) = self.termination {
            config.termination = termination.0;
        }
        if let Some(schedule) = self.pull_schedule {
            config.pull_schedule = schedule.into();
        }
        config
    }
}

/// Bursty loss, given by its long-run rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursts {
    /// Long-run share of datagrams lost in bursts.
    pub mean_loss: f64,
    /// Mean burst length in datagrams.
    pub burst_len: f64,
    /// Loss rate during a burst.
    pub loss_bad: f64,
}

/// The network of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency before jitter; a geometry replaces it, so with one it
    /// may be left out.
    #[serde(default = "default_latency")]
    pub latency: Latency,
    /// Datacentres whose round-trip times give the delays instead of `latency`;
    /// `jitter` still adds to them, so keep it small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<GeometrySpec>,
    /// Uniform extra delay.
    #[serde(with = "dur")]
    pub jitter: Duration,
    /// Uniform loss rate.
    pub loss: f64,
    /// Bursty loss on top of uniform loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursts: Option<Bursts>,
    /// Share of datagrams delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Share of datagrams held back by up to `reorder_delay`.
    #[serde(default)]
    pub reorder: f64,
    /// How far a reordered datagram is held back at most.
    #[serde(default = "default_reorder_delay", with = "dur")]
    pub reorder_delay: Duration,
    /// Nodes (a share of them, at random) whose outgoing datagrams are lost at
    /// `rate` instead of the uniform rate: asymmetric links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lossy_senders: Option<LossyNodes>,
}

/// Where the nodes are (a [`Geometry`]): a preset by name,
/// `geometry = "five_datacenters"`, or datacentres given by their round-trip
/// times:
///
/// ```toml
/// [network.geometry]
/// names = ["east", "west", "europe"]  # optional
/// intra_rtt = "1ms"
/// inter_rtt = [["0ms", "60ms", "80ms"], ["60ms", "0ms", "140ms"], ["80ms", "140ms", "0ms"]]
/// jitter_share = 0.05                  # optional, the default
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum GeometrySpec {
    /// A preset by name: `five_datacenters` ([`Geometry::five_datacenters`]).
    Preset(String),
    /// Datacentres given explicitly ([`Geometry::new`]).
    Explicit {
        /// The datacentres' names; `dc0`, `dc1`, … if empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        /// The RTT between two nodes of one datacentre.
        #[serde(with = "dur")]
        intra_rtt: Duration,
        /// The RTT between each two datacentres: square and symmetric.
        #[serde(with = "dur_matrix")]
        inter_rtt: Vec<Vec<Duration>>,
        /// Largest extra delay, as a share of the one-way delay.
        #[serde(default = "default_jitter_share")]
        jitter_share: f64,
    },
}

fn default_jitter_share() -> f64 {
    DEFAULT_JITTER_SHARE
}

impl GeometrySpec {
    /// The geometry this describes, or why it describes none.
    pub fn geometry(&self) -> Result<Geometry, String> {
        match self {
            GeometrySpec::Preset(name) if name == "five_datacenters" => {
                Ok(Geometry::five_datacenters())
            }
            GeometrySpec::Preset(name) => Err(format!(
                "unknown geometry `{name}` (the preset is five_datacenters)"
            )),
            GeometrySpec::Explicit {
                names,
                intra_rtt,
                inter_rtt,
                jitter_share,
            } => {
                let geometry = Geometry::new(*intra_rtt, inter_rtt.clone())?;
                let geometry = if names.is_empty() {
                    geometry
                } else {
                    geometry.named(names.clone())?
                };
                geometry.jitter_share(*jitter_share)
            }
        }
    }
}

/// A share of nodes with their own loss rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossyNodes {
    /// Share of the nodes.
    pub fraction: f64,
    /// Their loss rate.
    pub rate: f64,
}

fn default_latency() -> Latency {
    LAN_LATENCY
}

fn default_reorder_delay() -> Duration {
    DEFAULT_REORDER_DELAY
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: default_latency(),
            geometry: None,
            jitter: LAN_JITTER,
            loss: 0.0,
            bursts: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: default_reorder_delay(),
            lossy_senders: None,
        }
    }
}

/// Something that goes wrong (or changes) during a run. Nodes are picked at
/// random from the seed, never node 0 (the seed everyone joins through).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// `count` nodes crash at `at`.
    Crash {
        /// How many.
        count: usize,
        /// When.
        #[serde(with = "dur")]
        at: Duration,
    },
    /// `count` nodes leave gracefully at `at`.
    Leave {
        /// How many.
        count: usize,
        /// When.
        #[serde(with = "dur")]
        at: Duration,
    },
    /// The nodes split into two sides, `fraction` of them on one, from `at` for
    /// `lasting`.
    Partition {
        /// Share of the nodes on the smaller side.
        fraction: f64,
        /// When it starts.
        #[serde(with = "dur")]
        at: Duration,
        /// How long it lasts.
        #[serde(with = "dur")]
        lasting: Duration,
    },
    /// `fraction` of the nodes restart (as a new generation, rejoining through
    /// node 0) every `every`, from `from` until `until`, each down for
    /// `downtime` first.
    Churn {
        /// Share of the nodes restarted each time.
        fraction: f64,
        /// How long a restarting node is down.
        #[serde(default, with = "dur")]
        downtime: Duration,
        /// How often.
        #[serde(with = "dur")]
        every: Duration,
        /// First restarts.
        #[serde(with = "dur")]
        from: Duration,
        /// No restarts after this.
        #[serde(with = "dur")]
        until: Duration,
    },
    /// `fraction` of the nodes handle incoming datagrams `min_delay..max_delay`
    /// late during spells of `spell`, one spell in every `period` (at a random
    /// phase): slow message processing, as under CPU starvation or GC pauses.
    /// Their timers fire on time (see [`Action::Slow`](crate::Action::Slow)).
    Slow {
        /// Share of the nodes.
        fraction: f64,
        /// Shortest added delay.
        #[serde(with = "dur")]
        min_delay: Duration,
        /// Longest added delay.
        #[serde(with = "dur")]
        max_delay: Duration,
        /// Length of a slow spell.
        #[serde(with = "dur")]
        spell: Duration,
        /// One spell per period.
        #[serde(with = "dur")]
        period: Duration,
    },
    /// The uniform loss rate becomes `loss` at `at`.
    Loss {
        /// The new rate.
        loss: f64,
        /// When.
        #[serde(with = "dur")]
        at: Duration,
    },
}

/// A simulated run, described as data.
///
/// ```
/// let scenario: gossip_sim::Scenario = toml::from_str(r#"
///     nodes = 100
///     duration = "60s"
///     seed = 7
///     start = "converged"
///     [network]
///     latency = { fixed = "2ms" }
///     jitter = "1ms"
///     loss = 0.05
///     [[faults]]
///     kind = "crash"
///     count = 3
///     at = "10s"
/// "#).unwrap();
/// let report = scenario.run(None);
/// assert_eq!(report.failures.count, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Cluster size.
    pub nodes: usize,
    /// Simulated time.
    #[serde(with = "dur")]
    pub duration: Duration,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// How the nodes find each other.
    #[serde(default)]
    pub start: Start,
    /// The protocol's settings.
    #[serde(default)]
    pub protocol: Protocol,
    /// The network.
    #[serde(default)]
    pub network: NetworkSpec,
    /// What goes wrong, and when.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Resolution of the time series.
    #[serde(default = "default_sample_interval", with = "dur")]
    pub sample_interval: Duration,
    /// User broadcasts sent during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcasts: Option<BroadcastLoad>,
    /// Writes to the replicated store during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<WriteLoad>,
    /// Synchronous rounds of [`ROUND`], for holding broadcasts against the
    /// theory of rumor spreading: every node contacts `gossip_fanout` (1 unless
    /// set) random members per round (push mode: a gossip round; pull and
    /// push-pull: a pull round, which carries pushes in push-pull mode), what it
    /// sends arrives within the round (latency becomes 1 ms, no jitter or
    /// reordering; loss stays), and probing and push-pull exchanges are off.
    /// Broadcasts are retained for the whole run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rounds: bool,
}

/// The length of a round in [`Scenario::rounds`] mode.
pub const ROUND: Duration = Duration::from_secs(1);

/// Broadcasts sent during a run, each from a random node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastLoad {
    /// How many.
    pub count: usize,
    /// When the first is sent (in rounds mode, half a round in, so that the
    /// first round is the first contact).
    #[serde(default = "default_broadcast_at", with = "dur")]
    pub at: Duration,
    /// Time between broadcasts; zero sends them all at once.
    #[serde(default, with = "dur")]
    pub every: Duration,
    /// Payload bytes.
    #[serde(default = "default_broadcast_size")]
    pub size: usize,
}

impl Default for BroadcastLoad {
    fn default() -> Self {
        BroadcastLoad {
            count: 1,
            at: default_broadcast_at(),
            every: Duration::ZERO,
            size: default_broadcast_size(),
        }
    }
}

fn default_broadcast_at() -> Duration {
    Duration::from_millis(500)
}

fn default_broadcast_size() -> usize {
    32
}

/// Writes to the replicated store during a run, spread evenly over `over`,
/// each by a random running node (drawn when it writes) to one of `keys` keys:
/// a small key space makes different nodes write the same keys concurrently.
/// Every value is distinct (it starts with the write's number), so that the
/// value a replica ends with names the write that won.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteLoad {
    /// How many writes and deletes.
    pub count: usize,
    /// When the first is made.
    #[serde(default = "default_write_at", with = "dur")]
    pub at: Duration,
    /// Time over which they are spread; zero makes them all at once.
    #[serde(default, with = "dur")]
    pub over: Duration,
    /// Distinct keys written (`key0`, `key1`, …), each write to a random one.
    #[serde(default = "default_write_keys")]
    pub keys: usize,
    /// Value bytes, at least [`WriteLoad::MIN_SIZE`].
    #[serde(default = "default_write_size")]
    pub size: usize,
    /// Share of the writes that are deletes.
    #[serde(default)]
    pub delete_fraction: f64,
}

impl WriteLoad {
    /// Smallest value: the write's number, as eight bytes.
    pub const MIN_SIZE: usize = 8;

    /// The key of number `index`.
    pub fn key(index: usize) -> Vec<u8> {
        format!("key{index}").into_bytes()
    }

    /// The value of write number `index`: its number, padded to `size`.
    pub fn value(&self, index: usize) -> Vec<u8> {
        let mut value = (index as u64).to_le_bytes().to_vec();
        value.resize(self.size.max(Self::MIN_SIZE), 0x5a);
        value
    }

    /// When write number `index` is made.
    pub fn time(&self, index: usize) -> Duration {
        self.at + self.over.mul_f64(index as f64 / self.count.max(1) as f64)
    }
}

impl Default for WriteLoad {
    fn default() -> Self {
        WriteLoad {
            count: 1,
            at: default_write_at(),
            over: Duration::ZERO,
            keys: default_write_keys(),
            size: default_write_size(),
            delete_fraction: 0.0,
        }
    }
}

fn default_write_at() -> Duration {
    Duration::from_secs(1)
}

fn default_write_keys() -> usize {
    100
}

fn default_write_size() -> usize {
    32
}

fn default_sample_interval() -> Duration {
    Duration::from_secs(1)
}

impl Scenario {
    /// A scenario of `nodes` nodes for `duration`, converged at the start, on the
    /// default network, without faults.
    pub fn new(nodes: usize, duration: Duration) -> Self {
        Scenario {
            nodes,
            duration,
            seed: 0,
            start: Start::Converged,
            protocol: Protocol::default(),
            network: NetworkSpec::default(),
            faults: Vec::new(),
            sample_interval: default_sample_interval(),
            broadcasts: None,
            writes: None,
            rounds: false,
        }
    }

    /// Checks what serde cannot: ranges and the protocol configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("nodes must be at least 1".into());
        }
        let share = |name: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(format!("{name} = {value} is not between 0 and 1"))
            }
        };
        let p = &self.protocol;
        let nearby_tuned = p.near_candidates.is_some() || p.far_percent.is_some();
        if nearby_tuned && p.peer_selection != Some(PeerSelectionSpec::Nearby) {
            return Err(
                "protocol.near_candidates and far_percent need peer_selection = \"nearby\"".into(),
            );
        }
        share("network.loss", self.network.loss)?;
        share("network.duplicate", self.network.duplicate)?;
        share("network.reorder", self.network.reorder)?;
        if let Latency::Pareto { shape, min, max } = self.network.latency {
            if !(shape > 0.0 && shape.is_finite()) {
                return Err(format!("pareto shape = {shape} must be positive"));
            }
            if min > max {
                return Err("pareto latency: min exceeds max".into());
            }
        }
        if let Latency::Uniform { min, max } = self.network.latency {
            if min > max {
                return Err("uniform latency: min exceeds max".into());
            }
        }
        if let Some(b) = self.network.bursts {
            share("bursts.mean_loss", b.mean_loss)?;
            share("bursts.loss_bad", b.loss_bad)?;
            if b.mean_loss > b.loss_bad {
                return Err("bursts.mean_loss cannot exceed the loss during a burst".into());
            }
            if !(b.burst_len >= 1.0 && b.burst_len.is_finite()) {
                return Err(format!(
                    "bursts.burst_len = {} must be at least 1",
                    b.burst_len
                ));
            }
        }
        if let Some(lossy) = self.network.lossy_senders {
            share("lossy_senders.fraction", lossy.fraction)?;
            share("lossy_senders.rate", lossy.rate)?;
        }
        if let Some(geometry) = &self.network.geometry {
            geometry
                .geometry()
                .map_err(|error| format!("network.geometry: {error}"))?;
            if self.rounds {
                return Err("rounds fix every delay to 1 ms: they take no geometry".into());
            }
        }
        for fault in &self.faults {
            match fault {
                Fault::Partition { fraction, .. } => share("partition fraction", *fraction)?,
                Fault::Churn {
                    fraction, every, ..
                } => {
                    share("churn fraction", *fraction)?;
                    if every.is_zero() {
                        return Err("churn every must be positive".into());
                    }
                }
                Fault::Slow {
                    fraction,
                    min_delay,
                    max_delay,
                    spell,
                    period,
                } => {
                    share("slow fraction", *fraction)?;
                    if spell.is_zero() || period < spell {
                        return Err(
                            "slow spell must be positive and no longer than the period".into()
                        );
                    }
                    if min_delay > max_delay {
                        return Err("slow min_delay exceeds max_delay".into());
                    }
                }
                Fault::Loss { loss, .. } => share("fault loss", *loss)?,
                Fault::Crash { count, .. } | Fault::Leave { count, .. } if *count >= self.nodes => {
                    return Err(format!("cannot take {count} of {} nodes away", self.nodes));
                }
                _ => {}
            }
        }
        if self.sample_interval.is_zero() {
            return Err("sample_interval must be positive".into());
        }
        let config = self.config();
        if let Some(load) = self.broadcasts {
            if load.size > config.max_broadcast_size {
                return Err(format!(
                    "broadcasts of {} bytes exceed max_broadcast_size {}",
                    load.size, config.max_broadcast_size
                ));
            }
        }
        if let Some(load) = self.writes {
            share("writes.delete_fraction", load.delete_fraction)?;
            if load.keys == 0 {
                return Err("writes.keys must be at least 1".into());
            }
            if load.size < WriteLoad::MIN_SIZE || load.size > config.max_value_size {
                return Err(format!(
                    "writes.size = {} is not between {} and max_value_size {}",
                    load.size,
                    WriteLoad::MIN_SIZE,
                    config.max_value_size
                ));
            }
            let longest = WriteLoad::key(load.keys - 1).len();
            if longest > config.max_key_size {
                return Err(format!(
                    "{} keys need {longest}-byte names, over max_key_size {}",
                    load.keys, config.max_key_size
                ));
            }
        }
        config.validate().map_err(|e| e.to_string())
    }

    /// The configuration every node runs: the protocol's, adjusted for sparse
    /// starts and for synchronous rounds.
    pub fn config(&self) -> Config {
        let mut config = self.protocol.config();
        if let Start::Sparse(_) = self.start {
            config.discovery = false;
            config.push_pull_interval = Duration::MAX;
        }
        if self.rounds {
            let never = Duration::from_secs(1 << 30);
            config.probe_interval = never;
            config.probe_timeout = never / 2;
            config.push_pull_interval = never;
            config.discovery = false;
            config.gossip_interval = ROUND;
            // Probing is off: a pull goes every round, as in the theory.
            config.pull_schedule = PullSchedule::Periodic;
            config.pull_interval = ROUND;
            config.broadcast_retention = self.duration + never;
            let contacts = self.protocol.gossip_fanout.unwrap_or(1);
            if config.dissemination.pulls() {
                config.gossip_fanout = 0;
                config.pull_fanout = contacts;
            } else {
                config.gossip_fanout = contacts;
            }
        }
        config
    }

    /// The network model.
    ///
    /// # Panics
    /// If the geometry is invalid: check it with [`validate`](Self::validate).
    pub fn network(&self, rng: &mut SimRng) -> Network {
        let spec = &self.network;
        let mut network = Network::default()
            .latency(spec.latency)
            .jitter(spec.jitter)
            .loss(spec.loss)
            .duplicate(spec.duplicate)
            .reorder(spec.reorder, spec.reorder_delay);
        if let Some(b) = spec.bursts {
            network = network.bursts(GilbertElliott::with_mean(
                b.mean_loss,
                b.burst_len,
                b.loss_bad,
            ));
        }
        if let Some(lossy) = spec.lossy_senders {
            for node in pick(rng, self.nodes, lossy.fraction) {
                network = network.outbound_loss(node, lossy.rate);
            }
        }
        if let Some(geometry) = &spec.geometry {
            match geometry.geometry() {
                Ok(geometry) => network = network.geometry(geometry),
                Err(error) => panic!("invalid network.geometry: {error}"),
            }
        }
        network
    }

    /// The simulation, started and with every fault scheduled, at time zero.
    pub fn build(&self) -> Simulation {
        // Fault choices draw from their own generator, so that changing a fault
        // does not change the network's draws.
        let mut choices = SimRng::seed_from_u64(self.seed ^ 0x5eed_fa17);
        let mut network = self.network(&mut choices);
        if self.rounds {
            network = network
                .latency(Latency::Fixed(Duration::from_millis(1)))
                .jitter(Duration::ZERO)
                .reorder(0.0, Duration::ZERO);
        }
        let config = self.config();
        let mut sim = Simulation::builder()
            .nodes(self.nodes)
            .config(config)
            .network(network)
            .seed(self.seed)
            .record_events(false)
            .track_views(!matches!(self.start, Start::Sparse(_)))
            .sample_interval(self.sample_interval)
            .rounds(self.rounds.then_some(ROUND))
            .build();
        match self.start {
            Start::Converged => sim.bootstrap_converged(),
            Start::Join => sim.join_all_through(0),
            Start::Staggered(interval) => {
                for id in 1..self.nodes as NodeId {
                    let at = Instant::ZERO + interval * id;
                    sim.schedule(
                        at,
                        Action::Join {
                            node: id,
                            seeds: vec![0],
                        },
                    );
                }
            }
            Start::Sparse(k) => sim.bootstrap_sparse(k),
        }
        for fault in &self.faults {
            self.schedule(&mut sim, &mut choices, fault);
        }
        if let Some(load) = self.broadcasts {
            for i in 0..load.count {
                let node = (choices.next_u64() % self.nodes as u64) as NodeId;
                let at = Instant::ZERO + load.at + load.every * i as u32;
                sim.schedule(
                    at,
                    Action::Broadcast {
                        node,
                        size: load.size,
                    },
                );
            }
        }
        if let Some(load) = self.writes {
            // Their own generator too: adding writes leaves the faults' choices alone.
            let mut writes = SimRng::seed_from_u64(self.seed ^ 0x5eed_5707e);
            for i in 0..load.count {
                let writer = writes.next_u64();
                let key = WriteLoad::key((writes.next_u64() % load.keys as u64) as usize);
                let delete = crate::network::unit(&mut writes) < load.delete_fraction;
                let value = (!delete).then(|| load.value(i));
                let at = Instant::ZERO + load.time(i);
                sim.schedule(at, Action::Write { writer, key, value });
            }
        }
        sim
    }

    fn schedule(&self, sim: &mut Simulation, rng: &mut SimRng, fault: &Fault) {
        let at = |d: Duration| Instant::ZERO + d;
        let n = self.nodes;
        match *fault {
            Fault::Crash { count, at: when } => {
                for node in pick_count(rng, n, count) {
                    sim.schedule(at(when), Action::Crash(node));
                }
            }
            Fault::Leave { count, at: when } => {
                for node in pick_count(rng, n, count) {
                    sim.schedule(at(when), Action::Leave(node));
                }
            }
            Fault::Partition {
                fraction,
                at: when,
                lasting,
            } => {
                let side: Vec<NodeId> = pick(rng, n, fraction);
                sim.schedule(at(when), Action::Partition(vec![side]));
                sim.schedule(at(when + lasting), Action::Heal);
            }
            Fault::Churn {
                fraction,
                downtime,
                every,
                from,
                until,
            } => {
                let mut when = from;
                while when <= until && !every.is_zero() {
                    for node in pick(rng, n, fraction) {
                        if !downtime.is_zero() {
                            sim.schedule(at(when), Action::Crash(node));
                        }
                        let restart = Action::Restart {
                            node,
                            seeds: vec![0],
                        };
                        sim.schedule(at(when + downtime), restart);
                    }
                    when += every;
                }
            }
            Fault::Slow {
                fraction,
                min_delay,
                max_delay,
                spell,
                period,
            } => {
                for node in pick(rng, n, fraction) {
                    let phase = period.mul_f64(crate::network::unit(rng));
                    let mut start = phase;
                    while start < self.duration {
                        let until = at(start + spell);
                        sim.schedule(
                            at(start),
                            Action::Slow {
                                node,
                                until,
                                min: min_delay,
                                max: max_delay,
                            },
                        );
                        start += period.max(spell);
                    }
                }
            }
            Fault::Loss { loss, at: when } => sim.schedule(at(when), Action::SetLoss(loss)),
        }
    }

    /// Runs the scenario to its end; `progress` is told the share done.
    ///
    /// # Panics
    /// If the scenario is invalid: check it with [`validate`](Self::validate).
    pub fn run(&self, progress: Option<&dyn Fn(f64)>) -> Report {
        if let Err(error) = self.validate() {
            panic!("invalid scenario: {error}");
        }
        let wall = std::time::Instant::now();
        let mut sim = self.build();
        let setup = wall.elapsed();
        let step = (self.duration / 100).max(Duration::from_millis(100));
        let end = Instant::ZERO + self.duration;
        while sim.now() < end {
            sim.run_until((sim.now() + step).min(end));
            if let Some(progress) = progress {
                progress((sim.now() - Instant::ZERO).as_secs_f64() / self.duration.as_secs_f64());
            }
        }
        Report::new(self, &sim, setup, wall.elapsed())
    }
}

/// `count` distinct random nodes, never node 0.
fn pick_count(rng: &mut SimRng, n: usize, count: usize) -> Vec<NodeId> {
    let mut candidates: Vec<NodeId> = (1..n as NodeId).collect();
    let count = count.min(candidates.len());
    for i in 0..count {
        let j = i + (rng.next_u64() % (candidates.len() - i) as u64) as usize;
        candidates.swap(i, j);
    }
    candidates.truncate(count);
    candidates.sort_unstable();
    candidates
}

/// `fraction` of the nodes (rounded), at random, never node 0.
fn pick(rng: &mut SimRng, n: usize, fraction: f64) -> Vec<NodeId> {
    pick_count(rng, n, (fraction * n as f64).round() as usize)
}

/// A duration that serde reads and writes as text, for containers of durations.
#[derive(Serialize, Deserialize)]
struct Text(#[serde(with = "dur")] Duration);

/// Serde for optional durations.
mod opt_dur {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Text;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.map(Text).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<Text>::deserialize(deserializer)?.map(|t| t.0))
    }
}

/// Serde for matrices of durations (rows of `"80ms"`).
mod dur_matrix {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Text;

    pub(crate) fn serialize<S: Serializer>(
        rows: &[Vec<Duration>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let rows: Vec<Vec<Text>> = rows
            .iter()
            .map(|row| row.iter().copied().map(Text).collect())
            .collect();
        rows.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<Duration>>, D::Error> {
        let rows = Vec::<Vec<Text>>::deserialize(deserializer)?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_iter().map(|t| t.0).collect())
            .collect())
    }
}
