//! A gossip node on the blocking adapter, in one file and without any async
//! runtime: the std counterpart of the `agent` binary (which runs on either
//! adapter with `--adapter std|tokio`), cut down to show the API.
//!
//! ```text
//! cargo run -p gossip-std --example agent -- n1
//! cargo run -p gossip-std --example agent -- n2 127.0.0.1:<n1's port>
//! ```
//!
//! Prints `listening on <addr>`, then every event. Reads lines on stdin:
//! `members`, `set <key> <value>`, `get <key>`, `leave`; any other line is
//! broadcast to every member. The end of input also leaves.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;

use gossip_std::{Builder, Gossip, RecvError};

enum Next {
    Continue,
    Leave,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: agent <name> [seed address…]");
        return ExitCode::FAILURE;
    };
    let seeds: Result<Vec<SocketAddr>, _> = args.map(|a| a.parse()).collect();
    let seeds = match seeds {
        Ok(seeds) => seeds,
        Err(error) => {
            eprintln!("agent: a seed is not an address: {error}");
            return ExitCode::FAILURE;
        }
    };

    let gossip = match Gossip::start(Builder::new(name).seeds(seeds)) {
        Ok(gossip) => gossip,
        Err(error) => {
            eprintln!("agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The first subscription sees every event since the start, the join's too.
    let events = gossip.events();
    println!("listening on {}", gossip.advertise_addr());
    let printer = std::thread::spawn(move || {
        loop {
            match events.recv() {
                Ok(event) => println!("{event}"),
                Err(RecvError::Lagged(missed)) => println!("missed {missed} events"),
                Err(RecvError::Closed) => return,
            }
        }
    });

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match run(&gossip, &line) {
            Ok(Next::Continue) => {}
            Ok(Next::Leave) => break,
            Err(error) => println!("error: {error}"),
        }
    }

    let code = match gossip.leave() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("error: {error}");
            ExitCode::FAILURE
        }
    };
    // Joins the node's thread; the printer then sees the end of the events.
    gossip.shutdown();
    let _ = printer.join();
    code
}

/// Carries out one line of input.
fn run(gossip: &Gossip, line: &str) -> Result<Next, Box<dyn std::error::Error>> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (None, _, _) => {}
        (Some("leave"), None, _) => return Ok(Next::Leave),
        (Some("members"), None, _) => {
            for member in gossip.members()? {
                println!("{} {} {:?}", member.name(), member.addr(), member.state());
            }
        }
        (Some("set"), Some(key), Some(_)) => {
            // The value is the rest of the line, inner spaces included.
            let value = line.trim()["set".len()..].trim_start()[key.len()..].trim();
            gossip.set(key.into(), value.into())?;
            println!("ok");
        }
        (Some("get"), Some(key), None) => match gossip.get(key.into())? {
            Some(value) => println!("{key} = {}", String::from_utf8_lossy(&value)),
            None => println!("{key} is not set"),
        },
        _ => {
            gossip.broadcast(line.as_bytes().to_vec())?;
        }
    }
    Ok(Next::Continue)
}
