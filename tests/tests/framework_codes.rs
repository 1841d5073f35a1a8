//! The macros and the runtime must agree on which codes are reserved for the framework.

use plugin_runtime::FrameworkCode;

#[test]
fn macros_and_runtime_reserve_the_same_codes() {
    let in_macros: Vec<&str> = plugin_runtime::__private::framework_codes!().to_vec();
    let in_runtime: Vec<&str> = FrameworkCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(in_macros, in_runtime);
}
