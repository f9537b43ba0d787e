//! Scenario 6: SWIM's load per member does not grow with the cluster: bytes per
//! node per second at 100 and at 10,000 nodes stay within 1.5× of each other.
//! The 10,000-node run keeps 10⁸ member records: about 8.5 GB and 80 s, so the default test spans the same two decades lower, 10 to 1,000
//! nodes; `cargo test -p gossip-sim --test scenario_bandwidth -- --ignored
//! full_size` runs 100 against 10,000.

mod common;

fn bytes_per_node_per_second(nodes: usize) -> f64 {
    let report = common::run_scenario(common::suite::bandwidth(nodes), 7);
    assert_eq!(report.false_positives.count, 0);
    report.traffic.bytes_per_node_per_s
}

/// The load per member at each size: the largest within 1.5× of the smallest.
fn same_load_per_member(sizes: &[usize]) {
    let loads: Vec<f64> = sizes
        .iter()
        .map(|&nodes| bytes_per_node_per_second(nodes))
        .collect();
    for (nodes, load) in sizes.iter().zip(&loads) {
        println!("{nodes} nodes: {load:.1} B/node/s");
    }
    let max = loads.iter().copied().fold(f64::MIN, f64::max);
    let min = loads.iter().copied().fold(f64::MAX, f64::min);
    let ratio = max / min;
    println!("ratio {ratio:.2}");
    assert!(ratio <= 1.5, "ratio {ratio:.2}");
}

#[test]
fn load_per_member_is_the_same_at_ten_a_hundred_and_a_thousand_nodes() {
    same_load_per_member(&[10, 100, 1_000]);
}

#[test]
#[ignore = "10,000 nodes: 8.5 GB and about 80 s in the test profile"]
fn full_size_load_per_member_is_the_same_at_a_hundred_and_ten_thousand_nodes() {
    same_load_per_member(&[100, 10_000]);
}
