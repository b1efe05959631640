//! The queue's time format: UTC text `YYYY-MM-DD HH:MM:SS.ffffff+00:00`, as Python's
//! `str(datetime.now(timezone.utc))` writes it.
//!
//! Rows are compared as strings in SQL (`start_after <= ?`), so every time this crate writes
//! must have exactly this shape; reading is more tolerant because the Python service omits the
//! fraction when it is zero.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::QueueError;

/// Why a stored time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a time like `2024-01-01 10:00:00.123456+00:00`")]
pub struct TimeError {
    /// The text as stored.
    pub text: String,
}

/// Formats a time the way the queue stores it (always six fractional digits, `+00:00`).
pub fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// Parses a stored time: with or without a fraction, with an offset (converted to UTC) or
/// naive (taken as UTC, as Python's `datetime.utcnow()` wrote it).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let text = text.trim();
    // `%.f` consumes an optional `.digits`, so both Python shapes parse with one format.
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|_| TimeError {
            text: text.to_owned(),
        })
}

/// Converts a `std` duration for arithmetic on times, failing for absurdly long ones.
fn to_delta(duration: std::time::Duration) -> Option<chrono::TimeDelta> {
    chrono::TimeDelta::from_std(duration).ok()
}

/// `duration` after `now`, failing for absurdly long durations.
pub(crate) fn plus(
    now: DateTime<Utc>,
    duration: std::time::Duration,
) -> Result<DateTime<Utc>, QueueError> {
    to_delta(duration)
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or(QueueError::DurationTooLong(duration))
}

/// `duration` before `now`, failing for absurdly long durations.
pub(crate) fn minus(
    now: DateTime<Utc>,
    duration: std::time::Duration,
) -> Result<DateTime<Utc>, QueueError> {
    to_delta(duration)
        .and_then(|delta| now.checked_sub_signed(delta))
        .ok_or(QueueError::DurationTooLong(duration))
}

/// The oldest time a retention period `keep` still covers at `now`: rows older than this are
/// pruned. The earliest representable time when `keep` reaches past it.
pub(crate) fn kept_since(now: DateTime<Utc>, keep: TimeDelta) -> DateTime<Utc> {
    now.checked_sub_signed(keep)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `delay` after `now`, failing for absurdly long delays.
pub fn start_after(
    now: DateTime<Utc>,
    delay: std::time::Duration,
) -> Result<DateTime<Utc>, QueueError> {
    plus(now, delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test time")
            + chrono::TimeDelta::microseconds(i64::from(micros))
    }

    #[test]
    fn formats_with_six_digits_and_utc_offset() {
        assert_eq!(
            format_time(at(2024, 1, 1, 10, 0, 0, 123_456)),
            "2024-01-01 10:00:00.123456+00:00"
        );
        assert_eq!(
            format_time(at(2024, 1, 1, 10, 0, 0, 0)),
            "2024-01-01 10:00:00.000000+00:00"
        );
    }

    #[test]
    fn parses_python_shapes() {
        assert_eq!(
            parse_time("2024-01-01 10:00:00.123456+00:00"),
            Ok(at(2024, 1, 1, 10, 0, 0, 123_456))
        );
        assert_eq!(
            parse_time("2024-01-01 10:00:00+00:00"),
            Ok(at(2024, 1, 1, 10, 0, 0, 0))
        );
        assert_eq!(
            parse_time("2024-01-01 10:00:00.5"),
            Ok(at(2024, 1, 1, 10, 0, 0, 500_000))
        );
        assert_eq!(
            parse_time("2024-01-01 11:00:00+01:00"),
            Ok(at(2024, 1, 1, 10, 0, 0, 0))
        );
    }

    #[test]
    fn round_trips() {
        let time = at(2031, 12, 31, 23, 59, 59, 999_999);
        assert_eq!(parse_time(&format_time(time)), Ok(time));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_time("tomorrow").is_err());
        assert!(parse_time("2024-13-01 10:00:00+00:00").is_err());
        assert!(parse_time("").is_err());
    }

    #[test]
    fn string_order_is_time_order() {
        // The SQL compares text, so a Python row without a fraction must sort before later times.
        let python = "2024-01-01 10:00:00+00:00".to_owned();
        assert!(python < format_time(at(2024, 1, 1, 10, 0, 0, 1)));
        assert!(python > format_time(at(2024, 1, 1, 9, 59, 59, 999_999)));
    }
}
