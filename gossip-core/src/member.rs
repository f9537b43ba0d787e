//! What a node knows about one member of the cluster.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;

use crate::identity::{Generation, Incarnation, NodeName};
use crate::time::Instant;

/// The liveness of a member as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberState {
    /// Answering probes, or recently vouched for.
    Alive,
    /// Missed a probe; declared failed unless it refutes before the suspicion timeout.
    Suspect,
    /// Declared failed. Kept as a tombstone until reaped.
    Failed,
    /// Left the cluster gracefully. Kept as a tombstone until reaped.
    Left,
}

impl MemberState {
    /// Alive or suspect: still counted as part of the cluster and probed.
    pub fn is_live(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}

/// A small, bounded byte payload a node attaches to itself (a role, a port, a
/// version); disseminated with every alive announcement. Cheap to clone; empty
/// metadata allocates nothing, and the handle is one pointer wide (a simulator
/// keeps 10⁸ members).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Metadata(Option<Arc<Box<[u8]>>>);

impl Metadata {
    /// The payload.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |bytes| bytes)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

impl From<&[u8]> for Metadata {
    fn from(bytes: &[u8]) -> Self {
        Metadata((!bytes.is_empty()).then(|| Arc::new(Box::from(bytes))))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => fmt::Debug::fmt(text, f),
            Err(_) => fmt::Debug::fmt(self.as_bytes(), f),
        }
    }
}

/// One member as this node sees it. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<A> {
    pub(crate) name: NodeName,
    pub(crate) addr: A,
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    pub(crate) state: MemberState,
    pub(crate) metadata: Metadata,
    pub(crate) state_changed: Instant,
}

impl<A> Member<A> {
    /// The member's unique name.
    pub fn name(&self) -> &NodeName {
        &self.name
    }

    /// Where the member receives datagrams.
    pub fn addr(&self) -> &A {
        &self.addr
    }

    /// Which life of this name the record describes.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The member's incarnation within its generation.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Alive, suspect, failed or left.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The member's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// When this node last saw the member's state change (this node's clock).
    pub fn state_changed(&self) -> Instant {
        self.state_changed
    }
}
