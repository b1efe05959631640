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

/// The runtime crate, as the generated code names it.
fn spec_crate() -> TokenStream {
    quote!(::bennettbot_spec)
}

/// Generates the items for `config`. `tracked_path`, when given, is included with
/// `include_bytes!` so that cargo rebuilds when the file changes.
pub fn generate(
    config: &ConfigModel,
    orders: &[MatchOrder],
    tracked_path: Option<&Path>,
) -> TokenStream {
    let track = tracked_path.map(|p| {
        let p = p.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = include_bytes!(#p);
        )
    });
    let jobs = JobTable::new(config);
    let commands = CommandTable::new(config, orders, &jobs);
    let configured = !config.namespaces.is_empty();
    let config_static = config_static(config, &jobs, &commands);
    let command_enums = command_enums(&commands, configured);
    let job_type = job_type_items(&jobs);
    let command_impl = command_impl(&commands, configured);
    quote! {
        #track
        #config_static
        #command_enums
        #job_type
        #command_impl
    }
}

/// The jobs, in namespace then file order: their `JobSpec`s and the `JobType` variants.
struct JobTable {
    specs: Vec<TokenStream>,
    idents: Vec<Ident>,
    /// `<namespace>_<job>`, as the queue stores it.
    types: Vec<String>,
}

impl JobTable {
    /// Gathers every namespace's jobs.
    fn new(config: &ConfigModel) -> Self {
        let mut specs = Vec::new();
        let mut names = Vec::new();
        let mut types = Vec::new();
        for ns in &config.namespaces {
            let n = &ns.name.value;
            for job in &ns.jobs {
                let job_type = format!("{n}_{}", job.name.value);
                specs.push(job_spec(n, &job_type, job));
                names.push(pascal_case(&format!("{n} {}", job.name.value)));
                types.push(job_type);
            }
        }
        JobTable {
            specs,
            idents: unique(names),
            types,
        }
    }
}

/// One job's `JobSpec`.
fn job_spec(n: &str, job_type: &str, job: &Job) -> TokenStream {
    let rt = spec_crate();
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
    let allow = allow_spec(job.allow.as_ref());
    let allow_broadcast = job.allow_broadcast;
    let logs_of = opt_str(&job.logs_of.as_ref().map(|l| l.value.clone()));
    quote! {
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
            allow: #allow,
            allow_broadcast: #allow_broadcast,
            logs_of: #logs_of,
        }
    }
}

/// `Option<AllowSpec>` for a rule.
fn allow_spec(allow: Option<&Allow>) -> TokenStream {
    let rt = spec_crate();
    let Some(a) = allow else {
        return quote!(::core::option::Option::None);
    };
    let values = |v: &[Sp<String>]| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
    let users = values(&a.users);
    let usergroups = values(&a.usergroups);
    let channels = values(&a.channels);
    let guests = match &a.guests {
        Some(g) => {
            let g = g.value;
            quote!(::core::option::Option::Some(#g))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::core::option::Option::Some(#rt::AllowSpec {
            users: &[#(#users),*],
            usergroups: &[#(#usergroups),*],
            channels: &[#(#channels),*],
            guests: #guests,
        })
    }
}

/// The commands, in namespace then file order (a command's global index is its position in
/// `CONFIG.commands`), with the namespaces' specs and enums and the match arms of `Command`.
#[derive(Default)]
struct CommandTable {
    specs: Vec<TokenStream>,
    ns_specs: Vec<TokenStream>,
    /// One enum per namespace, e.g. `TestCommand`.
    ns_enums: Vec<TokenStream>,
    /// `Command`'s variants, one per namespace.
    ns_variants: Vec<TokenStream>,
    /// Namespace name → its commands' global indexes in match order.
    parse_arms: Vec<TokenStream>,
    /// Global index → the command built from its captures.
    build_arms: Vec<TokenStream>,
    /// Command → global index.
    index_arms: Vec<TokenStream>,
    /// Command → its `(name, value)` parameters.
    params_arms: Vec<TokenStream>,
    /// Global index → `JobType`.
    job_arms: Vec<TokenStream>,
}

/// The names a namespace's commands are generated under.
struct NamespaceIdents<'a> {
    /// The namespace's name in the config.
    name: &'a str,
    /// Its variant of `Command`, e.g. `Test`.
    variant: &'a Ident,
    /// Its own enum, e.g. `TestCommand`.
    command_enum: Ident,
}

impl CommandTable {
    /// Gathers every namespace's commands; `orders` holds each namespace's match order.
    fn new(config: &ConfigModel, orders: &[MatchOrder], jobs: &JobTable) -> Self {
        let mut table = CommandTable::default();
        let ns_idents = unique(
            config
                .namespaces
                .iter()
                .map(|ns| pascal_case(&ns.name.value))
                .collect(),
        );
        for (k, ns) in config.namespaces.iter().enumerate() {
            table.add_namespace(ns, &ns_idents[k], orders.get(k), jobs);
        }
        table
    }

    /// Adds a namespace: its commands, its enum and `Command` variant, its parse arm and spec.
    fn add_namespace(
        &mut self,
        ns: &Namespace,
        ns_variant: &Ident,
        order: Option<&MatchOrder>,
        jobs: &JobTable,
    ) {
        let n = &ns.name.value;
        let base = self.specs.len();
        let idents = NamespaceIdents {
            name: n,
            variant: ns_variant,
            command_enum: format_ident!("{}Command", ns_variant),
        };
        let variant_idents = unique(
            ns.slack
                .iter()
                .map(|c| pascal_case(&c.command.value))
                .collect(),
        );
        let variants: Vec<TokenStream> = ns
            .slack
            .iter()
            .zip(&variant_idents)
            .enumerate()
            .map(|(i, (cmd, v))| self.add_command(&idents, base + i, cmd, v, jobs))
            .collect();
        if ns.slack.is_empty() {
            // The namespace's enum is empty, but `match self` on `&Command` still wants an arm
            // for it (the compiler assumes data behind a reference may be inhabited).
            self.index_arms
                .push(quote!(Command::#ns_variant(inner) => match *inner {}));
            self.params_arms
                .push(quote!(Command::#ns_variant(inner) => match *inner {}));
        }
        let ns_enum = &idents.command_enum;
        let doc = format!("The commands of namespace `{n}`.");
        self.ns_enums.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq, Eq, Hash)]
            pub enum #ns_enum { #(#variants),* }
        });
        let ns_doc = format!("A command of namespace `{n}`.");
        self.ns_variants
            .push(quote!(#[doc = #ns_doc] #ns_variant(#ns_enum)));
        let order: Vec<usize> = order
            .map(|o| o.iter().map(|i| base + i).collect())
            .unwrap_or_default();
        self.parse_arms.push(quote!(#n => &[#(#order),*]));
        self.ns_specs.push(namespace_spec(ns, base, &order));
    }

    /// Adds the spec and match arms of the command at `global`; returns its enum variant.
    fn add_command(
        &mut self,
        ns: &NamespaceIdents,
        global: usize,
        cmd: &SlackCommand,
        v: &Ident,
        jobs: &JobTable,
    ) -> TokenStream {
        let NamespaceIdents {
            name: n,
            variant: ns_variant,
            command_enum: ns_enum,
        } = ns;
        let full = format!("{n} {}", cmd.command.value);
        let segments = parse_pattern(&full).unwrap_or_default();
        let params = param_names(&segments);
        let job_type = format!("{n}_{}", cmd.job_type.value);
        self.specs
            .push(command_spec(n, cmd, &full, &segments, &params, &job_type));
        let fields: Vec<Ident> = params.iter().map(|p| field_ident(p)).collect();
        let help = &cmd.help;
        let doc = format!("`{full}`: {help}");
        let variant = if fields.is_empty() {
            self.build_arms
                .push(quote!(#global => Command::#ns_variant(#ns_enum::#v)));
            self.index_arms
                .push(quote!(Command::#ns_variant(#ns_enum::#v) => #global));
            self.params_arms
                .push(quote!(Command::#ns_variant(#ns_enum::#v) => ::std::vec::Vec::new()));
            quote!(#[doc = #doc] #v)
        } else {
            self.build_arms.push(quote!(#global => Command::#ns_variant(#ns_enum::#v { #(#fields: captures.next()?),* })));
            self.index_arms
                .push(quote!(Command::#ns_variant(#ns_enum::#v { .. }) => #global));
            self.params_arms.push(quote!(Command::#ns_variant(#ns_enum::#v { #(#fields),* }) => ::std::vec![#((#params, #fields.as_str())),*]));
            quote!(#[doc = #doc] #v { #(#fields: ::std::string::String),* })
        };
        // Commands whose job is missing were reported by validation; such code is never emitted.
        if let Some(j) = jobs.types.iter().position(|t| *t == job_type) {
            let job_ident = &jobs.idents[j];
            self.job_arms.push(quote!(#global => JobType::#job_ident));
        }
        variant
    }
}

/// One command's `CommandSpec`; `full` is its pattern with the namespace in front.
fn command_spec(
    n: &str,
    cmd: &SlackCommand,
    full: &str,
    segments: &[Segment<'_>],
    params: &[&str],
    job_type: &str,
) -> TokenStream {
    let rt = spec_crate();
    let pattern = segments.iter().map(|s| match s {
        Segment::Literal(l) => quote!(#rt::Segment::Literal(#l)),
        Segment::Param(p) => quote!(#rt::Segment::Param(#p)),
    });
    let command = &cmd.command.value;
    let help = &cmd.help;
    let action = variant_ident(cmd.action);
    let delay = cmd.delay_seconds;
    let examples = cmd.examples.iter().map(|e| &e.value);
    let allow = allow_spec(cmd.allow.as_ref());
    quote! {
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
            allow: #allow,
        }
    }
}

/// A namespace's `NamespaceSpec`; its commands start at global index `base`.
fn namespace_spec(ns: &Namespace, base: usize, order: &[usize]) -> TokenStream {
    let rt = spec_crate();
    let n = &ns.name.value;
    let description = &ns.description;
    let restricted = ns.restricted;
    let fabfile = opt_str(&ns.fabfile);
    let default_channel = &ns.default_channel;
    let file_order: Vec<usize> = (base..base + ns.slack.len()).collect();
    let allow = allow_spec(ns.allow.as_ref());
    let env = ns.env.iter().map(|e| &e.value);
    let secret_env = ns.secret_env.iter().map(|e| &e.value);
    quote! {
        #rt::NamespaceSpec {
            name: #n,
            description: #description,
            restricted: #restricted,
            fabfile: #fabfile,
            default_channel: #default_channel,
            allow: #allow,
            env: &[#(#env),*],
            secret_env: &[#(#secret_env),*],
            commands: &[#(#file_order),*],
            match_order: &[#(#order),*],
        }
    }
}

/// Every namespace's `GithubRuleSpec`s, in namespace then file order.
fn github_specs(config: &ConfigModel) -> Vec<TokenStream> {
    let rt = spec_crate();
    let mut specs = Vec::new();
    for ns in &config.namespaces {
        let n = &ns.name.value;
        for r in &ns.github {
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
            specs.push(quote! {
                #rt::GithubRuleSpec {
                    namespace: #n,
                    event: #event,
                    action: #action,
                    merged: #merged,
                    base_branch: #base,
                    job_type: #job_type,
                    delay_seconds: #delay,
                }
            });
        }
    }
    specs
}

/// Every namespace's `ScheduleSpec`s, in namespace then file order.
fn schedule_specs(config: &ConfigModel) -> Vec<TokenStream> {
    let rt = spec_crate();
    let mut specs = Vec::new();
    for ns in &config.namespaces {
        let n = &ns.name.value;
        for s in &ns.schedules {
            let job_type = format!("{n}_{}", s.job_type.value);
            let cron = &s.cron.value;
            let timezone = &s.timezone.value;
            let args = s.arg_pairs();
            let key = s.key(n);
            let names = args.iter().map(|(k, _)| k);
            let values = args.iter().map(|(_, v)| v);
            let channel = s.channel.as_deref().unwrap_or(&ns.default_channel);
            let catch_up = variant_ident(s.catch_up);
            specs.push(quote! {
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
            });
        }
    }
    specs
}

/// The `SupportRuleSpec`s, in file order.
fn support_specs(config: &ConfigModel) -> Vec<TokenStream> {
    let rt = spec_crate();
    config
        .support
        .iter()
        .map(|s| {
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
        })
        .collect()
}

/// `CONFIG`, the static every generated item reads its data from.
fn config_static(config: &ConfigModel, jobs: &JobTable, commands: &CommandTable) -> TokenStream {
    let rt = spec_crate();
    let ns_specs = &commands.ns_specs;
    let job_specs = &jobs.specs;
    let command_specs = &commands.specs;
    let github_specs = github_specs(config);
    let schedule_specs = schedule_specs(config);
    let support_specs = support_specs(config);
    quote! {
        /// Everything compiled from the job config: namespaces, jobs, commands and rules.
        pub static CONFIG: #rt::Config = #rt::Config {
            namespaces: &[#(#ns_specs),*],
            jobs: &[#(#job_specs),*],
            commands: &[#(#command_specs),*],
            github: &[#(#github_specs),*],
            schedules: &[#(#schedule_specs),*],
            support: &[#(#support_specs),*],
        };
    }
}

/// The hidden variant of `Command` or `JobType` when there is nothing to list.
///
/// With no namespaces (the stub emitted next to config errors), an empty `Command` would fail
/// `match self {}` (E0004: `&Command` counts as inhabited) and would make every use of a command
/// in the crate "unreachable" (a page of warnings next to the real errors). A hidden variant
/// that is never constructed keeps both away; likewise for `JobType`.
fn unconfigured_variant() -> TokenStream {
    quote!(
        #[doc(hidden)]
        Unconfigured
    )
}

/// The body of a method on the hidden variant, which is never constructed.
fn unconfigured_body() -> TokenStream {
    quote!(::core::unreachable!("no job config was compiled"))
}

/// `Command`, with one variant per namespace, and each namespace's enum of commands.
fn command_enums(commands: &CommandTable, configured: bool) -> TokenStream {
    let ns_variants = &commands.ns_variants;
    let ns_enums = &commands.ns_enums;
    let command_variants = if configured {
        quote!(#(#ns_variants),*)
    } else {
        unconfigured_variant()
    };
    quote! {
        /// A command a user can type, with its parameters.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Command { #command_variants }

        #(#ns_enums)*
    }
}

/// `JobType`, its methods, and its conversions from and to the stored name.
fn job_type_items(jobs: &JobTable) -> TokenStream {
    let rt = spec_crate();
    let job_idents = &jobs.idents;
    let job_types = &jobs.types;
    let job_index: Vec<usize> = (0..job_idents.len()).collect();
    let (job_variants, job_index_body) = if job_idents.is_empty() {
        let unconfigured = unconfigured_body();
        (
            unconfigured_variant(),
            quote!(match self { JobType::Unconfigured => #unconfigured }),
        )
    } else {
        (
            quote!(#(#[doc = #job_types] #job_idents),*),
            quote!(match self { #(JobType::#job_idents => #job_index),* }),
        )
    };
    quote! {
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
    }
}

/// `Command`'s methods: parsing a message, and reading a command's index, spec, parameters
/// and job.
fn command_impl(commands: &CommandTable, configured: bool) -> TokenStream {
    let rt = spec_crate();
    let CommandTable {
        parse_arms,
        build_arms,
        index_arms,
        params_arms,
        job_arms,
        ..
    } = commands;
    let (index_body, params_body) = if configured {
        (
            quote!(match self { #(#index_arms),* }),
            quote!(match self { #(#params_arms),* }),
        )
    } else {
        let unconfigured = unconfigured_body();
        (
            quote!(match self { Command::Unconfigured => #unconfigured }),
            quote!(match self { Command::Unconfigured => #unconfigured }),
        )
    };
    quote! {
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
        let code = generate(&ConfigModel::default(), &[], None).to_string();
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
