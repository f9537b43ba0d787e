//! The handle an application holds: clones cheaply, sends commands to the
//! node's task, subscribes to its events; the task stops when the last clone
//! is dropped or on [`Gossip::shutdown`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gossip_core::{
    BroadcastError, BroadcastId, Event, Key, KeyId, KeyringError, MetadataError, StateError,
};
use gossip_driver::{
    Builder, Command, CommandError, Driver, Entries, JoinError, LeaveError, MemberInfo,
    ReplySender, StartError, Status, Stopped,
};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Commands queued for the task before a sender waits.
const COMMAND_QUEUE: usize = 256;

/// A running gossip node. `Clone + Send + Sync`; every clone talks to the
/// same node, whose task stops when the last clone is dropped.
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    local_addr: SocketAddr,
    advertise_addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    /// The task holds the only strong sender: subscriptions close when it ends.
    events: broadcast::WeakSender<Event<SocketAddr>>,
    /// Subscribed before the task started, for the first caller of
    /// [`Gossip::events`]: it sees the join's events too.
    first_events: Mutex<Option<broadcast::Receiver<Event<SocketAddr>>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Gossip {
    /// Binds the socket, starts the node's task (in the current tokio
    /// runtime) and, if the builder has seeds, starts joining through them
    /// (see [`Gossip::join`] to wait for it).
    pub async fn start(builder: Builder) -> Result<Gossip, StartError> {
        let socket = UdpSocket::bind(builder.bind_addr())
            .await
            .map_err(StartError::Io)?;
        let local_addr = socket.local_addr().map_err(StartError::Io)?;
        let driver = Driver::new(&builder, local_addr)?;
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (events, first_events) = broadcast::channel(builder.events_buffered());
        let subscriptions = events.downgrade();
        let span = driver.span().clone();
        let task = tokio::spawn(
            crate::task::run(
                driver,
                socket,
                receiver,
                events,
                builder.datagrams_per_turn(),
            )
            .instrument(span),
        );
        tracing::debug!(name = builder.name(), %local_addr, "started");
        Ok(Gossip {
            inner: Arc::new(Inner {
                name: builder.name().to_owned(),
                local_addr,
                advertise_addr: builder.advertise_addr().unwrap_or(local_addr),
                commands,
                events: subscriptions,
                first_events: Mutex::new(Some(first_events)),
                task: Mutex::new(Some(task)),
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
    /// events behind gets [`RecvError::Lagged`](crate::RecvError::Lagged) with
    /// the number it missed; it never slows the node. Once the node stopped,
    /// receiving gives [`RecvError::Closed`](crate::RecvError::Closed).
    pub fn events(&self) -> broadcast::Receiver<Event<SocketAddr>> {
        let first = self
            .inner
            .first_events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        first.unwrap_or_else(|| match self.inner.events.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1, // its sender gone: closed
        })
    }

    /// Joins the cluster through `seeds`; returns once a seed answered, or
    /// with [`JoinError::Unanswered`] after the configured attempts.
    pub async fn join(&self, seeds: Vec<SocketAddr>) -> Result<(), JoinError> {
        self.ask(|reply| Command::Join { seeds, reply }).await?
    }

    /// Leaves gracefully: returns once the departure has been gossiped its
    /// full number of times, or with [`LeaveError::TimedOut`] after the
    /// builder's leave timeout. The node keeps running (and answering probes
    /// as departed) until shut down.
    pub async fn leave(&self) -> Result<(), LeaveError> {
        self.ask(|reply| Command::Leave { reply }).await?
    }

    /// Broadcasts `payload` to every member, once each.
    pub async fn broadcast(
        &self,
        payload: Vec<u8>,
    ) -> Result<BroadcastId, CommandError<BroadcastError>> {
        CommandError::from_reply(
            self.ask(|reply| Command::Broadcast { payload, reply })
                .await,
        )
    }

    /// Replaces the metadata other members see.
    pub async fn set_metadata(&self, metadata: Vec<u8>) -> Result<(), CommandError<MetadataError>> {
        CommandError::from_reply(
            self.ask(|reply| Command::SetMetadata { metadata, reply })
                .await,
        )
    }

    /// Writes `key` in the replicated store.
    pub async fn set(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), CommandError<StateError>> {
        CommandError::from_reply(self.ask(|reply| Command::Set { key, value, reply }).await)
    }

    /// Deletes `key`; true if it had a value.
    pub async fn delete(&self, key: Vec<u8>) -> Result<bool, CommandError<StateError>> {
        CommandError::from_reply(self.ask(|reply| Command::Delete { key, reply }).await)
    }

    /// Reads `key` from this node's replica.
    pub async fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, Stopped> {
        self.ask(|reply| Command::Get { key, reply }).await
    }

    /// Every live key and its value in this node's replica.
    pub async fn entries(&self) -> Result<Entries, Stopped> {
        self.ask(|reply| Command::Entries { reply }).await
    }

    /// The member table, this node included (failed and departed members too,
    /// while they are remembered).
    pub async fn members(&self) -> Result<Vec<MemberInfo>, Stopped> {
        self.ask(|reply| Command::Members { reply }).await
    }

    /// Installs `key` for opening datagrams: the first step of a rotation
    /// (install the new key on every member, then use it on every member,
    /// then remove the old one on every member).
    pub async fn install_key(&self, key: Key) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::InstallKey { key, reply }).await)
    }

    /// Seals with the installed key `id` from now on.
    pub async fn use_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::UseKey { id, reply }).await)
    }

    /// Removes the key `id` (not the primary).
    pub async fn remove_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        CommandError::from_reply(self.ask(|reply| Command::RemoveKey { id, reply }).await)
    }

    /// The ids of the node's keys, the primary first; `None` without
    /// encryption.
    pub async fn keys(&self) -> Result<Option<Vec<KeyId>>, Stopped> {
        self.ask(|reply| Command::Keys { reply }).await
    }

    /// The round trip to member `name` predicted by the network coordinates,
    /// without probing it; `None` until its coordinate is known (within a
    /// probe round or two of meeting it) or if coordinates are off. See
    /// [`Node::estimated_rtt`](gossip_core::Node::estimated_rtt).
    pub async fn estimated_rtt(&self, name: &str) -> Result<Option<Duration>, Stopped> {
        let name = name.to_owned();
        self.ask(|reply| Command::EstimatedRtt { name, reply })
            .await
    }

    /// The node's counters and sizes, and the socket's.
    pub async fn stats(&self) -> Result<Status, Stopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Stops the node's task and waits for it to end (every clone then gets
    /// [`Stopped`]). Leave first for a graceful departure.
    pub async fn shutdown(&self) {
        let _ = self.inner.commands.send(Command::Shutdown).await;
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn ask<T>(&self, command: impl FnOnce(ReplySender<T>) -> Command) -> Result<T, Stopped> {
        let (command, reply) = Command::new(command);
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| Stopped)?;
        reply.await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the command sender ends the task's loop; nothing to wait for.
        tracing::debug!(name = %self.name, "last handle dropped");
    }
}
