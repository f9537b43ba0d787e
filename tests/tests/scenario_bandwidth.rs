//! Scenario 6: SWIM's load per member does not grow with the cluster: bytes per
//! node per second at 100 and at 10,000 nodes stay within 1.5× of each other.
//! The 10,000-node run keeps 10⁸ member records: about 8.5 GB and half a minute.

mod common;

fn bytes_per_node_per_second(nodes: usize) -> f64 {
    let report = common::run_scenario(common::suite::bandwidth(nodes), 7);
    assert_eq!(report.false_positives.count, 0);
    report.traffic.bytes_per_node_per_s
}

#[test]
fn load_per_member_is_the_same_at_a_hundred_and_ten_thousand_nodes() {
    let small = bytes_per_node_per_second(100);
    let large = bytes_per_node_per_second(10_000);
    let ratio = small.max(large) / small.min(large);
    println!("100 nodes: {small:.1} B/node/s; 10,000 nodes: {large:.1} B/node/s; ratio {ratio:.2}");
    assert!(ratio <= 1.5, "ratio {ratio:.2}");
}
