//! The thread that owns the node: waits on its socket with a read timeout
//! until the node's next deadline, and takes commands at every turn.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use gossip_driver::{Command, Driver};

use crate::events::Subscribers;

/// Largest datagram read; the node rejects anything over its
/// `max_packet_size`, but must see it to count it.
const RECV_BUFFER: usize = 64 * 1024;

/// The longest wait while the node has no deadline.
const IDLE: Duration = Duration::from_secs(3_600);

/// What the thread was started with.
pub(crate) struct Loop {
    pub(crate) driver: Driver,
    pub(crate) socket: UdpSocket,
    pub(crate) commands: Receiver<Command>,
    pub(crate) subscribers: Arc<Subscribers>,
    /// Datagrams from here are a handle's wake-ups, not the cluster's.
    pub(crate) waker: SocketAddr,
}

impl Loop {
    /// Runs until a shutdown command, or every handle is gone.
    ///
    /// Each turn: take every queued command, fire the timers that are due,
    /// drain the node, then block on the socket until a datagram or the
    /// node's deadline. Timers are checked after every datagram, so a busy
    /// peer cannot starve probes.
    pub(crate) fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let handles_gone = self.take_commands();
            self.driver.handle_timeout();
            self.drain();
            if handles_gone || self.driver.is_stopping() {
                break;
            }
            let wait = self.driver.deadline().map_or(IDLE, |at| {
                at.saturating_duration_since(Instant::now()).min(IDLE)
            });
            if wait.is_zero() {
                continue; // a timer is due: the next turn fires it
            }
            if let Err(error) = self.socket.set_read_timeout(Some(wait)) {
                // Only a zero timeout is refused, and that one is not asked.
                tracing::warn!(%error, "cannot set the read timeout");
            }
            match self.socket.recv_from(&mut buf) {
                Ok((_, from)) if from == self.waker => {}
                Ok((len, from)) => self.driver.handle_datagram(from, &buf[..len]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => self.driver.handle_recv_error(&error),
            }
        }
        self.subscribers.close();
        tracing::debug!("stopped");
    }

    /// Carries out every queued command; true if every handle is gone.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(command) => self.driver.handle_command(command),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    fn drain(&mut self) {
        let socket = &self.socket;
        let subscribers = &self.subscribers;
        self.driver.drain(
            |to, datagram| socket.send_to(datagram, to).map(drop),
            |event| subscribers.publish(&event),
        );
    }
}
