//! When a schedule is due: its cron expression read by croner in its IANA time zone.
//!
//! Daylight saving follows croner (the Open Cron Pattern Specification): a fixed-time
//! schedule whose wall-clock time falls in a spring-forward gap is due at the first instant
//! after the gap, and one whose time repeats when clocks go back is due only the first time;
//! an interval schedule (`*/5 * * * *`, `* * * * *`) is due at each real minute that matches.
//! So a change neither skips nor doubles a run.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::config::{Config, ScheduleSpec};

/// A schedule whose cron or time zone cannot be read (the config compiler refuses both, so
/// only a hand-built spec can have one).
#[derive(Debug, thiserror::Error)]
pub enum TimetableError {
    /// croner refused the expression.
    #[error("schedule `{key}`: bad cron expression: {source}")]
    Cron {
        /// The schedule's key.
        key: &'static str,
        /// croner's error.
        source: croner::errors::CronError,
    },
    /// chrono-tz does not know the zone.
    #[error("schedule `{key}`: unknown time zone `{zone}`")]
    Zone {
        /// The schedule's key.
        key: &'static str,
        /// The zone as written.
        zone: &'static str,
    },
}

/// One schedule with its cron expression and zone read.
#[derive(Debug, Clone)]
pub struct Timetable {
    /// The schedule as compiled.
    pub spec: &'static ScheduleSpec,
    cron: Cron,
    zone: Tz,
}

impl Timetable {
    /// Reads `spec`'s cron expression (with the compiler's settings) and zone.
    pub fn new(spec: &'static ScheduleSpec) -> Result<Timetable, TimetableError> {
        let cron = bennettbot_compiler::schedule::cron_parser()
            .parse(spec.cron)
            .map_err(|source| TimetableError::Cron {
                key: spec.key,
                source,
            })?;
        let zone = Tz::from_str(spec.timezone).map_err(|_| TimetableError::Zone {
            key: spec.key,
            zone: spec.timezone,
        })?;
        Ok(Timetable { spec, cron, zone })
    }

    /// Every schedule of `config`.
    pub fn all(config: &'static Config) -> Result<Vec<Timetable>, TimetableError> {
        config.schedules.iter().map(Timetable::new).collect()
    }

    /// The schedule's time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first due time strictly after `t`; `None` if it is never due again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The due times in `(after, until]`, earliest first.
    pub fn due_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cursor = after;
        while let Some(due) = self.next_after(cursor).filter(|d| *d <= until) {
            out.push(due);
            cursor = due;
        }
        out
    }

    /// The next `n` due times after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = t;
        while out.len() < n {
            let Some(due) = self.next_after(cursor) else {
                break;
            };
            out.push(due);
            cursor = due;
        }
        out
    }

    /// The latest due time at or before `t`. croner's backward search agrees with its forward
    /// one: the repeat of a time that clocks going back made twice is not a due time.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.zone), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CatchUp;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn leak(cron: &'static str, timezone: &'static str) -> Timetable {
        let spec = Box::leak(Box::new(ScheduleSpec {
            key: "k",
            namespace: "r",
            job_type: "r_job",
            cron,
            timezone,
            args: &[],
            channel: "#c",
            catch_up: CatchUp::Skip,
        }));
        Timetable::new(spec).expect("valid")
    }

    #[test]
    fn due_times_are_read_in_the_schedules_zone() {
        let t = leak("0 9 * * MON-FRI", "Europe/London");
        // Friday 2026-07-03 10:00 UTC: next is Monday 09:00 BST = 08:00 UTC.
        assert_eq!(
            t.upcoming(utc(2026, 7, 3, 10, 0), 2),
            vec![utc(2026, 7, 6, 8, 0), utc(2026, 7, 7, 8, 0)]
        );
        // In winter 09:00 GMT is 09:00 UTC.
        assert_eq!(
            t.next_after(utc(2026, 12, 1, 0, 0)),
            Some(utc(2026, 12, 1, 9, 0))
        );
        assert_eq!(
            t.latest_at_or_before(utc(2026, 7, 6, 8, 0)),
            Some(utc(2026, 7, 6, 8, 0)),
            "inclusive"
        );
        assert_eq!(
            t.latest_at_or_before(utc(2026, 7, 6, 7, 59)),
            Some(utc(2026, 7, 3, 8, 0))
        );
    }

    #[test]
    fn spring_forward_neither_skips_nor_doubles() {
        // 2026-03-29: London goes from 01:00 GMT to 02:00 BST; 01:30 does not exist.
        let daily = leak("30 1 * * *", "Europe/London");
        let runs = daily.due_between(utc(2026, 3, 27, 12, 0), utc(2026, 3, 31, 12, 0));
        assert_eq!(
            runs,
            vec![
                utc(2026, 3, 28, 1, 30),
                // The first instant after the gap: 02:00 BST.
                utc(2026, 3, 29, 1, 0),
                utc(2026, 3, 30, 0, 30),
                utc(2026, 3, 31, 0, 30),
            ]
        );
        let every = leak("* * * * *", "Europe/London");
        let minutes = every.due_between(utc(2026, 3, 29, 0, 55), utc(2026, 3, 29, 1, 5));
        assert_eq!(minutes.len(), 10, "{minutes:?}");
    }

    #[test]
    fn fall_back_neither_skips_nor_doubles() {
        // 2026-10-25: London goes from 02:00 BST back to 01:00 GMT; 01:30 happens twice.
        let daily = leak("30 1 * * *", "Europe/London");
        let runs = daily.due_between(utc(2026, 10, 23, 12, 0), utc(2026, 10, 27, 12, 0));
        assert_eq!(
            runs,
            vec![
                utc(2026, 10, 24, 0, 30),
                // Only the first 01:30 (BST).
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 26, 1, 30),
                utc(2026, 10, 27, 1, 30),
            ]
        );
        // The repeat (01:30 GMT = 01:30 UTC) is not a due time, searching back from it either.
        assert_eq!(
            daily.latest_at_or_before(utc(2026, 10, 25, 1, 45)),
            Some(utc(2026, 10, 25, 0, 30))
        );
        let every = leak("* * * * *", "Europe/London");
        let minutes = every.due_between(utc(2026, 10, 25, 0, 55), utc(2026, 10, 25, 1, 5));
        assert_eq!(minutes.len(), 10, "every real minute once: {minutes:?}");
    }
}
