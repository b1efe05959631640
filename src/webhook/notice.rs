//! The Slack notice posted when a webhook would start a job whose type is suppressed.

use chrono::{DateTime, Utc};

use crate::config::{Action, Config};

/// `<trigger>, not deploying because deploys suppressed until <end>.`, then how to force the job
/// with the namespace's real commands (left out when the config has no such commands).
pub fn suppression_notice(
    config: &Config,
    trigger: &str,
    job_type: &str,
    end_at: DateTime<Utc>,
) -> String {
    // Times as the `status` reply shows them, so users see one format.
    let end = end_at.format("%Y-%m-%d %H:%M:%S+00:00");
    let mut text = format!("{trigger}, not deploying because deploys suppressed until {end}.");
    let cancel = config.command_for(job_type, Action::CancelSuppression);
    let start = config.command_for(job_type, Action::ScheduleJob);
    if let (Some(cancel), Some(start)) = (cancel, start) {
        text.push_str(&format!(
            "\nIn an emergency, use `{}` followed by `{}` to force a deployment",
            cancel.usage, start.usage
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;
    use chrono::TimeZone;

    #[test]
    fn the_notice_names_the_real_commands() {
        let end = Utc.with_ymd_and_hms(2026, 11, 27, 17, 30, 0).unwrap();
        assert_eq!(
            suppression_notice(&CONFIG, "PR merged", "example_deploy", end),
            "PR merged, not deploying because deploys suppressed until 2026-11-27 17:30:00+00:00.\n\
             In an emergency, use `example cancel suppression` followed by `example deploy` \
             to force a deployment"
        );
    }

    #[test]
    fn the_advice_is_left_out_without_both_commands() {
        let end = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        // `test_hello_world` can be started from Slack but its suppressions cannot be cancelled.
        assert_eq!(
            suppression_notice(&CONFIG, "Push to main", "test_hello_world", end),
            "Push to main, not deploying because deploys suppressed until 2026-11-27 09:00:00+00:00."
        );
    }
}
