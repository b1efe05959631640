//! Properties of what the bot reads from outside: message text (the normaliser, the mention,
//! the command parser, suppression times) and GitHub deliveries (signatures and payloads).
//! Arbitrary input never panics, and what should come back does. Case counts are bounded so
//! the whole file runs in seconds.

use std::sync::mpsc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bennettbot::config::{suggest, unformat_param, Command, CommandSpec, Segment, CONFIG};
use bennettbot::conversation::suppression_window;
use bennettbot::intent::{normalise, understand, Intent};
use bennettbot::slack::mention::{command_text, mentions};
use bennettbot::webhook::payload::Payload;
use bennettbot::webhook::signature::{
    sign, verify, verify_headers, Algorithm, SignatureError, SHA1_HEADER, SHA256_HEADER,
};
use bennettbot_compiler::automaton::{relate, Nfa, Relation};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const BOT: &str = "U0BOT";

/// Text as users and attackers write it: any Unicode, and a good share of Slack's markup and
/// whitespace, so that the interesting paths are taken often.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<String>(),
        2 => proptest::sample::select(vec![
            "<@U0BOT>", "<@U0BOT|bot>", "<@U0BOT", "<@", "<http://x.org|x>", "<http", "&amp;",
            "&lt;", "&gt;", "<", ">", "|", ".", " ", "  ", "\t", "\n", "\u{a0}", "\0", "😀",
            "test", "hello", "status", "help", "remove job id", "12",
        ])
        .prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `normalise` keeps the words, one space apart, and drops one trailing `.` (and a last
    /// word that was only that `.`): the same text however it was spaced.
    #[test]
    fn normalise_keeps_words_single_spaced_without_one_trailing_dot(
        raw in text(),
        gaps in proptest::collection::vec("[ \t\n\r\u{a0}\u{2003}]{1,3}", 1..20),
    ) {
        let out = normalise(&raw);
        let mut words: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
        if let Some(last) = words.last_mut() {
            if last.ends_with('.') {
                last.pop();
            }
        }
        if words.last().is_some_and(String::is_empty) {
            words.pop();
        }
        prop_assert_eq!(&out, &words.join(" "));
        prop_assert!(!out.starts_with(' ') && !out.ends_with(char::is_whitespace));
        prop_assert!(!out.contains("  "));
        prop_assert!(out.chars().all(|c| c == ' ' || !c.is_whitespace()));
        // Spaced any other way, it reads the same.
        let respaced: String = raw
            .split_whitespace()
            .zip(gaps.iter().cycle())
            .flat_map(|(word, gap)| [gap.as_str(), word])
            .collect();
        prop_assert_eq!(normalise(&respaced), out);
    }

    /// Whatever a message says, reading it never panics, and a message that parses as a
    /// command is understood as that command (built-ins aside).
    #[test]
    fn arbitrary_messages_are_read_without_panicking(raw in text(), mentioned in any::<bool>()) {
        let message = if mentioned { format!("<@{BOT}> {raw}") } else { raw.clone() };
        // `<@U0BOT>`, or `<@U0BOT|name>`; not `<@U0BOTTOM>`, nor a `<@U0BOT|` never closed.
        let expected = message.contains("<@U0BOT>")
            || message.find("<@U0BOT|").is_some_and(|at| message[at..].contains('>'));
        prop_assert_eq!(mentions(&message, BOT), expected);
        let asked = normalise(command_text(&message, BOT));
        let parsed = Command::parse(&asked);
        let intent = understand(&CONFIG, &asked);
        if let Some(cmd) = parsed {
            if !matches!(intent, Intent::Status | Intent::RemoveJob(_)) {
                prop_assert_eq!(intent, Intent::Command(cmd));
            }
        }
        let _ = suggest::nearest(&CONFIG, &asked, 3);
        let _ = unformat_param(&asked);
    }

    /// A shipped command with any parameter values, escaped as Slack escapes `&`, `<` and `>`
    /// and sent as a mention, is understood as that command with those values, verbatim.
    #[test]
    fn commands_with_any_values_round_trip_through_slack((index, values) in command_and_values()) {
        let spec = &CONFIG.commands[index];
        let escaped: Vec<String> = values.iter().map(|v| slack_escape(v)).collect();
        let refs: Vec<&str> = escaped.iter().map(String::as_str).collect();
        let message = format!("<@{BOT}> {}", bennettbot_pattern::render(spec.pattern, &refs));
        let asked = normalise(command_text(&message, BOT));
        let Intent::Command(cmd) = understand(&CONFIG, &asked) else {
            return Err(TestCaseError::fail(format!("`{asked}` is not understood as `{}`", spec.usage)));
        };
        if cmd.index() != index {
            // A value may spell another command's literal words; that command must then be
            // the more specific one, as in tests/roundtrip.rs.
            prop_assert_eq!(
                relate(&Nfa::new(cmd.spec().pattern), &Nfa::new(spec.pattern)),
                Relation::FirstMoreSpecific,
                "`{}` parsed as `{}` instead of `{}`", asked, cmd.spec().usage, spec.usage
            );
            return Ok(());
        }
        let got: Vec<&str> = cmd.params().into_iter().map(|(_, v)| v).collect();
        let want: Vec<&str> = values.iter().map(String::as_str).collect();
        prop_assert_eq!(got, want, "parameters of `{}`", asked);
    }

    /// Suppression times are `HH:MM` or `HHMM` and nothing else: any other text, in characters
    /// of any width, is refused without panicking.
    #[test]
    fn suppression_times_are_read_strictly(
        start in prop_oneof![any::<String>(), "[0-9:é€😀a]{0,6}"],
        end in prop_oneof![any::<String>(), "[0-9:é€😀a]{0,6}"],
    ) {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        let window = suppression_window(&start, &end, now);
        let shaped = |t: &str| {
            let b = t.as_bytes();
            (b.len() == 4 && b.iter().all(u8::is_ascii_digit))
                || (b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()))
        };
        if let Some((from, to)) = window {
            prop_assert!(shaped(&start) && shaped(&end), "{start:?} {end:?}");
            prop_assert!(from < to);
        }
    }
}

/// Slack's escaping of message text: the three characters it turns into entities.
fn slack_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A shipped command, and values for its parameters: any characters but whitespace (the
/// normaliser collapses it) in a word; a trailing parameter takes several such words and must
/// not end with the `.` the normaliser drops.
fn command_and_values() -> impl Strategy<Value = (usize, Vec<String>)> {
    (0..CONFIG.commands.len()).prop_flat_map(|i| (Just(i), values_for(&CONFIG.commands[i])))
}

fn values_for(spec: &'static CommandSpec) -> BoxedStrategy<Vec<String>> {
    let trailing = matches!(spec.pattern.last(), Some(Segment::Param(_)));
    let word = || "[^\\s]{1,12}";
    let count = spec.params.len();
    let strategies: Vec<BoxedStrategy<String>> = (0..count)
        .map(|i| {
            if trailing && i + 1 == count {
                proptest::collection::vec(word(), 1..4)
                    .prop_map(|words| words.join(" "))
                    .prop_filter("no trailing dot", |v| !v.ends_with('.'))
                    .boxed()
            } else {
                word().boxed()
            }
        })
        .collect();
    strategies.boxed()
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![Just(Algorithm::Sha256), Just(Algorithm::Sha1)]
}

/// Header values, as bytes a client could send: signatures, near-signatures and junk.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "(sha256|sha1|SHA256|sha256 |)=[0-9a-fA-Fx]{0,70}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any body and any signature headers are answered without panicking, and never verify
    /// unless the header really is the body's HMAC.
    #[test]
    fn arbitrary_deliveries_never_panic(
        secret in proptest::collection::vec(any::<u8>(), 0..40),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        sha256 in proptest::option::of(header_value()),
        sha1 in proptest::option::of(header_value()),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [(SHA256_HEADER, &sha256), (SHA1_HEADER, &sha1)] {
            // Bytes no HTTP header can carry never reach the server.
            if let Some(value) = value.as_ref().and_then(|v| HeaderValue::from_bytes(v).ok()) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let _ = Payload::parse(&body);
        if let Ok(algorithm) = verify_headers(&secret, &headers, &body) {
            let sent = headers.get(algorithm.header()).unwrap().as_bytes().to_ascii_lowercase();
            prop_assert_eq!(sent, sign(algorithm, &secret, &body).into_bytes());
        }
    }

    /// A correctly signed body verifies; changing any one bit of the body or the secret
    /// makes it fail.
    #[test]
    fn signed_bodies_verify_and_any_flipped_bit_does_not(
        algorithm in algorithm(),
        secret in proptest::collection::vec(any::<u8>(), 1..40),
        body in proptest::collection::vec(any::<u8>(), 1..300),
        bit in any::<prop::sample::Index>(),
        in_secret in any::<bool>(),
    ) {
        let header = sign(algorithm, &secret, &body);
        let mut headers = HeaderMap::new();
        headers.insert(algorithm.header(), HeaderValue::from_str(&header).unwrap());
        prop_assert_eq!(verify_headers(&secret, &headers, &body), Ok(algorithm));

        let (mut secret2, mut body2) = (secret.clone(), body.clone());
        let target = if in_secret { &mut secret2 } else { &mut body2 };
        let at = bit.index(target.len() * 8);
        target[at / 8] ^= 1 << (at % 8);
        prop_assert_eq!(
            verify(algorithm, &secret2, header.as_bytes(), &body2),
            Err(SignatureError::Mismatch(algorithm))
        );
    }

    /// Changing any one bit of the signature header fails too, unless it only changes the
    /// case of a hex letter (the same digest).
    #[test]
    fn a_flipped_bit_in_the_signature_fails_unless_it_is_only_case(
        algorithm in algorithm(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        bit in any::<prop::sample::Index>(),
    ) {
        let secret = b"webhook-secret";
        let mut header = sign(algorithm, secret, &body).into_bytes();
        let at = bit.index(header.len() * 8);
        let before = header[at / 8];
        header[at / 8] ^= 1 << (at % 8);
        let result = verify(algorithm, secret, &header, &body);
        let case_only = at / 8 >= algorithm.prefix().len()
            && before.is_ascii_alphabetic()
            && header[at / 8] == before.to_ascii_uppercase();
        if case_only {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert!(result.is_err(), "{:?} verified", String::from_utf8_lossy(&header));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook payloads

/// JSON of any shape, with the fields rules read (of the right type or not) appearing often.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        proptest::sample::select(vec!["closed", "main", "refs/heads/main", "true"])
            .prop_map(Value::from),
    ];
    let key = prop_oneof![
        proptest::sample::select(vec!["action", "ref", "pull_request", "merged", "base"])
            .prop_map(str::to_string),
        any::<String>(),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The fast path reads exactly what the whole tree holds, whatever the JSON's shape.
    #[test]
    fn payloads_read_the_same_as_their_tree(value in json_value(), pretty in any::<bool>()) {
        let body = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            value.to_string()
        };
        prop_assert_eq!(Payload::parse(body.as_bytes()), Ok(Payload::from_value(&value)));
    }

    /// Any bytes are read without panicking, and are a payload exactly when they are JSON.
    #[test]
    fn any_body_is_a_payload_exactly_when_it_is_json(
        value in json_value(),
        cut in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 0..20),
        how in 0..3u8,
    ) {
        let text = value.to_string().into_bytes();
        let body = match how {
            0 => text[..cut.index(text.len() + 1)].to_vec(),
            1 => [text.as_slice(), &junk].concat(),
            _ => junk,
        };
        let tree = serde_json::from_slice::<Value>(&body);
        match Payload::parse(&body) {
            Ok(payload) => prop_assert_eq!(payload, Payload::from_value(&tree.unwrap())),
            Err(error) => prop_assert!(tree.is_err(), "refused JSON: {error}"),
        }
    }
}

#[test]
fn duplicate_fields_read_as_the_tree_reads_them() {
    let body = br#"{"action": "opened", "action": "closed", "pull_request": {"merged": true, "merged": 1}}"#;
    let tree: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(tree["action"], json!("closed"));
    assert_eq!(Payload::parse(body), Ok(Payload::from_value(&tree)));
}

// ---------------------------------------------------------------------------------------------
// Long hostile texts

/// Runs `work` on its own thread; panics if it has not finished after `limit`. The limit is
/// thousands of times what reading in linear time takes: only a reader that looks again from
/// every position (quadratic, minutes for these inputs) hits it.
fn finishes<T: Send + 'static>(
    what: &str,
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// Enough to take minutes to read quadratically, milliseconds linearly.
const HUGE: usize = 4_000_000;
/// Far above the milliseconds a linear read takes, far below a quadratic one.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn long_texts_of_open_brackets_are_unformatted_in_linear_time() {
    let text = "<".repeat(HUGE);
    let out = finishes("unformat_param", LIMIT, move || unformat_param(&text));
    assert_eq!(out.len(), HUGE);
}

#[test]
fn long_texts_of_unclosed_mentions_are_read_in_linear_time() {
    let text = format!("<@{BOT}|").repeat(HUGE / 8);
    let found = finishes("mentions", LIMIT, move || mentions(&text, BOT));
    assert!(!found);
}

#[test]
fn long_texts_get_no_suggestions_quickly() {
    let text = format!("test helo {}", "x ".repeat(HUGE * 2));
    let near = finishes("suggestions", LIMIT, move || {
        suggest::nearest(&CONFIG, &text, 3).len()
    });
    assert_eq!(near, 0);
}
