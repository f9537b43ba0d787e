//! Clusters spread over five datacentres (1 ms round trips inside, 62–150
//! ms between, not a metric space), with the WAN preset: Vivaldi coordinates
//! learnt from probes predict round trips, and near-first gossip partners
//! keep most bytes inside datacentres while broadcasts reach everyone about
//! as fast and crashes are detected as before.

mod common;

use common::suite::{coordinates_over_time, near_partners as run};
use gossip_core::PeerSelection;

#[test]
fn coordinates_predict_round_trips_within_twenty_percent() {
    coordinates_predict_round_trips(common::seed(1));
}

#[test]
fn near_partners_cut_cross_datacentre_bytes_three_times_and_keep_broadcasts_fast() {
    near_partners_cut_cross_datacentre_bytes(common::seed(1));
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn topology_across_seeds() {
    for seed in common::sweep_seeds() {
        println!("seed {seed}");
        coordinates_predict_round_trips(seed);
        near_partners_cut_cross_datacentre_bytes(seed);
    }
}

fn coordinates_predict_round_trips(seed: u64) {
    // About 350 probes per node with the WAN preset's 5 s probe interval;
    // coordinates settle after about 250 (see the README's table).
    let p = coordinates_over_time(seed, &[30]).remove(0);
    println!("after 30 minutes: {p:?}");
    assert_eq!(p.unknown, 0, "every member's coordinate is known");
    assert!(p.median <= 0.20, "median relative error {}", p.median);
    assert!(
        p.median_between <= 0.20,
        "between datacentres {}",
        p.median_between
    );
    // Inside a datacentre the embedding's noise (from the long links, not
    // all Euclidean) is large against a 1 ms round trip, but stays under a
    // millisecond, and every node ranks its own datacentre nearest, which is
    // what the choice of near partners needs.
    assert!(
        p.median_inside <= 1.0,
        "inside a datacentre, median error {} ms",
        p.median_inside
    );
    assert!(
        p.inside_ranked_nearest >= 0.99,
        "{} of the pairs inside a datacentre predicted nearer than all others",
        p.inside_ranked_nearest
    );
    assert!(
        p.mean_error_estimate < 0.5,
        "the nodes' own error estimates settled: {}",
        p.mean_error_estimate
    );
}

fn near_partners_cut_cross_datacentre_bytes(seed: u64) {
    let uniform = run(PeerSelection::Uniform, seed);
    let nearby = run(PeerSelection::NEARBY, seed);
    for (name, r) in [("uniform", &uniform), ("nearby", &nearby)] {
        println!(
            "{name}: {} of {} bytes between datacentres ({:.1}%), broadcasts in {:.1} rounds \
             (mean), {:.1} (max), crash known by all after {:?}",
            r.cross_bytes,
            r.bytes,
            100.0 * r.cross_bytes as f64 / r.bytes as f64,
            r.mean_rounds,
            r.max_rounds,
            r.crash_known_by_all
        );
    }
    let cut = uniform.cross_bytes as f64 / nearby.cross_bytes as f64;
    println!(
        "{cut:.2}× fewer bytes between datacentres; slowest broadcast {:.2}× uniform's",
        nearby.max_rounds / uniform.max_rounds
    );
    assert!(cut >= 3.0, "cross-datacentre bytes cut {cut:.2}×");
    assert!(
        nearby.max_rounds <= 1.5 * uniform.max_rounds,
        "the slowest broadcast took {:.1} rounds near-first, {:.1} uniform",
        nearby.max_rounds,
        uniform.max_rounds
    );
    assert!(
        nearby.crash_known_by_all.as_secs_f64() <= 1.5 * uniform.crash_known_by_all.as_secs_f64(),
        "a crash known by all after {:?} near-first, {:?} uniform",
        nearby.crash_known_by_all,
        uniform.crash_known_by_all
    );
}

#[test]
fn scenario_files_choose_near_partners_and_refuse_tuning_without_them() {
    use gossip_sim::Scenario;
    let parse = |protocol: &str| {
        toml::from_str::<Scenario>(&format!(
            "nodes = 10\nduration = \"10s\"\n[protocol]\npreset = \"wan\"\n{protocol}"
        ))
        .unwrap()
    };
    let nearby = parse("peer_selection = \"nearby\"\nfar_percent = 20");
    nearby.validate().unwrap();
    assert_eq!(
        nearby.protocol.config().peer_selection,
        PeerSelection::Nearby {
            candidates: 16,
            far_percent: 20
        }
    );
    let off = parse("coordinates = false");
    assert!(!off.protocol.config().coordinates);
    assert_eq!(off.protocol.config().peer_selection, PeerSelection::Uniform);
    let stray = parse("near_candidates = 8");
    assert!(stray.validate().unwrap_err().contains("nearby"));
}
