//! Epidemic dissemination: rumors piggybacked on every datagram with room to spare.

mod rumor_queue;

pub(crate) use rumor_queue::{RumorQueue, retransmit_limit};
