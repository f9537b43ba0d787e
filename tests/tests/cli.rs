//! The `simulate` binary: its outputs, scenario files, and how it refuses bad
//! input. Each run is small (30 nodes, 20 s simulated) and takes milliseconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A small run in which two nodes crash at 5 s, with `extra` flags.
fn small<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = "--nodes 30 --duration 20 --seed 3 --kill 2 --kill-at 5s"
        .split(' ')
        .collect();
    args.extend_from_slice(extra);
    args
}

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .output()
        .expect("the simulate binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn succeeds(args: &[&str]) -> Output {
    let output = simulate(args);
    assert!(
        output.status.success(),
        "simulate {args:?} failed: {}",
        stderr(&output)
    );
    output
}

/// Asserts that `args` are refused as invalid input (status 2) with one line
/// on stderr and nothing on stdout; returns that line.
fn refused(args: &[&str]) -> String {
    let output = simulate(args);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "simulate {args:?}: {message}"
    );
    assert_eq!(message.lines().count(), 1, "one line: {message:?}");
    assert!(message.starts_with("error: "), "{message:?}");
    assert!(!message.contains("panicked"), "{message:?}");
    assert!(output.stdout.is_empty());
    message
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn scenario_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn json_output_is_one_parsable_object_describing_the_run() {
    let output = succeeds(&small(&["--json"]));
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON only");
    assert_eq!(report["scenario"]["nodes"], 30);
    assert_eq!(report["scenario"]["duration"], "20s");
    assert_eq!(report["scenario"]["seed"], 3);
    assert_eq!(report["failures"]["count"], 2);
    assert_eq!(report["membership"]["running_at_end"], 28);
    assert_eq!(report["series"].as_array().unwrap().len(), 20);
    assert_eq!(report["infections"].as_array().unwrap().len(), 2);
    assert!(report["traffic"]["messages"].as_u64().unwrap() > 0);
}

#[test]
fn the_table_is_printed_by_default_and_quiet_suppresses_it() {
    let table = stdout(&succeeds(&small(&[])));
    assert!(
        table.starts_with("30 nodes, 20s simulated, seed 3"),
        "{table}"
    );
    assert!(
        table.contains("crashes / detected / known by all"),
        "{table}"
    );
    let quiet = succeeds(&small(&["--quiet"]));
    assert!(quiet.stdout.is_empty());
}

#[test]
fn memory_prints_the_heap_peak_after_the_table_and_grows_with_the_cluster() {
    let peak = |nodes: &str| -> (f64, u64) {
        let out = stdout(&succeeds(&[
            "--nodes",
            nodes,
            "--duration",
            "5",
            "--memory",
        ]));
        let section = out.split("\nmemory\n").nth(1).expect("a memory section");
        let value = |label: &str| -> String {
            let line = section.lines().find(|l| l.contains(label)).expect(label);
            let after = line.split(label).nth(1).unwrap().trim_start();
            after.split(' ').next().unwrap().to_string()
        };
        let megabytes: f64 = value("heap at its peak").parse().unwrap();
        let per_pair: u64 = value("per (observer, member) pair").parse().unwrap();
        (megabytes, per_pair)
    };
    let (small_mb, small_pair) = peak("20");
    let (large_mb, large_pair) = peak("200");
    assert!(small_mb > 0.0 && small_pair > 0, "{small_mb} {small_pair}");
    // n² member records: ten times the nodes, far more heap.
    assert!(
        large_mb > 20.0 * small_mb,
        "{small_mb} MB, then {large_mb} MB"
    );
    assert!(
        large_pair < small_pair,
        "fixed costs spread over more pairs"
    );
    let refused = refused(&small(&["--memory", "--json"]));
    assert!(refused.contains("--memory"), "{refused}");
}

#[test]
fn by_kind_splits_the_traffic_into_kinds_that_add_up_to_the_total() {
    let out = stdout(&succeeds(&small(&["--by-kind"])));
    let total: f64 = out
        .lines()
        .find(|l| l.contains("per node per second") && l.contains("datagrams"))
        .and_then(|l| l.split_whitespace().rev().nth(3))
        .expect("the traffic row")
        .parse()
        .unwrap();
    let section = out
        .split("\ntraffic by kind")
        .nth(1)
        .expect("a by-kind section");
    let bytes = |line: &str| -> f64 {
        let before = line.split(" bytes").next().unwrap();
        before.split_whitespace().last().unwrap().parse().unwrap()
    };
    let rows: Vec<(&str, f64)> = section
        .lines()
        .skip(1)
        .map(|l| (l.split_whitespace().next().unwrap(), bytes(l)))
        .collect();
    assert!(rows.iter().any(|&(kind, _)| kind == "ping"), "{section}");
    assert!(rows.iter().any(|&(kind, _)| kind == "ack"), "{section}");
    assert!(
        rows.iter().any(|&(kind, _)| kind == "datagram"),
        "{section}"
    );
    let sum: f64 = rows.iter().map(|&(_, b)| b).sum();
    // Each figure is rounded to a tenth, the total to a unit.
    assert!(
        (sum - total).abs() <= 1.0,
        "{sum} against {total}: {section}"
    );
    let refused = refused(&small(&["--by-kind", "--json"]));
    assert!(refused.contains("--by-kind"), "{refused}");
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let run = || {
        let output = succeeds(&small(&["--json", "--loss", "0.05"]));
        let mut report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report.as_object_mut().unwrap().remove("wall");
        report
    };
    assert_eq!(run(), run());
}

#[test]
fn csv_writes_the_series_failures_and_infections_with_headers() {
    let dir = scratch("csv").join("created");
    succeeds(&small(&["--quiet", "--csv", dir.to_str().unwrap()]));
    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap();
    let series = read("series.csv");
    assert!(
        series.starts_with("t_s,running,full_membership,"),
        "{series}"
    );
    assert_eq!(series.lines().count(), 1 + 20);
    let failures = read("failures.csv");
    assert!(failures.starts_with("node,crashed_s,"), "{failures}");
    assert_eq!(failures.lines().count(), 1 + 2);
    let infections = read("infections.csv");
    assert!(infections.starts_with("node,crashed_s,learned_s,known_by\n"));
    assert!(infections.lines().count() > 1);
}

#[test]
fn svg_writes_a_plot_with_a_title() {
    let path = scratch("svg").join("run.svg");
    succeeds(&small(&["--quiet", "--svg", path.to_str().unwrap()]));
    let svg = fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    assert!(svg.contains("30 nodes, loss 0%, seed 3"));
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn a_scenario_file_runs_with_nodes_duration_and_seed_overridden() {
    let file = scenario_file("crash.toml");
    let args = [
        "--scenario",
        &file,
        "--nodes",
        "30",
        "--duration",
        "20s",
        "--seed",
        "5",
        "--json",
    ];
    let report: Value = serde_json::from_slice(&succeeds(&args).stdout).unwrap();
    assert_eq!(report["scenario"]["nodes"], 30);
    assert_eq!(report["scenario"]["duration"], "20s");
    assert_eq!(report["scenario"]["seed"], 5);
    // The rest comes from the file.
    assert_eq!(report["scenario"]["network"]["loss"], 0.02);
    let crashed = report["scenario"]["faults"][0]["count"].as_u64().unwrap();
    assert_eq!(report["failures"]["count"].as_u64(), Some(crashed));
}

#[test]
fn every_example_scenario_file_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let path = path.to_str().unwrap();
        succeeds(&["--scenario", path, "--nodes", "20", "--duration", "5s"]);
        files += 1;
    }
    assert!(files >= 2);
}

#[test]
fn the_five_datacenters_scenario_file_reports_traffic_between_datacentres() {
    let file = scenario_file("five_datacenters.toml");
    let args = ["--scenario", &file, "--nodes", "25", "--duration", "10s"];
    let table = stdout(&succeeds(&args));
    assert!(table.contains("between 5 datacentres"), "{table}");
    let report: Value =
        serde_json::from_slice(&succeeds(&[&args[..], &["--json"]].concat()).stdout).unwrap();
    assert_eq!(
        report["scenario"]["network"]["geometry"],
        "five_datacenters"
    );
    let cross = report["traffic"]["cross_dc_bytes"].as_u64().unwrap();
    assert!(cross > 0 && cross < report["traffic"]["bytes"].as_u64().unwrap());
}

#[test]
fn near_first_partners_and_coordinates_are_flags_and_reported() {
    let args = [
        "--nodes",
        "25",
        "--duration",
        "30s",
        "--preset",
        "wan",
        "--geometry",
        "five_datacenters",
        "--jitter",
        "0ms",
        "--peer-selection",
        "nearby",
        "--json",
    ];
    let report: Value = serde_json::from_slice(&succeeds(&args).stdout).unwrap();
    assert_eq!(report["scenario"]["protocol"]["peer_selection"], "nearby");
    let coordinates = &report["coordinates"];
    assert!(coordinates["pairs"].as_u64().unwrap() > 0, "{coordinates}");
    assert!(coordinates["median"].as_f64().unwrap() > 0.0);
    let table = stdout(&succeeds(&args[..args.len() - 1]));
    assert!(table.contains("network coordinates"), "{table}");
    let message = refused(&["--peer-selection", "closest"]);
    assert!(message.contains("uniform or nearby"), "{message}");
    let message = refused(&["--geometry", "six_datacenters"]);
    assert!(message.contains("six_datacenters"), "{message}");
}

#[test]
fn a_scenario_flag_given_with_a_scenario_file_is_refused() {
    let file = scenario_file("crash.toml");
    let message = refused(&["--scenario", &file, "--loss", "0.1", "--kill", "3"]);
    assert!(message.contains("--scenario"), "{message}");
    assert!(message.contains("--loss, --kill"), "{message}");
}

#[test]
fn an_out_of_range_loss_is_refused() {
    let message = refused(&["--loss", "2"]);
    assert!(message.contains("--loss"), "{message}");
    assert!(message.contains("between 0 and 1"), "{message}");
}

#[test]
fn unparseable_values_are_refused_with_the_flag_named() {
    for (flag, value) in [
        ("--duration", "soon"),
        ("--duration", "99999999999999999999999"),
        ("--latency", "uniform:5ms"),
        ("--start", "sideways"),
        ("--bursts", "0.5,ten,0.2"),
        ("--preset", "moon"),
        ("--nodes", "many"),
    ] {
        let message = refused(&[flag, value]);
        assert!(message.contains(flag), "{flag} {value}: {message}");
    }
}

#[test]
fn scenarios_the_simulator_cannot_run_are_refused() {
    refused(&["--nodes", "0"]);
    refused(&["--nodes", "10", "--kill", "10"]);
    refused(&["--probe-timeout", "5s", "--probe-interval", "1s"]);
    refused(&["--slow", "0.1", "--slow-spell", "0s", "--slow-period", "0s"]);
    refused(&["--kill-at", "5s"]);
    assert!(refused(&["--latency", "pareto:1ms,0,1s"]).contains("shape"));
    assert!(refused(&["--bursts", "0.5,10,0.2"]).contains("mean_loss"));
}

#[test]
fn a_scenario_file_needs_only_nodes_and_duration() {
    let dir = scratch("minimal-scenario");
    let file = dir.join("minimal.toml");
    fs::write(
        &file,
        "nodes = 12\nduration = \"5s\"\n[protocol]\nlifeguard = false\n",
    )
    .unwrap();
    let output = succeeds(&["--scenario", file.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenario"]["start"], "converged");
    assert_eq!(report["scenario"]["seed"], 0);
    assert_eq!(report["scenario"]["protocol"]["lifeguard"], false);
}

#[test]
fn an_unreadable_or_invalid_scenario_file_is_refused() {
    let dir = scratch("bad-scenario");
    let missing = dir.join("missing.toml");
    let message = refused(&["--scenario", missing.to_str().unwrap()]);
    assert!(message.contains("cannot read"), "{message}");

    let bad = dir.join("bad.toml");
    fs::write(
        &bad,
        "nodes = 10\nduration = \"10s\"\nstart = \"converged\"\nspeed = 3\n",
    )
    .unwrap();
    let message = refused(&["--scenario", bad.to_str().unwrap()]);
    assert!(message.contains("bad.toml:4:1:"), "{message}");
    assert!(message.contains("speed"), "{message}");
}

#[test]
fn help_documents_flags_with_units_and_defaults() {
    let help = stdout(&succeeds(&["--help"]));
    for text in [
        "--nodes <N>",
        "--duration <D>",
        "[default: 60s]",
        "--kill-at <D>",
        "a quarter of the duration",
        "--probe-interval <D>",
        "[default: lan 1s, wan 5s, local 1s]",
        "--svg <FILE>",
    ] {
        assert!(help.contains(text), "help lacks {text:?}");
    }
}

#[test]
fn broadcasts_are_reported_and_modes_compared() {
    let args =
        "--nodes 200 --duration 30 --rounds --broadcasts 3 --mode push --termination coin:4 --json";
    let output = succeeds(&args.split(' ').collect::<Vec<_>>());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenario"]["protocol"]["termination"], "coin:4");
    assert_eq!(report["broadcasts"]["count"], 3);
    assert_eq!(report["broadcasts"]["duplicates"], 0);
    assert!(report["broadcasts"]["curve"].as_array().unwrap().len() > 5);

    let dir = scratch("compare-modes");
    let svg = dir.join("modes.svg");
    let args = [
        "--nodes",
        "200",
        "--duration",
        "30",
        "--rounds",
        "--compare-modes",
    ];
    let output = succeeds(&[&args[..], &["--svg", svg.to_str().unwrap()]].concat());
    let table = stdout(&output);
    for mode in ["| push |", "| pull |", "| push-pull |"] {
        assert!(table.contains(mode), "{table}");
    }
    let plot = fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("how a broadcast spreads") && plot.contains("push-pull"));
}

/// A crash too late to be detected and a broadcast sent behind a partition
/// that never heals: their times are `never` in the table and `null` in JSON,
/// not 0. The first broadcast (before the split) reached all; its figures
/// stand and the table says how many never did.
#[test]
fn figures_of_what_never_happened_are_never_and_null() {
    let args: Vec<&str> = "--nodes 30 --duration 20 --seed 3 --kill 2 --kill-at 19s \
         --partition 0.5 --partition-at 3s --partition-for 1h \
         --broadcasts 2 --broadcast-at 1s --broadcast-every 4s"
        .split_whitespace()
        .collect();
    let table = stdout(&succeeds(&args));
    let line = |name: &str| {
        let line = table.lines().find(|l| l.trim_start().starts_with(name));
        let line = line.unwrap_or_else(|| panic!("no line {name:?} in\n{table}"));
        line.trim_start()[name.len()..].trim().to_string()
    };
    let counts = line("crashes / detected / known by all");
    assert!(
        counts.starts_with("2 / ") && counts.ends_with(" / 0"),
        "{counts}"
    );
    // The side cut off may declare a crashed node failed before it crashed
    // (it suspected it already): some crashes count as detected.
    let detection = line("first detection (mean, median, max)");
    assert!(
        detection == "never" || detection.ends_with(" of 2 never)"),
        "{detection}"
    );
    assert_eq!(line("all live nodes know (mean, max)"), "never");
    assert_eq!(line("spread after detection (mean, max)"), "never");
    assert_eq!(line("sent / reached every node"), "2 / 1");
    let reach = line("time to reach all (mean, max)");
    assert!(reach.ends_with("(1 of 2 never)"), "{reach}");
    assert!(!reach.starts_with("0.00 s"), "{reach}");

    let json = succeeds(&[&args[..], &["--json"]].concat());
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    for figure in ["all_know_s", "spread_s", "spread_rounds"] {
        assert_eq!(report["failures"][figure], Value::Null, "failures.{figure}");
    }
    let detected = &report["failures"]["detection_s"];
    assert!(detected.is_null() || detected["count"].as_u64() < Some(2));
    assert_eq!(report["broadcasts"]["all_reached_s"]["count"], 1);

    // No broadcast reaches all: null there too.
    let mut alone = args.clone();
    alone.splice(
        alone.len() - 6..,
        ["--broadcasts", "1", "--broadcast-at", "5s", "--json"],
    );
    let report: Value = serde_json::from_slice(&succeeds(&alone).stdout).unwrap();
    assert_eq!(report["broadcasts"]["reached_all"], 0);
    assert_eq!(report["broadcasts"]["all_reached_s"], Value::Null);
    assert_eq!(report["broadcasts"]["all_reached_rounds"], Value::Null);
    alone.pop();
    let table = stdout(&succeeds(&alone));
    assert!(
        table.contains("time to reach all (mean, max)      never\n"),
        "{table}"
    );
}

#[test]
fn a_dry_run_checks_the_scenario_and_runs_nothing() {
    let svg = scratch("dry-run").join("never.svg");
    let output = succeeds(&small(&["--dry-run", "--svg", svg.to_str().unwrap()]));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    assert!(!svg.exists(), "a dry run writes nothing");
    assert!(refused(&["--loss", "0.2", "--new-loss", "2", "--dry-run"]).contains("--new-loss"));
    let file = scenario_file("five_datacenters.toml");
    succeeds(&["--scenario", &file, "--dry-run"]);
    refused(&["--scenario", "missing.toml", "--dry-run"]);
}

#[test]
fn bad_broadcast_settings_are_refused() {
    assert!(refused(&["--mode", "shout"]).contains("--mode"));
    assert!(refused(&["--termination", "feedback:many"]).contains("--termination"));
    assert!(refused(&["--termination", "feedback:0"]).contains("termination.k"));
    assert!(
        refused(&["--broadcasts", "1", "--broadcast-size", "5000"]).contains("max_broadcast_size")
    );
    refused(&["--broadcast-every", "1s"]);
}

#[test]
fn writes_are_reported_with_the_time_to_convergence() {
    let args = "--nodes 30 --duration 30 --seed 3 --loss 0.05 --writes 300 --write-keys 20 \
                --write-at 2s --write-over 5s --write-size 16 --delete-fraction 0.2 \
                --sync-interval 2s";
    let args: Vec<&str> = args.split_whitespace().collect();
    let output = succeeds(&[&args[..], &["--json"]].concat());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let scenario = &report["scenario"];
    assert_eq!(scenario["writes"]["count"], 300);
    assert_eq!(scenario["writes"]["keys"], 20);
    assert_eq!(scenario["writes"]["over"], "5s");
    assert_eq!(scenario["protocol"]["state_sync_interval"], "2s");
    let state = &report["state"];
    assert_eq!(state["writes"], 300);
    assert!(state["deletes"].as_u64().unwrap() > 0);
    assert_eq!(state["converged_at_end"], true);
    assert!(state["time_to_converge_s"].as_f64().is_some(), "{state}");
    assert_eq!(state["check"]["lost_writes"], 0);
    assert_eq!(state["check"]["resurrected_deletes"], 0);
    assert!(state["key_entry"]["bytes_per_node_per_s"].as_f64().unwrap() > 0.0);

    let table = stdout(&succeeds(&args));
    assert!(table.contains("time to convergence"), "{table}");
    assert!(table.contains("after the last write at 7.0 s"), "{table}");
}

#[test]
fn the_replicated_state_scenario_file_describes_writes_and_a_partition() {
    let file = scenario_file("replicated_state.toml");
    let args = [
        "--scenario",
        &file,
        "--nodes",
        "20",
        "--duration",
        "10s",
        "--json",
    ];
    let report: Value = serde_json::from_slice(&succeeds(&args).stdout).unwrap();
    let writes = &report["scenario"]["writes"];
    assert_eq!(
        (writes["count"].as_u64(), writes["keys"].as_u64()),
        (Some(10_000), Some(500))
    );
    assert_eq!(writes["delete_fraction"], 0.1);
    assert_eq!(report["scenario"]["faults"][0]["kind"], "partition");
    // Writes are spread from 5 s over 60 s: 5 s of them ran.
    let made = report["state"]["writes"].as_u64().unwrap();
    assert!((800..=900).contains(&made), "{made} writes");
    assert!(refused(&["--scenario", &file, "--writes", "5"]).contains("--writes"));
}

#[test]
fn bad_write_settings_are_refused() {
    assert!(refused(&["--writes", "10", "--write-size", "4"]).contains("writes.size"));
    assert!(refused(&["--writes", "10", "--write-size", "5000"]).contains("max_value_size"));
    assert!(refused(&["--writes", "10", "--write-keys", "0"]).contains("writes.keys"));
    assert!(refused(&["--writes", "10", "--delete-fraction", "2"]).contains("--delete-fraction"));
    assert!(refused(&["--sync-interval", "0s"]).contains("state_sync_interval"));
    refused(&["--write-keys", "5"]);
}
