//! The adapter-independent half of an adapter: owns the node, carries out
//! commands, feeds it datagrams and deadlines, and drains it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use gossip_core::{Event, Identity, Instant, Key, Node};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::clock::Clock;
use crate::command::{Command, SocketStats, Status};
use crate::error::{JoinError, LeaveError, StartError};
use crate::options::Builder;
use crate::reply::ReplySender;

/// The random generator adapters give their nodes.
pub type NodeRng = Xoshiro256PlusPlus;

/// The node an adapter runs.
pub type UdpNode = Node<SocketAddr, NodeRng>;

/// Owns a node and everything waiting on it. An adapter's loop calls
/// `handle_*` for each input, then [`drain`](Self::drain), then sleeps until
/// [`deadline`](Self::deadline) or the next datagram or command.
pub struct Driver {
    node: UdpNode,
    clock: Clock,
    socket: SocketStats,
    joins: Vec<ReplySender<Result<(), JoinError>>>,
    leaves: Vec<(Instant, ReplySender<Result<(), LeaveError>>)>,
    leave_timeout: Duration,
    stopping: bool,
    span: tracing::Span,
}

impl Driver {
    /// A node as `builder` describes, reachable at `local_addr` (the socket's
    /// bound address, or the builder's advertise address). If the builder has
    /// seeds, the node starts joining through them.
    pub fn new(builder: &Builder, local_addr: SocketAddr) -> Result<Self, StartError> {
        let advertise = builder.advertise.unwrap_or(local_addr);
        if advertise.ip().is_unspecified() {
            return Err(StartError::NoAdvertiseAddress);
        }
        let generation = builder
            .generation
            .unwrap_or_else(|| Clock::unix_time().as_millis() as u64);
        let mut config = builder.config.clone();
        if let Some(encryption) = &builder.encryption {
            config.encryption = Some(encryption.clone());
        }
        let identity = Identity::new(&builder.name, advertise)
            .map_err(StartError::Identity)?
            .with_generation(generation);
        let entropy = |e: getrandom::Error| StartError::Entropy(e.into());
        let seed = match builder.rng_seed {
            Some(seed) => seed,
            None => getrandom::u64().map_err(entropy)?,
        };
        // Secrets always come from the system, even when the protocol's
        // choices are seeded for a reproducible test.
        let mut secret_seed = [0; 32];
        getrandom::fill(&mut secret_seed).map_err(entropy)?;
        let mut secrets = rand_chacha::ChaCha20Rng::from_seed(secret_seed);
        let clock = Clock::start();
        let now = clock.now();
        let rng = NodeRng::seed_from_u64(seed);
        let mut node =
            Node::new(config, identity, rng, &mut secrets, now).map_err(StartError::Config)?;
        node.set_wall_clock(now, Clock::unix_time());
        if !builder.metadata.is_empty() {
            node.set_metadata(now, &builder.metadata)
                .map_err(StartError::Metadata)?;
        }
        let span = tracing::info_span!("gossip", node = %builder.name, addr = %advertise);
        let mut driver = Driver {
            node,
            clock,
            socket: SocketStats::default(),
            joins: Vec::new(),
            leaves: Vec::new(),
            leave_timeout: builder.leave_timeout,
            stopping: false,
            span,
        };
        if !builder.seeds.is_empty() {
            // Refused only without seeds or after a leave: neither can be here.
            let _ = driver.node.join(now, &builder.seeds);
        }
        Ok(driver)
    }

    /// The node (for reading).
    pub fn node(&self) -> &UdpNode {
        &self.node
    }

    /// The tracing span of this node; adapters run their loop inside it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// True once a [`Command::Shutdown`] was handled: the loop should end.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// A datagram arrived from `from`. Bad ones are counted by the node.
    pub fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.socket.datagrams_in += 1;
        if let Err(error) = self.node.handle_message(self.clock.now(), from, datagram) {
            tracing::debug!(%from, %error, "datagram rejected");
        }
    }

    /// Receiving failed; counted and logged, never fatal.
    pub fn handle_recv_error(&mut self, error: &io::Error) {
        self.socket.recv_errors += 1;
        tracing::debug!(%error, "receive failed");
    }

    /// The loop stopped reading at its per-turn cap.
    pub fn note_turn_capped(&mut self) {
        self.socket.turns_capped += 1;
    }

    /// Fires the node's timers if their deadline has passed.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if self.node.poll_timeout().is_some_and(|at| at <= now) {
            self.node.handle_timeout(now);
        }
    }

    /// Carries out a command; its reply is sent now or, for join and leave,
    /// once the outcome is known.
    pub fn handle_command(&mut self, command: Command) {
        let now = self.clock.now();
        let node = &mut self.node;
        match command {
            Command::Join { seeds, reply } => match node.join(now, &seeds) {
                Ok(()) => self.joins.push(reply),
                Err(e) => reply.send(Err(JoinError::Refused(e))),
            },
            Command::Leave { reply } => match node.leave(now) {
                Ok(()) => self.leaves.push((now + self.leave_timeout, reply)),
                Err(e) => reply.send(Err(LeaveError::Refused(e))),
            },
            Command::Broadcast { payload, reply } => reply.send(node.broadcast(now, &payload)),
            Command::SetMetadata { metadata, reply } => {
                reply.send(node.set_metadata(now, &metadata));
            }
            Command::Set { key, value, reply } => reply.send(node.set(now, &key, &value)),
            Command::Delete { key, reply } => reply.send(node.delete(now, &key)),
            Command::Get { key, reply } => reply.send(node.get(&key).map(<[u8]>::to_vec)),
            Command::Entries { reply } => reply.send(
                node.entries()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect(),
            ),
            Command::Members { reply } => reply.send(node.members().cloned().collect()),
            Command::EstimatedRtt { name, reply } => reply.send(node.estimated_rtt(&name)),
            Command::InstallKey { key, reply } => reply.send(node.install_key(key)),
            Command::UseKey { id, reply } => reply.send(node.use_key(id)),
            Command::RemoveKey { id, reply } => reply.send(node.remove_key(id)),
            Command::Keys { reply } => {
                reply.send(
                    node.keyring()
                        .map(|ring| ring.keys().map(Key::id).collect()),
                );
            }
            Command::Status { reply } => reply.send(Status {
                local: node.local_member().clone(),
                live_members: node.live_members(),
                stats: node.stats().clone(),
                footprint: node.footprint(),
                convergence: node.convergence(),
                coordinate: node.coordinate().cloned(),
                socket: self.socket,
            }),
            Command::Shutdown => self.stopping = true,
        }
    }

    /// Sends every datagram the node has (through `send`), hands every event
    /// to `deliver`, and answers the joins and leaves that are settled. Send
    /// errors are counted and logged, never fatal.
    pub fn drain(
        &mut self,
        mut send: impl FnMut(SocketAddr, &[u8]) -> io::Result<()>,
        mut deliver: impl FnMut(Event<SocketAddr>),
    ) {
        while let Some(transmit) = self.node.poll_transmit() {
            match send(transmit.to, transmit.payload) {
                Ok(()) => self.socket.datagrams_out += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.socket.sends_dropped += 1,
                Err(error) => {
                    self.socket.send_errors += 1;
                    tracing::debug!(to = %transmit.to, %error, "send failed");
                }
            }
        }
        while let Some(event) = self.node.poll_event() {
            match &event {
                Event::JoinCompleted { .. } => {
                    for reply in self.joins.drain(..) {
                        reply.send(Ok(()));
                    }
                }
                Event::JoinFailed { attempts } => {
                    for reply in self.joins.drain(..) {
                        reply.send(Err(JoinError::Unanswered {
                            attempts: *attempts,
                        }));
                    }
                }
                Event::NameConflict { addr, generation } => {
                    tracing::warn!(
                        other = %addr,
                        generation,
                        "another process announces this node's name; give each process its own name"
                    );
                }
                _ => {}
            }
            deliver(event);
        }
        self.settle_leaves();
    }

    /// A leave is done once the node says its departure has been sent as
    /// often as the protocol intends ([`Event::LeaveCompleted`]).
    fn settle_leaves(&mut self) {
        if self.leaves.is_empty() {
            return;
        }
        let now = self.clock.now();
        let spread = !self.node.is_leaving();
        for (deadline, reply) in std::mem::take(&mut self.leaves) {
            if spread {
                reply.send(Ok(()));
            } else if deadline <= now {
                reply.send(Err(LeaveError::TimedOut));
            } else {
                self.leaves.push((deadline, reply));
            }
        }
    }

    /// When the loop must wake next, if no datagram or command comes first.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        let leave = self.leaves.iter().map(|(at, _)| *at).min();
        let next = match (self.node.poll_timeout(), leave) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| self.clock.to_std(at))
    }
}

#[cfg(test)]
mod tests {
    use gossip_core::{Encryption, Key, Keyring};

    use super::*;

    /// The first datagram a node started with `seed` for its protocol
    /// choices sends (a sealed join request).
    fn first_datagram(seed: u64) -> Vec<u8> {
        let key = Key::from_bytes([9; 32]);
        let builder = Builder::new("n")
            .rng_seed(seed)
            .encryption(Encryption::new(Keyring::new(key)))
            .seeds(["127.0.0.1:7001".parse().unwrap()]);
        let mut driver = Driver::new(&builder, "127.0.0.1:7000".parse().unwrap()).unwrap();
        let mut sent = Vec::new();
        driver.drain(
            |_, datagram| {
                sent.push(datagram.to_vec());
                Ok(())
            },
            |_| {},
        );
        sent.swap_remove(0)
    }

    /// Reproducible protocol choices must not make secrets reproducible:
    /// two nodes given one protocol seed seal under different sessions (the
    /// nonce's first 12 bytes, after the magic and the key id), so their
    /// nonces never meet, and their cookie keys differ alike (drawn from
    /// the same system generator in the same call).
    #[test]
    fn two_nodes_given_one_protocol_seed_seal_under_different_sessions() {
        let (a, b) = (first_datagram(42), first_datagram(42));
        assert_ne!(a[6..18], b[6..18], "the same session");
        assert_ne!(a[6..30], b[6..30], "the same nonce");
    }
}
