//! Checks `[[<ns>.schedule]]` entries: the cron expression (with `croner`, naming the bad
//! field), the time zone (with `chrono-tz`), the job and its `args`.

use std::collections::BTreeSet;
use std::ops::Range;
use std::str::FromStr;

use croner::parser::{CronParser, Seconds, Year};

use crate::hint::{list_or_none, unknown_job_help};
use crate::model::*;
use crate::source::{closest, Diagnostic};

/// The five cron fields, in order, with what each takes.
const FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 (or `L` for the last day)"),
    ("month", "1-12 or JAN, FEB, ... DEC"),
    (
        "day-of-week",
        "0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT",
    ),
];

/// The parser for five-field expressions; the bot reads `cron` with the same settings.
pub fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// Checks one schedule of namespace `ns`.
pub fn check_schedule(ns: &Namespace, schedule: &Schedule, diags: &mut Vec<Diagnostic>) {
    check_cron(&schedule.cron, diags);
    check_timezone(&schedule.timezone, diags);
    check_job(ns, schedule, diags);
}

/// Two entries with one key would be one schedule: a due time is claimed once per key.
pub fn check_repeats(ns: &Namespace, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    for (i, schedule) in ns.schedules.iter().enumerate() {
        let key = schedule.key(n);
        if ns.schedules[..i]
            .iter()
            .any(|earlier| earlier.key(n) == key)
        {
            diags.push(
                Diagnostic::error(
                    format!("this `[[{n}.schedule]]` repeats an earlier one: same job, cron, time zone and args"),
                    schedule.cron.span.clone(),
                )
                .help("a due time is queued once per schedule, so this entry would never run: remove it, or give it another cron or args"),
            );
        }
    }
}

fn check_cron(cron: &Sp<String>, diags: &mut Vec<Diagnostic>) {
    let text = &cron.value;
    // Each field with its byte offset in the string, to point at the bad one.
    let fields: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|f| (f.as_ptr() as usize - text.as_ptr() as usize, f))
        .collect();
    if fields.len() != 5 {
        diags.push(
            Diagnostic::error(
                format!(
                    "`cron = \"{text}\"` has {} field{}, not five",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" }
                ),
                cron.span.clone(),
            )
            .help("write `minute hour day-of-month month day-of-week`, e.g. `cron = \"0 9 * * MON-FRI\"` (no seconds, no year, no `@daily`)"),
        );
        return;
    }
    let parser = cron_parser();
    let Err(whole) = parser.parse(text) else {
        return;
    };
    // Each field alone, the others `*`, finds which one croner refuses and why.
    for (i, (offset, field)) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..5).map(|j| if j == i { *field } else { "*" }).collect();
        if let Err(e) = parser.parse(&alone.join(" ")) {
            let (name, range) = FIELDS[i];
            // Inside the string: skip the opening quote.
            let at = cron.span.start + 1 + offset;
            diags.push(
                Diagnostic::error(
                    format!(
                        "`cron = \"{text}\"`: the {name} field `{field}` is not valid: {}",
                        cron_reason(&e)
                    ),
                    at..at + field.len(),
                )
                .help(format!(
                    "the {name} field (number {} of five) takes {range}: one value, a list \
                     `a,b`, a range `a-b`, a step `*/n`, or `*`",
                    i + 1
                )),
            );
            return;
        }
    }
    diags.push(
        Diagnostic::error(
            format!("`cron = \"{text}\"` is not valid: {}", cron_reason(&whole)),
            cron.span.clone(),
        )
        .help(
            "write `minute hour day-of-month month day-of-week`, e.g. `cron = \"0 9 * * MON-FRI\"`",
        ),
    );
}

/// croner's reason in the config's terms: its messages name the pattern after it replaced
/// `MON`-style names with numbers, which the user never wrote.
fn cron_reason(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError::*;
    match e {
        IllegalCharacters(m) => match m.split('\'').nth(1) {
            Some(c) => format!("`{c}` cannot appear there"),
            None => "it has characters cron does not accept".to_string(),
        },
        ComponentError(m) if m.contains("out of bounds") => "a number is out of range".to_string(),
        InvalidPattern(m) | ComponentError(m) => m.trim_end_matches('.').to_string(),
        other => other.to_string().trim_end_matches('.').to_string(),
    }
}

fn check_timezone(timezone: &Sp<String>, diags: &mut Vec<Diagnostic>) {
    let name = &timezone.value;
    if chrono_tz::Tz::from_str(name).is_ok() {
        return;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let exact_but_case = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .find(|n| n.eq_ignore_ascii_case(name));
    let help = match exact_but_case.or_else(|| closest(name, names)) {
        Some(near) => format!(
            "did you mean `{near}`? Time zones are IANA names, e.g. `Europe/London` or `UTC`"
        ),
        None => "use an IANA time zone name, e.g. `Europe/London`, `America/New_York` or `UTC`"
            .to_string(),
    };
    diags.push(
        Diagnostic::error(
            format!("unknown time zone `timezone = \"{name}\"`"),
            timezone.span.clone(),
        )
        .help(help),
    );
}

fn check_job(ns: &Namespace, schedule: &Schedule, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    let job_name = &schedule.job_type.value;
    let Some(job) = ns.job(job_name) else {
        if ns.broken_jobs.contains(job_name) {
            return;
        }
        diags.push(
            Diagnostic::error(
                format!("`job_type = \"{job_name}\"` in `[[{n}.schedule]]` is not a job of namespace `{n}`"),
                schedule.job_type.span.clone(),
            )
            .help(unknown_job_help(ns, job_name)),
        );
        return;
    };
    let params = job.placeholders();
    let shown = |names: &[&str]| list_or_none(names.iter().map(|p| format!("`{p}`")));
    let Some(args) = &schedule.args else {
        if !params.is_empty() {
            let example: Vec<String> = params.iter().map(|p| format!("{p} = \"...\"")).collect();
            diags.push(
                Diagnostic::error(
                    format!("missing `args` in `[[{n}.schedule]]`: job `{n}.{job_name}` has the parameters {}", shown(&params)),
                    schedule.job_type.span.clone(),
                )
                .help(format!("add `args = {{ {} }}`", example.join(", "))),
            );
        }
        return;
    };
    let given: BTreeSet<&str> = args.value.iter().map(|(k, _)| k.value.as_str()).collect();
    for (key, _) in &args.value {
        if params.contains(&key.value.as_str()) {
            continue;
        }
        let help = if params.is_empty() {
            format!("job `{n}.{job_name}` has no parameters: remove `args`")
        } else {
            let mut help = format!("the job's parameters are {}", shown(&params));
            if let Some(near) = closest(&key.value, params.iter().copied()) {
                help = format!("did you mean `{near}`? {help}");
            }
            help
        };
        diags.push(
            Diagnostic::error(
                format!(
                    "`args` key `{}` is not a parameter of job `{n}.{job_name}`",
                    key.value
                ),
                key.span.clone(),
            )
            .help(help),
        );
    }
    let missing: Vec<&str> = params
        .iter()
        .copied()
        .filter(|p| !given.contains(p))
        .collect();
    if !missing.is_empty() {
        diags.push(
            Diagnostic::error(
                format!("`args` lacks {} of job `{n}.{job_name}`", shown(&missing)),
                span_or(&args.span, &schedule.span),
            )
            .help(format!(
                "give every parameter a value: {}",
                missing
                    .iter()
                    .map(|p| format!("`{p} = \"...\"`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
}

fn span_or(span: &Range<usize>, fallback: &Range<usize>) -> Range<usize> {
    if span.is_empty() {
        fallback.clone()
    } else {
        span.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_config;
    use crate::source::Source;
    use crate::validate::validate;

    /// Each diagnostic as `(line:col, message, help)`.
    fn located(text: &str) -> Vec<(String, String, String)> {
        let mut diags = Vec::new();
        let config = parse_config(text, &mut diags);
        validate(&config, &mut diags);
        let source = Source {
            display_path: "t.toml".into(),
            text: text.into(),
        };
        diags
            .into_iter()
            .map(|d| {
                let at = source.line_col(d.span.unwrap().start);
                (
                    format!("{}:{}", at.line, at.col),
                    d.message,
                    d.help.unwrap_or_default(),
                )
            })
            .collect()
    }

    const JOBS: &str = r#"
[r.jobs.summary]
run_args_template = "./summary.sh {week}"
[r.jobs.ping]
run_args_template = "./ping.sh"
"#;

    fn with_schedule(entry: &str) -> Vec<(String, String, String)> {
        located(&format!("{JOBS}[[r.schedule]]\n{entry}"))
    }

    #[test]
    fn a_good_schedule_has_no_errors() {
        let got = with_schedule(
            "cron = \"0 9 * * MON-FRI\"\ntimezone = \"Europe/London\"\njob_type = \"summary\"\nargs = { week = \"current\" }\ncatch_up = \"latest\"\n",
        );
        assert!(got.is_empty(), "{got:#?}");
    }

    #[test]
    fn a_bad_field_is_named_and_pointed_at() {
        let got = with_schedule("cron = \"0 25 * * *\"\njob_type = \"ping\"\n");
        assert_eq!(got.len(), 1, "{got:#?}");
        // Line 7 is `cron = ...`; column 11 is `25`, after `cron = "0 `.
        assert_eq!(got[0].0, "7:11", "{got:#?}");
        assert!(got[0].1.contains("the hour field `25`"), "{got:#?}");
        assert!(got[0].1.ends_with("a number is out of range"), "{got:#?}");
        assert!(got[0].2.contains("0-23"), "{got:#?}");
        let named = with_schedule("cron = \"0 9 * * MON-FRY\"\njob_type = \"ping\"\n");
        assert_eq!(named.len(), 1, "{named:#?}");
        assert!(
            named[0]
                .1
                .ends_with("the day-of-week field `MON-FRY` is not valid: `F` cannot appear there"),
            "{named:#?}"
        );
    }

    #[test]
    fn a_wrong_number_of_fields_is_refused() {
        let got = with_schedule("cron = \"0 0 9 * * *\"\njob_type = \"ping\"\n");
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].1.contains("has 6 fields, not five"), "{got:#?}");
    }

    #[test]
    fn an_unknown_zone_suggests_the_nearest() {
        let got = with_schedule(
            "cron = \"0 9 * * *\"\ntimezone = \"Europe/Londn\"\njob_type = \"ping\"\n",
        );
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].1.contains("unknown time zone"), "{got:#?}");
        assert!(
            got[0].2.starts_with("did you mean `Europe/London`?"),
            "{got:#?}"
        );
    }

    #[test]
    fn args_must_match_the_parameters() {
        let missing = with_schedule("cron = \"0 9 * * *\"\njob_type = \"summary\"\n");
        assert_eq!(missing.len(), 1, "{missing:#?}");
        assert!(missing[0].1.starts_with("missing `args`"), "{missing:#?}");
        assert!(missing[0].2.contains("week = \"...\""), "{missing:#?}");

        let extra = with_schedule(
            "cron = \"0 9 * * *\"\njob_type = \"summary\"\nargs = { week = \"x\", wek = \"y\" }\n",
        );
        assert_eq!(extra.len(), 1, "{extra:#?}");
        assert!(extra[0].1.contains("`args` key `wek`"), "{extra:#?}");

        let unneeded =
            with_schedule("cron = \"0 9 * * *\"\njob_type = \"ping\"\nargs = { x = \"1\" }\n");
        assert_eq!(unneeded.len(), 1, "{unneeded:#?}");
        assert!(unneeded[0].2.contains("no parameters"), "{unneeded:#?}");

        let lacking = with_schedule("cron = \"0 9 * * *\"\njob_type = \"summary\"\nargs = {}\n");
        assert_eq!(lacking.len(), 1, "{lacking:#?}");
        assert!(lacking[0].1.contains("lacks `week`"), "{lacking:#?}");
    }

    #[test]
    fn a_repeated_schedule_is_refused() {
        let entry = "cron = \"0 9 * * *\"\njob_type = \"ping\"\n";
        let got = located(&format!(
            "{JOBS}[[r.schedule]]\n{entry}[[r.schedule]]\n{}channel = \"#other\"\n",
            entry.replace("0 9", "0  9")
        ));
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].1.contains("repeats an earlier one"), "{got:#?}");
        assert_eq!(got[0].0, "10:8", "the second entry's cron: {got:#?}");
    }

    #[test]
    fn three_mistakes_in_one_schedule_are_three_errors() {
        let got = with_schedule(
            "cron = \"61 9 * * *\"\ntimezone = \"Mars/Olympus\"\njob_type = \"summary\"\n",
        );
        assert_eq!(got.len(), 3, "{got:#?}");
    }
}
