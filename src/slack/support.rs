//! Support rules at work: which messages call support (a keyword, e.g. `tech-support`, as a
//! whole word), and the out-of-office and DM replies (calls are claimed in the database).
//! Answering a call is in [`super::support_calls`].

use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::config::SupportRuleSpec;

/// Word characters for keyword boundaries: hyphens count, so `tech-support-x` is one word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Whether `keyword` (lowercase) occurs in `text` as a whole word, case-insensitively, and not
/// right after a `/` (so URL paths such as `/tech-support` do not call support).
pub fn contains_keyword(text: &str, keyword: &str) -> bool {
    if keyword.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(keyword) {
        let start = from + found;
        let end = start + keyword.len();
        let before = lower[..start].chars().next_back();
        let after = lower[end..].chars().next();
        let starts_word = before.is_none_or(|c| !is_word_char(c) && c != '/');
        let ends_word = after.is_none_or(|c| !is_word_char(c));
        if starts_word && ends_word {
            return true;
        }
        from = start + keyword.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The first support rule whose keywords `text` contains.
pub fn matching_rule<'a>(rules: &'a [SupportRuleSpec], text: &str) -> Option<&'a SupportRuleSpec> {
    rules
        .iter()
        .find(|rule| rule.keywords.iter().any(|k| contains_keyword(text, k)))
}

/// A support rule's out-of-office file, as `techsupport ooo_on` writes it (`YYYY-MM-DD` dates).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct OutOfOffice {
    start: String,
    end: String,
}

impl OutOfOffice {
    fn dates(&self) -> Option<(NaiveDate, NaiveDate)> {
        let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        Some((day(&self.start)?, day(&self.end)?))
    }
}

/// The end date of the out-of-office period covering `today`, if the rule has a file under
/// `writeable_dir` and it covers today. A missing or unreadable file means "in office".
pub fn out_of_office_until(
    rule: &SupportRuleSpec,
    writeable_dir: &Path,
    today: NaiveDate,
) -> Option<NaiveDate> {
    let file = writeable_dir.join(rule.out_of_office_file?);
    let text = std::fs::read_to_string(&file).ok()?;
    out_of_office_in(&text, &file.display().to_string(), today)
}

/// The end date of the out-of-office period `text` (an out-of-office file's contents, from
/// `whence`) covers `today` with, if it does; malformed contents mean "in office".
pub fn out_of_office_in(text: &str, whence: &str, today: NaiveDate) -> Option<NaiveDate> {
    let dates = serde_json::from_str::<OutOfOffice>(text)
        .ok()
        .and_then(|ooo| ooo.dates());
    match dates {
        Some((start, end)) => (start <= today && today <= end).then_some(end),
        None => {
            tracing::warn!(file = whence, "ignoring malformed out-of-office file");
            None
        }
    }
}

/// The reply to a support call while out of office.
pub fn out_of_office_text(rule: &SupportRuleSpec, end: NaiveDate) -> String {
    format!(
        "{} is currently out of office and will respond after {}",
        rule.name,
        end.format("%Y-%m-%d")
    )
}

/// The reply to a support call in a DM, where the bot cannot repost it.
pub fn dm_refusal_text(rule: &SupportRuleSpec) -> String {
    format!("Sorry, I can't call {} from this conversation.", rule.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn keywords_match_whole_words_case_insensitively() {
        assert!(contains_keyword("help tech-support", "tech-support"));
        assert!(contains_keyword("Tech-Support, please", "tech-support"));
        assert!(contains_keyword("(TECH-SUPPORT)", "tech-support"));
        assert!(contains_keyword("tech-support.", "tech-support"));
        assert!(contains_keyword("calling tech-support now", "tech-support"));
    }

    #[test]
    fn hyphens_and_letters_around_a_keyword_make_another_word() {
        assert!(!contains_keyword("tech-supporters", "tech-support"));
        assert!(!contains_keyword("my-tech-support", "tech-support"));
        assert!(!contains_keyword("tech-support-bot", "tech-support"));
        assert!(!contains_keyword("techsupport", "tech-support"));
        assert!(!contains_keyword("tech-support_x", "tech-support"));
    }

    #[test]
    fn url_paths_do_not_match() {
        assert!(!contains_keyword(
            "see https://example.org/tech-support",
            "tech-support"
        ));
        assert!(contains_keyword(
            "https://example.org/tech-support but also tech-support",
            "tech-support"
        ));
    }

    #[test]
    fn rules_come_from_the_config() {
        let rule = matching_rule(CONFIG.support, "ask bennet-admins").unwrap();
        assert_eq!(rule.name, "bennett-admins");
        assert_eq!(rule.reaction, "flamingo");
        assert_eq!(
            matching_rule(CONFIG.support, "hi tech-support")
                .unwrap()
                .name,
            "tech-support"
        );
        assert!(matching_rule(CONFIG.support, "nothing to see").is_none());
    }

    #[test]
    fn out_of_office_covers_its_dates_inclusively() {
        let dir = tempfile::tempdir().unwrap();
        let rule = &CONFIG.support[0];
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(out_of_office_until(rule, dir.path(), day(20)), None);
        std::fs::write(
            dir.path().join(rule.out_of_office_file.unwrap()),
            r#"{"start": "2026-11-20", "end": "2026-11-25"}"#,
        )
        .unwrap();
        assert_eq!(out_of_office_until(rule, dir.path(), day(19)), None);
        assert_eq!(
            out_of_office_until(rule, dir.path(), day(20)),
            Some(day(25))
        );
        assert_eq!(
            out_of_office_until(rule, dir.path(), day(25)),
            Some(day(25))
        );
        assert_eq!(out_of_office_until(rule, dir.path(), day(26)), None);
        assert_eq!(
            out_of_office_text(rule, day(25)),
            "tech-support is currently out of office and will respond after 2026-11-25"
        );
    }
}
