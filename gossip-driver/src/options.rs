//! What a node is started with: its name, addresses, seeds and configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use gossip_core::{Config, Encryption};

/// How to start a node; fluent, then handed to an adapter's `start`.
///
/// ```
/// use gossip_driver::Builder;
/// use gossip_core::Config;
///
/// let builder = Builder::new("web-1")
///     .bind("127.0.0.1:7946".parse().unwrap())
///     .seeds(["127.0.0.1:7947".parse().unwrap()])
///     .config(Config::lan())
///     .metadata(b"zone=a".to_vec());
/// assert_eq!(builder.name(), "web-1");
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) name: String,
    pub(crate) bind: SocketAddr,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) seeds: Vec<SocketAddr>,
    pub(crate) config: Config,
    pub(crate) encryption: Option<Encryption>,
    pub(crate) metadata: Vec<u8>,
    pub(crate) generation: Option<u64>,
    pub(crate) rng_seed: Option<u64>,
    pub(crate) leave_timeout: Duration,
    pub(crate) max_datagrams_per_turn: usize,
    pub(crate) event_capacity: usize,
}

impl Builder {
    /// A node named `name` (unique in the cluster), bound to 127.0.0.1 on a
    /// port the system picks, with `Config::lan()`.
    pub fn new(name: impl Into<String>) -> Self {
        Builder {
            name: name.into(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            advertise: None,
            seeds: Vec::new(),
            config: Config::lan(),
            encryption: None,
            metadata: Vec::new(),
            generation: None,
            rng_seed: None,
            leave_timeout: Duration::from_secs(5),
            max_datagrams_per_turn: 64,
            event_capacity: 1_024,
        }
    }

    /// The address to bind the UDP socket to.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The address other members reach this node at, if not the bound one
    /// (needed when binding `0.0.0.0`, or behind NAT).
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Members to join through once started; none starts a cluster of one.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// The protocol configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Seals every datagram with these keys and label (whatever
    /// [`config`](Self::config) says, before or after). See
    /// [`Encryption`] and [`Keyring`](gossip_core::Keyring).
    pub fn encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// Metadata other members see (at most `Config::max_metadata_size`).
    pub fn metadata(mut self, metadata: Vec<u8>) -> Self {
        self.metadata = metadata;
        self
    }

    /// The generation of this incarnation of the process; by default the
    /// milliseconds since the Unix epoch, so a restart always counts higher.
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// Seeds the node's random choices (for reproducible tests); by default
    /// they are seeded from the system. The node's secrets (the session of
    /// its sealed datagrams, its cookie and hash keys) are drawn from the
    /// system's generator whatever the seed.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// How long a graceful leave waits for the departure to be gossiped.
    pub fn leave_timeout(mut self, timeout: Duration) -> Self {
        self.leave_timeout = timeout;
        self
    }

    /// Most datagrams handled per turn of the loop before timers are checked,
    /// so that a flood from one peer cannot starve probes (at least 1).
    pub fn max_datagrams_per_turn(mut self, max: usize) -> Self {
        self.max_datagrams_per_turn = max.max(1);
        self
    }

    /// Events buffered per subscriber; a subscriber further behind is told
    /// how many it missed, and never slows the node.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address to bind.
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind
    }

    /// The configured advertise address, if any.
    pub fn advertise_addr(&self) -> Option<SocketAddr> {
        self.advertise
    }

    /// The seeds to join through.
    pub fn seed_addrs(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// See [`max_datagrams_per_turn`](Self::max_datagrams_per_turn).
    pub fn datagrams_per_turn(&self) -> usize {
        self.max_datagrams_per_turn
    }

    /// See [`event_capacity`](Self::event_capacity).
    pub fn events_buffered(&self) -> usize {
        self.event_capacity
    }
}
