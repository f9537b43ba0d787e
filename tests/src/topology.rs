//! How well network coordinates predict a geometry's round trips.

use serde::Serialize;

use crate::report::Summary;
use crate::simulation::Simulation;

/// Relative errors of the round trips the running nodes' coordinates predict
/// ([`Node::estimated_rtt`](gossip_core::Node::estimated_rtt)), against the
/// geometry's true round trips, over every ordered pair of running nodes.
/// The relative error of a pair is `|predicted − true| / true`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RttPrediction {
    /// Ordered pairs whose prediction exists.
    pub pairs: usize,
    /// Ordered pairs without a prediction (the member's coordinate unknown).
    pub unknown: usize,
    /// Median relative error over all pairs.
    pub median: f64,
    /// 90th percentile of the relative error.
    pub p90: f64,
    /// Median relative error of pairs inside one datacentre (0 if none).
    pub median_inside: f64,
    /// Median relative error of pairs in different datacentres (0 if none).
    pub median_between: f64,
    /// Share of the pairs inside a datacentre predicted nearer than every
    /// pair from the same node to another datacentre: whether coordinates
    /// rank members right, which is what choosing near partners needs.
    pub inside_ranked_nearest: f64,
    /// The running nodes' mean error estimate of their own coordinates.
    pub mean_error_estimate: f64,
}

impl RttPrediction {
    /// Measures `sim` now; `None` without a geometry.
    pub fn measure(sim: &Simulation) -> Option<RttPrediction> {
        let geometry = sim.geometry()?;
        let running: Vec<_> = sim.running().collect();
        let (mut inside, mut between, mut unknown) = (Vec::new(), Vec::new(), 0);
        let (mut inside_pairs, mut ranked_nearest) = (0usize, 0usize);
        let mut error_estimates = 0.0;
        for &from in &running {
            let node = sim.node(from).expect("running");
            error_estimates += node.coordinate().map_or(f64::NAN, |c| c.error());
            let mut inside_predictions = Vec::new();
            let mut nearest_between = f64::INFINITY;
            for &to in running.iter().filter(|&&to| to != from) {
                let Some(predicted) = node.estimated_rtt(&Simulation::name(to)) else {
                    unknown += 1;
                    continue;
                };
                let (predicted, truth) = (
                    predicted.as_secs_f64(),
                    geometry.rtt(from, to).as_secs_f64(),
                );
                let error = (predicted - truth).abs() / truth;
                if geometry.crosses(from, to) {
                    between.push(error);
                    nearest_between = nearest_between.min(predicted);
                } else {
                    inside.push(error);
                    inside_predictions.push(predicted);
                }
            }
            inside_pairs += inside_predictions.len();
            ranked_nearest += inside_predictions
                .iter()
                .filter(|&&p| p < nearest_between)
                .count();
        }
        let inside_ranked_nearest = ranked_nearest as f64 / inside_pairs.max(1) as f64;
        // No pairs at all: `pairs` is 0, which callers filter out.
        let all = Summary::of(inside.iter().chain(&between).copied().collect()).unwrap_or_default();
        Some(RttPrediction {
            pairs: all.count,
            unknown,
            median: all.median,
            p90: all.p90,
            median_inside: Summary::of(inside).map_or(0.0, |s| s.median),
            median_between: Summary::of(between).map_or(0.0, |s| s.median),
            inside_ranked_nearest,
            mean_error_estimate: error_estimates / running.len().max(1) as f64,
        })
    }
}
