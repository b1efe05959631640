bennettbot::job_configs!("schedules.toml");

fn main() {
    let [weekly, ping] = CONFIG.schedules else {
        panic!("two schedules: {:?}", CONFIG.schedules)
    };
    assert_eq!(weekly.job_type, "report_weekly_summary");
    assert_eq!(weekly.timezone, "Europe/London");
    assert_eq!(weekly.args, &[("week", "current")]);
    assert_eq!(weekly.channel, "#team");
    assert_eq!(weekly.catch_up, bennettbot_spec::CatchUp::Latest);
    assert_eq!(
        weekly.key,
        "report_weekly_summary 0 9 * * MON-FRI Europe/London week=current"
    );
    // Defaults: UTC, the namespace's channel, skip.
    assert_eq!(ping.timezone, "UTC");
    assert_eq!(ping.channel, "#reports");
    assert_eq!(ping.catch_up, bennettbot_spec::CatchUp::Skip);
    assert!(ping.args.is_empty());
}
