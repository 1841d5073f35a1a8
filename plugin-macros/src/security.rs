//! `security(user, token, oauth)` / `security(none)` and `permissions("items:write", ...)`, shared
//! by `#[plugin_route]` and `#[plugin]` (where they set the plugin's defaults).
//!
//! The scope grammar is `plugin_rules::is_valid_scope`, the one the runtime checks grants with:
//! segments of lowercase letters, digits, `_`, `-` and `.`, joined by `:`. A route requires
//! concrete scopes; the wildcards `*` and `items:*` are for granting, so they are refused here.

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use crate::keyed::{self, Keyed};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Token;
use syn::punctuated::Punctuated;

const METHODS: &[&str] = &["user", "token", "oauth", "none"];
const SECURITY_EXAMPLE: &str = "security(user, token)";
pub(crate) const PERMISSIONS_EXAMPLE: &str = "permissions(\"items:read\")";

/// Which credentials admit a request; all `false` is `security(none)`, a public route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SecurityDecl {
    pub(crate) user: bool,
    pub(crate) token: bool,
    pub(crate) oauth: bool,
}

impl SecurityDecl {
    pub(crate) fn is_public(self) -> bool {
        !(self.user || self.token || self.oauth)
    }

    pub(crate) fn tokens(self, rt: &TokenStream) -> TokenStream {
        let SecurityDecl { user, token, oauth } = self;
        quote!(#rt::Security::new(#user, #token, #oauth))
    }
}

/// Parses `security(...)`; `None` after reporting a mistake.
pub(crate) fn security(cx: &Ctxt, k: &Keyed) -> Option<SecurityDecl> {
    let list = keyed::list(cx, k, SECURITY_EXAMPLE)?;
    let entries =
        cx.ok(list.parse_args_with(Punctuated::<syn::Expr, Token![,]>::parse_terminated))?;
    if entries.is_empty() {
        cx.error_spanned_by(
            list,
            format!(
                "`security` needs at least one method: {}, e.g. `{SECURITY_EXAMPLE}`, or `security(none)` for a public route",
                one_of(&METHODS[..3])
            ),
        );
        return None;
    }
    let mut decl = SecurityDecl::default();
    let mut seen: Vec<(String, syn::Ident)> = Vec::new();
    let mut ok = true;
    for entry in &entries {
        let ident = match entry {
            syn::Expr::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
            _ => None,
        };
        let Some(ident) = ident else {
            cx.error_spanned_by(
                entry,
                format!(
                    "expected a security method: {} (bare words, not strings)",
                    one_of(METHODS)
                ),
            );
            ok = false;
            continue;
        };
        let name = ident.to_string();
        if seen.iter().any(|(s, _)| *s == name) {
            cx.error_spanned_by(&ident, format!("`{name}` is listed more than once"));
            ok = false;
            continue;
        }
        match name.as_str() {
            "user" => decl.user = true,
            "token" => decl.token = true,
            "oauth" => decl.oauth = true,
            "none" => {}
            _ => {
                let hint = match did_you_mean(&name, METHODS) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; expected one of {}", one_of(METHODS)),
                };
                cx.error_spanned_by(&ident, format!("unknown security method `{name}`{hint}"));
                ok = false;
                continue;
            }
        }
        seen.push((name, ident));
    }
    let none = seen.iter().find(|(s, _)| s == "none");
    if let Some((_, none_ident)) = none
        && seen.len() > 1
    {
        let others: Vec<&str> = seen
            .iter()
            .filter(|(s, _)| s != "none")
            .map(|(s, _)| s.as_str())
            .collect();
        cx.error_spanned_by(
            none_ident,
            format!(
                "`none` makes the route public and cannot be combined with {}: write `security(none)` alone, or drop `none`",
                one_of(&others)
            ),
        );
        return None;
    }
    ok.then_some(decl)
}

/// Parses `permissions("a:b", ...)`: every scope well formed and concrete.
pub(crate) fn permissions(cx: &Ctxt, k: &Keyed) -> Option<Vec<String>> {
    let items = keyed::str_list(cx, k, PERMISSIONS_EXAMPLE)?;
    let mut out = Vec::new();
    let mut ok = true;
    for lit in items {
        let v = lit.value();
        if plugin_rules::is_wildcard(&v) {
            cx.error_spanned_by(
                &lit,
                format!(
                    "`{v}` is a wildcard: a route requires concrete scopes such as `items:read`; wildcards are granted to users and keys"
                ),
            );
            ok = false;
        } else if !plugin_rules::is_valid_scope(&v) {
            cx.error_spanned_by(
                &lit,
                format!(
                    "malformed scope `{v}`: expected segments of lowercase letters, digits, `_`, `-` and `.` joined by `:`, e.g. `items:write`"
                ),
            );
            ok = false;
        } else {
            out.push(v);
        }
    }
    ok.then_some(out)
}

/// `permissions` on a public route: nobody is authenticated, so no scope could be checked.
pub(crate) fn check_public_without_permissions(
    cx: &Ctxt,
    security: Option<SecurityDecl>,
    permissions_key: Option<&syn::Ident>,
) {
    if let (Some(sec), Some(key)) = (security, permissions_key)
        && sec.is_public()
    {
        cx.error_spanned_by(
            key,
            "`permissions` cannot be required on a `security(none)` route: a public route has no caller whose scopes could be checked",
        );
    }
}

pub(crate) fn opt_security(rt: &TokenStream, s: Option<SecurityDecl>) -> TokenStream {
    match s {
        Some(s) => {
            let t = s.tokens(rt);
            quote!(::core::option::Option::Some(#t))
        }
        None => quote!(::core::option::Option::None),
    }
}

pub(crate) fn opt_permissions(p: Option<&[String]>) -> TokenStream {
    match p {
        Some(p) => quote!(::core::option::Option::Some(&[#(#p),*])),
        None => quote!(::core::option::Option::None),
    }
}
