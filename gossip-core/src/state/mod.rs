//! The replicated key-value store: every member holds a replica; writes spread
//! as rumors (the fast path) and periodic anti-entropy over Merkle trees
//! repairs whatever the rumors missed (the slow path).
//!
//! Causality is tracked per key with a dotted version vector set; concurrent
//! writes are resolved by the [`Conflicts`] policy, the same way on every
//! replica. Deletes leave tombstones, collected after `key_tombstone_retention`.

mod entry;
mod merkle;
mod replica;
mod store;
mod version;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub use entry::MAX_SIBLINGS;
pub use merkle::MAX_TREE_DEPTH;
pub use replica::Convergence;
pub(crate) use replica::Replica;
pub use version::{Causality, Hlc, MAX_VERSION_VECTOR_LEN, ReplicaId, VersionVector};

use crate::identity::NodeName;

/// How concurrent writes to one key (neither writer had seen the other's
/// write) are resolved. Every replica resolves a conflict the same way.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Conflicts {
    /// The write with the larger hybrid-logical-clock stamp wins; equal stamps
    /// are broken by the writers' replica ids. The default.
    #[default]
    LastWriterWins,
    /// Keep every concurrent value (up to [`MAX_SIBLINGS`]):
    /// [`Node::get_all`](crate::Node::get_all) returns them all, and the
    /// application's next write of the key replaces them (it resolves the
    /// conflict). [`Node::get`](crate::Node::get) returns the newest.
    Siblings,
    /// Combine concurrent values with the application's function, for values
    /// that are CRDTs (counters, sets, maps of registers). Deletes concurrent
    /// with a write lose to it.
    Merge(Arc<dyn MergeValues>),
}

impl Conflicts {
    /// `Merge` with `merge`.
    pub fn merge(merge: impl MergeValues + 'static) -> Self {
        Conflicts::Merge(Arc::new(merge))
    }
}

impl fmt::Debug for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflicts::LastWriterWins => f.write_str("LastWriterWins"),
            Conflicts::Siblings => f.write_str("Siblings"),
            Conflicts::Merge(_) => f.write_str("Merge(..)"),
        }
    }
}

impl PartialEq for Conflicts {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Conflicts::LastWriterWins, Conflicts::LastWriterWins)
            | (Conflicts::Siblings, Conflicts::Siblings) => true,
            (Conflicts::Merge(a), Conflicts::Merge(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Conflicts {}

/// Combines two concurrent values of a key, for [`Conflicts::Merge`].
///
/// It must be commutative, associative and idempotent (a join), or replicas
/// that merged in different orders would disagree; the values it is given are
/// in an order every replica agrees on. Its result must not be longer than
/// `max_value_size`, or the longer input is kept instead.
///
/// ```
/// use gossip_core::{Config, Conflicts, MergeValues};
/// /// A grow-only set of bytes: the union.
/// struct Union;
/// impl MergeValues for Union {
///     fn merge(&self, _key: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
///         let mut all: Vec<u8> = a.iter().chain(b).copied().collect();
///         all.sort_unstable();
///         all.dedup();
///         all
///     }
/// }
/// let mut config = Config::lan();
/// config.conflicts = Conflicts::merge(Union);
/// ```
pub trait MergeValues: Send + Sync {
    /// The value that combines `a` and `b`.
    fn merge(&self, key: &[u8], a: &[u8], b: &[u8]) -> Vec<u8>;
}

/// A change to the replicated store, delivered in
/// [`Event::KeyChanged`](crate::Event::KeyChanged): a write or delete by this
/// node or another that this replica had not seen.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyChange {
    /// The key.
    pub key: Vec<u8>,
    /// Its value now, as [`Node::get`](crate::Node::get) returns it; `None` if
    /// it was deleted.
    pub value: Option<Vec<u8>>,
    /// Under [`Conflicts::Siblings`], every concurrent value when there are
    /// several (a conflict for the application to resolve); empty otherwise.
    pub siblings: Vec<Vec<u8>>,
    /// The member whose write this is (the newest, if several).
    pub origin: NodeName,
}

/// Checks a received entry against this node's limits on keys and values.
pub(crate) fn check_limits(
    key: &[u8],
    entry: &crate::wire::EntryRecord<'_>,
    config: &crate::Config,
) -> Result<(), crate::MessageError> {
    let too_large = |len: usize, max: usize| crate::MessageError::EntryTooLarge { len, max };
    if key.len() > config.max_key_size {
        return Err(too_large(key.len(), config.max_key_size));
    }
    for value in entry.siblings.iter().filter_map(|s| s.value) {
        if value.len() > config.max_value_size {
            return Err(too_large(value.len(), config.max_value_size));
        }
    }
    Ok(())
}
