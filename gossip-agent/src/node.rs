//! A node on either adapter, behind one blocking interface: the std adapter
//! is blocking already; a tokio node runs on a runtime (its own, or one
//! shared), and each call blocks on its answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use gossip_core::{BroadcastError, BroadcastId, Key, KeyId, KeyringError, StateError};
pub use gossip_std::RecvError;
use gossip_tokio::{
    Builder, CommandError, Entries, Event, LeaveError, MemberInfo, StartError, Status, Stopped,
};
use tokio::runtime::Runtime;

/// Which adapter runs the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Adapter {
    /// gossip-tokio: one task on a tokio runtime.
    Tokio,
    /// gossip-std: one blocking thread, no async runtime.
    Std,
}

/// A running node. Its calls block: make them from a plain thread, not
/// from async code on a tokio runtime (blocking there panics).
pub enum Node {
    /// On gossip-tokio.
    Tokio {
        /// The node's handle.
        gossip: gossip_tokio::Gossip,
        /// The runtime its task runs on; calls block on it.
        runtime: Arc<Runtime>,
    },
    /// On gossip-std.
    Std(gossip_std::Gossip),
}

/// Calls `$call` on the node's handle `$gossip`; blocks on it on tokio.
macro_rules! blocking {
    ($node:expr, $gossip:ident => $call:expr) => {
        match $node {
            Node::Tokio {
                gossip: $gossip,
                runtime,
            } => runtime.block_on(async { $call.await }),
            Node::Std($gossip) => $call,
        }
    };
}

impl Node {
    /// Starts a node as `builder` describes on `adapter` (a tokio node on a
    /// runtime of its own, with one worker).
    pub fn start(adapter: Adapter, builder: Builder) -> Result<Node, StartError> {
        match adapter {
            Adapter::Tokio => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(StartError::Io)?;
                Node::start_on(&Arc::new(runtime), builder)
            }
            Adapter::Std => gossip_std::Gossip::start(builder).map(Node::Std),
        }
    }

    /// Starts a tokio node on `runtime` (a multi-thread one: the node's task
    /// runs on its workers while calls block the caller).
    pub fn start_on(runtime: &Arc<Runtime>, builder: Builder) -> Result<Node, StartError> {
        let gossip = runtime.block_on(gossip_tokio::Gossip::start(builder))?;
        Ok(Node::Tokio {
            gossip,
            runtime: runtime.clone(),
        })
    }

    /// The adapter the node runs on.
    pub fn adapter(&self) -> Adapter {
        match self {
            Node::Tokio { .. } => Adapter::Tokio,
            Node::Std(_) => Adapter::Std,
        }
    }

    /// See `Gossip::advertise_addr`.
    pub fn advertise_addr(&self) -> SocketAddr {
        match self {
            Node::Tokio { gossip, .. } => gossip.advertise_addr(),
            Node::Std(gossip) => gossip.advertise_addr(),
        }
    }

    /// See `Gossip::members`.
    pub fn members(&self) -> Result<Vec<MemberInfo>, Stopped> {
        blocking!(self, gossip => gossip.members())
    }

    /// See `Gossip::broadcast`.
    pub fn broadcast(&self, payload: Vec<u8>) -> Result<BroadcastId, CommandError<BroadcastError>> {
        blocking!(self, gossip => gossip.broadcast(payload))
    }

    /// See `Gossip::set`.
    pub fn set(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), CommandError<StateError>> {
        blocking!(self, gossip => gossip.set(key, value))
    }

    /// See `Gossip::get`.
    pub fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, Stopped> {
        blocking!(self, gossip => gossip.get(key))
    }

    /// See `Gossip::delete`.
    pub fn delete(&self, key: Vec<u8>) -> Result<bool, CommandError<StateError>> {
        blocking!(self, gossip => gossip.delete(key))
    }

    /// See `Gossip::estimated_rtt`.
    pub fn estimated_rtt(&self, name: &str) -> Result<Option<Duration>, Stopped> {
        blocking!(self, gossip => gossip.estimated_rtt(name))
    }

    /// See `Gossip::stats`.
    pub fn stats(&self) -> Result<Status, Stopped> {
        blocking!(self, gossip => gossip.stats())
    }

    /// See `Gossip::leave`.
    pub fn leave(&self) -> Result<(), LeaveError> {
        blocking!(self, gossip => gossip.leave())
    }

    /// See `Gossip::install_key`.
    pub fn install_key(&self, key: Key) -> Result<(), CommandError<KeyringError>> {
        blocking!(self, gossip => gossip.install_key(key))
    }

    /// See `Gossip::use_key`.
    pub fn use_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        blocking!(self, gossip => gossip.use_key(id))
    }

    /// See `Gossip::remove_key`.
    pub fn remove_key(&self, id: KeyId) -> Result<(), CommandError<KeyringError>> {
        blocking!(self, gossip => gossip.remove_key(id))
    }

    /// See `Gossip::keys`.
    pub fn keys(&self) -> Result<Option<Vec<KeyId>>, Stopped> {
        blocking!(self, gossip => gossip.keys())
    }

    /// See `Gossip::entries`.
    pub fn entries(&self) -> Result<Entries, Stopped> {
        blocking!(self, gossip => gossip.entries())
    }

    /// Subscribes to the node's events (see `Gossip::events`).
    pub fn events(&self) -> Subscription {
        match self {
            Node::Tokio { gossip, runtime } => Subscription::Tokio {
                events: gossip.events(),
                runtime: runtime.clone(),
            },
            Node::Std(gossip) => Subscription::Std(gossip.events()),
        }
    }

    /// Stops the node and waits for it; its subscriptions then end.
    pub fn shutdown(&self) {
        blocking!(self, gossip => gossip.shutdown());
    }
}

/// A node's events, on either adapter.
pub enum Subscription {
    /// From a tokio node.
    Tokio {
        /// The subscription.
        events: tokio::sync::broadcast::Receiver<Event>,
        /// The runtime to block on.
        runtime: Arc<Runtime>,
    },
    /// From a std node.
    Std(gossip_std::Events),
}

impl Subscription {
    /// Blocks until the next event.
    pub fn recv(&mut self) -> Result<Event, RecvError> {
        match self {
            Subscription::Tokio { events, .. } => events.blocking_recv().map_err(from_tokio),
            Subscription::Std(events) => events.recv(),
        }
    }

    /// Blocks until the next event, or `timeout` passed (`Ok(None)`).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, RecvError> {
        match self {
            Subscription::Tokio { events, runtime } => {
                let next =
                    runtime.block_on(async { tokio::time::timeout(timeout, events.recv()).await });
                next.ok().transpose().map_err(from_tokio)
            }
            Subscription::Std(events) => events.recv_timeout(timeout),
        }
    }
}

fn from_tokio(error: gossip_tokio::RecvError) -> RecvError {
    match error {
        gossip_tokio::RecvError::Lagged(missed) => RecvError::Lagged(missed),
        gossip_tokio::RecvError::Closed => RecvError::Closed,
    }
}
