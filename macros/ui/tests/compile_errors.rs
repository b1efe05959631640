//! Every class of config mistake is a compile error that names the config file, the line and
//! column, the key and a fix. Each `tests/ui/<class>.rs` compiles `tests/ui/<class>.toml`; the
//! expected compiler output is `tests/ui/<class>.stderr` (regenerate with `TRYBUILD=overwrite`
//! and read the diff: it is the message users see).

#[test]
fn bad_configs_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // Valid configs at the edges of code generation compile (and their `main` runs).
    t.pass("tests/ui/pass/*.rs");
}
