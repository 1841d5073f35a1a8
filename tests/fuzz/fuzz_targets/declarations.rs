//! The grammars the macros check declarations against at compile time and the runtime applies
//! to configuration (path templates, scopes and grants, names, windows, permissions): any text
//! gets an answer, never a panic, and what one check accepts the others agree with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_routes_rules as rules;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = rules::parse_template(text) {
        // An accepted template is a path: it starts with `/`.
        let _ = template;
        assert!(text.starts_with('/'), "{text:?}");
    }
    let _ = rules::full_path("/v1/plugins/fuzz", text);
    if rules::is_valid_scope(text) {
        assert!(rules::is_valid_grant(text), "a scope is a grant: {text:?}");
        assert!(rules::grant_covers(text, text), "a scope covers itself: {text:?}");
    }
    if rules::is_valid_grant(text) && rules::is_wildcard(text) {
        let _ = rules::grant_covers(text, "items:read");
    }
    let middle = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (left, right) = text.split_at(middle);
    let _ = rules::grant_covers(left, right);
    let _ = rules::env_matches(left, right);
    let _ = rules::rebase(left, right);
    let _ = rules::parse_window(text);
    if rules::is_plugin_name(text) {
        assert!(rules::is_allowed_base_path(&rules::default_base_path(text)), "{text:?}");
    }
    let _ = rules::suggest_plugin_name(text);
    let _ = rules::is_semver(text);
    let _ = rules::check_plugin_prefix(text);
    let _ = rules::is_error_code(text);
    let _ = rules::parse_program(text);
    let _ = rules::check_path(text);
    let _ = rules::check_net(text);
    let _ = rules::parse_host_port(text);
    let _ = rules::host_port_of(text);
    let _ = rules::split_placeholder(text);
    let _ = rules::is_env_pattern(text);
    let _ = rules::did_you_mean(text, &["items", "ai", "commit"]);
});
