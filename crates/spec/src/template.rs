//! The pieces of a job's `run_args_template`, shared by the config compiler (which reads the
//! template into owned strings) and the bot (which renders the compiled `&'static str` pieces).

/// One piece of a `run_args_template`: `S` is `String` in the compiler and `&'static str` in
/// the compiled config, the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplatePart<S = &'static str> {
    /// Shell text, used verbatim.
    Literal(S),
    /// A parameter, shell-quoted when rendered.
    Placeholder(S),
}
