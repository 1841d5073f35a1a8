//! `rate_limit(...)`, shared by `#[plugin_route]` and `#[plugin]` (where it is the default of
//! each of its routes):
//!
//! - `rate_limit(50, per = "1m")`: one policy, named `default`;
//! - `rate_limit(minute(50, per = "1m"), day(1000, per = "1d", key = "address"))`: several,
//!   named; a request must be within all of them;
//! - options: `burst = 10` (how many may come at once; the quota by default) and
//!   `key = "caller" | "address" | "route"` (what the quota is counted per; the caller by
//!   default);
//! - `rate_limit(none)`: no limit, whatever the plugin or server says.

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use crate::keyed::{self, Keyed};
use plugin_routes_rules::{LIMIT_KEYS, parse_window};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Token};

const EXAMPLE: &str = "rate_limit(50, per = \"1m\")";
const OPTIONS: &[&str] = &["per", "burst", "key"];

/// One policy, checked.
pub(crate) struct PolicyDecl {
    name: String,
    quota: u32,
    window_secs: u64,
    burst: u32,
    key: usize,
}

/// What `rate_limit(...)` declares: policies, or `none`.
pub(crate) enum RateLimitDecl {
    None,
    Policies(Vec<PolicyDecl>),
}

/// Parses `rate_limit(...)`; `None` after reporting a mistake.
pub(crate) fn rate_limit(cx: &Ctxt, k: &Keyed) -> Option<RateLimitDecl> {
    let list = keyed::list(cx, k, EXAMPLE)?;
    let entries = cx.ok(list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated))?;
    let entries: Vec<Expr> = entries.into_iter().collect();
    match entries.first() {
        None => {
            cx.error_spanned_by(list, format!("`rate_limit` needs a quota: `{EXAMPLE}`"));
            None
        }
        Some(Expr::Path(p)) if p.path.is_ident("none") && entries.len() == 1 => {
            Some(RateLimitDecl::None)
        }
        Some(Expr::Lit(_)) => {
            policy(cx, "default".to_owned(), &entries).map(|p| RateLimitDecl::Policies(vec![p]))
        }
        Some(_) => {
            let mut policies: Vec<PolicyDecl> = Vec::new();
            let mut ok = true;
            for entry in &entries {
                let Expr::Call(call) = entry else {
                    cx.error_spanned_by(
                        entry,
                        format!("expected a quota (`{EXAMPLE}`) or named policies: `rate_limit(minute(50, per = \"1m\"), day(1000, per = \"1d\"))`"),
                    );
                    ok = false;
                    continue;
                };
                let name = match &*call.func {
                    Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                    _ => None,
                };
                let Some(name) = name else {
                    cx.error_spanned_by(
                        &call.func,
                        "a policy is named by an identifier, e.g. `minute(50, per = \"1m\")`",
                    );
                    ok = false;
                    continue;
                };
                if policies.iter().any(|p| p.name == name) {
                    cx.error_spanned_by(
                        &call.func,
                        format!("policy `{name}` is declared more than once"),
                    );
                    ok = false;
                    continue;
                }
                let args: Vec<Expr> = call.args.iter().cloned().collect();
                if args.is_empty() {
                    cx.error_spanned_by(
                        call,
                        format!("policy `{name}` needs a quota: `{name}(50, per = \"1m\")`"),
                    );
                    ok = false;
                    continue;
                }
                match policy(cx, name, &args) {
                    Some(p) => policies.push(p),
                    None => ok = false,
                }
            }
            if policies.len() > plugin_routes_rules::MAX_RATE_LIMITS {
                cx.error_spanned_by(
                    list,
                    format!(
                        "at most {} policies apply to one route",
                        plugin_routes_rules::MAX_RATE_LIMITS
                    ),
                );
                return None;
            }
            ok.then_some(RateLimitDecl::Policies(policies))
        }
    }
}

/// `50, per = "1m", burst = 10, key = "address"`.
fn policy(cx: &Ctxt, name: String, entries: &[Expr]) -> Option<PolicyDecl> {
    let quota = match &entries[0] {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<u32>() {
            Ok(0) => {
                cx.error_spanned_by(i, "a quota of 0 admits nothing: it must be at least 1");
                return None;
            }
            Ok(q) => q,
            Err(e) => {
                cx.push(e);
                return None;
            }
        },
        other => {
            cx.error_spanned_by(
                other,
                format!("the quota comes first, as a whole number: `{EXAMPLE}`"),
            );
            return None;
        }
    };
    let (mut window, mut burst, mut key) = (None, None, 0usize);
    let mut ok = true;
    for entry in &entries[1..] {
        let Expr::Assign(assign) = entry else {
            cx.error_spanned_by(entry, format!("expected an option: {}", one_of(OPTIONS)));
            ok = false;
            continue;
        };
        let option = match &*assign.left {
            Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            _ => None,
        }
        .unwrap_or_default();
        match (option.as_str(), &*assign.right) {
            (
                "per",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }),
            ) => match parse_window(&s.value()) {
                Ok(w) => window = Some(w),
                Err(msg) => {
                    cx.error_spanned_by(s, msg);
                    ok = false;
                }
            },
            (
                "burst",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }),
            ) => match i.base10_parse::<u32>() {
                Ok(0) => {
                    cx.error_spanned_by(i, "`burst` must be at least 1");
                    ok = false;
                }
                Ok(b) => burst = Some(b),
                Err(e) => {
                    cx.push(e);
                    ok = false;
                }
            },
            (
                "key",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }),
            ) => {
                let v = s.value();
                match LIMIT_KEYS.iter().position(|k| *k == v) {
                    Some(i) => key = i,
                    None => {
                        let hint = match did_you_mean(&v, &LIMIT_KEYS) {
                            Some(s) => format!("did you mean `\"{s}\"`?"),
                            None => format!("expected {}", one_of(&LIMIT_KEYS)),
                        };
                        cx.error_spanned_by(s, format!("unknown key `{v}`: {hint}"));
                        ok = false;
                    }
                }
            }
            ("per" | "key", other) => {
                cx.error_spanned_by(
                    other,
                    format!("`{option}` takes a string, e.g. `per = \"1m\"`, `key = \"address\"`"),
                );
                ok = false;
            }
            ("burst", other) => {
                cx.error_spanned_by(other, "`burst` takes a whole number, e.g. `burst = 10`");
                ok = false;
            }
            (unknown, _) => {
                let hint = match did_you_mean(unknown, OPTIONS) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; expected {}", one_of(OPTIONS)),
                };
                cx.error_spanned_by(
                    &assign.left,
                    format!("unknown option `{unknown}` in `rate_limit`{hint}"),
                );
                ok = false;
            }
        }
    }
    let Some(window_secs) = window else {
        if ok {
            cx.error_spanned_by(
                &entries[0],
                format!(
                    "the quota needs a window: `{quota}, per = \"1m\"` (units `s`, `m`, `h`, `d`)"
                ),
            );
        }
        return None;
    };
    ok.then_some(PolicyDecl {
        name,
        quota,
        window_secs,
        burst: burst.unwrap_or(quota),
        key,
    })
}

/// `Option<&'static [RateLimit]>`: `None` inherits, `Some(&[])` is `rate_limit(none)`.
pub(crate) fn opt_rate_limits(rt: &TokenStream, decl: Option<&RateLimitDecl>) -> TokenStream {
    match decl {
        None => quote!(::core::option::Option::None),
        Some(RateLimitDecl::None) => quote!(::core::option::Option::Some(&[])),
        Some(RateLimitDecl::Policies(ps)) => {
            let items = ps.iter().map(|p| {
                let PolicyDecl {
                    name,
                    quota,
                    window_secs,
                    burst,
                    key,
                } = p;
                let key = format_ident!(
                    "{}",
                    match key {
                        0 => "Caller",
                        1 => "Address",
                        _ => "Route",
                    }
                );
                quote!(#rt::RateLimit {
                    name: #name,
                    quota: #quota,
                    window_secs: #window_secs,
                    burst: #burst,
                    key: #rt::LimitKey::#key,
                })
            });
            quote!(::core::option::Option::Some(&[#(#items),*]))
        }
    }
}
