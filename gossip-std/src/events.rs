//! Events from the node's thread to any number of subscribers, each with a
//! bounded queue: a subscriber that falls behind loses events (and is told
//! how many), and never slows the node.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The events a node publishes, its members named by socket address.
pub type Event = gossip_core::Event<SocketAddr>;

/// Why [`Events`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The queue was full and this many events were dropped; the events
    /// received next came after them.
    Lagged(u64),
    /// The node stopped and every event it published has been received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(missed) => write!(f, "missed {missed} events"),
            RecvError::Closed => f.write_str("the gossip node has stopped"),
        }
    }
}

impl std::error::Error for RecvError {}

/// A subscription to a node's events, from [`Gossip::events`](crate::Gossip::events).
/// `Send`; receive on any one thread.
pub struct Events {
    queue: Receiver<Event>,
    missed: Arc<AtomicU64>,
}

impl Events {
    /// Blocks until the next event. After the queue overflowed, returns
    /// [`RecvError::Lagged`] once, where the dropped events would have been.
    pub fn recv(&self) -> Result<Event, RecvError> {
        match self.try_recv()? {
            Some(event) => Ok(event),
            None => self.queue.recv().map_err(|_| RecvError::Closed),
        }
    }

    /// As [`recv`](Self::recv), but gives up after `timeout` with `Ok(None)`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Event>, RecvError> {
        if let Some(event) = self.try_recv()? {
            return Ok(Some(event));
        }
        match self.queue.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError::Closed),
        }
    }

    /// The next event if one is waiting, `Ok(None)` if none is.
    pub fn try_recv(&self) -> Result<Option<Event>, RecvError> {
        match self.queue.try_recv() {
            Ok(event) => Ok(Some(event)),
            // Dropped events came after every queued one: report them once
            // the queue is empty, and before anything newer.
            Err(empty_or_closed) => match self.missed.swap(0, Ordering::Relaxed) {
                0 if empty_or_closed == TryRecvError::Empty => Ok(None),
                0 => Err(RecvError::Closed),
                missed => Err(RecvError::Lagged(missed)),
            },
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("missed", &self.missed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct Subscriber {
    queue: SyncSender<Event>,
    missed: Arc<AtomicU64>,
}

/// The subscribers of one node, shared by its handles (which add) and its
/// thread (which publishes and forgets those that are gone).
pub(crate) struct Subscribers {
    /// `None` once the node stopped: new subscriptions are closed at once.
    list: Mutex<Option<Vec<Subscriber>>>,
    capacity: usize,
}

impl Subscribers {
    /// No subscribers yet; each will buffer up to `capacity` events.
    pub(crate) fn new(capacity: usize) -> Self {
        Subscribers {
            list: Mutex::new(Some(Vec::new())),
            capacity: capacity.max(1),
        }
    }

    /// A new subscription to every event published from now on.
    pub(crate) fn subscribe(&self) -> Events {
        let (queue, receiver) = mpsc::sync_channel(self.capacity);
        let missed = Arc::new(AtomicU64::new(0));
        if let Some(list) = self.lock().as_mut() {
            list.push(Subscriber {
                queue,
                missed: missed.clone(),
            });
        }
        Events {
            queue: receiver,
            missed,
        }
    }

    /// Hands `event` to every subscriber without waiting: a full queue
    /// counts a missed event, a dropped subscription is forgotten.
    pub(crate) fn publish(&self, event: &Event) {
        if let Some(list) = self.lock().as_mut() {
            list.retain(|subscriber| subscriber.offer(event.clone()));
        }
    }

    /// The node stopped: every subscription ends once its queue is read.
    pub(crate) fn close(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<Subscriber>>> {
        // A panic elsewhere while holding this lock leaves a consistent list.
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscriber {
    /// Queues `event`; false if the receiver is gone.
    fn offer(&self, event: Event) -> bool {
        match self.queue.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.missed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(attempts: u32) -> Event {
        Event::JoinFailed { attempts }
    }

    #[test]
    fn a_slow_subscriber_is_told_how_many_it_missed_after_what_it_kept() {
        let subscribers = Subscribers::new(2);
        let slow = subscribers.subscribe();
        for i in 0..5 {
            subscribers.publish(&event(i));
        }
        assert_eq!(slow.try_recv(), Ok(Some(event(0))));
        assert_eq!(slow.recv(), Ok(event(1)));
        assert_eq!(slow.try_recv(), Err(RecvError::Lagged(3)));
        assert_eq!(slow.try_recv(), Ok(None));
        subscribers.publish(&event(9));
        assert_eq!(
            slow.recv_timeout(Duration::from_millis(1)),
            Ok(Some(event(9)))
        );
    }

    #[test]
    fn every_subscriber_gets_every_event_and_a_dropped_one_is_forgotten() {
        let subscribers = Subscribers::new(8);
        let a = subscribers.subscribe();
        let b = subscribers.subscribe();
        subscribers.publish(&event(1));
        drop(b);
        subscribers.publish(&event(2));
        assert_eq!(subscribers.lock().as_ref().map(Vec::len), Some(1));
        assert_eq!(a.recv(), Ok(event(1)));
        assert_eq!(a.recv(), Ok(event(2)));
        assert_eq!(a.recv_timeout(Duration::from_millis(1)), Ok(None));
    }

    #[test]
    fn subscriptions_close_once_the_node_stopped_and_their_queue_is_empty() {
        let subscribers = Subscribers::new(4);
        let events = subscribers.subscribe();
        subscribers.publish(&event(1));
        subscribers.close();
        assert_eq!(events.recv(), Ok(event(1)));
        assert_eq!(events.recv(), Err(RecvError::Closed));
        assert_eq!(events.try_recv(), Err(RecvError::Closed));
        let late = subscribers.subscribe();
        assert_eq!(late.recv(), Err(RecvError::Closed));
    }
}
