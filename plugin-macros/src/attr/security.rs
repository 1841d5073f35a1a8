//! `security(user, token, oauth)` / `security(none)`: which credentials admit a request, shared
//! by `#[plugin_route]` and `#[plugin]` (where it sets the plugin's default).

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use crate::keyed::{self, Keyed};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Token;
use syn::punctuated::Punctuated;

const METHODS: &[&str] = &["user", "token", "oauth", "none"];
const SECURITY_EXAMPLE: &str = "security(user, token)";

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

pub(crate) fn opt_security(rt: &TokenStream, s: Option<SecurityDecl>) -> TokenStream {
    match s {
        Some(s) => {
            let t = s.tokens(rt);
            quote!(::core::option::Option::Some(#t))
        }
        None => quote!(::core::option::Option::None),
    }
}
