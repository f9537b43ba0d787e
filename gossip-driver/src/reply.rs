//! A one-shot reply from the task or thread that owns a node: awaited by the
//! tokio adapter, waited on by the blocking one, with no runtime underneath.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Stopped;

struct Slot<T> {
    value: Option<T>,
    /// The sender is gone: no value will come if there is none yet.
    closed: bool,
    waker: Option<Waker>,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

/// Sends the one reply; dropping it unsent tells the receiver [`Stopped`].
pub struct ReplySender<T> {
    shared: Arc<Shared<T>>,
}

/// Receives the one reply: `.await` it, or [`wait`](Self::wait) for it.
pub struct ReplyReceiver<T> {
    shared: Arc<Shared<T>>,
}

/// A connected sender and receiver.
pub fn reply_channel<T>() -> (ReplySender<T>, ReplyReceiver<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot {
            value: None,
            closed: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (
        ReplySender {
            shared: shared.clone(),
        },
        ReplyReceiver { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<T>> {
        // A panic elsewhere while holding this lock leaves a consistent slot.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self, value: Option<T>) {
        let waker = {
            let mut slot = self.lock();
            if value.is_some() {
                slot.value = value;
            }
            slot.closed = true;
            slot.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> ReplySender<T> {
    /// Sends the reply. A receiver that is gone loses it, harmlessly.
    pub fn send(self, value: T) {
        self.shared.close(Some(value));
        // Drop sees the slot closed and does nothing more.
    }
}

impl<T> Drop for ReplySender<T> {
    fn drop(&mut self) {
        if !self.shared.lock().closed {
            self.shared.close(None);
        }
    }
}

impl<T> ReplyReceiver<T> {
    /// Blocks the thread until the reply comes.
    pub fn wait(self) -> Result<T, Stopped> {
        let mut slot = self.shared.lock();
        loop {
            if let Some(value) = slot.value.take() {
                return Ok(value);
            }
            if slot.closed {
                return Err(Stopped);
            }
            slot = self
                .shared
                .ready
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<T> Future for ReplyReceiver<T> {
    type Output = Result<T, Stopped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.closed {
            return Poll::Ready(Err(Stopped));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_sent_from_another_thread_is_received() {
        let (tx, rx) = reply_channel();
        std::thread::spawn(move || tx.send(7));
        assert_eq!(rx.wait(), Ok(7));
    }

    #[test]
    fn a_sender_dropped_unsent_reports_stopped() {
        let (tx, rx) = reply_channel::<u8>();
        std::thread::spawn(move || drop(tx));
        assert_eq!(rx.wait(), Err(Stopped));
    }
}
