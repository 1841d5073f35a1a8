//! The macros and the runtime must agree on which codes are reserved for the framework, and on
//! which strings are scopes a route may require.

use plugin_runtime::FrameworkCode;

#[test]
fn macros_and_runtime_reserve_the_same_codes() {
    let in_macros: Vec<&str> = plugin_runtime::__private::framework_codes!().to_vec();
    let in_runtime: Vec<&str> = FrameworkCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(in_macros, in_runtime);
}

#[test]
fn macros_and_runtime_agree_on_scopes() {
    let in_macros = plugin_runtime::__private::scope_rule!(
        "items:read",
        "admin",
        "a.b:c-d_e",
        "x:y:z",
        "v1",
        "",
        "Items:read",
        "items:",
        ":read",
        "items read",
        "items::read",
        "*",
        "items:*",
        "é"
    );
    let cases = [
        "items:read",
        "admin",
        "a.b:c-d_e",
        "x:y:z",
        "v1",
        "",
        "Items:read",
        "items:",
        ":read",
        "items read",
        "items::read",
        "*",
        "items:*",
        "é",
    ];
    let in_runtime = cases.map(plugin_runtime::auth::is_valid_scope);
    assert_eq!(in_macros, in_runtime);
    assert_eq!(
        in_runtime.iter().filter(|v| **v).count(),
        5,
        "the cases cover both answers"
    );
}
