//! `errors(CODE = 404, OTHER = (409, "description"))`, on a route (its own codes) and on a plugin
//! (codes every route it lists may return): parsed, checked, and emitted as the runtime's
//! `ErrorDecl`s and as the associated constants `route_error!` finds codes by.

use crate::ctxt::Ctxt;
use crate::keyed::{self, Keyed};
use plugin_routes_rules::{FrameworkCode, MAX_ERROR_STATUS, MIN_ERROR_STATUS};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Token};

pub(crate) struct RawError {
    pub(crate) code: syn::Ident,
    /// `None` for `CODE = none`: a route leaving out one of its plugin's codes.
    pub(crate) status: Option<(u64, Span)>,
    pub(crate) description: Option<syn::LitStr>,
}

pub(crate) struct ErrorDecl {
    pub(crate) code: syn::Ident,
    pub(crate) status: u16,
    pub(crate) description: Option<String>,
}

/// A checked `errors(...)`: the codes declared, and (on a route) the plugin's codes it leaves out.
#[derive(Default)]
pub(crate) struct Errors {
    pub(crate) declared: Vec<ErrorDecl>,
    pub(crate) left_out: Vec<syn::Ident>,
}

/// `errors(CODE = 404, OTHER = (409, "description"))`.
pub(crate) fn parse(cx: &Ctxt, k: &Keyed) -> syn::Result<Vec<RawError>> {
    const EXAMPLE: &str =
        "errors(ITEM_NOT_FOUND = 404, ITEM_EXISTS = (409, \"an item with that name exists\"))";
    let Some(list) = keyed::list(cx, k, EXAMPLE) else {
        return Ok(Vec::new());
    };
    let entries =
        list.parse_args_with(Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated)?;
    let mut out = Vec::new();
    for entry in entries {
        let Some(code) = entry.path.get_ident().cloned() else {
            cx.error_spanned_by(
                &entry.path,
                format!("expected an error code name, as in `{EXAMPLE}`"),
            );
            continue;
        };
        let (status, description) = match &entry.value {
            Expr::Path(p) if p.path.is_ident("none") => {
                out.push(RawError {
                    code,
                    status: None,
                    description: None,
                });
                continue;
            }
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => (i, None),
            Expr::Tuple(t) if t.elems.len() == 2 => {
                let status = match &t.elems[0] {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(i), ..
                    }) => i,
                    other => {
                        cx.error_spanned_by(other, "expected an HTTP status such as `404`");
                        continue;
                    }
                };
                let description = match &t.elems[1] {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }) => s.clone(),
                    other => {
                        cx.error_spanned_by(other, "expected a description string literal");
                        continue;
                    }
                };
                (status, Some(description))
            }
            other => {
                cx.error_spanned_by(
                    other,
                    format!(
                        "expected `{code} = <status>` or `{code} = (<status>, \"description\")`, or on a route `{code} = none` to leave out its plugin's `{code}`"
                    ),
                );
                continue;
            }
        };
        let Some(value) = cx.ok(status.base10_parse::<u64>()) else {
            continue;
        };
        out.push(RawError {
            code,
            status: Some((value, status.span())),
            description,
        });
    }
    Ok(out)
}

/// The codes written in `errors(...)`, whatever else is wrong with it (each once): what a failed
/// `#[plugin]` still gives its routes, so `route_error!` on them reports nothing more.
pub(crate) fn codes_written(k: &Keyed) -> Vec<syn::Ident> {
    let mut out: Vec<syn::Ident> = Vec::new();
    if let syn::Meta::List(l) = &k.meta {
        for t in l.tokens.clone() {
            if let proc_macro2::TokenTree::Ident(i) = t
                && plugin_routes_rules::is_error_code(&i.to_string())
                && !out.contains(&i)
            {
                out.push(i);
            }
        }
    }
    out
}

/// Checks the codes; `on_plugin` refuses `CODE = none`, which only a route can say.
pub(crate) fn validate(cx: &Ctxt, raw: Vec<RawError>, on_plugin: bool) -> Errors {
    let mut out: Vec<ErrorDecl> = Vec::new();
    let mut left_out: Vec<syn::Ident> = Vec::new();
    for e in raw {
        let name = e.code.to_string();
        if !plugin_routes_rules::is_error_code(&name) {
            cx.error_spanned_by(
                &e.code,
                format!(
                    "error code `{name}` must be SCREAMING_SNAKE_CASE, e.g. `{}`",
                    to_screaming_snake(&name)
                ),
            );
            continue;
        }
        let variant = camel(&name);
        if ["Unexpected", "Transport", "Self"].contains(&variant.as_str()) {
            cx.error_spanned_by(
                &e.code,
                format!(
                    "`{name}` would be the typed client's variant `{variant}`, which is taken: name the failure, e.g. `ITEM_{name}`"
                ),
            );
            continue;
        }
        if let Some(other) = out
            .iter()
            .map(|d| &d.code)
            .chain(&left_out)
            .find(|c| *c != &e.code && camel(&c.to_string()) == variant)
        {
            cx.error_spanned_by(
                &e.code,
                format!(
                    "`{name}` and `{other}` would both be the typed client's variant `{variant}`: rename one"
                ),
            );
            continue;
        }
        if FrameworkCode::from_code(&name).is_some() {
            cx.error_spanned_by(
                &e.code,
                format!(
                    "`{name}` is reserved for errors the framework itself sends; name the plugin's failure, e.g. `ITEM_{name}`"
                ),
            );
            continue;
        }
        if out.iter().any(|d| d.code == e.code) || left_out.contains(&e.code) {
            cx.error_spanned_by(
                &e.code,
                format!("error code `{name}` is declared more than once"),
            );
            continue;
        }
        let Some((status, span)) = e.status else {
            if on_plugin {
                cx.error_spanned_by(
                    &e.code,
                    format!(
                        "a plugin declares the codes its routes share: give `{name}` a status, e.g. `{name} = 404`; a route that never returns it says `errors({name} = none)`"
                    ),
                );
            } else {
                left_out.push(e.code);
            }
            continue;
        };
        if !(u64::from(MIN_ERROR_STATUS)..=u64::from(MAX_ERROR_STATUS)).contains(&status) {
            cx.error_at(
                span,
                format!("error `{name}` has status {status}: error statuses are {MIN_ERROR_STATUS}–{MAX_ERROR_STATUS}"),
            );
            continue;
        }
        out.push(ErrorDecl {
            code: e.code,
            status: status as u16,
            description: e.description.map(|d| d.value()),
        });
    }
    Errors {
        declared: out,
        left_out,
    }
}

fn to_screaming_snake(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c == '-' {
            out.push('_');
        } else {
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

/// The runtime's `ErrorDecl` literal of each code.
pub(crate) fn decls(rt: &TokenStream, errors: &[ErrorDecl]) -> Vec<TokenStream> {
    errors
        .iter()
        .map(|e| {
            let code = e.code.to_string();
            let status = e.status;
            let description = match &e.description {
                Some(d) => quote!(::core::option::Option::Some(#d)),
                None => quote!(::core::option::Option::None),
            };
            quote!(#rt::ErrorDecl { code: #code, status: #status, description: #description })
        })
        .collect()
}

/// `get_item` → `GetItem`; `ITEM_NOT_FOUND` → `ItemNotFound`.
pub(crate) fn camel(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// One associated constant per code, `CODE: &ErrorDecl = &<list>[i]`, spanned on the code:
/// `route_error!(CODE)` reads the route's `plugin_errors_<fn>::CODE`, so a code declared by
/// neither the route nor its plugin is rustc's "no associated item named `CODE`", at the code,
/// with the closest declared one suggested.
pub(crate) fn consts(
    rt: &TokenStream,
    errors: &[ErrorDecl],
    list: &TokenStream,
) -> Vec<TokenStream> {
    errors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let code = &e.code;
            quote_spanned! {code.span()=>
                pub(crate) const #code: &'static #rt::ErrorDecl = &#list[#i];
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_casing() {
        assert_eq!(to_screaming_snake("ItemNotFound"), "ITEM_NOT_FOUND");
        assert_eq!(to_screaming_snake("item_not_found"), "ITEM_NOT_FOUND");
    }
}
