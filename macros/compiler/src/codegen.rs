//! Turns a validated config into Rust: data tables of `::bennettbot_spec` runtime types, and
//! thin enums with match arms over them.

use std::collections::BTreeSet;
use std::path::Path;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use bennettbot_pattern::{param_names, parse_pattern, Segment};
use bennettbot_spec::TemplatePart;

use crate::model::*;
use crate::validate::MatchOrder;

/// `hello-world [name]` → `HelloWorldName`; never empty, never starting with a digit.
pub fn pascal_case(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'N');
    }
    out
}

/// Makes names unique by suffixing repeats with a number.
fn unique(names: Vec<String>) -> Vec<Ident> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .map(|name| {
            let mut candidate = name.clone();
            let mut n = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{name}{n}");
                n += 1;
            }
            Ident::new(&candidate, Span::call_site())
        })
        .collect()
}

/// The variant's name as an identifier, from its derived `Debug` (`Action::ScheduleJob` →
/// `ScheduleJob`), for the paths the generated code names `::bennettbot_spec` values by.
fn variant_ident(variant: impl std::fmt::Debug) -> Ident {
    format_ident!("{variant:?}")
}

fn field_ident(name: &str) -> Ident {
    // Raw identifiers let parameters be called `type` or `match`.
    Ident::new_raw(name, Span::call_site())
}

fn opt_str(v: &Option<String>) -> TokenStream {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// Generates the items for `config`. `tracked_path`, when given, is included with
/// `include_bytes!` so that cargo rebuilds when the file changes.
pub fn generate(
    config: &Config,
    orders: &[MatchOrder],
    tracked_path: Option<&Path>,
) -> TokenStream {
    let rt = quote!(::bennettbot_spec);
    let track = tracked_path.map(|p| {
        let p = p.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = include_bytes!(#p);
        )
    });

    // Jobs, in namespace then file order.
    let mut job_specs = Vec::new();
    let mut job_names = Vec::new();
    let mut job_types = Vec::new();
    for ns in &config.namespaces {
        let n = &ns.name.value;
        for job in &ns.jobs {
            let job_type = format!("{n}_{}", job.name.value);
            let name = &job.name.value;
            let source = &job.template.value;
            let parts = job.parts.iter().map(|p| match p {
                TemplatePart::Literal(s) => quote!(#rt::TemplatePart::Literal(#s)),
                TemplatePart::Placeholder(s) => quote!(#rt::TemplatePart::Placeholder(#s)),
            });
            let report_stdout = job.report_stdout;
            let report_success = job.report_success;
            let format = variant_ident(job.report_format);
            let tech = job.call_tech_support_on_error;
            let suppress = job.suppress_empty;
            let timeout = match job.timeout_seconds {
                Some(t) => quote!(::core::option::Option::Some(#t)),
                None => quote!(::core::option::Option::None),
            };
            job_specs.push(quote! {
                #rt::JobSpec {
                    job_type: #job_type,
                    namespace: #n,
                    name: #name,
                    template_source: #source,
                    template: &[#(#parts),*],
                    report_stdout: #report_stdout,
                    report_success: #report_success,
                    report_format: #rt::ReportFormat::#format,
                    call_tech_support_on_error: #tech,
                    suppress_empty: #suppress,
                    timeout_seconds: #timeout,
                }
            });
            job_names.push(pascal_case(&format!("{n} {}", job.name.value)));
            job_types.push(job_type);
        }
    }
    let job_idents = unique(job_names);
    let job_index: Vec<usize> = (0..job_idents.len()).collect();

    // Commands, in namespace then file order; `first[k]` is namespace k's first global index.
    let mut command_specs = Vec::new();
    let mut first = Vec::new();
    let mut ns_enums = Vec::new();
    let mut ns_variants = Vec::new();
    let mut ns_specs = Vec::new();
    let mut parse_arms = Vec::new();
    let mut build_arms = Vec::new();
    let mut index_arms = Vec::new();
    let mut params_arms = Vec::new();
    let mut job_arms = Vec::new();
    let ns_idents = unique(
        config
            .namespaces
            .iter()
            .map(|ns| pascal_case(&ns.name.value))
            .collect(),
    );
    for (k, ns) in config.namespaces.iter().enumerate() {
        let n = &ns.name.value;
        let base = command_specs.len();
        first.push(base);
        let ns_variant = &ns_idents[k];
        let ns_enum = format_ident!("{}Command", ns_variant);
        let variant_idents = unique(
            ns.slack
                .iter()
                .map(|c| pascal_case(&c.command.value))
                .collect(),
        );
        let mut variants = Vec::new();
        for (i, cmd) in ns.slack.iter().enumerate() {
            let global = base + i;
            let full = format!("{n} {}", cmd.command.value);
            let segments = parse_pattern(&full).unwrap_or_default();
            let pattern = segments.iter().map(|s| match s {
                Segment::Literal(l) => quote!(#rt::Segment::Literal(#l)),
                Segment::Param(p) => quote!(#rt::Segment::Param(#p)),
            });
            let params = param_names(&segments);
            let command = &cmd.command.value;
            let help = &cmd.help;
            let action = variant_ident(cmd.action);
            let job_type = format!("{n}_{}", cmd.job_type.value);
            let delay = cmd.delay_seconds;
            let examples = cmd.examples.iter().map(|e| &e.value);
            command_specs.push(quote! {
                #rt::CommandSpec {
                    namespace: #n,
                    command: #command,
                    usage: #full,
                    pattern: &[#(#pattern),*],
                    params: &[#(#params),*],
                    help: #help,
                    action: #rt::Action::#action,
                    job_type: #job_type,
                    delay_seconds: #delay,
                    examples: &[#(#examples),*],
                }
            });
            let v = &variant_idents[i];
            let fields: Vec<Ident> = params.iter().map(|p| field_ident(p)).collect();
            let doc = format!("`{full}`: {help}");
            if fields.is_empty() {
                variants.push(quote!(#[doc = #doc] #v));
                build_arms.push(quote!(#global => Command::#ns_variant(#ns_enum::#v)));
                index_arms.push(quote!(Command::#ns_variant(#ns_enum::#v) => #global));
                params_arms
                    .push(quote!(Command::#ns_variant(#ns_enum::#v) => ::std::vec::Vec::new()));
            } else {
                variants.push(quote!(#[doc = #doc] #v { #(#fields: ::std::string::String),* }));
                build_arms.push(quote!(#global => Command::#ns_variant(#ns_enum::#v { #(#fields: captures.next()?),* })));
                index_arms.push(quote!(Command::#ns_variant(#ns_enum::#v { .. }) => #global));
                params_arms.push(quote!(Command::#ns_variant(#ns_enum::#v { #(#fields),* }) => ::std::vec![#((#params, #fields.as_str())),*]));
            }
            // Commands whose job is missing were reported by validation; such code is never emitted.
            if let Some(j) = job_types.iter().position(|t| *t == job_type) {
                let job_ident = &job_idents[j];
                job_arms.push(quote!(#global => JobType::#job_ident));
            }
        }
        if ns.slack.is_empty() {
            // The namespace's enum is empty, but `match self` on `&Command` still wants an arm
            // for it (the compiler assumes data behind a reference may be inhabited).
            index_arms.push(quote!(Command::#ns_variant(inner) => match *inner {}));
            params_arms.push(quote!(Command::#ns_variant(inner) => match *inner {}));
        }
        let doc = format!("The commands of namespace `{n}`.");
        ns_enums.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq, Eq, Hash)]
            pub enum #ns_enum { #(#variants),* }
        });
        let ns_doc = format!("A command of namespace `{n}`.");
        ns_variants.push(quote!(#[doc = #ns_doc] #ns_variant(#ns_enum)));
        let order: Vec<usize> = orders
            .get(k)
            .map(|o| o.iter().map(|i| base + i).collect())
            .unwrap_or_default();
        parse_arms.push(quote!(#n => &[#(#order),*]));
        let description = &ns.description;
        let restricted = ns.restricted;
        let fabfile = opt_str(&ns.fabfile);
        let default_channel = &ns.default_channel;
        let file_order: Vec<usize> = (base..base + ns.slack.len()).collect();
        ns_specs.push(quote! {
            #rt::NamespaceSpec {
                name: #n,
                description: #description,
                restricted: #restricted,
                fabfile: #fabfile,
                default_channel: #default_channel,
                commands: &[#(#file_order),*],
                match_order: &[#(#order),*],
            }
        });
    }

    let github_specs = config.namespaces.iter().flat_map(|ns| {
        let n = &ns.name.value;
        let rt = rt.clone();
        ns.github.iter().map(move |r| {
            let event = &r.event.value;
            let action = opt_str(&r.action);
            let merged = match &r.merged {
                Some(m) => {
                    let m = m.value;
                    quote!(::core::option::Option::Some(#m))
                }
                None => quote!(::core::option::Option::None),
            };
            let base = opt_str(&r.base_branch);
            let job_type = format!("{n}_{}", r.job_type.value);
            let delay = r.delay_seconds;
            quote! {
                #rt::GithubRuleSpec {
                    namespace: #n,
                    event: #event,
                    action: #action,
                    merged: #merged,
                    base_branch: #base,
                    job_type: #job_type,
                    delay_seconds: #delay,
                }
            }
        })
    });
    let schedule_specs = config.namespaces.iter().flat_map(|ns| {
        let n = &ns.name.value;
        let rt = rt.clone();
        ns.schedules.iter().map(move |s| {
            let job_type = format!("{n}_{}", s.job_type.value);
            let cron = &s.cron.value;
            let timezone = &s.timezone.value;
            let args = s.arg_pairs();
            let key = s.key(n);
            let names = args.iter().map(|(k, _)| k);
            let values = args.iter().map(|(_, v)| v);
            let channel = s.channel.as_deref().unwrap_or(&ns.default_channel);
            let catch_up = variant_ident(s.catch_up);
            quote! {
                #rt::ScheduleSpec {
                    key: #key,
                    namespace: #n,
                    job_type: #job_type,
                    cron: #cron,
                    timezone: #timezone,
                    args: &[#((#names, #values)),*],
                    channel: #channel,
                    catch_up: #rt::CatchUp::#catch_up,
                }
            }
        })
    });
    let support_specs = config.support.iter().map(|s| {
        let name = &s.name.value;
        let keywords = s.keywords.iter().map(|k| k.value.to_lowercase());
        let env = &s.channel_env.value;
        let reaction = &s.reaction;
        let ooo = opt_str(&s.out_of_office_file);
        quote! {
            #rt::SupportRuleSpec {
                name: #name,
                keywords: &[#(#keywords),*],
                channel_env: #env,
                reaction: #reaction,
                out_of_office_file: #ooo,
            }
        }
    });

    // With no namespaces (the stub emitted next to config errors), an empty `Command` would
    // fail `match self {}` (E0004: `&Command` counts as inhabited) and would make every use of
    // a command in the crate "unreachable" (a page of warnings next to the real errors). A
    // hidden variant that is never constructed keeps both away; likewise for `JobType`.
    let unconfigured = quote!(::core::unreachable!("no job config was compiled"));
    let (command_variants, index_body, params_body) = if config.namespaces.is_empty() {
        (
            quote!(
                #[doc(hidden)]
                Unconfigured
            ),
            quote!(match self { Command::Unconfigured => #unconfigured }),
            quote!(match self { Command::Unconfigured => #unconfigured }),
        )
    } else {
        (
            quote!(#(#ns_variants),*),
            quote!(match self { #(#index_arms),* }),
            quote!(match self { #(#params_arms),* }),
        )
    };
    let (job_variants, job_index_body) = if job_idents.is_empty() {
        (
            quote!(
                #[doc(hidden)]
                Unconfigured
            ),
            quote!(match self { JobType::Unconfigured => #unconfigured }),
        )
    } else {
        (
            quote!(#(#[doc = #job_types] #job_idents),*),
            quote!(match self { #(JobType::#job_idents => #job_index),* }),
        )
    };

    quote! {
        #track

        /// Everything compiled from the job config: namespaces, jobs, commands and rules.
        pub static CONFIG: #rt::Config = #rt::Config {
            namespaces: &[#(#ns_specs),*],
            jobs: &[#(#job_specs),*],
            commands: &[#(#command_specs),*],
            github: &[#(#github_specs),*],
            schedules: &[#(#schedule_specs),*],
            support: &[#(#support_specs),*],
        };

        /// A command a user can type, with its parameters.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Command { #command_variants }

        #(#ns_enums)*

        /// A job type, stored in the queue as `<namespace>_<job>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum JobType { #job_variants }

        #[allow(unreachable_code, unreachable_patterns, unused_mut, unused_variables, clippy::match_single_binding)]
        impl JobType {
            /// Every job type, in config order.
            pub const ALL: &'static [JobType] = &[#(JobType::#job_idents),*];

            /// The position of this job in `CONFIG.jobs`.
            pub fn index(self) -> usize {
                #job_index_body
            }

            /// The job's settings.
            pub fn spec(self) -> &'static #rt::JobSpec {
                &CONFIG.jobs[self.index()]
            }

            /// The stored name, e.g. `test_hello_name`.
            pub fn as_str(self) -> &'static str {
                self.spec().job_type
            }
        }

        impl ::core::str::FromStr for JobType {
            type Err = #rt::UnknownJobType;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    #(#job_types => ::core::result::Result::Ok(JobType::#job_idents),)*
                    _ => ::core::result::Result::Err(#rt::UnknownJobType(s.to_string())),
                }
            }
        }

        impl ::core::fmt::Display for JobType {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[allow(unreachable_code, unreachable_patterns, unused_mut, unused_variables, clippy::match_single_binding)]
        impl Command {
            /// Parses normalised message text (whitespace collapsed, trimmed) into a command.
            /// Parameters come back with Slack's link formatting and escapes removed.
            pub fn parse(text: &str) -> ::core::option::Option<Self> {
                let first = text.split(' ').next()?;
                let order: &[usize] = match first {
                    #(#parse_arms,)*
                    _ => return ::core::option::Option::None,
                };
                for &index in order {
                    if let ::core::option::Option::Some(captures) = #rt::match_segments(CONFIG.commands[index].pattern, text) {
                        return Self::from_captures(index, captures);
                    }
                }
                ::core::option::Option::None
            }

            fn from_captures(index: usize, captures: ::std::vec::Vec<&str>) -> ::core::option::Option<Self> {
                let mut captures = captures.into_iter().map(#rt::unformat_param);
                ::core::option::Option::Some(match index {
                    #(#build_arms,)*
                    _ => return ::core::option::Option::None,
                })
            }

            /// The position of this command in `CONFIG.commands`.
            pub fn index(&self) -> usize {
                #index_body
            }

            /// The command's settings.
            pub fn spec(&self) -> &'static #rt::CommandSpec {
                &CONFIG.commands[self.index()]
            }

            /// The parameters as `(name, value)`, in pattern order.
            pub fn params(&self) -> ::std::vec::Vec<(&'static str, &str)> {
                #params_body
            }

            /// The job this command acts on.
            pub fn job_type(&self) -> JobType {
                match self.index() {
                    #(#job_arms,)*
                    index => panic!("command {index} has no job; the config compiler rejects such configs"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_config;
    use crate::validate::validate;

    fn generated(toml: &str) -> String {
        let mut diags = Vec::new();
        let config = parse_config(toml, &mut diags);
        let orders = validate(&config, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        generate(&config, &orders, None).to_string()
    }

    #[test]
    fn the_error_stub_has_inhabited_enums() {
        // An empty `Command` makes `match self {}` on `&Command` E0004 and every use of a
        // command "unreachable": the stub next to config errors must add neither to the output.
        let code = generate(&Config::default(), &[], None).to_string();
        assert!(
            code.contains("pub enum Command { # [doc (hidden)] Unconfigured }"),
            "{code}"
        );
        assert!(
            code.contains("pub enum JobType { # [doc (hidden)] Unconfigured }"),
            "{code}"
        );
        assert_eq!(
            code.matches("match self { Command :: Unconfigured =>")
                .count(),
            2,
            "{code}"
        );
        assert_eq!(
            code.matches("match self { JobType :: Unconfigured =>")
                .count(),
            1,
            "{code}"
        );
        assert!(!code.contains("{ }"), "no empty enum or match: {code}");
        // The hidden variant is never listed or parsed.
        assert!(
            code.contains("pub const ALL : & 'static [JobType] = & [] ;"),
            "{code}"
        );
    }

    #[test]
    fn a_namespace_without_commands_gets_arms_for_its_empty_enum() {
        let code = generated(
            r#"
[hooks.jobs.deploy]
run_args_template = "./deploy.sh"
[[hooks.github]]
event = "push"
job_type = "deploy"
"#,
        );
        assert_eq!(
            code.matches("Command :: Hooks (inner) => match * inner { }")
                .count(),
            2,
            "{code}"
        );
    }

    #[test]
    fn names_are_pascal_case_identifiers() {
        assert_eq!(pascal_case("hello-world [name]"), "HelloWorldName");
        assert_eq!(pascal_case("[x]"), "X");
        assert_eq!(pascal_case("2fa on"), "N2faOn");
        assert_eq!(pascal_case("--"), "N");
    }
}
