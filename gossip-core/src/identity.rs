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

/// A validated node name: non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes.
///
/// Cheap to clone (reference-counted), compared and hashed as a string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(Arc<str>);

impl NodeName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, IdentityError> {
        check_name(name)?;
        Ok(NodeName(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
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

impl Deref for NodeName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    fn identity_carries_generation() {
        let id = Identity::new("a", 7u32).unwrap().with_generation(3);
        assert_eq!(
            (id.name().as_str(), *id.addr(), id.generation()),
            ("a", 7, 3)
        );
    }
}
