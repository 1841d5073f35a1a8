//! `scopes("items:write", ...)`: the scopes a caller must all hold, shared by `#[plugin_route]`
//! and `#[plugin]` (where it sets the plugin's default).
//!
//! The scope grammar is `plugin_routes_rules::is_valid_scope`, the one the runtime checks grants with:
//! segments of lowercase letters, digits, `_`, `-` and `.`, joined by `:`. A route requires
//! concrete scopes; the wildcards `*` and `items:*` are for granting, so they are refused here.

use super::security::SecurityDecl;
use crate::ctxt::Ctxt;
use crate::keyed::{self, Keyed};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) const SCOPES_EXAMPLE: &str = "scopes(\"items:read\")";

/// Parses `scopes("a:b", ...)`: every scope well formed and concrete.
pub(crate) fn scopes(cx: &Ctxt, k: &Keyed) -> Option<Vec<String>> {
    let items = keyed::str_list(cx, k, SCOPES_EXAMPLE)?;
    let mut out = Vec::new();
    let mut ok = true;
    for lit in items {
        let v = lit.value();
        if plugin_routes_rules::is_wildcard(&v) {
            cx.error_spanned_by(
                &lit,
                format!(
                    "`{v}` is a wildcard: a route requires concrete scopes such as `items:read`; wildcards are granted to users and keys"
                ),
            );
            ok = false;
        } else if !plugin_routes_rules::is_valid_scope(&v) {
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

/// `scopes` on a public route: nobody is authenticated, so no scope could be checked.
pub(crate) fn check_public_without_scopes(
    cx: &Ctxt,
    security: Option<&SecurityDecl>,
    scopes_key: Option<&syn::Ident>,
) {
    if let (Some(sec), Some(key)) = (security, scopes_key)
        && sec.is_public()
    {
        cx.error_spanned_by(
            key,
            "`scopes` cannot be required on a `security(none)` route: a public route has no caller whose scopes could be checked",
        );
    }
}

pub(crate) fn opt_scopes(p: Option<&[String]>) -> TokenStream {
    match p {
        Some(p) => quote!(::core::option::Option::Some(&[#(#p),*])),
        None => quote!(::core::option::Option::None),
    }
}
