//! SVG plots of a report: membership over simulated time, and the infection
//! curve of each crash (how fast the news of a failure reached the cluster);
//! and of several runs side by side: how their broadcasts spread.
//!
//! Text needs no font: without plotters' `ttf` and `ab_glyph` features, layout
//! estimates a label's width from its length (0.7 em a character) and the SVG
//! backend writes `<text font-family="sans-serif">` elements that the viewer
//! sets in its own font. No system library or font file is read at build or
//! run time; labels may sit a little off where the viewer's font is wider or
//! narrower than the estimate.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::{Infection, Report};
use crate::scenario::Fault;
use crate::units::format_duration;

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 440;
const TITLE_HEIGHT: u32 = 40;
/// Font sizes as plotters takes them; it writes them divided by 1.24 (16 is
/// a 13 px label).
const TICK_FONT: u32 = 16;
const AXIS_FONT: u32 = 18;
const FONT: &str = "sans-serif";

/// Colours of the Tableau 10 palette, which stays legible in print and for
/// the common forms of colour blindness.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const RUNNING: RGBColor = RGBColor(90, 90, 90);
const MARKER: RGBColor = RGBColor(150, 150, 150);

/// More crashes than this share one legend entry.
const LEGEND_CRASHES: usize = 10;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `report` as an SVG document: running nodes and nodes with full
/// membership over simulated time (the mean live view instead, if views were
/// not tracked) and, if nodes crashed, the share of nodes that knew of each
/// crash against the seconds since it.
///
/// ```
/// let scenario = gossip_sim::Scenario::new(10, std::time::Duration::from_secs(5));
/// let svg = gossip_sim::plot::render_svg(&scenario.run(None)).unwrap();
/// assert!(svg.starts_with("<svg"));
/// ```
pub fn render_svg(report: &Report) -> Result<String, String> {
    // A crash that nobody counted live (or no crash at all) leaves no curve.
    let crashes = report.infections.iter().any(|i| !i.learned_s.is_empty());
    let panels = if crashes { 2 } else { 1 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, TITLE_HEIGHT + panels * PANEL_HEIGHT))
            .into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let body = root.titled(&title(report), (FONT, 28)).map_err(text)?;
        if crashes {
            let (top, bottom) = body.split_vertically(PANEL_HEIGHT);
            membership(&top, report)?;
            infections(&bottom, report)?;
        } else {
            membership(&body, report)?;
        }
        root.present().map_err(text)?;
    }
    Ok(svg)
}

/// Draws the mean infection curve of the broadcasts of each of `runs` (a label
/// and a report) on one panel: the share of nodes reached against rounds (or
/// seconds) since sending. The `simulate --compare-modes` plot.
///
/// ```
/// use gossip_sim::{BroadcastLoad, Scenario};
/// let mut scenario = Scenario::new(50, std::time::Duration::from_secs(20));
/// scenario.rounds = true;
/// scenario.broadcasts = Some(BroadcastLoad::default());
/// let report = scenario.run(None);
/// let svg = gossip_sim::plot::render_spread_svg(&[("push-pull", &report)]).unwrap();
/// assert!(svg.contains("push-pull"));
/// ```
pub fn render_spread_svg(runs: &[(&str, &Report)]) -> Result<String, String> {
    let Some(&(_, first)) = runs.first() else {
        return Err("nothing to draw".into());
    };
    let rounds = first.scenario.rounds;
    let last = runs
        .iter()
        .filter_map(|(_, r)| r.broadcasts.curve.iter().find(|p| p.reached >= 1.0))
        .map(|p| p.t)
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, TITLE_HEIGHT + PANEL_HEIGHT))
            .into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let s = &first.scenario;
        let heading = format!(
            "{} nodes, loss {}, {}",
            s.nodes,
            percent(s.network.loss),
            if rounds {
                "synchronous rounds"
            } else {
                "asynchronous gossip"
            }
        );
        let body = root.titled(&heading, (FONT, 28)).map_err(text)?;
        let mut chart = ChartBuilder::on(&body)
            .caption("how a broadcast spreads", (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..(last * 1.1).ceil(), 0.0..1.05)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(if rounds {
                "rounds since the broadcast"
            } else {
                "seconds since the broadcast"
            })
            .y_desc("nodes reached")
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| percent(*v))
            .light_line_style(WHITE.mix(0.0))
            .label_style((FONT, TICK_FONT))
            .axis_desc_style((FONT, AXIS_FONT))
            .draw()
            .map_err(text)?;
        for (i, (label, report)) in runs.iter().enumerate() {
            let points = report.broadcasts.curve.iter().map(|p| (p.t, p.reached));
            line(&mut chart, points, COLOURS[i % COLOURS.len()], label)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(text)?;
    }
    Ok(svg)
}

fn title(report: &Report) -> String {
    let s = &report.scenario;
    format!(
        "{} nodes, loss {}, seed {}, {} simulated",
        s.nodes,
        percent(s.network.loss),
        s.seed,
        format_duration(s.duration)
    )
}

/// Panel 1: who is running and who sees them all, over simulated time.
fn membership(area: &Area<'_>, report: &Report) -> Result<(), String> {
    let series = &report.series;
    let tracked = report.membership.tracked;
    let end = report.scenario.duration.as_secs_f64().max(1e-3);
    let top = series
        .iter()
        .map(|p| p.running as f64)
        .chain(series.iter().map(|p| p.mean_live_view))
        .fold(report.scenario.nodes as f64, f64::max)
        * 1.05;
    let caption = if tracked {
        "membership over time"
    } else {
        "membership over time (views not tracked: mean live view per node)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..end, 0.0..top)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("nodes")
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .light_line_style(WHITE.mix(0.0))
        .label_style((FONT, TICK_FONT))
        .axis_desc_style((FONT, AXIS_FONT))
        .draw()
        .map_err(text)?;
    fault_markers(&mut chart, report, top)?;

    line(
        &mut chart,
        series.iter().map(|p| (p.t, p.running as f64)),
        RUNNING,
        "running",
    )?;
    if tracked {
        let full = series.iter().map(|p| (p.t, p.full_membership as f64));
        line(&mut chart, full, COLOURS[0], "with full membership")?;
    } else {
        let view = series.iter().map(|p| (p.t, p.mean_live_view));
        line(&mut chart, view, COLOURS[1], "mean live view")?;
    }
    // The lines run along the top, dipping where faults strike.
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// Lines and bands where the scenario's faults struck, so that dips in the
/// curves can be read against their cause.
fn fault_markers(chart: &mut Chart<'_, '_>, report: &Report, top: f64) -> Result<(), String> {
    let marker = MARKER.stroke_width(1);
    let end = report.scenario.duration.as_secs_f64();
    for (i, fault) in report.scenario.faults.iter().enumerate() {
        let (at, label) = match *fault {
            Fault::Crash { count, at } => (at, format!("crash: {count} nodes")),
            Fault::Leave { count, at } => (at, format!("leave: {count} nodes")),
            Fault::Loss { loss, at } => (at, format!("loss {}", percent(loss))),
            Fault::Partition { at, lasting, .. } => {
                let (from, to) = (at.as_secs_f64(), (at + lasting).as_secs_f64().min(end));
                let band = Rectangle::new([(from, 0.0), (to, top)], MARKER.mix(0.15).filled());
                chart.draw_series(std::iter::once(band)).map_err(text)?;
                (at, "partition".to_string())
            }
            // Churn and slow spells recur too often to mark one by one.
            Fault::Churn { .. } | Fault::Slow { .. } => continue,
        };
        let x = at.as_secs_f64();
        if x > end {
            continue;
        }
        let rule = PathElement::new(vec![(x, 0.0), (x, top)], marker);
        chart.draw_series(std::iter::once(rule)).map_err(text)?;
        // Faults at the same moment stack their labels instead of overprinting.
        let y = top * (0.985 - 0.05 * (i % 4) as f64);
        let label = Text::new(
            format!(" {label}"),
            (x, y),
            (FONT, 16).into_font().color(&RUNNING),
        );
        chart.draw_series(std::iter::once(label)).map_err(text)?;
    }
    Ok(())
}

/// Panel 2: the infection curve of each crash's failure rumor.
fn infections(area: &Area<'_>, report: &Report) -> Result<(), String> {
    let expected = report.failures.expected_detection_s;
    let curves: Vec<Vec<(f64, f64)>> = report
        .infections
        .iter()
        .map(|infection| curve(infection, known_by_all(report, infection)))
        .collect();
    let last = curves
        .iter()
        .filter_map(|c| c.last())
        .map(|&(t, _)| t)
        .fold(expected, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("how each crash became known", (FONT, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..(last * 1.08).max(1.0), 0.0..1.05)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the crash")
        .y_desc("running nodes that know")
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| percent(*v))
        .light_line_style(WHITE.mix(0.0))
        .label_style((FONT, TICK_FONT))
        .axis_desc_style((FONT, AXIS_FONT))
        .draw()
        .map_err(text)?;

    let rule = DashedLineSeries::new(
        vec![(expected, 0.0), (expected, 1.05)],
        6,
        4,
        MARKER.stroke_width(1),
    );
    chart
        .draw_series(rule)
        .map_err(text)?
        .label(format!("expected detection, SWIM ({expected:.1} s)"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MARKER.stroke_width(1)));

    let many = curves.len() > LEGEND_CRASHES;
    for (i, (points, infection)) in curves.into_iter().zip(&report.infections).enumerate() {
        let colour = if many {
            COLOURS[0].mix(0.5)
        } else {
            COLOURS[i % COLOURS.len()].mix(1.0)
        };
        let series = chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(text)?;
        let label = match (many, i) {
            (false, _) => format!("n{}", infection.node),
            (true, 0) => format!("each of {} crashes", report.infections.len()),
            (true, _) => continue,
        };
        series.label(label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
        });
    }
    // Nobody knows before the detection: the curves start along the bottom.
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// How many running nodes had to learn of `infection`: those running just
/// after the crash (the crashed nodes no longer count).
fn known_by_all(report: &Report, infection: &Infection) -> usize {
    report
        .series
        .iter()
        .find(|p| p.t > infection.crashed_s)
        .map_or(report.membership.running_at_end, |p| p.running)
        .max(1)
}

/// Steps an infection curve is drawn with at most: a panel is about 370
/// pixels high, and thousands of one-node steps would only bloat the file.
const CURVE_STEPS: usize = 400;

/// The share of `all` nodes that knew, as a step curve over seconds since the
/// crash: flat until a node learns, then up (by one node, or by several once
/// the curve has more steps than [`CURVE_STEPS`]).
fn curve(infection: &Infection, all: usize) -> Vec<(f64, f64)> {
    let learned = &infection.learned_s;
    let stride = learned.len().div_ceil(CURVE_STEPS).max(1);
    let mut points = vec![(0.0, 0.0)];
    for (i, at) in learned.iter().enumerate() {
        if (i + 1) % stride != 0 && i + 1 != learned.len() {
            continue;
        }
        let t = at - infection.crashed_s;
        let before = points.last().map_or(0.0, |&(_, share)| share);
        let after = ((i + 1) as f64 / all as f64).min(1.0);
        points.push((t, before));
        points.push((t, after));
    }
    points
}

fn line(
    chart: &mut Chart<'_, '_>,
    points: impl Iterator<Item = (f64, f64)>,
    colour: RGBColor,
    label: &str,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(points, colour.stroke_width(2)))
        .map_err(text)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    Ok(())
}

fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 17))
        .background_style(WHITE.mix(0.85))
        .border_style(MARKER)
        .draw()
        .map_err(text)
}

/// A tick label: no more digits than the value has.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn percent(share: f64) -> String {
    format!("{}%", number(share * 100.0))
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn a_run_with_crashes_is_drawn_in_two_panels_with_text() {
        let mut scenario = Scenario::new(20, Duration::from_secs(20));
        scenario.faults.push(Fault::Crash {
            count: 2,
            at: Duration::from_secs(5),
        });
        let svg = render_svg(&scenario.run(None)).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("20 nodes, loss 0%, seed 0"));
        assert!(svg.contains("how each crash became known"));
        assert!(svg.contains("font-family=\"sans-serif\""));
    }

    #[test]
    fn a_run_without_crashes_has_only_the_membership_panel() {
        let svg = render_svg(&Scenario::new(5, Duration::from_secs(3)).run(None)).unwrap();
        assert!(svg.contains("membership over time"));
        assert!(!svg.contains("how each crash became known"));
    }
}
