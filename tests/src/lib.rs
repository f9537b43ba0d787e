//! A deterministic network simulator for [`gossip_core`] clusters.
//!
//! Many [`gossip_core::Node`]s run in virtual time on a simulated network with
//! latency (or the round-trip times of a [`Geometry`] of datacentres), jitter,
//! loss (uniform, bursty, per link), duplication, reordering, partitions,
//! crashes, restarts and slow nodes. One seed determines the whole
//! run: the same seed gives the same run, bit for bit, which [`Trace::hash`] lets
//! a test check. [`Metrics`] measures convergence, failure detection, false
//! positives, traffic, the spread of broadcasts and the agreement of the
//! replicated stores.
//!
//! ```
//! use gossip_sim::{Network, Simulation};
//! use std::time::Duration;
//!
//! let mut sim = Simulation::builder()
//!     .nodes(5)
//!     .network(Network::default().loss(0.01))
//!     .seed(7)
//!     .build();
//! sim.join_all_through(0);
//! sim.run_for(Duration::from_secs(10));
//! assert!(sim.converged());
//! ```
//!
//! A whole run described as data, as the `simulate` CLI and TOML files do:
//!
//! ```
//! use gossip_sim::{Fault, Scenario};
//! use std::time::Duration;
//!
//! let mut scenario = Scenario::new(200, Duration::from_secs(60));
//! scenario.network.loss = 0.02;
//! scenario.faults.push(Fault::Crash { count: 5, at: Duration::from_secs(10) });
//! let report = scenario.run(None);
//! assert_eq!(report.failures.known_by_all, 5);
//! println!("{report}"); // the CLI's table; `Report` is also `Serialize`
//! ```

pub mod demo;
pub mod fuzzing;
mod geometry;
mod metrics;
mod network;
pub mod plot;
mod replicas;
mod report;
mod scenario;
mod simulation;
mod spread;
mod topology;
mod units;

pub use geometry::{DEFAULT_JITTER_SHARE, Geometry};
pub use metrics::{Failure, FalsePositive, Metrics, Sample};
pub use network::{GilbertElliott, Latency, Network, NodeId};
pub use replicas::{CLEAR_ORDER, ConvergenceClaims, STATE_KINDS, StateCheck, StateTotals, Write};
pub use report::{
    BroadcastReport, CurvePoint, FailureReport, FalsePositiveRecord, FalsePositiveReport,
    Infection, KindTraffic, MembershipReport, Point, Report, StateReport, Summary, TrafficReport,
    WallTime,
};
pub use scenario::{
    BroadcastLoad, Bursts, Fault, GeometrySpec, LossyNodes, Mode, NetworkSpec, PeerSelectionSpec,
    Preset, Protocol, PullScheduleSpec, ROUND, Scenario, Start, TerminationSpec, WriteLoad,
};
pub use simulation::{
    Action, Filter, Recorded, Rewrite, SecretRng, SimNode, SimRng, Simulation, SimulationBuilder,
    Tap, Trace,
};
pub use spread::Spread;
pub use topology::RttPrediction;
pub use units::{format_duration, parse_duration};

/// Serde helpers for human-readable durations.
pub mod serde_units {
    pub use crate::units::duration;
}
