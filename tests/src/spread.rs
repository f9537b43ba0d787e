//! How user broadcasts spread: when each node delivered each broadcast, and
//! whether any node delivered one twice.

use std::collections::HashMap;
use std::time::Duration;

use gossip_core::{Broadcast, Instant};

use crate::network::NodeId;

/// One broadcast and who delivered it when.
#[derive(Clone, Debug)]
pub struct Spread {
    /// The node that sent it.
    pub origin: NodeId,
    /// When it was sent (its origin's own event).
    pub sent_at: Instant,
    /// Each delivery, in order, the origin's included.
    pub deliveries: Vec<(NodeId, Instant)>,
    /// Deliveries to a node that had delivered it before (each node must
    /// deliver a broadcast exactly once).
    pub duplicates: usize,
    reached: Vec<bool>,
}

impl Spread {
    /// True if `node` delivered it.
    pub fn reached(&self, node: NodeId) -> bool {
        self.reached.get(node as usize).copied().unwrap_or(false)
    }

    /// When the last of `nodes` delivered it, if all of them did.
    pub fn all_reached_at(&self, nodes: impl IntoIterator<Item = NodeId>) -> Option<Instant> {
        let nodes: Vec<NodeId> = nodes.into_iter().collect();
        if !nodes.iter().all(|&node| self.reached(node)) {
            return None;
        }
        self.deliveries
            .iter()
            .filter(|(node, _)| nodes.contains(node))
            .map(|&(_, at)| at)
            .max()
    }

    /// Share of `nodes` it never reached (Demers' residue).
    pub fn residue(&self, nodes: impl IntoIterator<Item = NodeId>) -> f64 {
        let (mut missed, mut total) = (0usize, 0usize);
        for node in nodes {
            total += 1;
            missed += usize::from(!self.reached(node));
        }
        if total == 0 {
            0.0
        } else {
            missed as f64 / total as f64
        }
    }

    /// How many nodes had delivered it `after` its sending (the infection curve).
    pub fn reached_within(&self, after: Duration) -> usize {
        let until = self.sent_at + after;
        self.deliveries
            .iter()
            .filter(|&&(_, at)| at <= until)
            .count()
    }
}

/// Every broadcast of a run.
#[derive(Default)]
pub(crate) struct Spreads {
    nodes: usize,
    spreads: Vec<Spread>,
    by_id: HashMap<u64, usize>,
}

impl Spreads {
    pub(crate) fn new(nodes: usize) -> Self {
        Spreads {
            nodes,
            ..Spreads::default()
        }
    }

    /// `node` delivered `broadcast` at `at`. The first delivery of a broadcast
    /// is its origin's, when it was sent.
    pub(crate) fn delivered(&mut self, at: Instant, node: NodeId, broadcast: &Broadcast) {
        let index = *self.by_id.entry(broadcast.id.0).or_insert_with(|| {
            self.spreads.push(Spread {
                origin: node,
                sent_at: at,
                deliveries: Vec::new(),
                duplicates: 0,
                reached: vec![false; self.nodes],
            });
            self.spreads.len() - 1
        });
        let spread = &mut self.spreads[index];
        let Some(reached) = spread.reached.get_mut(node as usize) else {
            return;
        };
        if *reached {
            spread.duplicates += 1;
        } else {
            *reached = true;
            spread.deliveries.push((node, at));
        }
    }

    /// `node` starts a new life, which delivers every broadcast afresh.
    pub(crate) fn restarted(&mut self, node: NodeId) {
        for spread in &mut self.spreads {
            if let Some(reached) = spread.reached.get_mut(node as usize) {
                *reached = false;
            }
        }
    }

    pub(crate) fn all(&self) -> &[Spread] {
        &self.spreads
    }
}
