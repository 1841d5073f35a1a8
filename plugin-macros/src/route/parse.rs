//! The raw model of `#[plugin_route(...)]`: what was written, with spans, before any rule is
//! checked. Only syntax errors stop parsing here; everything else is left to `validate`.

use crate::attr::errors::{self, RawError};
use crate::attr::security::{self, SecurityDecl};
use crate::attr::{ROUTE_KEYS, concurrency, operation, permissions, rate_limit, scopes};
use crate::ctxt::Ctxt;
use crate::keyed;
use proc_macro2::{Span, TokenStream};

pub(crate) struct RawRoute {
    pub(crate) method: Option<syn::LitStr>,
    pub(crate) path: Option<syn::LitStr>,
    pub(crate) status: Option<(u64, Span)>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) body_limit: Option<(u64, Span)>,
    pub(crate) errors: Vec<RawError>,
    pub(crate) summary: Option<syn::LitStr>,
    pub(crate) tags: Option<Vec<syn::LitStr>>,
    pub(crate) operation_id: Option<syn::LitStr>,
    pub(crate) deprecated: bool,
    pub(crate) hidden: bool,
    pub(crate) security: Option<SecurityDecl>,
    /// `scopes(...)` and its key, for errors that concern the key as a whole.
    pub(crate) scopes: Option<(Vec<String>, syn::Ident)>,
    /// `permissions(...)`: what the handler's code may do; `None` inherits the plugin's.
    pub(crate) permissions: Option<permissions::PermissionsDecl>,
    /// `rate_limit(...)`; `None` inherits the plugin's, then the server's.
    pub(crate) rate_limit: Option<rate_limit::RateLimitDecl>,
    /// `concurrency(...)`; `None` inherits the plugin's, then the server's stream cap.
    pub(crate) concurrency: Option<concurrency::ConcurrencyDecl>,
    /// `operation` or `operation(rerun)`.
    pub(crate) operation: Option<operation::OperationDecl>,
    /// Keys that were written, valid or not, so a malformed value is not also reported missing.
    pub(crate) written: Vec<String>,
}

pub(crate) fn parse(cx: &Ctxt, args: TokenStream) -> syn::Result<RawRoute> {
    let mut raw = RawRoute {
        method: None,
        path: None,
        status: None,
        timeout_ms: None,
        body_limit: None,
        errors: Vec::new(),
        summary: None,
        tags: None,
        operation_id: None,
        deprecated: false,
        hidden: false,
        security: None,
        scopes: None,
        permissions: None,
        rate_limit: None,
        concurrency: None,
        operation: None,
        written: Vec::new(),
    };
    for k in keyed::parse(cx, args, "#[plugin_route]", ROUTE_KEYS)? {
        raw.written.push(k.key.to_string());
        match k.key.to_string().as_str() {
            "method" => raw.method = keyed::lit_str(cx, &k, "method = \"GET\""),
            "path" => raw.path = keyed::lit_str(cx, &k, "path = \"/items/{id}\""),
            "status" => raw.status = keyed::lit_u64(cx, &k, "status = 201"),
            "timeout_ms" => raw.timeout_ms = keyed::timeout_ms(cx, &k),
            "body_limit" => raw.body_limit = keyed::body_limit(cx, &k).map(|v| (v, k.key.span())),
            "errors" => raw.errors = errors::parse(cx, &k)?,
            "summary" => raw.summary = keyed::lit_str(cx, &k, "summary = \"Create an item\""),
            "tags" => raw.tags = keyed::str_list(cx, &k, "tags(\"items\", \"admin\")"),
            "operation_id" => {
                raw.operation_id = keyed::lit_str(cx, &k, "operation_id = \"createItem\"");
            }
            "deprecated" => raw.deprecated = keyed::flag(cx, &k),
            "hidden" => raw.hidden = keyed::flag(cx, &k),
            "security" => raw.security = security::security(cx, &k),
            "scopes" => raw.scopes = scopes::scopes(cx, &k).map(|p| (p, k.key.clone())),
            "permissions" => raw.permissions = permissions::permissions(cx, &k),
            "rate_limit" => raw.rate_limit = rate_limit::rate_limit(cx, &k),
            "concurrency" => raw.concurrency = concurrency::concurrency(cx, &k),
            "operation" => raw.operation = operation::operation(cx, &k),
            // Read before parsing, by `krate::scan`.
            "crate" => {}
            _ => unreachable!("keyed::parse only yields known keys"),
        }
    }
    Ok(raw)
}
