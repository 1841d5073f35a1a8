//! `security(gateway, token)` / `security(none)`: which security schemes admit a request, by
//! name, shared by `#[plugin_route]` and `#[plugin]` (where it sets the plugin's default).
//! Whether something serves each scheme is known only once the app is assembled: the server
//! refuses to start when nothing does.

use crate::ctxt::Ctxt;
use crate::diag::{all_of, one_of};
use crate::keyed::{self, Keyed};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Token;
use syn::punctuated::Punctuated;

/// The built-in store's schemes, for the messages.
const BUILT_IN: &[&str] = &["user", "token", "oauth"];
const SECURITY_EXAMPLE: &str = "security(user, token)";

/// The schemes that admit a request, by name; none is `security(none)`, a public route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SecurityDecl {
    pub(crate) schemes: Vec<String>,
}

impl SecurityDecl {
    pub(crate) fn is_public(&self) -> bool {
        self.schemes.is_empty()
    }

    pub(crate) fn tokens(&self, rt: &TokenStream) -> TokenStream {
        let names = &self.schemes;
        quote!(#rt::Security::of(&[#(#names),*]))
    }
}

/// Parses `security(...)`; `None` after reporting a mistake. Each entry is a scheme's name, a
/// bare word (`gateway`) or a string for names that are not Rust identifiers (`"x-gateway"`).
pub(crate) fn security(cx: &Ctxt, k: &Keyed) -> Option<SecurityDecl> {
    let list = keyed::list(cx, k, SECURITY_EXAMPLE)?;
    let entries =
        cx.ok(list.parse_args_with(Punctuated::<syn::Expr, Token![,]>::parse_terminated))?;
    if entries.is_empty() {
        cx.error_spanned_by(
            list,
            format!(
                "`security` needs at least one security scheme: a name the app's authenticator serves (the built-in store serves {}), e.g. `{SECURITY_EXAMPLE}`, or `security(none)` for a public route",
                all_of(BUILT_IN)
            ),
        );
        return None;
    }
    let mut decl = SecurityDecl::default();
    let mut none: Option<&syn::Expr> = None;
    let mut ok = true;
    for entry in &entries {
        let name = match entry {
            syn::Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        };
        let Some(name) = name else {
            cx.error_spanned_by(
                entry,
                format!(
                    "expected the name of a security scheme (a bare word such as {}, or a string), or `none`",
                    one_of(BUILT_IN)
                ),
            );
            ok = false;
            continue;
        };
        if !plugin_routes_rules::is_scheme_name(&name) {
            cx.error_spanned_by(
                entry,
                format!(
                    "`{name}` cannot name a security scheme: use ASCII letters, digits, `.`, `-` and `_`"
                ),
            );
            ok = false;
            continue;
        }
        if name == "none" {
            none = Some(entry);
            continue;
        }
        if decl.schemes.contains(&name) {
            cx.error_spanned_by(entry, format!("`{name}` is listed more than once"));
            ok = false;
            continue;
        }
        decl.schemes.push(name);
    }
    if let Some(none) = none
        && (entries.len() > 1)
    {
        let others: Vec<&str> = decl.schemes.iter().map(String::as_str).collect();
        cx.error_spanned_by(
            none,
            format!(
                "`none` makes the route public and cannot be combined with {}: write `security(none)` alone, or drop `none`",
                one_of(&others)
            ),
        );
        return None;
    }
    ok.then_some(decl)
}

pub(crate) fn opt_security(rt: &TokenStream, s: Option<&SecurityDecl>) -> TokenStream {
    match s {
        Some(s) => {
            let t = s.tokens(rt);
            quote!(::core::option::Option::Some(#t))
        }
        None => quote!(::core::option::Option::None),
    }
}
