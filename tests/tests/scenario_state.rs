//! The replicated store under load, loss and a partition: every replica ends
//! with the same Merkle root, no acknowledged write is lost and no deleted key
//! comes back; and anti-entropy alone brings up to date a replica that the
//! rumors missed.

mod common;

use std::time::Duration;

use common::suite::{cut_off_during_writes, issue_6};
use gossip_sim::Report;

/// Asserts that the replicas converged and hold what the writes call for;
/// returns the time to convergence in seconds.
fn converged_correctly(report: &Report) -> f64 {
    let state = &report.state;
    assert!(state.converged_at_end, "the replicas disagree at the end");
    let check = &state.check;
    assert_eq!(check.lost_writes, 0, "acknowledged writes lost");
    assert_eq!(check.resurrected_deletes, 0, "deleted keys came back");
    assert_eq!(check.divergent_keys, 0);
    state.time_to_converge_s.expect("converged")
}

/// Issue 6 on `nodes` nodes, seed 1.
fn replicas_converge_after_ten_thousand_writes_across_a_partition(nodes: usize) {
    let report = common::run_scenario(issue_6(nodes), 1);
    let state = &report.state;
    assert_eq!((state.writes, state.refused), (10_000, 0));
    assert!(state.deletes > 800, "{} deletes", state.deletes);
    // Different nodes wrote the same keys within a second of each other
    // thousands of times: last-writer-wins had conflicts to resolve.
    assert!(state.check.close_writes > 1_000, "{:?}", state.check);
    // Most keys have a last write a second clear of the one before, whose
    // value (or absence) every replica must end with.
    assert!(state.check.ordered_keys > 300, "{:?}", state.check);
    let converged = converged_correctly(&report);
    // Measured 31.5 to 44.0 s after the last write (at 65 s) on seeds 0-19
    // with 200 nodes, 22.4 to 30.7 s on seeds 0-5 with 50: the rumors of 500
    // hot keys fill every node's gossip (about 23 KB of KeyEntry per node per
    // second), so the last changes wait their turn, and anti-entropy, one
    // member every 5 s, repairs what they miss.
    assert!(
        converged <= 60.0,
        "converged {converged:.1} s after the last write"
    );
    assert!(state.sync_steps > 0 && state.sync_entries_sent > 0);
    // Every node told its application, from the digests it heard, that all
    // members agree, at most the estimate's window (three sync intervals,
    // 15 s) after they did. It is a sample: with one straggler left, a node
    // that heard no digest of it claims early. Over seeds 0-19: median lag
    // 3.0-11.7 s, max 15.2 s; early claims after the writes and the heal 0 on
    // 16 seeds, 1 to 34 of 200 nodes on the others (a fifth at most). With 50
    // nodes, seeds 0-5: median lag 5.6-7.7 s, max 15.7 s, no early claim.
    let claims = &state.claims;
    assert_eq!(claims.claimed, nodes, "{claims:?}");
    assert!(claims.premature <= nodes / 5, "{claims:?}");
    assert!(claims.lag_max_s.unwrap() <= 16.0, "{claims:?}");
}

#[test]
fn fifty_replicas_converge_after_ten_thousand_writes_across_a_partition() {
    replicas_converge_after_ten_thousand_writes_across_a_partition(50);
}

#[test]
#[ignore = "200 nodes: about 25 s in the test profile"]
fn full_size_two_hundred_replicas_converge_after_ten_thousand_writes_across_a_partition() {
    replicas_converge_after_ten_thousand_writes_across_a_partition(200);
}

#[test]
#[ignore = "a sweep over 20 seeds, about 6 minutes in release"]
fn sweep_two_hundred_replicas_converge_after_ten_thousand_writes_across_a_partition() {
    common::sweep(
        || issue_6(200),
        |report| {
            let state = &report.state;
            format!(
                "converged {:.2} s after the last write; claims lag median {:.2} s, max {:.2} s, \
                 {} premature; {:.0} B/node/s of key entries, {:.0} of sync",
                state.time_to_converge_s.unwrap_or(f64::NAN),
                state.claims.lag_median_s.unwrap_or(f64::NAN),
                state.claims.lag_max_s.unwrap_or(f64::NAN),
                state.claims.premature,
                state.key_entry.bytes_per_node_per_s,
                state.sync_hashes.bytes_per_node_per_s + state.sync_entries.bytes_per_node_per_s,
            )
        },
        |report| {
            assert!(converged_correctly(report) <= 60.0);
            // Measured: 0 on 16 of 20 seeds, 1, 2, 3 and 34 on the others.
            assert!(report.state.claims.premature <= 40);
        },
    );
}

#[test]
fn a_replica_the_rumors_missed_catches_up_through_anti_entropy_alone() {
    let report = common::run_scenario(cut_off_during_writes(None), 2);
    let after_heal = converged_correctly(&report);
    let state = &report.state;
    assert!(
        state.settle_from_s > state.last_write_s,
        "measured from the heal"
    );
    assert!(state.sync_steps > 0, "converged without anti-entropy steps");
    // Measured 7.1 to 11.8 s after the heal on seeds 1 to 8: membership is
    // whole again 2 to 7 s after the heal, then a sync round (every 5 s) with
    // or from the cut-off node repairs it.
    assert!(
        after_heal <= 20.0,
        "converged {after_heal:.1} s after the heal"
    );

    // Without anti-entropy (its interval beyond the run), nothing repairs it.
    let never = Some(Duration::from_secs(1 << 30));
    let report = common::run_scenario(cut_off_during_writes(never), 2);
    let state = &report.state;
    assert!(!state.converged_at_end, "converged without anti-entropy");
    assert!(state.check.divergent_keys > 0);
    assert_eq!(state.sync_steps, 0);
}
