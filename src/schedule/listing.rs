//! Schedules as people read them: the next run of each for `status`, and the next due times
//! of each for `bennettbot schedules`, computed from the config alone.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Timetable;
use crate::config::Config;

/// `config`'s schedules, for `status`. The config compiler checked every cron and zone, so an
/// error here is logged and leaves the list empty rather than failing `status`.
pub fn for_status(config: &'static Config) -> Vec<Timetable> {
    Timetable::all(config).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the compiled schedules");
        Vec::new()
    })
}

/// How a schedule is described: `r_ping (* * * * * Europe/London, args host=x, to #c)`.
fn describe(t: &Timetable) -> String {
    let s = t.spec;
    let mut text = format!("{} (`{}` {}", s.job_type, s.cron, s.timezone);
    if !s.args.is_empty() {
        let args: Vec<String> = s.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(text, ", args {}", args.join(" "));
    }
    let _ = write!(text, ", to {}, catch-up {})", s.channel, s.catch_up.name());
    text
}

/// A due time in UTC and in the schedule's zone.
fn both_zones(t: &Timetable, due: DateTime<Utc>) -> String {
    format!(
        "{} UTC = {}",
        due.format("%Y-%m-%d %H:%M"),
        due.with_timezone(&t.zone()).format("%Y-%m-%d %H:%M %Z")
    )
}

/// One line per schedule with its next run after `now`, for `status`.
pub fn status_lines(timetables: &[Timetable], now: DateTime<Utc>) -> Vec<String> {
    timetables
        .iter()
        .map(|t| match t.next_after(now) {
            Some(due) => format!("* {}: next at {}", describe(t), both_zones(t, due)),
            None => format!("* {}: never due again", describe(t)),
        })
        .collect()
}

/// The next `n` due times after `now` of every schedule, for `bennettbot schedules`.
pub fn upcoming_text(timetables: &[Timetable], now: DateTime<Utc>, n: usize) -> String {
    if timetables.is_empty() {
        return "No schedules: the job config has no `[[<namespace>.schedule]]` entries.\n".into();
    }
    let mut out = String::new();
    for t in timetables {
        let _ = writeln!(out, "{}", describe(t));
        let upcoming = t.upcoming(now, n);
        if upcoming.is_empty() {
            let _ = writeln!(out, "  never due again");
        }
        for due in upcoming {
            let _ = writeln!(out, "  {}", both_zones(t, due));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::{CatchUp, ScheduleSpec};

    fn weekly() -> Timetable {
        static SPEC: ScheduleSpec = ScheduleSpec {
            key: "report_summary 0 9 * * MON-FRI Europe/London week=current",
            namespace: "report",
            job_type: "report_summary",
            cron: "0 9 * * MON-FRI",
            timezone: "Europe/London",
            args: &[("week", "current")],
            channel: "#reports",
            catch_up: CatchUp::Latest,
        };
        Timetable::new(&SPEC).expect("valid")
    }

    #[test]
    fn upcoming_lists_each_due_time_in_utc_and_the_zone() {
        // Friday 23 October 2026, noon UTC; London moves to GMT on Sunday the 25th.
        let now = Utc.with_ymd_and_hms(2026, 10, 23, 12, 0, 0).unwrap();
        assert_eq!(
            upcoming_text(&[weekly()], now, 2),
            "report_summary (`0 9 * * MON-FRI` Europe/London, args week=current, to #reports, catch-up latest)\n\
             \x20 2026-10-26 09:00 UTC = 2026-10-26 09:00 GMT\n\
             \x20 2026-10-27 09:00 UTC = 2026-10-27 09:00 GMT\n"
        );
        assert!(upcoming_text(&[], now, 5).starts_with("No schedules"));
    }

    #[test]
    fn status_names_the_next_run() {
        let now = Utc.with_ymd_and_hms(2026, 7, 3, 12, 0, 0).unwrap();
        assert_eq!(
            status_lines(&[weekly()], now),
            vec!["* report_summary (`0 9 * * MON-FRI` Europe/London, args week=current, to #reports, catch-up latest): next at 2026-07-06 08:00 UTC = 2026-07-06 09:00 BST"]
        );
    }
}
