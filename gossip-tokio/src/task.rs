//! The task that owns the node: one loop over datagrams, commands and one
//! timer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use gossip_core::Event;
use gossip_driver::{Command, Driver};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// Largest datagram read; the node rejects anything over its
/// `max_packet_size`, but must see it to count it.
const RECV_BUFFER: usize = 64 * 1024;

/// Where the timer rests while the node has no deadline.
const IDLE: Duration = Duration::from_secs(3_600);

pub(crate) async fn run(
    mut driver: Driver,
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event<SocketAddr>>,
    max_per_turn: usize,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let wake_at = |deadline: Option<std::time::Instant>| {
        deadline.map_or_else(|| Instant::now() + IDLE, Instant::from_std)
    };
    // Until the reactor has seen the new socket writable, `try_send_to`
    // refuses without trying: the first drain (a join) waits for it.
    if let Err(error) = socket.writable().await {
        tracing::warn!(%error, "socket not writable");
    }
    drain(&mut driver, &socket, &events);
    let mut armed = driver.deadline();
    let sleep = tokio::time::sleep_until(wake_at(armed));
    tokio::pin!(sleep);
    loop {
        let mut fired = false;
        tokio::select! {
            biased;
            () = &mut sleep => fired = true,
            command = commands.recv() => match command {
                Some(command) => driver.handle_command(command),
                None => break, // every handle is gone
            },
            received = socket.recv_from(&mut buf) => {
                receive(&mut driver, received, &buf);
                read_ready(&mut driver, &socket, &mut buf, max_per_turn - 1);
            }
        }
        driver.handle_timeout();
        drain(&mut driver, &socket, &events);
        if driver.is_stopping() {
            break;
        }
        let next = driver.deadline();
        if fired || next != armed {
            armed = next;
            sleep.as_mut().reset(wake_at(armed));
        }
    }
    tracing::debug!("stopped");
}

fn receive(driver: &mut Driver, received: io::Result<(usize, SocketAddr)>, buf: &[u8]) {
    match received {
        Ok((len, from)) => driver.handle_datagram(from, &buf[..len]),
        Err(error) => driver.handle_recv_error(&error),
    }
}

/// Handles up to `max` more datagrams already waiting, without waiting.
fn read_ready(driver: &mut Driver, socket: &UdpSocket, buf: &mut [u8], max: usize) {
    for _ in 0..max {
        match socket.try_recv_from(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            received => receive(driver, received, buf),
        }
    }
    driver.note_turn_capped();
}

fn drain(driver: &mut Driver, socket: &UdpSocket, events: &broadcast::Sender<Event<SocketAddr>>) {
    driver.drain(
        |to, datagram| socket.try_send_to(datagram, to).map(drop),
        |event| {
            // No subscriber is no error; a slow one is told it lagged.
            let _ = events.send(event);
        },
    );
}
