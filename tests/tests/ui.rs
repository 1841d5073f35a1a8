//! Runs the trybuild suite in `tests/ui` (see its README).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for m in ["plugin_route", "plugin", "plugins", "client"] {
        t.pass(format!("ui/{m}/pass/*.rs"));
        t.compile_fail(format!("ui/{m}/fail/*.rs"));
    }
}
