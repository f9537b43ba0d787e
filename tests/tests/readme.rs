//! The README stays true: every seeded run whose output or figures README.md
//! quotes is run again here, and each quote is compared with what the run
//! gives now. Quotes are marked in README.md by `<!-- readme-check: ID -->`
//! comments (see `readme/quote.rs` for the syntax and the tolerances).
//!
//! ```sh
//! cargo test -p gossip-sim --test readme                       # the cheap checks (CI)
//! cargo test --release -p gossip-sim --test readme -- --ignored  # the long ones
//! GOSSIP_README_BLESS=1 cargo test -p gossip-sim --test readme   # rewrite the quotes
//! GOSSIP_README_BLESS=1 cargo test --release -p gossip-sim --test readme -- --include-ignored
//! ```
//!
//! The default checks are the runs that take seconds; sweeps over seeds and
//! runs of 10,000 nodes or more are `#[ignore]`d, each with its cost.

mod common;
#[path = "readme/quote.rs"]
mod quote;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::suite;
use gossip_core::PeerSelection;
use gossip_sim::Mode;
use quote::Quotes;

/// A run the README quotes: the id its markers use, the commands the README
/// gives for it (each must appear in README.md as written, give or take line
/// breaks), and whether the default suite checks it.
struct Run {
    id: &'static str,
    commands: &'static [&'static str],
    default: bool,
}

/// Every run the README quotes. A marker with another id is an error, and
/// so is a run without a marker.
const RUNS: &[Run] = &[
    Run {
        id: "virtual-cluster",
        commands: &["cargo run --release -p gossip-sim --example virtual_cluster"],
        default: true,
    },
    Run {
        id: "cli",
        commands: &[CLI],
        default: true,
    },
    Run {
        id: "plot",
        commands: &[PLOT],
        default: false,
    },
    Run {
        id: "five-dc",
        commands: &[FIVE_DC],
        default: true,
    },
    Run {
        id: "five-dc-nearby",
        commands: &[FIVE_DC_NEARBY],
        default: true,
    },
    Run {
        id: "coordinates-lan",
        commands: &[COORDINATES_LAN],
        default: true,
    },
    Run {
        id: "idle-bytes",
        commands: &IDLE,
        default: true,
    },
    Run {
        id: "topology",
        commands: &["cargo test --release -p gossip-sim --test scenario_topology -- --nocapture"],
        default: true,
    },
    Run {
        id: "topology-sweep",
        commands: &[
            "cargo test --release -p gossip-sim --test scenario_topology -- --ignored --nocapture",
        ],
        default: false,
    },
    Run {
        id: "measured-8",
        commands: &[
            "cargo test -p gossip-sim --test membership_failure_detection -- --nocapture",
            "cargo test -p gossip-sim --test membership_partition -- --nocapture",
            HEAL_8,
        ],
        default: true,
    },
    Run {
        id: "join-10",
        commands: &[
            "cargo test --release -p gossip-sim --test sweep_join -- --ignored --nocapture",
        ],
        default: true,
    },
    Run {
        id: "bandwidth",
        commands: &[],
        default: true,
    },
    Run {
        id: "bandwidth-large",
        commands: &[],
        default: false,
    },
    Run {
        id: "broadcast-rounds",
        commands: &[ROUNDS],
        default: false,
    },
    Run {
        id: "broadcast-lan",
        commands: &[LAN],
        default: true,
    },
    Run {
        id: "broadcast-lan-loss",
        commands: &[LAN_LOSS],
        default: false,
    },
    Run {
        id: "pull-cost",
        commands: &PULL_COST,
        default: true,
    },
    Run {
        id: "broadcast-suite",
        commands: &[],
        default: true,
    },
    Run {
        id: "broadcast-loss",
        commands: &[],
        default: false,
    },
    Run {
        id: "demers",
        commands: &[
            "cargo test --release -p gossip-sim --test scenario_broadcast -- --ignored sweep_feedback --nocapture",
        ],
        default: false,
    },
    Run {
        id: "lifeguard",
        commands: &[
            "cargo test --release -p gossip-sim --test scenario_slow_members -- --ignored across_seeds --nocapture",
        ],
        default: false,
    },
    Run {
        id: "cut-off",
        commands: &[],
        default: true,
    },
    Run {
        id: "state-sweep",
        commands: &[],
        default: false,
    },
    Run {
        id: "suite-join",
        commands: &[],
        default: false,
    },
    Run {
        id: "suite-crash",
        commands: &[],
        default: false,
    },
    Run {
        id: "suite-lossy",
        commands: &[],
        default: false,
    },
    Run {
        id: "suite-partition",
        commands: &[],
        default: false,
    },
    Run {
        id: "stale-failures",
        commands: &[],
        default: true,
    },
    Run {
        id: "churn",
        commands: &[],
        default: false,
    },
    Run {
        id: "sparse",
        commands: &[SPARSE],
        default: false,
    },
];

const CLI: &str = "--nodes 1000 --loss 0.05 --kill 10 --duration 300 --seed 7";
const PLOT: &str = "--nodes 1000 --loss 0.05 --kill 10 --partition 0.3 --partition-at 120s \
                    --partition-for 60s --duration 300 --seed 7 --svg docs/simulate.svg";
const FIVE_DC: &str = "--scenario tests/scenarios/five_datacenters.toml";
const FIVE_DC_NEARBY: &str = "--nodes 250 --preset wan --geometry five_datacenters --jitter 0ms \
                              --duration 22m --broadcasts 20 --broadcast-at 20m \
                              --broadcast-every 5s --broadcast-size 256 --seed 1 \
                              --peer-selection nearby";
const COORDINATES_LAN: &str =
    "--nodes 100 --preset lan --geometry five_datacenters --jitter 0ms --duration 5m";
const IDLE: [&str; 4] = [
    "--nodes 100 --preset lan",
    "--nodes 100 --preset lan --coordinates off",
    "--nodes 100 --preset wan",
    "--nodes 100 --preset wan --coordinates off",
];
const HEAL_8: &str = "--nodes 8 --start join --partition 0.5 --partition-at 10s --duration 200";
const ROUNDS: &str = "--nodes 10000 --rounds --compare-modes --broadcasts 5 --duration 40 \
                      --svg docs/broadcast_modes.svg";
const LAN: &str = "--compare-modes --nodes 1000 --broadcasts 5 --broadcast-every 1s --duration 60";
const LAN_LOSS: &str =
    "--compare-modes --nodes 1000 --broadcasts 5 --broadcast-every 1s --duration 60 --loss 0.2";
const PULL_COST: [&str; 2] = [
    "--nodes 1000 --loss 0.01 --duration 60",
    "--nodes 1000 --loss 0.01 --duration 60 --mode push",
];
const SPARSE: &str = "--nodes 100000 --start sparse:32 --duration 60 --kill 100";

// ---------------------------------------------------------------------------
// The README's own consistency: cheap, no run.

/// Every marker names a run of [`RUNS`], every run is quoted, and every
/// command of a run is in the README as written.
#[test]
fn every_quote_names_a_run_and_every_run_is_quoted_with_its_command() {
    let text = std::fs::read_to_string(quote::readme_path()).unwrap();
    let markers = quote::markers(&text).unwrap_or_else(|e| panic!("{e}"));
    for marker in &markers {
        assert!(
            RUNS.iter().any(|r| r.id == marker.run),
            "README.md:{}: {} is no run of tests/readme.rs",
            marker.line,
            marker.id()
        );
    }
    // Commands wrap with a backslash in shell blocks and anywhere in prose.
    let flat = text
        .replace("\\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for run in RUNS {
        assert!(
            markers.iter().any(|m| m.run == run.id),
            "README.md quotes nothing of {}",
            run.id
        );
        for command in run.commands {
            let command = command.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(&command),
                "README.md does not give the command of {}: {command}",
                run.id
            );
        }
    }
    let ignored = RUNS.iter().filter(|r| !r.default).count();
    println!(
        "{} markers of {} runs, {ignored} of them long (ignored by default)",
        markers.len(),
        RUNS.len()
    );
}

/// Every `simulate` command the README gives (in a shell block, or inline
/// as `simulate …` or `cargo run … --bin simulate -- …`) describes a
/// scenario that runs: `--dry-run` checks its flags and files without
/// running it.
#[test]
fn every_simulate_command_in_the_readme_is_valid() {
    let text = std::fs::read_to_string(quote::readme_path()).unwrap();
    let flat = text.replace("\\\n", " ");
    let mut commands = Vec::new();
    for (prefix, ends) in [
        ("--bin simulate -- ", &['`', '#', '\n'][..]),
        ("`simulate ", &['`'][..]),
    ] {
        for (at, _) in flat.match_indices(prefix) {
            let rest = &flat[at + prefix.len()..];
            let args = &rest[..rest.find(ends).unwrap_or(rest.len())];
            let args = args.split_whitespace().collect::<Vec<_>>().join(" ");
            if !args.contains('<') {
                commands.push(args);
            }
        }
    }
    assert!(commands.len() >= 20, "found only {commands:?}");
    println!("{} commands: {commands:#?}", commands.len());
    let failed: Vec<String> = commands
        .iter()
        .filter(|args| {
            let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
                .args(args.split_whitespace())
                .arg("--dry-run")
                .current_dir(root())
                .output()
                .expect("the simulate binary runs");
            !output.status.success()
        })
        .cloned()
        .collect();
    assert!(
        failed.is_empty(),
        "these README commands cannot run: {failed:#?}"
    );
}

// ---------------------------------------------------------------------------
// Helpers.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_path_buf()
}

/// `simulate ARGS` from the repository's root (as the README runs it), its
/// standard output.
fn simulate(args: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args.split_whitespace())
        .current_dir(root())
        .output()
        .expect("the simulate binary runs");
    assert!(
        output.status.success(),
        "simulate {args}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `args` with the path after `--svg` replaced by one in a scratch
/// directory: the run's plot, and the arguments that write it there.
fn svg_elsewhere(args: &str, name: &str) -> (String, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut words: Vec<String> = args.split_whitespace().map(String::from).collect();
    let at = words.iter().position(|w| w == "--svg").expect("--svg") + 1;
    words[at] = path.display().to_string();
    (words.join(" "), path)
}

/// What follows the name of the report line that starts with `name`.
fn field<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no line {name:?} in\n{report}"))
        .trim()
}

/// The numbers in `text`, in order (`1,234` is one number).
fn numbers(text: &str) -> Vec<f64> {
    let mut found = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let continues = |next: Option<&char>| next.is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || (!current.is_empty() && c == '.' && continues(chars.peek())) {
            current.push(c);
        } else if !current.is_empty() && c == ',' && continues(chars.peek()) {
        } else if !current.is_empty() {
            found.push(current.parse().unwrap());
            current.clear();
        }
    }
    if !current.is_empty() {
        found.push(current.parse().unwrap());
    }
    found
}

/// The numbers of the report line `name`.
fn figures(report: &str, name: &str) -> Vec<f64> {
    numbers(field(report, name))
}

/// The lines of `report` from the line `from` to the line before `to` (or
/// the end).
fn section(report: &str, from: &str, to: &str) -> String {
    let mut lines = report.lines().skip_while(|l| *l != from);
    let mut text = String::new();
    for line in lines.by_ref().take_while(|l| *l != to) {
        text += line;
        text.push('\n');
    }
    text
}

/// The rows of a `--compare-modes` table: mode, then its numbers.
fn modes_table(table: &str) -> Vec<(String, Vec<f64>)> {
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter(|l| !l.starts_with("mode") && !l.starts_with("---"))
        .map(|l| {
            let (mode, rest) = l.split_once(" |").unwrap();
            (mode.replace('-', ""), numbers(rest))
        })
        .collect()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

// ---------------------------------------------------------------------------
// The default checks: each a few seconds at most in the test profile.

/// The second demo: its whole output, and when the halves met after the heal.
#[test]
fn virtual_cluster() {
    let run = gossip_sim::demo::virtual_cluster();
    Quotes::new("virtual-cluster")
        .block("", run.output)
        .figure("met", run.met_after_heal_s.expect("the halves met"))
        .settle();
}

/// The CLI's sample report.
#[test]
fn cli() {
    let report = simulate(CLI);
    Quotes::new("cli")
        .figure("detection", figures(&report, "first detection")[0])
        .block("", report)
        .wall_clock("setup / total")
        .settle();
}

/// The five datacentres, uniform partners: the sample's traffic and
/// coordinates, and the bytes between datacentres over the whole run.
#[test]
fn five_datacenters() {
    let report = simulate(FIVE_DC);
    let cross = figures(&report, "between 5 datacentres");
    Quotes::new("five-dc")
        .block("", section(&report, "traffic", "broadcasts"))
        .figure("share", cross[0])
        .figure("mb", cross[1] / 1e6)
        .settle();
}

/// The same with near-first partners, by flags.
#[test]
fn five_datacenters_nearby() {
    let report = simulate(FIVE_DC_NEARBY);
    let cross = figures(&report, "between 5 datacentres");
    Quotes::new("five-dc-nearby")
        .figure("share", cross[0])
        .figure("mb", cross[1] / 1e6)
        .settle();
}

/// Coordinates after 5 minutes with lan's 1 s probes.
#[test]
fn coordinates_with_lan_timings() {
    let report = simulate(COORDINATES_LAN);
    Quotes::new("coordinates-lan")
        .figure("median", figures(&report, "median relative error")[0])
        .settle();
}

/// Idle bytes per node per second with and without coordinates.
#[test]
fn idle_bytes_with_and_without_coordinates() {
    let mut quotes = Quotes::new("idle-bytes");
    for (name, args) in ["lan", "lan_off", "wan", "wan_off"].into_iter().zip(IDLE) {
        quotes.figure(name, figures(&simulate(args), "per node per second")[0]);
    }
    quotes.settle();
}

/// The topology tables, seed 1: coordinates over time, and near-first
/// against uniform partners.
#[test]
fn topology() {
    let minutes = [5, 10, 15, 20, 30];
    let (coordinates, (uniform, nearby)) = std::thread::scope(|s| {
        let partners = s.spawn(|| {
            (
                suite::near_partners(PeerSelection::Uniform, 1),
                suite::near_partners(PeerSelection::NEARBY, 1),
            )
        });
        let coordinates = suite::coordinates_over_time(1, &minutes);
        (coordinates, partners.join().unwrap())
    });
    let mut q = Quotes::new("topology");
    for (m, p) in minutes.iter().zip(&coordinates) {
        q.figure(&format!("median_{m}"), p.median * 100.0);
        q.figure(&format!("ranked_{m}"), p.inside_ranked_nearest * 100.0);
    }
    let settled = &coordinates[minutes.len() - 1];
    q.figure("between", settled.median_between * 100.0)
        .figure("inside", settled.median_inside * 100.0)
        // The round trip inside a datacentre is 1 ms.
        .figure("inside_ms", settled.median_inside)
        .figure("estimate", settled.mean_error_estimate);
    for (name, r) in [("uniform", &uniform), ("nearby", &nearby)] {
        q.figure(&format!("{name}_cross_mb"), mb(r.cross_bytes))
            .figure(&format!("{name}_mb"), mb(r.bytes))
            .figure(
                &format!("{name}_share"),
                100.0 * r.cross_bytes as f64 / r.bytes as f64,
            )
            .figure(&format!("{name}_rounds"), r.mean_rounds)
            .figure(&format!("{name}_slowest"), r.max_rounds)
            .figure(&format!("{name}_crash"), r.crash_known_by_all.as_secs_f64());
    }
    q.figure(
        "cut",
        uniform.cross_bytes as f64 / nearby.cross_bytes as f64,
    )
    .settle();
}

/// The "Measured" table's eight-node rows.
#[test]
fn eight_nodes() {
    let (sim, crash_at) = suite::eight_nodes_one_crash(common::seed(11));
    let crash = suite::all_declared_failed_after(&sim, crash_at);
    let mut split = suite::eight_nodes_split(common::seed(51));
    let heal = suite::heal_until_converged(&mut split).expect("converged after the heal");
    // The CLI's partition heals at 10 s + 60 s.
    let heals: Vec<f64> = (1..=6)
        .map(|seed| {
            figures(
                &simulate(&format!("{HEAL_8} --seed {seed}")),
                "full membership at the end",
            )[0] - 70.0
        })
        .collect();
    Quotes::new("measured-8")
        .figure("crash", crash.as_secs_f64())
        .figure("heal", heal.as_secs_f64())
        .figure(
            "heal_min",
            heals.iter().copied().fold(f64::INFINITY, f64::min),
        )
        .figure("heal_max", heals.iter().copied().fold(0.0, f64::max))
        .settle();
}

/// Ten nodes joining through one, 100 seeds at each loss rate.
#[test]
fn ten_nodes_join() {
    let mut q = Quotes::new("join-10");
    for loss in [0, 10, 20] {
        let mut times: Vec<f64> = (0..100)
            .map(|seed| suite::ten_nodes_join(seed, f64::from(loss) / 100.0))
            .collect();
        times.sort_by(f64::total_cmp);
        // A join that did not complete within 120 s counts as infinite.
        let joined: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
        q.figure(&format!("median_{loss}"), times[50])
            .figure(&format!("p90_{loss}"), times[90])
            .figure(&format!("max_{loss}"), max(&joined))
            .figure(&format!("late_{loss}"), (times.len() - joined.len()) as f64);
    }
    q.settle();
}

/// Bytes per node per second at 100 nodes.
#[test]
fn bandwidth() {
    let small = suite::bandwidth(100).run(None).traffic.bytes_per_node_per_s;
    Quotes::new("bandwidth").figure("small", small).settle();
}

/// The LAN broadcast table without loss.
#[test]
fn broadcasts_on_a_lan() {
    let mut q = Quotes::new("broadcast-lan");
    for (mode, row) in modes_table(&simulate(LAN)) {
        q.figure(&format!("{mode}_mean"), row[0])
            .figure(&format!("{mode}_max"), row[1])
            .figure(&format!("{mode}_copies"), row[2]);
    }
    q.settle();
}

/// What pulls cost when nothing happens: push-pull against push.
#[test]
fn pull_cost() {
    let [push_pull, push] =
        PULL_COST.map(|args| figures(&simulate(args), "per node per second")[0]);
    Quotes::new("pull-cost")
        .figure("pushpull", push_pull)
        .figure("push", push)
        .settle();
}

/// The scenario suite's single-seed broadcast rows.
#[test]
fn broadcast_suite() {
    let run = |scenario: gossip_sim::Scenario, seed: u64| {
        let mut scenario = scenario;
        scenario.seed = seed;
        scenario.run(None)
    };
    let (duplicated, partitioned) = std::thread::scope(|s| {
        let duplicated = s.spawn(|| run(suite::duplicated_broadcasts(), 4));
        let partitioned = run(suite::partitioned_broadcasts(), 5);
        (duplicated.join().unwrap(), partitioned)
    });
    let late = suite::late_joiner(6).expect("the late joiner got it");
    let b = &duplicated.broadcasts;
    let p = partitioned.broadcasts.all_reached_s.expect("reached all");
    Quotes::new("broadcast-suite")
        .figure("duplicates", b.duplicates as f64)
        .figure("reached", b.reached_all as f64)
        .figure("count", b.count as f64)
        .figure(
            "partition_reached",
            partitioned.broadcasts.reached_all as f64,
        )
        .figure("partition_max", p.max)
        .figure("late", late.as_secs_f64())
        .settle();
}

/// Anti-entropy alone repairs a replica the rumors missed, seeds 1 to 8.
#[test]
fn cut_off_replica() {
    let times: Vec<f64> = (1..=8)
        .map(|seed| {
            let mut scenario = suite::cut_off_during_writes(None);
            scenario.seed = seed;
            let report = scenario.run(None);
            report.state.time_to_converge_s.expect("converged")
        })
        .collect();
    Quotes::new("cut-off")
        .figure("min", times.iter().copied().fold(f64::INFINITY, f64::min))
        .figure("max", times.iter().copied().fold(0.0, f64::max))
        .settle();
}

// ---------------------------------------------------------------------------
// The long checks: `--ignored`, each with its cost in the test profile here
// (2 cores; release is a little faster).

/// The plot under the CLI section and its story. About 40 s.
#[test]
#[ignore = "1,000 nodes with a partition for 300 s: about 40 s"]
fn plot() {
    let (args, svg) = svg_elsewhere(PLOT, "simulate.svg");
    let csv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme/plot");
    let report = simulate(&format!("{args} --csv {}", csv.display()));
    let series = std::fs::read_to_string(csv.join("series.csv")).unwrap();
    // Heal at 120 s + 60 s.
    let heal = 180.0;
    let row = series
        .lines()
        .skip(1)
        .map(|row| {
            row.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect::<Vec<f64>>()
        })
        .find(|row| row[0] == heal + 6.0)
        .expect("a sample 6 s after the heal");
    let (running, full) = (row[1], row[2]);
    let false_alarms = figures(&report, "live nodes reported failed");
    Quotes::new("plot")
        .figure("all_know", figures(&report, "all live nodes know")[1])
        .figure("full_after_6", 100.0 * full / running)
        .figure(
            "last",
            figures(&report, "full membership at the end")[0] - heal,
        )
        .figure("false_alarms", false_alarms[0])
        .figure("false_alarm_nodes", false_alarms[1])
        .figure(
            "after_heal",
            figures(&report, "failed after a heal (suspected while cut off)")[0],
        )
        .file("docs/simulate.svg", std::fs::read(svg).unwrap())
        .settle();
}

/// The LAN broadcast table at 20% loss. About 2 minutes.
#[test]
#[ignore = "three runs of 1,000 nodes at 20% loss: about 2 minutes"]
fn broadcasts_on_a_lossy_lan() {
    let mut q = Quotes::new("broadcast-lan-loss");
    for (mode, row) in modes_table(&simulate(LAN_LOSS)) {
        q.figure(&format!("{mode}_mean"), row[0])
            .figure(&format!("{mode}_max"), row[1])
            .figure(&format!("{mode}_copies"), row[2]);
    }
    q.settle();
}

/// Broadcasts in synchronous rounds among 10,000 nodes, and their plot.
#[test]
#[ignore = "three runs of 10,000 nodes: 8.5 GB and several minutes"]
fn broadcasts_in_rounds() {
    let (args, svg) = svg_elsewhere(ROUNDS, "broadcast_modes.svg");
    let mut q = Quotes::new("broadcast-rounds");
    for (mode, row) in modes_table(&simulate(&args)) {
        q.figure(&format!("{mode}_mean"), row[0])
            .figure(&format!("{mode}_max"), row[1])
            .figure(&format!("{mode}_copies"), row[2])
            .figure(&format!("{mode}_residue"), row[3]);
    }
    q.file("docs/broadcast_modes.svg", std::fs::read(svg).unwrap())
        .settle();
}

/// Bytes per node per second at 100 and 10,000 nodes.
#[test]
#[ignore = "10,000 nodes: 8.5 GB and a minute or two"]
fn bandwidth_at_ten_thousand_nodes() {
    let small = suite::bandwidth(100).run(None).traffic.bytes_per_node_per_s;
    let large = suite::bandwidth(10_000)
        .run(None)
        .traffic
        .bytes_per_node_per_s;
    Quotes::new("bandwidth-large")
        .figure("large", large)
        .figure("ratio", small.max(large) / small.min(large))
        .settle();
}

/// The Lifeguard table: 20 seeds of 1,000 nodes for 300 s, each with and
/// without Lifeguard.
#[test]
#[ignore = "40 runs of 1,000 nodes for 300 s: about 30 minutes in release on 2 cores"]
fn lifeguard() {
    let seeds: Vec<u64> = common::sweep_seeds().collect();
    let results = suite::compare_lifeguard(suite::SLOW_FULL, &seeds);
    let sum = |f: fn(&suite::SlowOutcome) -> f64, lifeguard: bool| -> f64 {
        results
            .iter()
            .map(|r| f(if lifeguard { &r.1 } else { &r.2 }))
            .sum()
    };
    let median = |lifeguard: bool| {
        suite::median(
            results
                .iter()
                .map(|r| if lifeguard { r.1 } else { r.2 }.median_all_know_s)
                .collect(),
        )
    };
    let mut q = Quotes::new("lifeguard");
    for (name, lifeguard) in [("with", true), ("without", false)] {
        q.figure(
            &format!("{name}_healthy"),
            sum(|o| o.false_alarms_about_healthy as f64, lifeguard),
        )
        .figure(
            &format!("{name}_slow"),
            sum(|o| o.false_alarms_about_slow as f64, lifeguard),
        )
        .figure(
            &format!("{name}_suspicions"),
            sum(|o| o.suspicions as f64, lifeguard) / 1e6,
        )
        .figure(&format!("{name}_all_know"), median(lifeguard));
    }
    q.settle();
}

/// Demers et al.'s Table 1: 100 seeds of 20 broadcasts for each k.
#[test]
#[ignore = "100 seeds for each of 5 k: several minutes"]
fn demers_table_1() {
    let mut q = Quotes::new("demers");
    let (mut residue_off, mut traffic_off) = (0.0f64, 0.0f64);
    for (k, paper_s, paper_m) in suite::DEMERS_TABLE_1 {
        let (s, m) = suite::feedback_counter(k, 100);
        println!("k = {k}: s = {s:.4}, m = {m:.2}");
        q.figure(&format!("s{k}"), s).figure(&format!("m{k}"), m);
        residue_off = residue_off.max((s / paper_s - 1.0).abs() * 100.0);
        traffic_off = traffic_off.max((m / paper_m - 1.0).abs() * 100.0);
    }
    // "Within N%": the largest deviation, rounded up.
    q.figure("residue_within", residue_off.ceil())
        .figure("traffic_within", traffic_off.ceil())
        .settle();
}

/// Pushes that give up early under 20% loss, with and without pulls (seed 3).
#[test]
#[ignore = "three runs of 500 nodes at 20% loss: about a minute"]
fn broadcasts_under_loss() {
    let run = |mode, termination| {
        let mut scenario = suite::lossy_broadcasts(500, Duration::from_secs(60), mode, termination);
        scenario.seed = 3;
        scenario.run(None).broadcasts
    };
    let pushed = run(Mode::Push, "feedback:1");
    let recovered = run(Mode::PushPull, "feedback:1");
    let default = run(Mode::PushPull, "limit");
    Quotes::new("broadcast-loss")
        .figure("residue", pushed.residue * 100.0)
        .figure(
            "recovered",
            recovered.all_reached_s.expect("reached all").max,
        )
        .figure("limit", default.all_reached_s.expect("reached all").max)
        .settle();
}

/// The topology sweep: 20 seeds of the coordinates and partners runs.
#[test]
#[ignore = "20 seeds of three runs over five datacentres: a minute or two"]
fn topology_sweep() {
    let (mut medians, mut inside, mut ranked, mut cuts, mut slowest) =
        (vec![], vec![], vec![], vec![], vec![]);
    for seed in common::sweep_seeds() {
        let p = suite::coordinates_over_time(seed, &[30]).remove(0);
        medians.push(p.median * 100.0);
        inside.push(p.median_inside * 100.0);
        ranked.push(p.inside_ranked_nearest * 100.0);
        let uniform = suite::near_partners(PeerSelection::Uniform, seed);
        let nearby = suite::near_partners(PeerSelection::NEARBY, seed);
        cuts.push(uniform.cross_bytes as f64 / nearby.cross_bytes as f64);
        slowest.push(nearby.max_rounds / uniform.max_rounds);
        println!("seed {seed}: {p:?}, cut {:.2}×", cuts[cuts.len() - 1]);
    }
    let mut q = Quotes::new("topology-sweep");
    for (name, values) in [
        ("median", &medians),
        ("inside", &inside),
        ("cut", &cuts),
        ("slowest", &slowest),
    ] {
        q.figure(&format!("{name}_min"), min(values))
            .figure(&format!("{name}_max"), max(values));
    }
    q.figure("ranked_min", min(&ranked)).settle();
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// Runs `scenario` on every sweep seed, two at a time.
fn sweep(scenario: fn() -> gossip_sim::Scenario) -> Vec<gossip_sim::Report> {
    let seeds: Vec<u64> = common::sweep_seeds().collect();
    common::two_seeds_at_a_time(&seeds, |seed| {
        let mut scenario = scenario();
        scenario.seed = seed;
        scenario.run(None)
    })
}

/// The scenario suite: 1,000 nodes joining through one seed, 20 seeds.
#[test]
#[ignore = "20 seeds of 1,000 nodes joining: a few minutes"]
fn suite_join() {
    let full: Vec<f64> = sweep(|| suite::join_through_one(1_000))
        .iter()
        .map(|r| r.membership.first_full_s.expect("full membership"))
        .collect();
    Quotes::new("suite-join")
        .figure("min", min(&full))
        .figure("max", max(&full))
        .settle();
}

/// The scenario suite: 10 of 1,000 nodes crash, 20 seeds.
#[test]
#[ignore = "20 seeds of 1,000 nodes for 60 s: a few minutes"]
fn suite_crash() {
    let reports = sweep(|| suite::crash_detection(1_000));
    let detection: Vec<f64> = reports
        .iter()
        .map(|r| r.failures.detection_s.expect("detected").mean)
        .collect();
    let all_know: Vec<f64> = reports
        .iter()
        .map(|r| r.failures.all_know_s.expect("known by all").max)
        .collect();
    let false_alarms: usize = reports.iter().map(|r| r.false_positives.count).sum();
    Quotes::new("suite-crash")
        .figure("expected", reports[0].failures.expected_detection_s)
        .figure("bound", reports[0].failures.suspicion_timeout_s + 10.0)
        .figure("detection_min", min(&detection))
        .figure("detection_max", max(&detection))
        .figure("all_know_max", max(&all_know))
        .figure("false_alarms", false_alarms as f64)
        .settle();
}

/// The scenario suite: 1,000 nodes at 10% loss for 300 s, 20 seeds.
#[test]
#[ignore = "20 seeds of 1,000 nodes at 10% loss for 300 s: half an hour or more"]
fn suite_lossy() {
    let reports = sweep(|| suite::lossy_network(1_000));
    let suspicions: Vec<f64> = reports
        .iter()
        .map(|r| r.false_positives.suspicions as f64)
        .collect();
    let false_alarms: usize = reports.iter().map(|r| r.false_positives.count).sum();
    Quotes::new("suite-lossy")
        .figure("false_alarms", false_alarms as f64)
        .figure("suspicions_min", min(&suspicions))
        .figure("suspicions_max", max(&suspicions))
        .settle();
}

/// The scenario suite: a 50/50 partition of 1,000 nodes for 60 s, 20 seeds.
#[test]
#[ignore = "20 seeds of 1,000 nodes for 170 s: several minutes"]
fn suite_partition() {
    let reports = sweep(|| suite::partition(1_000));
    let (seen, rejoined): (Vec<f64>, Vec<f64>) = reports
        .iter()
        .map(|r| {
            let (seen, rejoined) = suite::partition_figures(r);
            (seen.expect("the split seen"), rejoined.expect("rejoined"))
        })
        .unzip();
    Quotes::new("suite-partition")
        .figure("min", min(&rejoined))
        .figure("max", max(&rejoined))
        .figure("median", suite::median(rejoined))
        .figure("split_seen", suite::median(seen))
        .settle();
}

/// The scenario suite: stale failure rumors after a heal (seed 3).
#[test]
fn stale_failures() {
    let mut scenario = suite::stale_failures();
    scenario.seed = 3;
    let report = scenario.run(None);
    Quotes::new("stale-failures")
        .figure("false_alarms", report.false_positives.count as f64)
        .figure(
            "after_heal",
            report.false_positives.declared_after_heal as f64,
        )
        .settle();
}

/// The scenario suite: churn, instant restarts (seed 5) and 10 s down (seed 6).
#[test]
#[ignore = "two runs of 500 nodes for 12 minutes: a minute or two"]
fn churn() {
    let settled = |downtime: u64, seed: u64| {
        let mut scenario = suite::churn(500, Duration::from_secs(downtime));
        scenario.seed = seed;
        scenario.run(None).membership.full_since_s.expect("settled")
    };
    Quotes::new("churn")
        .figure("instant", settled(0, 5))
        .figure("down", settled(10, 6))
        .settle();
}

/// Issue 6's write load, 20 seeds: convergence, claims and traffic.
#[test]
#[ignore = "20 seeds of 200 nodes writing 10,000 times: about 10 minutes"]
fn state_sweep() {
    let reports = sweep(|| suite::issue_6(200));
    let states: Vec<&gossip_sim::StateReport> = reports.iter().map(|r| &r.state).collect();
    let converged: Vec<f64> = states
        .iter()
        .map(|s| s.time_to_converge_s.expect("converged"))
        .collect();
    let lag_medians: Vec<f64> = states
        .iter()
        .map(|s| s.claims.lag_median_s.expect("claimed"))
        .collect();
    let lag_max = max(&states
        .iter()
        .map(|s| s.claims.lag_max_s.expect("claimed"))
        .collect::<Vec<_>>());
    let premature: Vec<f64> = states
        .iter()
        .map(|s| s.claims.premature as f64)
        .filter(|&p| p > 0.0)
        .collect();
    let mean = |f: fn(&gossip_sim::StateReport) -> f64| {
        states.iter().map(|s| f(s)).sum::<f64>() / states.len() as f64
    };
    let lost: usize = states.iter().map(|s| s.check.lost_writes).sum();
    let resurrected: usize = states.iter().map(|s| s.check.resurrected_deletes).sum();
    let mut q = Quotes::new("state-sweep");
    q.figure("min", min(&converged))
        .figure("max", max(&converged))
        .figure("lost", lost as f64)
        .figure("resurrected", resurrected as f64)
        .figure("lag_min", min(&lag_medians))
        .figure("lag_max", max(&lag_medians))
        .figure("lag_most", lag_max)
        .figure("premature_seeds", premature.len() as f64)
        .figure(
            "key_entry_kb",
            mean(|s| s.key_entry.bytes_per_node_per_s) / 1e3,
        )
        .figure(
            "sync_kb",
            mean(|s| s.sync_hashes.bytes_per_node_per_s + s.sync_entries.bytes_per_node_per_s)
                / 1e3,
        );
    q.figure(
        "premature_max",
        premature.iter().copied().fold(0.0, f64::max),
    )
    .settle();
}

/// 100,000 nodes with sparse views: detection takes longer.
#[test]
#[ignore = "100,000 nodes: about a minute and 900 MB"]
fn sparse_views() {
    let report = simulate(SPARSE);
    Quotes::new("sparse")
        .figure("detection", figures(&report, "first detection")[0])
        .settle();
}
