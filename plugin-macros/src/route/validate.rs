//! Turns the raw attribute into a [`RouteDecl`] that code generation can trust: the method is an
//! enum, the path a checked template, statuses are in range and codes well formed.

use super::parse::{RawError, RawRoute};
use crate::attr::permissions::PermissionsDecl;
use crate::attr::security::SecurityDecl;
use crate::ctxt::Ctxt;
use crate::diag::one_of;
use plugin_rules::{
    FrameworkCode, MAX_ERROR_STATUS, MIN_ERROR_STATUS, PathTemplate, parse_template,
};
use proc_macro2::Span;

pub(crate) use plugin_rules::Method;

pub(crate) const METHODS: &[&str] = &Method::NAMES;

pub(crate) struct RouteDecl {
    pub(crate) method: Method,
    pub(crate) path: PathTemplate,
    pub(crate) path_lit: syn::LitStr,
    pub(crate) status: u16,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) body_limit: Option<(u64, Span)>,
    pub(crate) errors: Vec<ErrorDecl>,
    pub(crate) docs: DocsDecl,
    /// `security(...)`; `None` inherits the plugin's, then the server's default.
    pub(crate) security: Option<SecurityDecl>,
    /// `scopes(...)`; `None` inherits the plugin's.
    pub(crate) scopes: Option<Vec<String>>,
    /// `permissions(...)`; `None` inherits the plugin's, `Some` replaces it entirely.
    pub(crate) permissions: Option<PermissionsDecl>,
    /// `rate_limit(...)`; `None` inherits the plugin's, then the server's.
    pub(crate) rate_limit: Option<crate::attr::rate_limit::RateLimitDecl>,
    /// `concurrency(...)`; `None` inherits the plugin's, then the server's stream cap.
    pub(crate) concurrency: Option<crate::attr::concurrency::ConcurrencyDecl>,
}

/// What the route says about itself in the OpenAPI document (none of it changes behaviour except
/// `hidden`, which keeps the route out of every document).
pub(crate) struct DocsDecl {
    pub(crate) summary: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) operation_id: Option<String>,
    pub(crate) deprecated: bool,
    pub(crate) hidden: bool,
}

pub(crate) struct ErrorDecl {
    pub(crate) code: syn::Ident,
    pub(crate) status: u16,
    pub(crate) description: Option<String>,
}

pub(crate) fn validate(cx: &Ctxt, raw: RawRoute) -> Option<RouteDecl> {
    let written = |key: &str| raw.written.iter().any(|k| k == key);
    let method = match &raw.method {
        None if written("method") => None,
        None => {
            cx.error_at(
                Span::call_site(),
                format!(
                    "missing `method`: add `method = \"GET\"` (one of {})",
                    one_of(METHODS)
                ),
            );
            None
        }
        Some(lit) => {
            let value = lit.value();
            let method = Method::from_name(&value);
            if method.is_none() {
                let upper = value.to_ascii_uppercase();
                let hint = if METHODS.contains(&upper.as_str()) {
                    format!("; write `\"{upper}\"`")
                } else {
                    String::new()
                };
                cx.error_spanned_by(
                    lit,
                    format!(
                        "unknown method `{value}`: expected one of {}{hint}",
                        one_of(METHODS)
                    ),
                );
            }
            method
        }
    };

    let path = match &raw.path {
        None if written("path") => None,
        None => {
            cx.error_at(
                Span::call_site(),
                "missing `path`: add `path = \"/items\"` (relative to the plugin's base path)",
            );
            None
        }
        Some(lit) => match parse_template(&lit.value()) {
            Ok(p) => Some((p, lit.clone())),
            Err(msg) => {
                cx.error_spanned_by(lit, msg);
                None
            }
        },
    };

    let status = match raw.status {
        None => 200,
        Some((s, _)) if (200..=299).contains(&s) => s as u16,
        Some((s, span)) => {
            cx.error_at(
                span,
                format!("`status = {s}` is not a success status: expected 200–299; declare failures in `errors(...)`"),
            );
            200
        }
    };

    let docs = validate_docs(cx, &raw);
    crate::attr::scopes::check_public_without_scopes(
        cx,
        raw.security.as_ref(),
        raw.scopes.as_ref().map(|(_, k)| k),
    );
    let errors = validate_errors(cx, raw.errors);

    let (method, (path, path_lit)) = (method?, path?);
    if let Some((_, span)) = raw.body_limit
        && !method.reads_body()
    {
        cx.error_at(
            span,
            format!(
                "`body_limit` has no effect on a {} route: only POST, PUT and PATCH read a body",
                method.as_str()
            ),
        );
    }
    Some(RouteDecl {
        method,
        path,
        path_lit,
        status,
        timeout_ms: raw.timeout_ms,
        body_limit: raw.body_limit,
        errors,
        docs,
        security: raw.security,
        scopes: raw.scopes.map(|(p, _)| p),
        permissions: raw.permissions,
        rate_limit: raw.rate_limit,
        concurrency: raw.concurrency,
    })
}

fn validate_docs(cx: &Ctxt, raw: &RawRoute) -> DocsDecl {
    let summary = raw.summary.as_ref().and_then(|lit| {
        let v = lit.value();
        if v.trim().is_empty() || v.contains('\n') {
            cx.error_spanned_by(
                lit,
                "`summary` is one non-empty line; longer text belongs in the doc comment",
            );
            return None;
        }
        Some(v)
    });
    let operation_id = raw.operation_id.as_ref().and_then(|lit| {
        let v = lit.value();
        let ok = v.starts_with(|c: char| c.is_ascii_alphabetic())
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            cx.error_spanned_by(
                lit,
                format!(
                    "operation id `{v}` must start with a letter and hold only letters, digits, `_`, `-` and `.`, e.g. `createItem`"
                ),
            );
            return None;
        }
        Some(v)
    });
    DocsDecl {
        summary,
        tags: raw.tags.iter().flatten().map(syn::LitStr::value).collect(),
        operation_id,
        deprecated: raw.deprecated,
        hidden: raw.hidden,
    }
}

fn validate_errors(cx: &Ctxt, raw: Vec<RawError>) -> Vec<ErrorDecl> {
    let mut out: Vec<ErrorDecl> = Vec::new();
    for e in raw {
        let name = e.code.to_string();
        if !plugin_rules::is_error_code(&name) {
            cx.error_spanned_by(
                &e.code,
                format!(
                    "error code `{name}` must be SCREAMING_SNAKE_CASE, e.g. `{}`",
                    to_screaming_snake(&name)
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
        let (status, span) = e.status;
        if !(u64::from(MIN_ERROR_STATUS)..=u64::from(MAX_ERROR_STATUS)).contains(&status) {
            cx.error_at(
                span,
                format!("error `{name}` has status {status}: error statuses are {MIN_ERROR_STATUS}–{MAX_ERROR_STATUS}"),
            );
            continue;
        }
        if out.iter().any(|d| d.code == e.code) {
            cx.error_spanned_by(
                &e.code,
                format!("error code `{name}` is declared more than once"),
            );
            continue;
        }
        out.push(ErrorDecl {
            code: e.code,
            status: status as u16,
            description: e.description.map(|d| d.value()),
        });
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_casing() {
        assert_eq!(to_screaming_snake("ItemNotFound"), "ITEM_NOT_FOUND");
        assert_eq!(to_screaming_snake("item_not_found"), "ITEM_NOT_FOUND");
    }
}
