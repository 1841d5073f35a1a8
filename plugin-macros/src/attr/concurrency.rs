//! `concurrency(...)`, shared by `#[plugin_route]` and `#[plugin]` (where it is the default of
//! each of its routes): how many requests one caller may have in flight on the route at once.
//!
//! - `concurrency(4)`: at most 4 at once per caller (its user or key id; its address when it
//!   has none);
//! - `concurrency(4, key = "address")`: counted per client address instead;
//! - `concurrency(none)`: no cap, whatever the plugin or the server's default stream cap says.
//!
//! A request holds its place until its response is finished: an event stream until it ends or
//! the client goes away.

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use crate::keyed::{self, Keyed};
use plugin_routes_rules::CONCURRENCY_KEYS;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Token};

const EXAMPLE: &str = "concurrency(4)";
const OPTIONS: &[&str] = &["key"];

/// What `concurrency(...)` declares: a cap, or `none`.
pub(crate) enum ConcurrencyDecl {
    None,
    Cap {
        limit: u32,
        /// An index into [`CONCURRENCY_KEYS`].
        key: usize,
    },
}

/// Parses `concurrency(...)`; `None` after reporting a mistake.
pub(crate) fn concurrency(cx: &Ctxt, k: &Keyed) -> Option<ConcurrencyDecl> {
    let list = keyed::list(cx, k, EXAMPLE)?;
    let entries = cx.ok(list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated))?;
    let entries: Vec<Expr> = entries.into_iter().collect();
    let limit = match entries.first() {
        None => {
            cx.error_spanned_by(
                list,
                format!("`concurrency` needs a number of requests: `{EXAMPLE}`"),
            );
            return None;
        }
        Some(Expr::Path(p)) if p.path.is_ident("none") => {
            if let Some(extra) = entries.get(1) {
                cx.error_spanned_by(extra, "`concurrency(none)` takes no options");
                return None;
            }
            return Some(ConcurrencyDecl::None);
        }
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        })) => match i.base10_parse::<u32>() {
            Ok(0) => {
                cx.error_spanned_by(
                    i,
                    "a limit of 0 admits nothing: it must be at least 1 (or `none`)",
                );
                return None;
            }
            Ok(n) => n,
            Err(e) => {
                cx.push(e);
                return None;
            }
        },
        Some(other) => {
            cx.error_spanned_by(
                other,
                format!(
                    "the limit comes first, as a whole number: `{EXAMPLE}`, or `concurrency(none)`"
                ),
            );
            return None;
        }
    };
    let mut key = 0usize;
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
                "key",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }),
            ) => {
                let v = s.value();
                match CONCURRENCY_KEYS.iter().position(|k| *k == v) {
                    Some(i) => key = i,
                    None if v == "route" => {
                        cx.error_spanned_by(
                            s,
                            format!(
                                "a cap is not counted for the route as a whole (one slow client would hold everyone's places): expected {}",
                                one_of(&CONCURRENCY_KEYS)
                            ),
                        );
                        ok = false;
                    }
                    None => {
                        let hint = match did_you_mean(&v, &CONCURRENCY_KEYS) {
                            Some(s) => format!("did you mean `\"{s}\"`?"),
                            None => format!("expected {}", one_of(&CONCURRENCY_KEYS)),
                        };
                        cx.error_spanned_by(s, format!("unknown key `{v}`: {hint}"));
                        ok = false;
                    }
                }
            }
            ("key", other) => {
                cx.error_spanned_by(other, "`key` takes a string, e.g. `key = \"address\"`");
                ok = false;
            }
            (unknown, _) => {
                let hint = match did_you_mean(unknown, OPTIONS) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; expected {}", one_of(OPTIONS)),
                };
                cx.error_spanned_by(
                    &assign.left,
                    format!("unknown option `{unknown}` in `concurrency`{hint}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(ConcurrencyDecl::Cap { limit, key })
}

/// `Option<Concurrency>`: `None` inherits, `Some(Concurrency::Unlimited)` is `concurrency(none)`.
pub(crate) fn opt_concurrency(rt: &TokenStream, decl: Option<&ConcurrencyDecl>) -> TokenStream {
    match decl {
        None => quote!(::core::option::Option::None),
        Some(ConcurrencyDecl::None) => {
            quote!(::core::option::Option::Some(#rt::Concurrency::Unlimited))
        }
        Some(ConcurrencyDecl::Cap { limit, key }) => {
            let key = format_ident!("{}", if *key == 0 { "Caller" } else { "Address" });
            quote!(::core::option::Option::Some(#rt::Concurrency::Capped {
                limit: #limit,
                key: #rt::LimitKey::#key,
            }))
        }
    }
}
