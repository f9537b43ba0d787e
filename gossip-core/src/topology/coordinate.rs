//! A Vivaldi network coordinate: a point in a Euclidean space plus a height,
//! whose distances to other coordinates predict round-trip times.

use core::time::Duration;

use crate::wire::{COORDINATE_DIMENSIONS, CoordinateRecord};

/// Dimensions of the Euclidean part. Serf uses eight; fewer fit the wire in
/// fewer bytes but embed a non-Euclidean internet worse.
pub const DIMENSIONS: usize = COORDINATE_DIMENSIONS;

/// Below this (in seconds) a length counts as zero.
pub(crate) const ZERO_THRESHOLD: f64 = 1.0e-6;

/// The largest error estimate; a new coordinate starts with it.
pub const MAX_ERROR: f64 = 1.5;

/// The smallest height, in seconds (Serf's `HeightMin`: 10 µs).
pub(crate) const MIN_HEIGHT: f64 = 10.0e-6;

/// Where a member sits in the network, as Vivaldi (Dabek et al., 2004) with
/// Serf's refinements estimates it: a vector whose Euclidean distances model
/// the core of the network, a height that models the member's access link
/// (every path to it pays it), an adjustment that corrects the embedding's
/// systematic error near this member, and an error estimate (0 is
/// certainty; new coordinates start at [`MAX_ERROR`]). Lengths are in
/// seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinate {
    pub(crate) vector: [f64; DIMENSIONS],
    pub(crate) height: f64,
    pub(crate) adjustment: f64,
    pub(crate) error: f64,
}

impl Default for Coordinate {
    /// A new coordinate: the origin, the least height, no confidence.
    fn default() -> Self {
        Coordinate {
            vector: [0.0; DIMENSIONS],
            height: MIN_HEIGHT,
            adjustment: 0.0,
            error: MAX_ERROR,
        }
    }
}

impl Coordinate {
    /// The Euclidean part, in seconds.
    pub fn vector(&self) -> &[f64; DIMENSIONS] {
        &self.vector
    }

    /// The height (the access link's share of every round trip), in seconds.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// The adjustment term, in seconds (Serf's non-Euclidean correction).
    pub fn adjustment(&self) -> f64 {
        self.adjustment
    }

    /// The error estimate: about the relative error of the RTTs predicted
    /// from this coordinate; [`MAX_ERROR`] for a coordinate that has not
    /// learnt anything yet.
    pub fn error(&self) -> f64 {
        self.error
    }

    /// The round trip predicted between the members at `self` and `other`.
    pub fn estimated_rtt(&self, other: &Coordinate) -> Duration {
        Duration::from_secs_f64(self.distance_to(other).clamp(0.0, MAX_RTT_SECS))
    }

    /// The predicted round trip, in seconds: the Euclidean distance plus
    /// both heights, corrected by both adjustments unless that would make it
    /// negative.
    pub(crate) fn distance_to(&self, other: &Coordinate) -> f64 {
        let raw = self.raw_distance_to(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 { adjusted } else { raw }
    }

    pub(crate) fn raw_distance_to(&self, other: &Coordinate) -> f64 {
        magnitude(&difference(&self.vector, &other.vector)) + self.height + other.height
    }

    /// Moves this coordinate by `force` seconds along the line from `other`
    /// (away from it if positive), and its height in proportion. Where the
    /// two vectors coincide, `direction` supplies a unit vector.
    pub(crate) fn apply_force(
        &mut self,
        force: f64,
        other: &Coordinate,
        direction: impl FnOnce() -> [f64; DIMENSIONS],
    ) {
        let difference = difference(&self.vector, &other.vector);
        let length = magnitude(&difference);
        let unit = if length > ZERO_THRESHOLD {
            scale(&difference, 1.0 / length)
        } else {
            direction()
        };
        for (component, step) in self.vector.iter_mut().zip(unit) {
            *component += step * force;
        }
        if length > ZERO_THRESHOLD {
            self.height =
                ((self.height + other.height) * force / length + self.height).max(MIN_HEIGHT);
        }
    }

    /// True if every part is a finite number within the bounds a coordinate
    /// can reach from sane round trips.
    pub(crate) fn is_sane(&self) -> bool {
        self.vector
            .iter()
            .all(|c| c.is_finite() && c.abs() <= MAX_COMPONENT_SECS)
            && self.height.is_finite()
            && (MIN_HEIGHT * 0.5..=MAX_COMPONENT_SECS).contains(&self.height)
            && self.adjustment.is_finite()
            && self.adjustment.abs() <= MAX_RTT_SECS
            && (0.0..=MAX_ERROR).contains(&self.error)
    }
}

/// Round trips longer than this are not samples of a network but of a stall
/// (Serf refuses them too).
pub(crate) const MAX_RTT_SECS: f64 = 10.0;

/// No component of a sane coordinate exceeds this, in seconds: gravity keeps
/// coordinates near the origin, and round trips are at most [`MAX_RTT_SECS`].
/// A coordinate beyond it is refused, so that a forged one cannot drag a
/// node's coordinate across the space.
pub(crate) const MAX_COMPONENT_SECS: f64 = 2.0 * MAX_RTT_SECS;

fn difference(a: &[f64; DIMENSIONS], b: &[f64; DIMENSIONS]) -> [f64; DIMENSIONS] {
    core::array::from_fn(|i| a[i] - b[i])
}

fn scale(v: &[f64; DIMENSIONS], factor: f64) -> [f64; DIMENSIONS] {
    core::array::from_fn(|i| v[i] * factor)
}

pub(crate) fn magnitude(v: &[f64; DIMENSIONS]) -> f64 {
    libm::sqrt(v.iter().map(|c| c * c).sum())
}

/// The unit of lengths on the wire, in seconds: finer than any round trip
/// worth telling apart, coarse enough for two-byte varints up to 80 ms.
pub const WIRE_UNIT_SECS: f64 = 10.0e-6;

impl Coordinate {
    /// The coordinate as it travels; rounded to the wire's unit.
    pub fn to_wire(&self) -> CoordinateRecord {
        let units = |secs: f64| libm::round(secs / WIRE_UNIT_SECS) as i32;
        CoordinateRecord {
            vector: core::array::from_fn(|i| units(self.vector[i])),
            height: units(self.height).max(1) as u32,
            adjustment: units(self.adjustment),
            error: libm::round(self.error * 1000.0) as u16,
        }
    }

    /// The coordinate a member sent, or `None` if it is outside what sane
    /// round trips produce.
    pub fn from_wire(wire: &CoordinateRecord) -> Option<Coordinate> {
        let secs = |units: i32| f64::from(units) * WIRE_UNIT_SECS;
        let coordinate = Coordinate {
            vector: core::array::from_fn(|i| secs(wire.vector[i])),
            height: f64::from(wire.height) * WIRE_UNIT_SECS,
            adjustment: secs(wire.adjustment),
            error: f64::from(wire.error) / 1000.0,
        };
        coordinate.is_sane().then_some(coordinate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64, height: f64) -> Coordinate {
        let mut vector = [0.0; DIMENSIONS];
        vector[0] = x;
        vector[1] = y;
        Coordinate {
            vector,
            height,
            ..Coordinate::default()
        }
    }

    #[test]
    fn distance_is_euclidean_plus_heights_and_adjustments() {
        let a = at(0.0, 0.0, 0.001);
        let b = at(0.003, 0.004, 0.002);
        assert!((a.distance_to(&b) - 0.008).abs() < 1e-12);
        let adjusted = Coordinate {
            adjustment: 0.001,
            ..b.clone()
        };
        assert!((a.distance_to(&adjusted) - 0.009).abs() < 1e-12);
        let too_negative = Coordinate {
            adjustment: -0.1,
            ..b
        };
        assert!(
            (a.distance_to(&too_negative) - 0.008).abs() < 1e-12,
            "an adjustment that would make it negative is ignored"
        );
        assert_eq!(a.estimated_rtt(&a), Duration::from_millis(2));
    }

    #[test]
    fn a_force_moves_along_the_line_and_scales_the_height() {
        let mut a = at(0.001, 0.0, MIN_HEIGHT);
        let b = at(0.0, 0.0, MIN_HEIGHT);
        a.apply_force(0.002, &b, || unreachable!());
        assert!((a.vector[0] - 0.003).abs() < 1e-12, "{:?}", a.vector);
        assert!(a.height > MIN_HEIGHT, "pushed away, the height grows");
        a.apply_force(-0.0025, &b, || unreachable!());
        assert!((a.vector[0] - 0.0005).abs() < 1e-12);
        assert!(a.height >= MIN_HEIGHT);
        let mut c = at(0.0, 0.0, MIN_HEIGHT);
        let mut unit = [0.0; DIMENSIONS];
        unit[1] = 1.0;
        c.apply_force(0.001, &b, || unit);
        assert!(
            (c.vector[1] - 0.001).abs() < 1e-12,
            "coincident: the given direction"
        );
    }

    #[test]
    fn the_wire_form_rounds_to_ten_microseconds_and_refuses_the_insane() {
        let mut c = at(0.012_345, -0.000_004, 0.000_5);
        c.adjustment = -0.000_02;
        c.error = 0.123_4;
        let wire = c.to_wire();
        assert_eq!(wire.vector[0], 1_235);
        assert_eq!(wire.vector[1], 0);
        assert_eq!((wire.height, wire.adjustment, wire.error), (50, -2, 123));
        let back = Coordinate::from_wire(&wire).unwrap();
        assert!((back.distance_to(&c)).abs() < 0.001 + 2.0 * DIMENSIONS as f64 * 5e-6);
        let encoded = crate::wire::encode_message::<()>(&crate::wire::Message::Coordinate(wire));
        assert!(encoded.len() <= 22, "{} bytes", encoded.len());

        let far = CoordinateRecord {
            vector: [i32::MAX; DIMENSIONS],
            ..wire
        };
        assert_eq!(Coordinate::from_wire(&far), None);
        let zero_height = CoordinateRecord { height: 0, ..wire };
        assert_eq!(Coordinate::from_wire(&zero_height), None);
        let too_unsure = CoordinateRecord {
            error: 1_501,
            ..wire
        };
        assert_eq!(Coordinate::from_wire(&too_unsure), None);
    }
}
