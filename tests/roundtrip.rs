//! Properties of the shipped config's compiled commands: any parameter values a user can type
//! come back verbatim from `Command::parse`, `Command::to_text` inverts it, and a job's rendered
//! shell line hands each value to the job as exactly one word.

use bennettbot::config::{render, Args, Command, CommandSpec, Segment, TemplatePart, CONFIG};
use bennettbot_compiler::automaton::{relate, Nfa, Relation};
use proptest::prelude::*;

/// Words as Slack delivers them after the bot normalises whitespace: no whitespace at all, and
/// none of `<`, `>` and `&`, which Slack escapes (`unformat_param` has its own tests).
const WORD: &str = "[^\\s<>&]+";

/// Values for `spec`'s parameters: one word each, except a trailing parameter, which takes the
/// rest of the message and so may be several words separated by single spaces.
fn values_for(spec: &'static CommandSpec) -> BoxedStrategy<Vec<String>> {
    let trailing = matches!(spec.pattern.last(), Some(Segment::Param(_)));
    let regex = |r: &str| {
        proptest::string::string_regex(r)
            .expect("valid regex")
            .boxed()
    };
    let count = spec.params.len();
    let strategies: Vec<BoxedStrategy<String>> = (0..count)
        .map(|i| {
            if trailing && i + 1 == count {
                regex(&format!("{WORD}( {WORD}){{0,4}}"))
            } else {
                regex(WORD)
            }
        })
        .collect();
    strategies.boxed()
}

/// A command of the shipped config and values for its parameters.
fn command_and_values() -> impl Strategy<Value = (usize, Vec<String>)> {
    (0..CONFIG.commands.len()).prop_flat_map(|i| (Just(i), values_for(&CONFIG.commands[i])))
}

fn nfa(spec: &CommandSpec) -> Nfa {
    Nfa::new(spec.pattern)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn rendered_commands_parse_back((index, values) in command_and_values()) {
        let spec = &CONFIG.commands[index];
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let text = bennettbot_pattern::render(spec.pattern, &refs);
        let parsed = Command::parse(&text);
        let Some(cmd) = parsed else {
            return Err(TestCaseError::fail(format!("`{text}` parses to nothing, expected `{}`", spec.usage)));
        };
        if cmd.index() != index {
            // A value may spell a literal word of another command, e.g. `deploy now` for
            // `deploy [env]`. Then the other command must be strictly more specific (the
            // compiler orders those first and rejects every other overlap), so the user gets
            // the command they would expect; we check that with the compiler's own automaton
            // rather than excluding such values, so the property also covers the ordering.
            let other = cmd.spec();
            prop_assert_eq!(
                relate(&nfa(other), &nfa(spec)),
                Relation::FirstMoreSpecific,
                "`{}` parsed as `{}` instead of `{}`", text, other.usage, spec.usage
            );
            return Ok(());
        }
        let got: Vec<&str> = cmd.params().into_iter().map(|(_, v)| v).collect();
        prop_assert_eq!(&got, &refs, "parameters of `{}`", text);
        let names: Vec<&str> = cmd.params().into_iter().map(|(k, _)| k).collect();
        prop_assert_eq!(names.as_slice(), spec.params);
        // `to_text` is the inverse of `parse`.
        let again = cmd.to_text();
        prop_assert_eq!(&again, &text);
        prop_assert_eq!(Command::parse(&again), Some(cmd));
    }

    #[test]
    fn job_lines_pass_each_value_as_one_word(
        job in 0..CONFIG.jobs.len(),
        raw in proptest::collection::vec(any::<String>(), 4),
    ) {
        let spec = &CONFIG.jobs[job];
        // bash cannot receive NUL; `render` refuses it and has its own test for that.
        let values: Vec<String> = raw.iter().map(|v| v.replace('\0', "")).collect();
        let placeholders: Vec<&str> = spec
            .template
            .iter()
            .filter_map(|p| match p {
                TemplatePart::Placeholder(name) => Some(*name),
                TemplatePart::Literal(_) => None,
            })
            .collect();
        // First render with plain stand-ins to learn which words of the line are which
        // parameter, then with the real values: the words must be the same with each
        // stand-in replaced by its value, verbatim.
        let stand_in = |name: &str| format!("STANDIN{name}STANDIN");
        let plain: Args = placeholders.iter().map(|n| (n.to_string(), stand_in(n))).collect();
        let real: Args = placeholders
            .iter()
            .zip(values.iter().cycle())
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let shape = shlex::split(&render(spec.template, &plain).unwrap()).expect("template splits");
        let expected: Vec<String> = shape
            .iter()
            .map(|word| {
                placeholders
                    .iter()
                    .find(|n| *word == stand_in(n))
                    .map_or_else(|| word.clone(), |n| real[*n].clone())
            })
            .collect();
        let line = render(spec.template, &real).unwrap();
        prop_assert_eq!(shlex::split(&line), Some(expected), "line `{}`", line);
    }
}

/// The properties above only mean something if the shipped config has commands with
/// parameters, trailing and not, and jobs with placeholders.
#[test]
fn shipped_config_exercises_every_shape() {
    let with_params = CONFIG.commands.iter().filter(|c| !c.params.is_empty());
    assert!(with_params
        .clone()
        .any(|c| matches!(c.pattern.last(), Some(Segment::Param(_)))));
    assert!(with_params.clone().any(|c| c.params.len() >= 2));
    assert!(CONFIG.jobs.iter().any(|j| j
        .template
        .iter()
        .any(|p| matches!(p, TemplatePart::Placeholder(_)))));
}
