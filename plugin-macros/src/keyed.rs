//! Shared parsing of `key = value, key(list), ...` attribute arguments: unknown keys get a
//! "did you mean", a repeated key is reported on its second occurrence.

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::{Meta, Token};

/// One recognised key and its syntax, in source order.
pub(crate) struct Keyed {
    pub(crate) key: syn::Ident,
    pub(crate) meta: Meta,
}

/// Parses `tokens` as comma-separated metas and keeps those whose key is in `known`.
/// Syntax errors are fatal (returned); unknown and repeated keys are recorded in `cx`.
pub(crate) fn parse(
    cx: &Ctxt,
    tokens: TokenStream,
    what: &str,
    known: &[&str],
) -> syn::Result<Vec<Keyed>> {
    let metas =
        syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, tokens)?;
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for meta in metas {
        let Some(key) = meta.path().get_ident().cloned() else {
            cx.error_spanned_by(
                meta.path(),
                format!("expected a key of {what}: {}", one_of(known)),
            );
            continue;
        };
        let name = key.to_string();
        if !known.contains(&name.as_str()) {
            let hint = match did_you_mean(&name, known) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => format!("; expected one of {}", one_of(known)),
            };
            cx.error_spanned_by(&key, format!("unknown key `{name}` in {what}{hint}"));
            continue;
        }
        if seen.contains(&name) {
            cx.error_spanned_by(&key, format!("`{name}` is specified more than once"));
            continue;
        }
        seen.push(name);
        out.push(Keyed { key, meta });
    }
    Ok(out)
}

/// The value of a `key = value` meta, or an error saying the key takes a value.
pub(crate) fn value<'a>(cx: &Ctxt, k: &'a Keyed, example: &str) -> Option<&'a syn::Expr> {
    match &k.meta {
        Meta::NameValue(nv) => Some(&nv.value),
        _ => {
            cx.error_spanned_by(&k.meta, format!("`{}` takes a value: `{example}`", k.key));
            None
        }
    }
}

/// A string literal value.
pub(crate) fn lit_str(cx: &Ctxt, k: &Keyed, example: &str) -> Option<syn::LitStr> {
    match value(cx, k, example)? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{}` takes a string literal: `{example}`", k.key),
            );
            None
        }
    }
}

/// An integer literal value.
pub(crate) fn lit_u64(cx: &Ctxt, k: &Keyed, example: &str) -> Option<(u64, proc_macro2::Span)> {
    match value(cx, k, example)? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => match i.base10_parse::<u64>() {
            Ok(v) => Some((v, i.span())),
            Err(e) => {
                cx.push(e);
                None
            }
        },
        other => {
            cx.error_spanned_by(
                other,
                format!("`{}` takes an integer literal: `{example}`", k.key),
            );
            None
        }
    }
}

/// A positive amount of milliseconds.
pub(crate) fn timeout_ms(cx: &Ctxt, k: &Keyed) -> Option<u64> {
    let (v, span) = lit_u64(cx, k, "timeout_ms = 30_000")?;
    if v == 0 {
        cx.error_at(span, "`timeout_ms` must be at least 1");
        return None;
    }
    Some(v)
}

/// A positive number of bytes.
pub(crate) fn body_limit(cx: &Ctxt, k: &Keyed) -> Option<u64> {
    let (v, span) = lit_u64(cx, k, "body_limit = 1_048_576")?;
    if v == 0 {
        cx.error_at(span, "`body_limit` must be at least 1 byte");
        return None;
    }
    Some(v)
}

/// The parenthesised list of a `key(a, b)` meta.
pub(crate) fn list<'a>(cx: &Ctxt, k: &'a Keyed, example: &str) -> Option<&'a syn::MetaList> {
    match &k.meta {
        Meta::List(l) => Some(l),
        _ => {
            cx.error_spanned_by(&k.meta, format!("`{}` takes a list: `{example}`", k.key));
            None
        }
    }
}

/// A flag: the bare key (`hidden`), or `key = true` / `key = false`.
pub(crate) fn flag(cx: &Ctxt, k: &Keyed) -> bool {
    match &k.meta {
        Meta::Path(_) => true,
        Meta::NameValue(syn::MetaNameValue {
            value:
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(b),
                    ..
                }),
            ..
        }) => b.value,
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "`{}` is a flag: write `{}` alone (or `{} = true`)",
                    k.key, k.key, k.key
                ),
            );
            false
        }
    }
}

/// A parenthesised list of string literals, `key("a", "b")`; at least one, none repeated.
pub(crate) fn str_list(cx: &Ctxt, k: &Keyed, example: &str) -> Option<Vec<syn::LitStr>> {
    let list = list(cx, k, example)?;
    let items =
        cx.ok(list.parse_args_with(Punctuated::<syn::LitStr, Token![,]>::parse_terminated))?;
    if items.is_empty() {
        cx.error_spanned_by(
            list,
            format!("`{}` needs at least one entry: `{example}`", k.key),
        );
        return None;
    }
    let mut out: Vec<syn::LitStr> = Vec::new();
    for item in items {
        if item.value().trim().is_empty() {
            cx.error_spanned_by(&item, format!("an entry of `{}` cannot be empty", k.key));
        } else if out.iter().any(|o| o.value() == item.value()) {
            cx.error_spanned_by(
                &item,
                format!("`{}` is listed more than once", item.value()),
            );
        } else {
            out.push(item);
        }
    }
    Some(out)
}
