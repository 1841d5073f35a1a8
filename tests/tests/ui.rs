//! Runs the trybuild suite in `tests/ui` (see its README).

#[test]
fn ui() {
    build_like_the_workspace();
    let t = trybuild::TestCases::new();
    for m in ["plugin_route", "plugin", "plugins", "client"] {
        t.pass(format!("ui/{m}/pass/*.rs"));
        t.compile_fail(format!("ui/{m}/fail/*.rs"));
    }
}

/// trybuild builds its cases as a project of its own under `target/tests/trybuild`, with
/// cargo's default profile rather than the workspace's: each passing case linked with full
/// debug information took some 180 MB, gigabytes in all. A cargo configuration beside that
/// project (cargo reads one in every directory above where it runs) gives it the workspace's
/// debug settings (`Cargo.toml`, `[profile.dev]`).
fn build_like_the_workspace() {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory holds `tmp`")
        .to_owned();
    let dir = target.join("tests").join("trybuild").join(".cargo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "# Written by tests/tests/ui.rs: the workspace's debug settings for trybuild's project.\n\
         [profile.dev]\ndebug = \"line-tables-only\"\n\
         [profile.dev.package.\"*\"]\ndebug = false\n",
    )
    .unwrap();
}
