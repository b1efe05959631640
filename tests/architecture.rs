//! The shape of the code, checked on its source: no function over 120 lines, module imports
//! that only point down (top-level modules in a declared order, no circle between files), and a
//! README "Development" map that names what is in the tree and nothing that is not.
//!
//! The source is parsed with `syn` (spans with line numbers), not compiled: these are rules about
//! how the code reads, which the compiler does not enforce.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The longest function the code may hold, in lines from its signature to its closing brace.
const MAX_FUNCTION_LINES: usize = 120;

/// The bennettbot crate's top-level modules, lowest first: each may import only from modules in
/// an earlier layer. Modules in one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    &["config"],
    &[
        "intent",
        "shutdown",
        "error_chain",
        "logging",
        "manifest",
        "connections",
        "permissions",
    ],
    &["explain"],
    &["metrics"],
    &["queue"],
    &["settings"],
    &["schedule"],
    &["conversation"],
    &["slack"],
    &["webhook", "dispatcher", "check"],
    &["app"],
    &["shell"],
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source folders whose functions are held to [`MAX_FUNCTION_LINES`]: the bot and every
/// workspace crate but the tests' support.
fn source_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("src")];
    for group in ["macros", "crates"] {
        let Ok(entries) = std::fs::read_dir(root().join(group)) else {
            continue;
        };
        for entry in entries {
            let src = entry.expect("directory entry").path().join("src");
            if src.is_dir() {
                dirs.push(src);
            }
        }
    }
    dirs
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

/// Collects functions longer than the limit, as `name (lines)`.
struct LongFunctions(Vec<String>);

impl LongFunctions {
    fn check(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let lines = span.end().line - span.start().line + 1;
        if lines > MAX_FUNCTION_LINES {
            self.0.push(format!(
                "{name} at line {} ({lines} lines)",
                span.start().line
            ));
        }
    }
}

impl<'ast> Visit<'ast> for LongFunctions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let mut found = Vec::new();
    for dir in source_dirs() {
        for path in rust_files(&dir) {
            let mut long = LongFunctions(Vec::new());
            long.visit_file(&parse(&path));
            let shown = path
                .strip_prefix(root())
                .unwrap_or(&path)
                .display()
                .to_string();
            found.extend(long.0.into_iter().map(|f| format!("{shown}: {f}")));
        }
    }
    assert!(
        found.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them by what they do):\n{}",
        found.join("\n")
    );
}

/// A crate's modules by path (`queue::sqlite::lease`; the library root is ""), each with its
/// file; modules declared under `#[cfg(test)]` and a binary's `main.rs` (which reaches the
/// library by name, not through `crate::`) are left out.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let all: BTreeMap<String, PathBuf> = rust_files(src)
        .into_iter()
        .filter(|path| !(path.ends_with("main.rs") && src.join("lib.rs").exists()))
        .map(|path| {
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            (parts.join("::"), path)
        })
        .collect();
    let test_only: Vec<String> = all
        .iter()
        .flat_map(|(module, path)| {
            parse(path)
                .items
                .into_iter()
                .filter_map(move |item| match item {
                    syn::Item::Mod(m) if is_cfg_test(&m.attrs) => Some(if module.is_empty() {
                        m.ident.to_string()
                    } else {
                        format!("{module}::{}", m.ident)
                    }),
                    _ => None,
                })
        })
        .collect();
    all.into_iter()
        .filter(|(module, _)| {
            !test_only
                .iter()
                .any(|t| module == t || module.starts_with(&format!("{t}::")))
        })
        .collect()
}

/// The `crate::`, `super::` and `self::` paths a file names outside `#[cfg(test)]` items, made
/// absolute (`["queue", "handle", "Queue"]`).
struct Imports {
    module: Vec<String>,
    paths: Vec<Vec<String>>,
}

impl Imports {
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => self.module.clone(),
            _ => return None,
        };
        let mut rest = &segments[1..];
        if first == "super" {
            base.pop();
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn add(&mut self, segments: Vec<String>) {
        if let Some(path) = self.absolute(&segments) {
            self.paths.push(path);
        }
    }

    /// Reads `crate :: a :: b` sequences out of a macro's tokens, groups included.
    fn macro_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        let text = |i: usize| tokens.get(i).map(|t| t.to_string());
        let mut i = 0;
        while i < tokens.len() {
            if let proc_macro2::TokenTree::Group(group) = &tokens[i] {
                self.macro_tokens(group.stream());
                i += 1;
                continue;
            }
            let word = text(i).unwrap_or_default();
            if !matches!(word.as_str(), "crate" | "super" | "self") {
                i += 1;
                continue;
            }
            let mut segments = vec![word];
            i += 1;
            while text(i).as_deref() == Some(":") && text(i + 1).as_deref() == Some(":") {
                match tokens.get(i + 2) {
                    Some(proc_macro2::TokenTree::Ident(ident)) => segments.push(ident.to_string()),
                    _ => break,
                }
                i += 3;
            }
            self.add(segments);
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                full.push(n.ident.to_string());
                self.add(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.add(full);
            }
            syn::UseTree::Glob(_) => self.add(prefix.clone()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().split_whitespace().any(|t| t == "test"))
    })
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Paths inside macro calls (`format!`, `tracing::info!`) are plain tokens.
        self.macro_tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// Edges between modules of one crate: module -> modules it names (the longest module prefix of
/// each path). A module naming its own ancestors or descendants is left out: a folder's
/// `mod.rs` declares and re-exports its parts, and those parts use what it declares.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let mut graph = BTreeMap::new();
    for (module, paths) in named_paths(&modules) {
        let mut edges = BTreeSet::new();
        for target in paths {
            let owner = (1..=target.len())
                .rev()
                .map(|k| target[..k].join("::"))
                .find(|candidate| modules.contains_key(candidate));
            if let Some(owner) = owner {
                let related = owner == module
                    || module.starts_with(&format!("{owner}::"))
                    || owner.starts_with(&format!("{module}::"))
                    || module.is_empty();
                if !related {
                    edges.insert(owner);
                }
            }
        }
        graph.insert(module, edges);
    }
    graph
}

/// Each module's absolute `crate::`/`super::`/`self::` paths, outside `#[cfg(test)]`.
fn named_paths(modules: &BTreeMap<String, PathBuf>) -> BTreeMap<String, Vec<Vec<String>>> {
    modules
        .iter()
        .map(|(module, path)| {
            let mut imports = Imports {
                module: if module.is_empty() {
                    Vec::new()
                } else {
                    module.split("::").map(str::to_string).collect()
                },
                paths: Vec::new(),
            };
            imports.visit_file(&parse(path));
            (module.clone(), imports.paths)
        })
        .collect()
}

#[test]
fn only_the_assembly_reads_the_compiled_config() {
    // src/main.rs reaches it as `bennettbot::config::CONFIG`; in the library only app.rs, which
    // puts the parts together, may name it. Everything else is handed its `&Config`.
    let src = root().join("src");
    let main = std::fs::read_to_string(src.join("main.rs")).expect("src/main.rs");
    assert!(main.contains("config::CONFIG"), "main.rs hands out CONFIG");
    let readers: Vec<String> = named_paths(&modules(&src))
        .into_iter()
        .filter(|(module, paths)| {
            !matches!(module.as_str(), "app" | "config" | "config::compiled")
                && paths
                    .iter()
                    .any(|p| p.last().is_some_and(|l| l == "CONFIG"))
        })
        .map(|(module, _)| module)
        .collect();
    assert!(
        readers.is_empty(),
        "modules that read the compiled config instead of being given it: {readers:?}"
    );
}

/// The groups of modules that import each other, directly or through others (Tarjan's strongly
/// connected components of more than one module).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// Each crate's source folder whose module graph must have no circle.
fn crate_sources() -> Vec<PathBuf> {
    source_dirs()
}

#[test]
fn no_two_modules_import_each_other() {
    let mut found = Vec::new();
    for src in crate_sources() {
        for group in circles(&module_graph(&src)) {
            let shown = src
                .strip_prefix(root())
                .unwrap_or(&src)
                .display()
                .to_string();
            found.push(format!("{shown}: {}", group.join(" <-> ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other (move what both need below both):\n{}",
        found.join("\n")
    );
}

#[test]
fn top_level_modules_import_only_from_lower_layers() {
    let layer_of = |module: &str| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&module))
            .unwrap_or_else(|| panic!("src/{module} is in no layer of LAYERS: place it there"))
    };
    let graph = module_graph(&root().join("src"));
    let mut upward = BTreeSet::new();
    for (module, targets) in &graph {
        let Some(from) = module.split("::").next().filter(|m| !m.is_empty()) else {
            continue;
        };
        for target in targets {
            let to = target.split("::").next().expect("a module path");
            if to != from && layer_of(to) >= layer_of(from) {
                upward.insert(format!("{module} -> {target}"));
            }
        }
    }
    let mut top: Vec<&str> = graph.keys().filter_map(|m| m.split("::").next()).collect();
    top.dedup();
    for module in top.into_iter().filter(|m| !m.is_empty()) {
        layer_of(module);
    }
    assert!(
        upward.is_empty(),
        "imports from a module to one at its level or above (pass it down as a parameter, a \
         callback or a trait object instead):\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The lines of the README's "Development" map (the first code block after its heading).
fn development_map() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split_once("## Development")
        .expect("README has a Development section")
        .1;
    let block = section.split_once("```\n").expect("a code block").1;
    let block = block.split_once("```").expect("the block ends").0;
    block.lines().map(str::to_string).collect()
}

/// The paths the map names: the first word of each entry, and every word in it that looks like
/// a path from the project's root (`src/queue/handle.rs`, `tests/support/`).
fn mapped_paths(map: &[String]) -> BTreeSet<String> {
    const ROOTS: &[&str] = &[
        "src/",
        "macros/",
        "crates/",
        "tests/",
        "benches/",
        "deploy/",
        "docs/",
        "migrations/",
        "workspace/",
        "scripts/",
    ];
    let mut paths = BTreeSet::new();
    for line in map {
        if let Some(first) = line
            .split_whitespace()
            .next()
            .filter(|_| !line.starts_with(' '))
        {
            paths.insert(first.to_string());
        }
        for word in line.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')')) {
            let word = word.trim_end_matches([':', '.']);
            if ROOTS.iter().any(|r| word.starts_with(r)) {
                paths.insert(word.to_string());
            }
        }
    }
    paths
}

#[test]
fn the_development_map_names_only_what_exists() {
    let missing: Vec<String> = mapped_paths(&development_map())
        .into_iter()
        .filter(|path| {
            // `workspace/<ns>/` and `migrations/postgres/*.sql` stand for families of paths.
            let concrete = path.split(['<', '*']).next().unwrap_or(path);
            !root().join(concrete).exists()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README's Development map names paths that do not exist: {missing:?}"
    );
}

#[test]
fn the_development_map_covers_every_part_of_the_tree() {
    let mapped = mapped_paths(&development_map());
    let covered = |path: &str| {
        mapped
            .iter()
            .any(|m| m.trim_end_matches('/') == path || m.starts_with(&format!("{path}/")))
    };
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(root().join("src")).expect("src") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != "lib.rs" {
            parts.push(format!("src/{name}"));
        }
    }
    for group in ["macros", "crates"] {
        if let Ok(entries) = std::fs::read_dir(root().join(group)) {
            for entry in entries {
                let name = entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                parts.push(format!("{group}/{name}"));
            }
        }
    }
    for top in [
        "tests",
        "benches",
        "deploy",
        "docs",
        "migrations",
        "workspace",
    ] {
        parts.push(top.to_string());
    }
    let uncovered: Vec<String> = parts.into_iter().filter(|p| !covered(p)).collect();
    assert!(
        uncovered.is_empty(),
        "README's Development map says nothing of: {uncovered:?}"
    );
}

/// The types (structs, enums, traits, aliases) defined outside `#[cfg(test)]` in a crate's
/// source, each with where it is.
fn type_definitions(src: &Path) -> BTreeMap<String, Vec<String>> {
    struct Types<'a> {
        file: &'a str,
        found: &'a mut BTreeMap<String, Vec<String>>,
    }
    impl<'ast> Visit<'ast> for Types<'_> {
        fn visit_item(&mut self, item: &'ast syn::Item) {
            let (name, attrs) = match item {
                syn::Item::Struct(i) => (Some(&i.ident), &i.attrs),
                syn::Item::Enum(i) => (Some(&i.ident), &i.attrs),
                syn::Item::Trait(i) => (Some(&i.ident), &i.attrs),
                syn::Item::Type(i) => (Some(&i.ident), &i.attrs),
                syn::Item::Mod(i) => (None, &i.attrs),
                // Items inside functions and impls are local to them.
                _ => return,
            };
            if is_cfg_test(attrs) {
                return;
            }
            if let Some(name) = name {
                let line = name.span().start().line;
                self.found
                    .entry(name.to_string())
                    .or_default()
                    .push(format!("{}:{line}", self.file));
            }
            syn::visit::visit_item(self, item);
        }
    }
    let mut found = BTreeMap::new();
    for (_, path) in modules(src) {
        let file = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        Types {
            file: &file,
            found: &mut found,
        }
        .visit_file(&parse(&path));
    }
    found
}

#[test]
fn no_type_is_defined_twice() {
    let mut twice = Vec::new();
    for src in crate_sources() {
        for (name, places) in type_definitions(&src) {
            if places.len() > 1 {
                twice.push(format!("{name}: {}", places.join(", ")));
            }
        }
    }
    // The config's vocabulary is defined once, in the spec and pattern crates, and the
    // compiler uses it: a type of the same name in the compiler would be a second definition.
    let compiler = type_definitions(&root().join("macros/compiler/src"));
    for shared in ["crates/spec/src", "crates/pattern/src"] {
        for (name, places) in type_definitions(&root().join(shared)) {
            if let Some(again) = compiler.get(&name) {
                twice.push(format!(
                    "{name}: {}, {}",
                    places.join(", "),
                    again.join(", ")
                ));
            }
        }
    }
    assert!(
        twice.is_empty(),
        "types with two definitions (keep one, in the lowest module or crate that needs it):\n{}",
        twice.join("\n")
    );
}
