//! The handle an application holds: clones cheaply, sends commands to the
//! node's thread and blocks for the answer, subscribes to its events; the
//! thread stops, and is joined, on [`Gossip::shutdown`] or when the last
//! clone is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use gossip_core::{
    BroadcastError, BroadcastId, Key, KeyId, KeyringError, MetadataError, StateError,
};
use gossip_driver::{
    Builder, Command, CommandError, Driver, Entries, JoinError, LeaveError, MemberInfo,
    ReplySender, StartError, Status, Stopped,
};

use crate::events::{Events, Subscribers};
use crate::thread::Loop;
use crate::waker::Waker;

/// Commands queued for the thread before a sender blocks.
const COMMAND_QUEUE: usize = 256;

/// A running gossip node. `Clone + Send + Sync`; every clone talks to the
/// same node, whose thread stops, and is joined, when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    local_addr: SocketAddr,
    advertise_addr: SocketAddr,
    commands: SyncSender<Command>,
    waker: Waker,
    subscribers: Arc<Subscribers>,
    /// Subscribed before the thread started, for the first caller of
    /// [`Gossip::events`]: it sees the join's events too.
    first_events: Mutex<Option<Events>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Gossip {
    /// Binds the socket, starts the node's thread and, if the builder has
    /// seeds, starts joining through them (see [`Gossip::join`] to wait for
    /// it).
    pub fn start(builder: Builder) -> Result<Gossip, StartError> {
        let socket = UdpSocket::bind(builder.bind_addr()).map_err(StartError::Io)?;
        let local_addr = socket.local_addr().map_err(StartError::Io)?;
        let waker = Waker::new(local_addr).map_err(StartError::Io)?;
        let driver = Driver::new(&builder, local_addr)?;
        let (commands, receiver) = mpsc::sync_channel(COMMAND_QUEUE);
        let subscribers = Arc::new(Subscribers::new(builder.events_buffered()));
        let first_events = subscribers.subscribe();
        let span = driver.span().clone();
        let main_loop = Loop {
            driver,
            socket,
            commands: receiver,
            subscribers: subscribers.clone(),
            waker: waker.addr().map_err(StartError::Io)?,
        };
        let thread = std::thread::Builder::new()
            .name(format!("gossip {}", builder.name()))
            .spawn(move || span.in_scope(|| main_loop.run()))
            .map_err(StartError::Io)?;
        tracing::debug!(name = builder.name(), %local_addr, "started");
        Ok(Gossip {
            inner: Arc::new(Inner {
                name: builder.name().to_owned(),
                local_addr,
                advertise_addr: builder.advertise_addr().unwrap_or(local_addr),
                commands,
                waker,
                subscribers,
                first_events: Mutex::new(Some(first_events)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The address other members reach this node at: the builder's advertise
    /// address, or else the bound one. Give this one to others as a seed.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.inner.advertise_addr
    }

    /// Subscribes to the node's events. The first call gets every event since
    /// the node started (the join's included); later calls, those from then
    /// on. A subscriber that falls more than [`Builder::event_capacity`]
    /// events behind loses the newest and is told how many
    /// ([`RecvError::Lagged`](crate::RecvError::Lagged)); it never slows the
    /// node.
    pub fn events(&self) -> Events {
        let first = self
            .inner
            .first_events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        first.unwrap_or_else(|| self.inner.subscribers.subscribe())
    }

    /// Joins the cluster through `seeds`; returns once a seed answered, or
    /// with [`JoinError::Unanswered`] after the configured attempts.
    pub fn join(&self, seeds: Vec<SocketAddr>) -> Result<(), JoinError> {
        self.ask(|reply| Command::Join { seeds, reply })?
    }

    /// Leaves gracefully: returns once the departure has been gossiped its
    /// full number of times, or with [`LeaveError::TimedOut`] after the
    /// builder's leave timeout. The node keeps running (and answering probes
    /// as departed) until shut down.
    pub fn leave(&self) -> Result<(), LeaveError> {
        self.ask(|reply| Command::Leave { reply })?
    }

    /// Broadcasts `payload` to every member, once each.
    pub fn broadcast(&self, payload: Vec<u8>) -> Result<BroadcastId, CommandError<BroadcastError>> {
        CommandError::from_reply(self.ask(|reply| Command::Broadcast { payload, reply }))
    }

    /// Replaces the metadata other members see.
    pub fn set_metadata(&self, metadata: Vec<u8>) -> Result<(), CommandError<MetadataError>> {
        CommandError::from_reply(self.ask(|reply| Command::SetMetadata { metadata, reply }))
    }

    /// Writes `key` in the replicated store.
    pub fn set(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), CommandError<StateError>> {
        CommandError::from_reply(self.ask(|reply| Command::Set { key, value, reply }))
    }

    /// Deletes `key`; true if it had a value.
    pub fn delete(&self, key: Vec<u8>) -> Result<bool, CommandError<StateError>> {
        CommandError::from_reply(self.ask(|reply| Command::Delete { key, reply }))
    }

    /// Reads `key` from this node's replica.
    pub fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, Stopped> {
        self.ask(|reply| Command::Get { key, reply })
    }

    /// Every live key and its value in this node's replica.
    pub fn entries(&self) -> Result<Entries, Stopped> {
        self.ask(|reply| Command::Entries { reply })
    }

    /// The member table, this node included (failed and departed members too,
    /// while they are remembered).
    pub fn members(&self) -> Result<Vec<MemberInfo>, Stopped> {
        self.ask(|reply| Command::Members { reply })
    }

    /// Installs `key` for opening datagrams: the first step of a rotation
    /// (install the new key on every member, then use it on every member,
    /// then remove the old one on every member).
    pub fn install_key(&self, key: Key) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::InstallKey { key, reply }))
    }

    /// Seals with the installed key `id` from now on.
    pub fn use_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::UseKey { id, reply }))
    }

    /// Removes the key `id` (not the primary).
    pub fn remove_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::RemoveKey { id, reply }))
    }

    /// The ids of the node's keys, the primary first; `None` without
    /// encryption.
    pub fn keys(&self) -> Result<Option<Vec<KeyId>>, Stopped> {
        self.ask(|reply| Command::Keys { reply })
    }

    /// The round trip to member `name` predicted by the network coordinates,
    /// without probing it; `None` until its coordinate is known (within a
    /// probe round or two of meeting it) or if coordinates are off. See
    /// [`Node::estimated_rtt`](gossip_core::Node::estimated_rtt).
    pub fn estimated_rtt(&self, name: &str) -> Result<Option<Duration>, Stopped> {
        let name = name.to_owned();
        self.ask(|reply| Command::EstimatedRtt { name, reply })
    }

    /// The node's counters and sizes, and the socket's.
    pub fn stats(&self) -> Result<Status, Stopped> {
        self.ask(|reply| Command::Status { reply })
    }

    /// Stops the node's thread and joins it (every clone then gets
    /// [`Stopped`]). Leave first for a graceful departure.
    pub fn shutdown(&self) {
        self.inner.stop();
    }

    fn ask<T>(&self, command: impl FnOnce(ReplySender<T>) -> Command) -> Result<T, Stopped> {
        let (command, reply) = Command::new(command);
        self.inner.send(command)?;
        reply.wait()
    }
}

impl Inner {
    /// Queues `command` (blocking while the queue is full) and wakes the
    /// thread.
    fn send(&self, command: Command) -> Result<(), Stopped> {
        self.commands.send(command).map_err(|_| Stopped)?;
        self.waker.wake();
        Ok(())
    }

    /// Asks the thread to stop and joins it; nothing if it already stopped.
    fn stop(&self) {
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = thread else { return };
        // Refused only if the thread has ended already.
        let _ = self.send(Command::Shutdown);
        if thread.join().is_err() {
            tracing::error!(name = %self.name, "the node's thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
        tracing::debug!(name = %self.name, "last handle dropped");
    }
}
