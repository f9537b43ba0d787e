//! Wakes the node's thread out of its blocking receive when a command is
//! queued: an empty datagram to the node's own socket from a socket the
//! thread knows and ignores.
//!
//! The thread reads commands at every turn of its loop, so a wake-up that is
//! lost (the socket's buffer full) loses nothing: a full buffer means the
//! thread has datagrams to read, and will take another turn.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

pub(crate) struct Waker {
    socket: UdpSocket,
}

impl Waker {
    /// A waker for the node bound to `node`: a socket on the same address
    /// (loopback if the node is bound to every address), connected to it.
    pub(crate) fn new(node: SocketAddr) -> io::Result<Self> {
        let ip = match node.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        socket.connect(SocketAddr::new(ip, node.port()))?;
        Ok(Waker { socket })
    }

    /// Where wake-ups come from: datagrams from here are not the cluster's.
    pub(crate) fn addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wakes the thread; a failure is logged (see the module's note).
    pub(crate) fn wake(&self) {
        if let Err(error) = self.socket.send(&[]) {
            tracing::debug!(%error, "wake-up not sent");
        }
    }
}
