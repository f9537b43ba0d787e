//! A deterministic network simulator for [`gossip_core`] clusters.
//!
//! Many [`gossip_core::Node`]s run in virtual time on a simulated network with
//! latency, jitter, loss, partitions, crashes and restarts. One seed determines
//! the whole run: the same seed gives the same run, bit for bit, which
//! [`Trace::hash`] lets a test check.
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

mod network;
mod simulation;

pub use network::{Network, NodeId};
pub use simulation::{
    Filter, Recorded, SimNode, SimRng, Simulation, SimulationBuilder, Tap, Trace,
};
