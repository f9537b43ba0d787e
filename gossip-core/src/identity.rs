//! Who a node is: its name, the address others reach it at, and its generation.

use alloc::sync::Arc;
use core::borrow::Borrow;
use core::fmt;
use core::hash::Hash;
use core::ops::Deref;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::IdentityError;

/// The longest node name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 128;

/// Generation of a node: which life of a name this is.
///
/// A node that restarts must come back with a larger generation than any it had
/// before (adapters use the wall-clock time at start, a simulator counts restarts).
/// A newer generation supersedes everything known about older ones, so a restarted
/// node never inherits the death of its former self.
pub type Generation = u64;

/// Incarnation within one generation: SWIM's counter that only the node itself
/// increments, to refute suspicion or to announce new metadata.
pub type Incarnation = u64;

/// The type of network address a node is reached at.
///
/// Integers serve in a simulator and `SocketAddr` in the adapters. The address
/// travels on the wire (in alive announcements and indirect probes), hence serde.
pub trait Address: Clone + Eq + Hash + fmt::Debug + Serialize + DeserializeOwned {}

impl<T> Address for T where T: Clone + Eq + Hash + fmt::Debug + Serialize + DeserializeOwned {}

/// Names up to this many bytes are stored inline, without a heap allocation.
const INLINE_NAME: usize = 22;

/// A validated node name: non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes.
///
/// Cheap to clone, compared and hashed as a string. Short names (up to 22 bytes)
/// are stored inline: a simulator of 10,000 nodes keeps 10⁸ of them.
#[derive(Clone)]
pub struct NodeName(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Shared(Arc<str>),
}

impl NodeName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, IdentityError> {
        check_name(name)?;
        let repr = if name.len() <= INLINE_NAME {
            let mut bytes = [0; INLINE_NAME];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            Repr::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            Repr::Shared(Arc::from(name))
        };
        Ok(NodeName(repr))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Valid UTF-8 by construction; checking again keeps this crate free of
            // unsafe code, and costs nanoseconds on 22 bytes.
            Repr::Inline { len, bytes } => {
                core::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Shared(name) => name,
        }
    }

    /// The name's UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(name) => name.as_bytes(),
        }
    }
}

/// Checks a name as it arrives from the network or from the application.
pub(crate) fn check_name(name: &str) -> Result<(), IdentityError> {
    if name.is_empty() {
        Err(IdentityError::EmptyName)
    } else if name.len() > MAX_NAME_LEN {
        Err(IdentityError::NameTooLong {
            len: name.len(),
            max: MAX_NAME_LEN,
        })
    } else {
        Ok(())
    }
}

impl PartialEq for NodeName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NodeName {}

impl PartialOrd for NodeName {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeName {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl core::hash::Hash for NodeName {
    /// Hashes as the `str` does, so that maps keyed by names can be searched by `&str`.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Deref for NodeName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for NodeName {
    type Error = IdentityError;
    fn try_from(name: &str) -> Result<Self, IdentityError> {
        NodeName::new(name)
    }
}

/// The identity a node runs under: its unique name, the address other members
/// reach it at, and its [`Generation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity<A> {
    name: NodeName,
    addr: A,
    generation: Generation,
}

impl<A: Address> Identity<A> {
    /// An identity of generation 0.
    ///
    /// Give a restarted process a larger generation with
    /// [`with_generation`](Self::with_generation); without one, a restarted node
    /// still recovers by refuting its old death, only more slowly.
    pub fn new(name: &str, addr: A) -> Result<Self, IdentityError> {
        Ok(Identity {
            name: NodeName::new(name)?,
            addr,
            generation: 0,
        })
    }

    /// The same identity in generation `generation`.
    pub fn with_generation(mut self, generation: Generation) -> Self {
        self.generation = generation;
        self
    }

    /// The node's name, unique in the cluster.
    pub fn name(&self) -> &NodeName {
        &self.name
    }

    /// The address other members send to.
    pub fn addr(&self) -> &A {
        &self.addr
    }

    /// Which life of this name the node is.
    pub fn generation(&self) -> Generation {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn names_are_validated() {
        assert_eq!(NodeName::new(""), Err(IdentityError::EmptyName));
        let long = String::from_iter(core::iter::repeat_n('x', MAX_NAME_LEN + 1));
        assert_eq!(
            NodeName::new(&long),
            Err(IdentityError::NameTooLong {
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            })
        );
        assert_eq!(NodeName::new("node-1").unwrap().as_str(), "node-1");
    }

    #[test]
    fn short_and_long_names_behave_alike() {
        let short = NodeName::new("node-1").unwrap();
        let long = NodeName::new("a-node-name-longer-than-twenty-two-bytes").unwrap();
        assert_eq!(short.as_str(), "node-1");
        assert_eq!(long.as_str(), "a-node-name-longer-than-twenty-two-bytes");
        assert_eq!(short, NodeName::new("node-1").unwrap());
        assert!(long < short, "ordered as strings: a before n");
        let exactly_inline: String = "x".repeat(INLINE_NAME);
        assert_eq!(
            NodeName::new(&exactly_inline).unwrap().as_str(),
            exactly_inline
        );
        let mut set = hashbrown::HashSet::<NodeName, foldhash::fast::FixedState>::default();
        set.insert(long.clone());
        assert!(
            set.contains("a-node-name-longer-than-twenty-two-bytes"),
            "searchable by &str"
        );
        assert_eq!(core::mem::size_of::<NodeName>(), 24);
        assert_eq!(
            core::mem::size_of::<crate::Member<u32>>(),
            64,
            "a simulator keeps 10^8"
        );
    }

    #[test]
    fn identity_carries_generation() {
        let id = Identity::new("a", 7u32).unwrap().with_generation(3);
        assert_eq!(
            (id.name().as_str(), *id.addr(), id.generation()),
            ("a", 7, 3)
        );
    }
}
