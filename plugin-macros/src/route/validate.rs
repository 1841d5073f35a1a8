//! Turns the raw attribute into a [`RouteDecl`] that code generation can trust: the method is an
//! enum, the path a checked template, statuses are in range and codes well formed.

use super::parse::RawRoute;
use crate::attr::errors::{self, ErrorDecl};
use crate::attr::permissions::PermissionsDecl;
use crate::attr::security::SecurityDecl;
use crate::ctxt::Ctxt;
use crate::diag::one_of;
use plugin_routes_rules::{PathTemplate, parse_template};
use proc_macro2::Span;

pub(crate) use plugin_routes_rules::Method;

pub(crate) const METHODS: &[&str] = &Method::NAMES;

pub(crate) struct RouteDecl {
    pub(crate) method: Method,
    pub(crate) path: PathTemplate,
    pub(crate) path_lit: syn::LitStr,
    pub(crate) status: u16,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) body_limit: Option<(u64, Span)>,
    pub(crate) errors: Vec<ErrorDecl>,
    /// `CODE = none` in `errors(...)`: codes of its plugin's that the route never returns.
    pub(crate) left_out_errors: Vec<syn::Ident>,
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
    /// `operation`: answered `202` at once, the handler run later.
    pub(crate) operation: Option<crate::attr::operation::OperationDecl>,
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

impl RouteDecl {
    /// The codes a plugin's shared ones must not add to the route: those it declares itself and
    /// those it leaves out.
    pub(crate) fn own_codes(&self) -> Vec<&syn::Ident> {
        self.errors
            .iter()
            .map(|e| &e.code)
            .chain(&self.left_out_errors)
            .collect()
    }
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
    let errors::Errors {
        declared: errors,
        left_out: left_out_errors,
    } = errors::validate(cx, raw.errors, false);

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
    if let Some(op) = &raw.operation
        && method == Method::Get
    {
        cx.error_spanned_by(
            &op.key,
            "a GET route cannot be an `operation`: starting one creates something, so declare it on a POST (or PUT, PATCH, DELETE) route",
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
        left_out_errors,
        docs,
        security: raw.security,
        scopes: raw.scopes.map(|(p, _)| p),
        permissions: raw.permissions,
        rate_limit: raw.rate_limit,
        concurrency: raw.concurrency,
        operation: raw.operation,
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
