//! Scenario 2: 10 of 1,000 nodes crash. The first detection comes close to SWIM's
//! e/(e−1) protocol periods plus the suspicion timeout, every live node knows all
//! 10 within the suspicion timeout + 10 s, and nobody is wrongly declared failed.
//! The default test crashes 10 of 300, against the same rule at that size (the
//! suspicion timeout is 4 × log10 n periods: 9.9 s instead of 12 s, so 11.49 s
//! expected and 19.9 s for all to know); `cargo test -p gossip-sim --test
//! scenario_crash_detection -- --ignored full_size` runs 1,000.

mod common;

use common::suite::crash_detection as scenario;

fn check(report: &gossip_sim::Report) {
    let f = &report.failures;
    assert_eq!((f.count, f.detected, f.known_by_all), (10, 10, 10));
    // Probes are asynchronous across nodes: the first probe of the dead node
    // comes about one period after the crash and its failure is concluded at
    // the end of that period, so we expect a little more than SWIM's
    // synchronous-rounds 1.58 periods; within 15% of the whole figure.
    let (detection, all_know) = (f.detection_s.unwrap(), f.all_know_s.unwrap());
    let expected = f.expected_detection_s;
    let relative = (detection.mean - expected).abs() / expected;
    assert!(
        relative <= 0.15,
        "mean detection {:.2} s vs {expected:.2} s",
        detection.mean
    );
    let bound = f.suspicion_timeout_s + 10.0;
    assert!(
        all_know.max <= bound,
        "last node knew after {:.2} s (bound {bound} s)",
        all_know.max
    );
    assert_eq!(report.false_positives.count, 0);
}

#[test]
fn ten_crashes_among_three_hundred_are_detected_in_swim_time_without_false_alarms() {
    check(&common::run_scenario(scenario(300), 2));
}

#[test]
#[ignore = "1,000 nodes: about 2 s in the test profile"]
fn full_size_ten_crashes_among_a_thousand_are_detected_in_swim_time_without_false_alarms() {
    check(&common::run_scenario(scenario(1_000), 2));
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn crash_detection_across_seeds() {
    common::sweep(
        || scenario(1_000),
        |r| {
            let never = |s: Option<gossip_sim::Summary>, f: fn(&gossip_sim::Summary) -> f64| {
                s.as_ref()
                    .map_or("never".into(), |s| format!("{:.2} s", f(s)))
            };
            format!(
                "detection mean {}, all know max {}, false positives {}",
                never(r.failures.detection_s, |s| s.mean),
                never(r.failures.all_know_s, |s| s.max),
                r.false_positives.count
            )
        },
        check,
    );
}
