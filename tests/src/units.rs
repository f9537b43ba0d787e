//! Durations as people write them: `250ms`, `1.5s`, `2m`, `100us`.

use std::time::Duration;

/// Parses `<number><unit>`, or several in a row (`2m30s`), with units `ns`,
/// `us`, `ms`, `s`, `m` or `h`; a bare number is seconds.
///
/// ```
/// use gossip_sim::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration like 250ms, 1.5s or 2m30s");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest[..unit_end].trim() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "" | "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (use ns, us, ms, s, m or h)"
                ));
            }
        };
        seconds += value * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

/// Formats a duration compactly: `250ms`, `1.5s`, `2m30s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs == 0.0 {
        "0s".into()
    } else if secs < 1e-3 {
        format!("{}us", (secs * 1e6).round())
    } else if secs < 1.0 {
        format!("{}ms", trim(secs * 1e3))
    } else if secs < 120.0 {
        format!("{}s", trim(secs))
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes}m{}s", trim(secs - minutes * 60.0))
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Serde for durations as strings in the syntax of [`parse_duration`].
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as e.g. `"1.5s"`.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*duration))
    }

    /// Deserializes from e.g. `"1.5s"` or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Seconds(f64),
            Text(String),
        }
        match Text::deserialize(deserializer)? {
            Text::Seconds(seconds) => Duration::try_from_secs_f64(seconds)
                .map_err(|_| serde::de::Error::custom(format!("invalid duration {seconds}"))),
            Text::Text(text) => super::parse_duration(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for ms in [0u64, 1, 250, 1_000, 1_500, 90_000, 150_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(
                parse_duration(&format_duration(d)).ok(),
                Some(d),
                "{}",
                format_duration(d)
            );
        }
        assert_eq!(format_duration(Duration::from_millis(2_500)), "2.5s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert!(
            parse_duration("99999999999999999999999").is_err(),
            "too long, not a panic"
        );
        assert!(parse_duration("-1s").is_err());
    }
}
