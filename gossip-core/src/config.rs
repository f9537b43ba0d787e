//! Protocol parameters, with memberlist's presets.

use core::time::Duration;

use crate::dissemination::{Dissemination, PullSchedule, Termination};
use crate::error::ConfigError;
use crate::identity::MAX_NAME_LEN;
use crate::seal::{Encryption, MAX_LABEL_LEN, SEAL_OVERHEAD};
use crate::state::{Conflicts, MAX_TREE_DEPTH};
#[cfg(doc)]
use crate::topology::Coordinate;
use crate::topology::PeerSelection;
use crate::wire::HEADER_MAX_LEN;

/// The smallest `max_packet_size` accepted: room for an alive announcement with a
/// maximal name and some metadata.
pub const MIN_PACKET_SIZE: usize = 512;
/// The largest `max_packet_size` accepted: the largest UDP payload over IPv4.
pub const MAX_PACKET_SIZE: usize = 65_507;
/// Room an alive announcement needs besides the name and metadata: header, tags,
/// numbers and an address (an IPv6 socket address is 19 bytes on the wire).
const ALIVE_OVERHEAD: usize = 64;
/// Room a broadcast needs besides its origin's name and its payload: a tag, the
/// id, the age, the feedback flag and the payload's length, as varints at most.
const BROADCAST_OVERHEAD: usize = 24;
/// Room a key entry needs besides its key, value and origin's name: the
/// anti-entropy opener, tags and lengths, a dot, a stamp, and a version of
/// up to eight writers.
const ENTRY_OVERHEAD: usize = 200;

/// Protocol parameters.
///
/// Start from a preset ([`Config::lan`], [`Config::wan`], [`Config::local`]), change
/// fields, and [`validate`](Config::validate) (which [`Node::new`](crate::Node::new)
/// also does). All durations are in the caller's virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Identifies the cluster on the wire; packets of another cluster are rejected.
    pub cluster_id: u32,

    /// Time between failure-detection probes (SWIM's protocol period).
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking others to probe indirectly.
    pub probe_timeout: Duration,
    /// How many members probe on our behalf when a direct probe goes unanswered.
    pub indirect_checks: usize,

    /// Lifeguard's local health awareness: a score in `0..awareness_max` that
    /// rises when this node's probes fail or its expected nacks do not arrive (or
    /// it has to refute a suspicion of itself) and falls with each successful
    /// probe. The probe interval and probe timeout are multiplied by
    /// `score + 1`, so a node that is itself slow probes less and blames others
    /// less. 1 turns it off.
    pub awareness_max: u32,
    /// Lifeguard's nacks: members asked to probe on our behalf answer "no ack
    /// from the target" if it stays silent, so a failed probe whose nacks are
    /// missing too points at this node rather than at the target.
    pub nacks: bool,
    /// Lifeguard's buddy system: a probe of a member this node suspects carries
    /// the suspicion, so the member learns of it first-hand and can refute at
    /// once instead of waiting for the rumor to reach it.
    pub buddy_system: bool,

    /// The minimum suspicion timeout is `suspicion_mult · max(1, log10 n) ·
    /// probe_interval`; Lifeguard expects `suspicion_mult − 2` independent
    /// confirmations of a real failure.
    pub suspicion_mult: u32,
    /// Lifeguard's dynamic suspicion: a suspicion starts at
    /// `suspicion_max_timeout_mult` times the minimum timeout and shrinks toward
    /// the minimum with each independent confirmation, so that a lone false
    /// suspicion has time to be refuted. 1 gives SWIM's fixed timeout.
    pub suspicion_max_timeout_mult: u32,
    /// Each update is piggybacked at most `retransmit_mult · ceil(log10(n + 1))` times.
    pub retransmit_mult: u32,

    /// Time between gossip rounds that send pending updates without waiting for a probe.
    pub gossip_interval: Duration,
    /// Members contacted per gossip round; 0 disables the gossip timer (updates then
    /// ride on probes and acks only).
    pub gossip_fanout: usize,
    /// How gossip partners are chosen: uniformly, or near ones first (see
    /// [`PeerSelection`]). Probes are always uniform.
    pub peer_selection: PeerSelection,
    /// For how long after its failure a member is still gossiped to, so that a member
    /// declared failed by mistake hears of it and refutes.
    pub gossip_to_the_dead: Duration,

    /// Vivaldi network coordinates: every ping and ack to a member carries
    /// the sender's (13 to 22 bytes), and each direct ack's round trip
    /// refines this node's, so that
    /// [`Node::estimated_rtt`](crate::Node::estimated_rtt) predicts the round
    /// trip to any member without probing it. See [`Coordinate`].
    pub coordinates: bool,

    /// How user broadcasts spread: pushed, pulled or both (see [`Dissemination`]).
    pub dissemination: Dissemination,
    /// When a member stops pushing a broadcast (see [`Termination`]).
    pub termination: Termination,
    /// In the pull and push-pull modes, when a member pulls: only while it
    /// or a member it probes holds broadcasts (the default), or always (see
    /// [`PullSchedule`]).
    pub pull_schedule: PullSchedule,
    /// Least time between pulls, in the pull and push-pull modes: each sends a
    /// digest of the broadcasts heard, which the receiver answers with what
    /// is missing.
    pub pull_interval: Duration,
    /// Members asked per pull round; a pull of a member holding nothing asks
    /// the member whose digest it heard.
    pub pull_fanout: usize,
    /// Largest broadcast payload; [`Node::broadcast`](crate::Node::broadcast)
    /// refuses larger ones, and received ones are rejected. A broadcast travels
    /// in one datagram, so this is at most `max_packet_size` less the name and
    /// some bytes of framing.
    pub max_broadcast_size: usize,
    /// Most broadcasts a node holds (to push them and to answer pulls). When
    /// full, the oldest is dropped and counted in
    /// [`BroadcastStats::broadcasts_evicted`](crate::BroadcastStats::broadcasts_evicted). The ids
    /// of broadcasts seen (to deliver each once) are remembered up to eight
    /// times this many.
    pub max_broadcasts: usize,
    /// How long after it was sent a broadcast is passed on, pushed or pulled: a
    /// member that missed it (loss, partition, a late join) can still get it
    /// within this time. Ids are remembered twice as long, so that a late copy
    /// is never delivered a second time.
    pub broadcast_retention: Duration,

    /// How concurrent writes to a key of the replicated store are resolved
    /// (see [`Conflicts`]).
    pub conflicts: Conflicts,
    /// Time between anti-entropy rounds of the replicated store: a Merkle-tree
    /// comparison with a random member, which repairs what rumors missed.
    pub state_sync_interval: Duration,
    /// Depth of the Merkle tree (fan-out 16, so `16^depth` leaves). All members
    /// must agree on it. Anti-entropy costs about `depth / 2 + 1` round trips;
    /// choose it so that leaves number at least four times the keys (a leaf
    /// that differs then rarely holds a neighbour that does not, which would
    /// travel too): 5 (a million leaves) up to about 250,000 keys, 6 up to
    /// about four million. Sparse: memory follows the keys, not the leaves.
    pub state_tree_depth: u8,
    /// Most keys a replica holds, deleted ones included until their
    /// tombstones are collected. Local writes beyond it fail with
    /// [`StateError::Full`](crate::StateError::Full); new keys from others are
    /// dropped and counted in [`StateStats::keys_refused`](crate::StateStats::keys_refused).
    pub max_keys: usize,
    /// Longest key, in bytes.
    pub max_key_size: usize,
    /// Longest value, in bytes. A key travels in one datagram with its
    /// version, so values are limited rather than split.
    pub max_value_size: usize,
    /// How long a deleted key's tombstone is kept (by the stamp of the
    /// delete). A replica that comes back within this time cannot resurrect
    /// the key; keep it longer than the longest partition you expect.
    pub key_tombstone_retention: Duration,

    /// Time between full state exchanges (push-pull) with a random member. Also the
    /// mechanism that heals partitions: recently failed members are candidates.
    pub push_pull_interval: Duration,
    /// Exchange state with any member not in the table that probes or gossips to
    /// this node (at most once per probe interval), rather than wait for a rumor
    /// that may have run out or for the next periodic exchange. Off only for
    /// partial views (each node knowing a few members), where every contact is
    /// a stranger.
    pub discovery: bool,
    /// How long failed and departed members are kept as tombstones. Tombstones stop
    /// stale gossip from resurrecting a member, and failed ones are tried as
    /// push-pull partners so that both sides of a healed partition meet again.
    pub tombstone_timeout: Duration,

    /// First delay between join attempts; it doubles after every attempt no seed
    /// answered, and the next attempt after a seed's answer (a cookie) comes
    /// this long after it again: the seed is up, the exchange was lost.
    pub join_retry_initial: Duration,
    /// Longest delay between join attempts.
    pub join_retry_max: Duration,
    /// Give up joining after this many attempts without a member list (`None`:
    /// never give up).
    pub join_max_attempts: Option<u32>,

    /// No datagram the node sends exceeds this, and larger ones are rejected.
    /// With encryption, [`SEAL_OVERHEAD`] of it is the seal's: see
    /// [`payload_size`](Config::payload_size).
    pub max_packet_size: usize,
    /// Authenticated encryption of every datagram, and the cluster's label
    /// (`None`, the default: plaintext). See [`Encryption`].
    pub encryption: Option<Encryption>,
    /// Largest metadata a node may attach to itself.
    pub max_metadata_size: usize,
    /// Most members (including tombstones) the node keeps; when full, the oldest
    /// tombstone makes room, and without tombstones newcomers are refused.
    pub max_members: usize,
    /// Most undrained events; beyond it the oldest are dropped and counted.
    pub max_pending_events: usize,
    /// Most undrained datagrams, of every part together; beyond it new ones
    /// are dropped and counted, whichever part queues them.
    pub max_pending_transmits: usize,
    /// Most indirect probes in flight on behalf of other members.
    pub max_relayed_probes: usize,
}

impl Config {
    /// memberlist's `DefaultLANConfig`: a local network with sub-millisecond RTTs.
    pub fn lan() -> Self {
        Config {
            cluster_id: 0,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            awareness_max: 8,
            nacks: true,
            buddy_system: true,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_fanout: 3,
            gossip_to_the_dead: Duration::from_secs(30),
            peer_selection: PeerSelection::Uniform,
            coordinates: true,
            dissemination: Dissemination::PushPull,
            termination: Termination::RetransmitLimit,
            pull_schedule: PullSchedule::WhileActive,
            pull_interval: Duration::from_secs(1),
            pull_fanout: 1,
            max_broadcast_size: 1_024,
            max_broadcasts: 512,
            broadcast_retention: Duration::from_secs(60),
            conflicts: Conflicts::LastWriterWins,
            state_sync_interval: Duration::from_secs(5),
            state_tree_depth: 5,
            max_keys: 100_000,
            max_key_size: 128,
            max_value_size: 512,
            key_tombstone_retention: Duration::from_secs(24 * 3_600),
            push_pull_interval: Duration::from_secs(30),
            discovery: true,
            tombstone_timeout: Duration::from_secs(3_600),
            join_retry_initial: Duration::from_secs(1),
            join_retry_max: Duration::from_secs(30),
            join_max_attempts: None,
            max_packet_size: 1_400,
            encryption: None,
            max_metadata_size: 512,
            max_members: 200_000,
            max_pending_events: 65_536,
            max_pending_transmits: 65_536,
            max_relayed_probes: 256,
        }
    }

    /// memberlist's `DefaultWANConfig`: members across datacentres.
    pub fn wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: 6,
            gossip_interval: Duration::from_millis(500),
            gossip_fanout: 4,
            gossip_to_the_dead: Duration::from_secs(60),
            pull_interval: Duration::from_secs(2),
            broadcast_retention: Duration::from_secs(120),
            state_sync_interval: Duration::from_secs(15),
            push_pull_interval: Duration::from_secs(60),
            tombstone_timeout: Duration::from_secs(6 * 3_600),
            ..Config::lan()
        }
    }

    /// memberlist's `DefaultLocalConfig`: all members on one host (loopback).
    pub fn local() -> Self {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            suspicion_mult: 3,
            retransmit_mult: 2,
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead: Duration::from_secs(15),
            state_sync_interval: Duration::from_secs(2),
            push_pull_interval: Duration::from_secs(15),
            tombstone_timeout: Duration::from_secs(300),
            ..Config::lan()
        }
    }

    /// Turns Lifeguard off (local health, nacks, dynamic suspicion, buddy
    /// system): the plain SWIM of the paper, for comparison.
    ///
    /// ```
    /// use gossip_core::Config;
    /// let swim = Config::lan().without_lifeguard();
    /// assert_eq!((swim.awareness_max, swim.suspicion_max_timeout_mult), (1, 1));
    /// assert!(!swim.nacks && !swim.buddy_system);
    /// ```
    pub fn without_lifeguard(self) -> Self {
        Config {
            awareness_max: 1,
            nacks: false,
            suspicion_max_timeout_mult: 1,
            buddy_system: false,
            ..self
        }
    }

    /// Checks that the parameters make sense together.
    ///
    /// ```
    /// use gossip_core::{Config, ConfigError};
    /// let mut config = Config::lan();
    /// config.probe_timeout = config.probe_interval;
    /// assert!(matches!(config.validate(), Err(ConfigError::ProbeTimeoutNotBelowInterval { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero("probe_interval", self.probe_interval)?;
        nonzero("probe_timeout", self.probe_timeout)?;
        if self.probe_timeout >= self.probe_interval {
            return Err(ConfigError::ProbeTimeoutNotBelowInterval {
                timeout: self.probe_timeout,
                interval: self.probe_interval,
            });
        }
        nonzero("push_pull_interval", self.push_pull_interval)?;
        nonzero("tombstone_timeout", self.tombstone_timeout)?;
        nonzero("join_retry_initial", self.join_retry_initial)?;
        if self.join_retry_max < self.join_retry_initial {
            return Err(ConfigError::Inconsistent {
                field: "join_retry_max",
                reason: "must be at least join_retry_initial",
            });
        }
        if self.gossip_fanout > 0 {
            nonzero("gossip_interval", self.gossip_interval)?;
        }
        in_range("indirect_checks", self.indirect_checks as u64, 0, 16)?;
        in_range("gossip_fanout", self.gossip_fanout as u64, 0, 64)?;
        in_range("awareness_max", self.awareness_max.into(), 1, 100)?;
        in_range("suspicion_mult", self.suspicion_mult.into(), 1, 100)?;
        in_range(
            "suspicion_max_timeout_mult",
            self.suspicion_max_timeout_mult.into(),
            1,
            100,
        )?;
        in_range("retransmit_mult", self.retransmit_mult.into(), 1, 100)?;
        in_range(
            "max_packet_size",
            self.max_packet_size as u64,
            MIN_PACKET_SIZE as u64,
            MAX_PACKET_SIZE as u64,
        )?;
        if let Some(encryption) = &self.encryption {
            in_range(
                "encryption.label",
                encryption.label.len() as u64,
                0,
                MAX_LABEL_LEN as u64,
            )?;
            // At least a second (clocks and queues); at most a day, so that
            // replay windows are not kept for ever.
            in_range(
                "encryption.max_datagram_age",
                encryption.max_datagram_age.as_secs(),
                1,
                86_400,
            )?;
        }
        let metadata_room = self.payload_size() - MAX_NAME_LEN - ALIVE_OVERHEAD;
        in_range(
            "max_metadata_size",
            self.max_metadata_size as u64,
            0,
            metadata_room as u64,
        )?;
        in_range("max_members", self.max_members as u64, 2, u32::MAX.into())?;
        self.validate_broadcasts()?;
        self.validate_state()?;
        self.validate_topology()?;
        in_range(
            "max_pending_events",
            self.max_pending_events as u64,
            16,
            u32::MAX.into(),
        )?;
        in_range(
            "max_pending_transmits",
            self.max_pending_transmits as u64,
            16,
            u32::MAX.into(),
        )?;
        in_range(
            "max_relayed_probes",
            self.max_relayed_probes as u64,
            1,
            u32::MAX.into(),
        )?;
        Ok(())
    }

    fn validate_topology(&self) -> Result<(), ConfigError> {
        if let PeerSelection::Nearby {
            candidates,
            far_percent,
        } = self.peer_selection
        {
            if !self.coordinates {
                return Err(ConfigError::Inconsistent {
                    field: "peer_selection",
                    reason: "choosing near members needs coordinates",
                });
            }
            in_range("peer_selection.candidates", candidates.into(), 1, 64)?;
            in_range("peer_selection.far_percent", far_percent.into(), 1, 100)?;
        }
        Ok(())
    }

    fn validate_broadcasts(&self) -> Result<(), ConfigError> {
        nonzero("broadcast_retention", self.broadcast_retention)?;
        if self.dissemination.pulls() {
            nonzero("pull_interval", self.pull_interval)?;
            in_range("pull_fanout", self.pull_fanout as u64, 1, 64)?;
        }
        match self.termination {
            Termination::RetransmitLimit => {}
            Termination::FeedbackCounter { k } | Termination::BlindCoin { k } => {
                in_range("termination.k", k.into(), 1, 1_000)?;
            }
        }
        let broadcast_room =
            self.payload_size() - HEADER_MAX_LEN - MAX_NAME_LEN - BROADCAST_OVERHEAD;
        in_range(
            "max_broadcast_size",
            self.max_broadcast_size as u64,
            0,
            broadcast_room as u64,
        )?;
        in_range("max_broadcasts", self.max_broadcasts as u64, 1, 1 << 20)
    }
}

impl Config {
    fn validate_state(&self) -> Result<(), ConfigError> {
        nonzero("state_sync_interval", self.state_sync_interval)?;
        nonzero("key_tombstone_retention", self.key_tombstone_retention)?;
        in_range(
            "state_tree_depth",
            self.state_tree_depth.into(),
            1,
            MAX_TREE_DEPTH.into(),
        )?;
        in_range("max_keys", self.max_keys as u64, 1, u32::MAX.into())?;
        in_range("max_key_size", self.max_key_size as u64, 0, 1_024)?;
        // One write of the largest key and value, with its origin's name and
        // a version naming a few writers, must fit a datagram.
        let entry_room = self.payload_size() - HEADER_MAX_LEN - MAX_NAME_LEN - ENTRY_OVERHEAD;
        in_range(
            "max_value_size",
            self.max_value_size as u64,
            0,
            entry_room.saturating_sub(self.max_key_size) as u64,
        )
    }
}

impl Config {
    /// Room for the protocol in a datagram: `max_packet_size`, less the
    /// seal's [`SEAL_OVERHEAD`] (46 bytes) when encryption is configured.
    pub fn payload_size(&self) -> usize {
        let seal = if self.encryption.is_some() {
            SEAL_OVERHEAD
        } else {
            0
        };
        self.max_packet_size - seal
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

fn nonzero(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        Err(ConfigError::ZeroDuration { field })
    } else {
        Ok(())
    }
}

fn in_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_match_memberlist() {
        for config in [Config::lan(), Config::wan(), Config::local()] {
            config.validate().unwrap();
        }
        let lan = Config::lan();
        assert_eq!(lan.probe_interval, Duration::from_secs(1));
        assert_eq!(lan.probe_timeout, Duration::from_millis(500));
        assert_eq!(lan.indirect_checks, 3);
        assert_eq!(lan.awareness_max, 8);
        assert!(lan.nacks && lan.buddy_system);
        assert_eq!(lan.suspicion_mult, 4);
        assert_eq!(lan.suspicion_max_timeout_mult, 6);
        assert_eq!(lan.retransmit_mult, 4);
        assert_eq!(lan.gossip_interval, Duration::from_millis(200));
        assert_eq!(lan.gossip_fanout, 3);
        assert_eq!(lan.push_pull_interval, Duration::from_secs(30));
        assert_eq!(Config::wan().suspicion_mult, 6);
        assert_eq!(Config::local().probe_timeout, Duration::from_millis(200));
    }

    #[test]
    fn nonsense_is_rejected_with_the_offending_field() {
        let mut c = Config::lan();
        c.probe_interval = Duration::ZERO;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration {
                field: "probe_interval"
            })
        );

        let mut c = Config::lan();
        c.max_packet_size = 100;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "max_packet_size",
                ..
            })
        ));

        let mut c = Config::lan();
        c.max_metadata_size = c.max_packet_size;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "max_metadata_size",
                ..
            })
        ));

        let mut c = Config::lan();
        c.join_retry_max = Duration::from_millis(1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Inconsistent { .. })
        ));

        let mut c = Config::lan();
        c.suspicion_mult = 0;
        assert!(c.validate().is_err());

        let mut c = Config::lan();
        c.max_broadcast_size = c.max_packet_size;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "max_broadcast_size",
                ..
            })
        ));

        let mut c = Config::lan();
        c.termination = Termination::FeedbackCounter { k: 0 };
        assert!(c.validate().is_err());

        let mut c = Config::lan();
        c.pull_fanout = 0;
        assert!(c.validate().is_err(), "pulling from nobody");
        c.dissemination = Dissemination::Push;
        c.validate().unwrap();
    }

    #[test]
    fn a_zero_gossip_interval_is_fine_when_gossip_is_off() {
        let mut c = Config::lan();
        c.gossip_fanout = 0;
        c.gossip_interval = Duration::ZERO;
        c.validate().unwrap();
    }
}
