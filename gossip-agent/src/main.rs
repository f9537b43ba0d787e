//! `agent`: a gossip node over real UDP, for trying the library by hand and
//! for tests that run one process per member.
//!
//! It prints `listening on <addr>` first, then one line per event on stdout
//! (`joined n2 127.0.0.1:40000`, `broadcast from n2: hello`, …), and reads
//! commands from stdin, one per line (`members`, `broadcast <text>`,
//! `set <key> <value>`, `get <key>`, `delete <key>`, `stats`, `leave`,
//! `help`). `leave`, the end of stdin and Ctrl-C leave the cluster gracefully
//! and exit. Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

mod command;
mod print;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use gossip_core::Config;
use gossip_tokio::{Builder, Gossip, LeaveError, RecvError};
use tokio::sync::{broadcast, mpsc};
use tracing_subscriber::EnvFilter;

use crate::command::{Command, Next};

/// A gossip node over UDP: prints the cluster's events on stdout, one per
/// line, and reads commands on stdin, one per line (type `help`).
///
/// The first line printed is `listening on <addr>`: the address other agents
/// join through. `leave`, the end of stdin and Ctrl-C leave the cluster
/// gracefully and exit. Logs go to stderr, filtered by RUST_LOG (default
/// `warn`).
#[derive(Debug, Parser)]
#[command(name = "agent", version, after_long_help = command::HELP)]
struct Cli {
    /// This node's name, unique in the cluster.
    #[arg(long)]
    name: String,

    /// The UDP address to bind (port 0: the system picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    bind: SocketAddr,

    /// The address other members reach this node at, if not the bound one
    /// (needed when binding 0.0.0.0, or behind NAT).
    #[arg(long, value_name = "ADDR")]
    advertise: Option<SocketAddr>,

    /// A member to join the cluster through; repeat for several. Without
    /// any, this node starts a cluster of its own.
    #[arg(long = "join", value_name = "ADDR")]
    seeds: Vec<SocketAddr>,

    /// Metadata other members see, as key=value; repeat for several (sent
    /// as `k=v,k2=v2`).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    meta: Vec<String>,

    /// The protocol's timings: `lan` for one network, `wan` across
    /// datacentres, `local` for members on one host.
    #[arg(long, value_enum, default_value_t = Preset::Lan)]
    preset: Preset,
}

/// A protocol configuration preset.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    /// A local network with sub-millisecond round trips.
    Lan,
    /// Members across datacentres.
    Wan,
    /// Every member on one host (loopback).
    Local,
}

impl Preset {
    fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }
}

/// Accepts `key=value` with a non-empty key.
fn key_value(pair: &str) -> Result<String, String> {
    match pair.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(pair.to_owned()),
        _ => Err(format!("expected key=value, got {pair:?}")),
    }
}

impl Cli {
    fn builder(&self) -> Builder {
        let mut builder = Builder::new(&self.name)
            .bind(self.bind)
            .config(self.preset.config())
            .metadata(self.meta.join(",").into_bytes());
        if let Some(addr) = self.advertise {
            builder = builder.advertise(addr);
        }
        if !self.seeds.is_empty() {
            builder = builder.seeds(self.seeds.iter().copied());
        }
        builder
    }
}

// One thread is plenty for one node; it also means that no event can be
// published between `Gossip::start` and `Gossip::events` below.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();

    let gossip = match Gossip::start(cli.builder()).await {
        Ok(gossip) => gossip,
        Err(error) => {
            eprintln!("agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    let events = gossip.events();
    print::line(format_args!("listening on {}", gossip.advertise_addr()));
    let printer = tokio::spawn(print_events(events));

    serve(&gossip).await;
    let code = tokio::select! {
        code = leave(&gossip) => code,
        Ok(()) = tokio::signal::ctrl_c() => {
            print::line("error: interrupted while leaving");
            ExitCode::FAILURE
        }
    };
    gossip.shutdown().await;
    // With the last handle gone, the printer prints what is left and ends.
    drop(gossip);
    let _ = printer.await;
    code
}

/// Carries out the commands read on stdin until `leave`, the end of input
/// or Ctrl-C.
async fn serve(gossip: &Gossip) {
    let mut lines = read_stdin();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut listening = true;
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { return }; // end of input
                match Command::parse(&line) {
                    Ok(command) => {
                        if command.run(gossip).await == Next::Leave {
                            return;
                        }
                    }
                    Err(error) => print::line(format_args!("error: {error}")),
                }
            }
            signal = &mut ctrl_c, if listening => match signal {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for Ctrl-C");
                    listening = false;
                }
            },
        }
    }
}

/// Leaves gracefully; a departure not yet fully gossiped when the leave
/// timeout passed is still a departure.
async fn leave(gossip: &Gossip) -> ExitCode {
    match gossip.leave().await {
        Ok(()) => {}
        Err(error @ LeaveError::TimedOut) => print::line(format_args!("error: {error}")),
        Err(error) => {
            print::line(format_args!("error: {error}"));
            return ExitCode::FAILURE;
        }
    }
    print::line("left the cluster");
    ExitCode::SUCCESS
}

/// Prints every event until the node stops.
async fn print_events(mut events: broadcast::Receiver<gossip_core::Event<SocketAddr>>) {
    loop {
        match events.recv().await {
            Ok(event) => print::line(print::event(&event)),
            Err(RecvError::Lagged(missed)) => print::line(format_args!("missed {missed} events")),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Stdin's lines, read on a thread of their own: a blocking read cannot be
/// cancelled, and a plain thread does not keep the process alive at exit.
fn read_stdin() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "stdin read failed");
                    return;
                }
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if sender.blocking_send(line).is_err() {
                return;
            }
        }
    });
    receiver
}
