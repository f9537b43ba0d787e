//! Join convergence across many seeds and loss rates; slow, so ignored by default:
//!
//! `cargo test --release -p gossip-sim --test sweep_join -- --ignored --nocapture`

mod common;

use common::suite::ten_nodes_join as time_to_converge;

#[test]
#[ignore = "a sweep over 100 seeds; run it with --ignored"]
fn join_convergence_across_seeds() {
    println!(
        "{:>6} {:>8} {:>8} {:>8}  (10 nodes, 100 seeds)",
        "loss", "median", "p90", "max"
    );
    // Without loss, a member missed by every rumor is learned at its first contact
    // (discovery), within a couple of seconds. At 20% loss a joiner occasionally
    // loses six requests in a row (p = 6e-5) and waits for its seventh attempt, at
    // 61 s under the default backoff.
    for (loss, bound) in [(0.0, 3.0), (0.1, 15.0), (0.2, 62.0)] {
        let mut times: Vec<f64> = (0..100).map(|seed| time_to_converge(seed, loss)).collect();
        times.sort_by(f64::total_cmp);
        let (median, p90, max) = (times[50], times[90], times[99]);
        println!(
            "{:>5.0}% {median:>7.1}s {p90:>7.1}s {max:>7.1}s",
            loss * 100.0
        );
        assert!(max <= bound, "at {loss} loss the slowest join took {max} s");
    }
}
