//! The one way roomwatch reads a span of time from a flag, an environment variable or the
//! config file: `250ms`, `1.5s`, `30s`, `10m`, `12h`, `7d`, `2w`, or a bare number of seconds.

use std::time::Duration;

/// Spans longer than this are refused (ten years): past it, arithmetic on instants overflows.
const LONGEST_S: f64 = 10.0 * 365.0 * 86_400.0;

/// Parses a span above zero.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a span like 500ms, 1.5s, 10m, 12h, 7d or 2w"))?;
    let unit_s = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use ms, s, m, h, d or w"
            ));
        }
    };
    let seconds = number * unit_s;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{text:?}: a span must be above zero"));
    }
    if seconds > LONGEST_S {
        return Err(format!("{text:?} is longer than ten years"));
    }
    let span = Duration::from_secs_f64(seconds);
    if span.is_zero() {
        return Err(format!("{text:?}: a span must be above zero"));
    }
    Ok(span)
}

/// [`parse_span`] in whole milliseconds.
pub fn parse_span_ms(text: &str) -> Result<i64, String> {
    let span = parse_span(text)?;
    i64::try_from(span.as_millis())
        .ok()
        .filter(|ms| *ms > 0)
        .ok_or_else(|| format!("{text:?} is under a millisecond"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_form() {
        assert_eq!(parse_span("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_span("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_span("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_span(" 2m "), Ok(Duration::from_mins(2)));
        assert_eq!(parse_span("2min"), Ok(Duration::from_mins(2)));
        assert_eq!(parse_span("12h"), Ok(Duration::from_hours(12)));
        assert_eq!(parse_span("7d"), Ok(Duration::from_hours(7 * 24)));
        assert_eq!(parse_span("2w"), Ok(Duration::from_hours(14 * 24)));
        assert_eq!(parse_span_ms("30m"), Ok(1_800_000));
    }

    #[test]
    fn nonsense_zero_and_overflow_are_refused() {
        for bad in [
            "",
            "soon",
            "0s",
            "0",
            "-1s",
            "1.2.3s",
            "5y",
            "9999999999999w",
        ] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
        assert!(parse_span_ms("0.5ms").is_err());
    }
}
