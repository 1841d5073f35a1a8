//! `crate = "path"`: where generated code finds the runtime when `plugin-routes` is re-exported
//! under another name (as serde's and dropshot's `crate` attributes do). Every path the macros
//! emit starts with [`Krate::private`], `<path>::__private`, `::plugin_routes::__private` by
//! default.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Meta, Token};

/// The path of the runtime crate, spanned on the user's literal when they wrote one.
pub(crate) struct Krate(syn::Path);

impl Default for Krate {
    fn default() -> Self {
        Krate(syn::parse_quote!(::plugin_routes))
    }
}

impl Krate {
    /// `<path>::__private`: the one module generated code names.
    pub(crate) fn private(&self) -> TokenStream {
        let path = &self.0;
        quote!(#path::__private)
    }

    /// [`Krate::private`] with every token spanned at `span`, for checks whose error must point
    /// at the user's token (a `const` item's error spans its whole expression).
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        self.private()
            .into_iter()
            .map(|mut t| {
                t.set_span(span);
                t
            })
            .collect()
    }

    /// The path as code in a module declared next to the user's item sees it: a relative path
    /// gains `super::`.
    pub(crate) fn seen_from_child_module(&self) -> Krate {
        let path = &self.0;
        let absolute = path.leading_colon.is_some()
            || path
                .segments
                .first()
                .is_some_and(|s| s.ident == "crate" || s.ident == "super");
        if absolute {
            Krate(path.clone())
        } else {
            Krate(syn::parse_quote!(super::#path))
        }
    }

    /// The path itself.
    pub(crate) fn path(&self) -> &syn::Path {
        &self.0
    }

    /// The path as the string a `crate = "..."` key takes.
    pub(crate) fn as_string(&self) -> String {
        let path = &self.0;
        quote!(#path).to_string().replace(' ', "")
    }
}

/// Finds `crate = "path"` among an attribute's (or `plugins!`'s) settings. Other keys are left to
/// the attribute's own parser, which accepts `crate` and ignores it; a malformed `crate` is
/// reported here, with the default path used so nothing else cascades.
pub(crate) fn scan(args: &TokenStream) -> (Krate, Option<syn::Error>) {
    let Ok(metas) = syn::parse::Parser::parse2(
        Punctuated::<Meta, Token![,]>::parse_terminated,
        args.clone(),
    ) else {
        return (Krate::default(), None);
    };
    for meta in metas {
        if meta.path().is_ident("crate") {
            return from_meta(&meta);
        }
    }
    (Krate::default(), None)
}

/// The path a `crate = "..."` meta names.
pub(crate) fn from_meta(meta: &Meta) -> (Krate, Option<syn::Error>) {
    const EXAMPLE: &str = "crate = \"my_api::plugin_routes\"";
    let lit = match meta {
        Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => s.clone(),
            other => {
                let e = syn::Error::new_spanned(
                    other,
                    format!("`crate` takes the runtime's path as a string literal: `{EXAMPLE}`"),
                );
                return (Krate::default(), Some(e));
            }
        },
        _ => {
            let e = syn::Error::new_spanned(meta, format!("`crate` takes a value: `{EXAMPLE}`"));
            return (Krate::default(), Some(e));
        }
    };
    match lit.parse_with(syn::Path::parse_mod_style) {
        Ok(path) => (Krate(path), None),
        Err(_) => {
            let e = syn::Error::new_spanned(
                &lit,
                format!(
                    "`{}` is not a path: write the path `plugin-routes` is reachable at, e.g. `{EXAMPLE}`",
                    lit.value()
                ),
            );
            (Krate::default(), Some(e))
        }
    }
}
