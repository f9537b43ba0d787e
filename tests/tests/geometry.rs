//! Clusters spread over datacentres: the traffic between datacentres is counted
//! datagram for datagram, and scenarios describe geometries in TOML. Each run
//! is a few dozen nodes for seconds of simulated time.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use gossip_sim::{Geometry, GeometrySpec, Network, Scenario, Simulation};

/// A converged cluster of `nodes` on `geometry` after 20 s, and the datagrams
/// and bytes a tap saw go between nodes whose ids differ modulo `datacenters`.
fn run_counting(nodes: usize, geometry: Geometry, datacenters: u32) -> (Simulation, u64, u64) {
    let mut sim = Simulation::builder()
        .nodes(nodes)
        .network(Network::default().jitter(Duration::ZERO).geometry(geometry))
        .seed(common::seed(11))
        .build();
    let (messages, bytes) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (tap_messages, tap_bytes) = (messages.clone(), bytes.clone());
    sim.set_tap(Box::new(move |_, from, to, payload, _| {
        if from % datacenters != to % datacenters {
            tap_messages.set(tap_messages.get() + 1);
            tap_bytes.set(tap_bytes.get() + payload.len() as u64);
        }
    }));
    sim.bootstrap_converged();
    sim.run_for(Duration::from_secs(20));
    (sim, messages.get(), bytes.get())
}

#[test]
fn cross_datacentre_counters_count_exactly_the_datagrams_between_datacentres() {
    let (sim, messages, bytes) = run_counting(30, Geometry::five_datacenters(), 5);
    let metrics = sim.metrics();
    assert_eq!(metrics.cross_dc_messages(), messages);
    assert_eq!(metrics.cross_dc_bytes(), bytes);
    let (all_messages, all_bytes) = metrics
        .traffic()
        .fold((0, 0), |(m, b), (dm, db)| (m + dm, b + db));
    // Members are picked without regard to place: about 4 in 5 leave their datacentre.
    let share = bytes as f64 / all_bytes as f64;
    assert!((0.7..0.9).contains(&share), "{share}");
    assert!(messages < all_messages);
}

#[test]
fn one_datacentre_sends_nothing_across() {
    let one = Geometry::new(Duration::from_millis(1), vec![vec![Duration::ZERO]]).unwrap();
    let (sim, messages, _) = run_counting(10, one, 1);
    assert_eq!(messages, 0);
    assert_eq!(sim.metrics().cross_dc_bytes(), 0);
    assert!(sim.metrics().traffic().any(|(sent, _)| sent > 0));
}

#[test]
fn the_simulation_knows_the_true_rtt_between_two_nodes() {
    let sim = Simulation::builder()
        .nodes(10)
        .network(Network::default().geometry(Geometry::five_datacenters()))
        .build();
    let geometry = sim.geometry().expect("a geometry was set");
    assert_eq!(geometry.rtt(0, 3), Duration::from_millis(148));
    assert_eq!(geometry.names()[geometry.datacenter(3)], "asia");
    assert!(Simulation::builder().build().geometry().is_none());
}

#[test]
fn the_five_datacenters_scenario_file_validates_and_reports_traffic_between_them() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/five_datacenters.toml"
    );
    let mut scenario: Scenario = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    scenario.validate().unwrap();
    assert_eq!(
        scenario.network.geometry,
        Some(GeometrySpec::Preset("five_datacenters".into()))
    );
    scenario.nodes = 25;
    scenario.duration = Duration::from_secs(20);
    let report = scenario.run(None);
    let traffic = &report.traffic;
    assert!(traffic.cross_dc_bytes > 0 && traffic.cross_dc_bytes < traffic.bytes);
    assert!(traffic.cross_dc_messages < traffic.messages);
    assert!((0.7..0.9).contains(&traffic.cross_dc_share), "{traffic:?}");
    assert!(report.to_string().contains("between 5 datacentres"));

    let lan = Scenario::new(25, Duration::from_secs(5)).run(None);
    assert_eq!(lan.traffic.cross_dc_bytes, 0);
    assert!(!lan.to_string().contains("datacentres"));
}

#[test]
fn explicit_geometries_parse_and_bad_ones_are_refused() {
    let parse = |geometry: &str| {
        let network = "[network]\njitter = \"0ms\"\nloss = 0.0";
        toml::from_str::<Scenario>(&format!(
            "nodes = 6\nduration = \"5s\"\n{network}\n{geometry}\n"
        ))
    };
    let explicit = |matrix: &str| format!("[network.geometry]\nintra_rtt = \"2ms\"\n{matrix}");
    let good = parse(&format!(
        "{}\nnames = [\"east\", \"west\"]",
        explicit(r#"inter_rtt = [["0ms", "70ms"], ["70ms", "0ms"]]"#)
    ))
    .unwrap();
    good.validate().unwrap();
    let geometry = good.network.geometry.as_ref().unwrap().geometry().unwrap();
    assert_eq!(geometry.rtt(0, 1), Duration::from_millis(70));
    assert_eq!(geometry.rtt(0, 2), Duration::from_millis(2));
    assert_eq!(geometry.names(), ["east", "west"]);
    // What a report writes down reads back the same.
    let written = toml::to_string(&good).unwrap();
    assert_eq!(toml::from_str::<Scenario>(&written).unwrap(), good);

    let typo = format!("{}\njitter = 0.1", explicit(r#"inter_rtt = [["0ms"]]"#));
    assert!(parse(&typo).is_err(), "unknown fields are refused");
    let asymmetric = parse(&explicit(
        r#"inter_rtt = [["0ms", "70ms"], ["90ms", "0ms"]]"#,
    ));
    let error = asymmetric.unwrap().validate().unwrap_err();
    assert!(
        error.contains("network.geometry") && error.contains("symmetric"),
        "{error}"
    );
    let unknown = parse("geometry = \"six_datacenters\"").unwrap();
    assert!(unknown.validate().unwrap_err().contains("six_datacenters"));
    let mut rounds = parse("geometry = \"five_datacenters\"").unwrap();
    rounds.rounds = true;
    assert!(rounds.validate().unwrap_err().contains("geometry"));
}
