//! `plugin-routes` with `default-features = false`: a plugin with its own authenticator
//! compiles and serves; the built-in store's items are compile errors naming the feature.

#[test]
fn core_only() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
