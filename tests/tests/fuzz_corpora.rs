//! Every input in the fuzz corpora (`fuzz/corpus/<target>/`: seeds, and
//! every crash once found and fixed) replays without a panic, on stable.
//! `cargo test -p gossip-sim --test fuzz_corpora -- --ignored` writes the seed
//! corpora again.

use std::fs;
use std::path::{Path, PathBuf};

use gossip_sim::fuzzing;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs `body` on every file of `target`'s corpus; returns how many.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = corpus(target);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    for input in &inputs {
        let data = fs::read(input).unwrap();
        eprintln!("{target}: {}", input.display());
        body(&data);
    }
    inputs.len()
}

#[test]
fn the_wire_corpus_replays() {
    let inputs = replay("wire", fuzzing::wire);
    assert!(inputs >= 10, "only {inputs} inputs in the wire corpus");
}

#[test]
fn the_node_inputs_corpus_replays() {
    let inputs = replay("node_inputs", fuzzing::node_inputs);
    assert!(
        inputs >= 10,
        "only {inputs} inputs in the node_inputs corpus"
    );
}

#[test]
fn the_cluster_corpus_replays() {
    let inputs = replay("cluster", fuzzing::cluster);
    assert!(inputs >= 4, "only {inputs} inputs in the cluster corpus");
}

#[test]
#[ignore = "writes the seed corpora into fuzz/corpus"]
fn write_seed_corpora() {
    let write = |target: &str, seeds: Vec<Vec<u8>>| {
        let dir = corpus(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
        }
    };
    write("wire", fuzzing::seed_datagrams(3));
    // The other targets draw structured inputs from any bytes: random ones
    // of a few lengths, from a fixed generator.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
    let mut random = |count: usize, len: usize| -> Vec<Vec<u8>> {
        (0..count)
            .map(|_| (0..len).map(|_| rng.next_u32() as u8).collect())
            .collect()
    };
    let mut node_inputs = random(8, 256);
    node_inputs.extend(random(8, 2_048));
    write("node_inputs", node_inputs);
    let mut cluster = random(4, 32);
    cluster.extend(random(4, 128));
    write("cluster", cluster);
}
