//! `operation`, on `#[plugin_route]`: the route answers `202 Accepted` with the `Location` of an
//! operation, and its handler runs after the request, on whichever server takes it.
//!
//! - `operation`: a server that dies while running it leaves it `failed`;
//! - `operation(rerun)`: such an operation is run again from the start by another server (for
//!   handlers that are safe to run twice).

use crate::ctxt::Ctxt;
use crate::diag::did_you_mean;
use crate::keyed::Keyed;
use proc_macro2::TokenStream;
use quote::quote;
use syn::Meta;
use syn::punctuated::Punctuated;
use syn::{Ident, Token};

const OPTIONS: &[&str] = &["rerun"];

/// What `operation` declares.
pub(crate) struct OperationDecl {
    pub(crate) rerun: bool,
    /// The key, for errors about the route as a whole.
    pub(crate) key: Ident,
}

/// Parses `operation` or `operation(rerun)`; `None` after reporting a mistake.
pub(crate) fn operation(cx: &Ctxt, k: &Keyed) -> Option<OperationDecl> {
    let rerun = match &k.meta {
        Meta::Path(_) => false,
        Meta::List(list) => {
            let options =
                cx.ok(list.parse_args_with(Punctuated::<Ident, Token![,]>::parse_terminated))?;
            let mut rerun = false;
            for option in options {
                if option == "rerun" {
                    if rerun {
                        cx.error_spanned_by(&option, "`rerun` is specified more than once");
                    }
                    rerun = true;
                } else {
                    let hint = match did_you_mean(&option.to_string(), OPTIONS) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "the only option is `rerun`: `operation(rerun)`".to_owned(),
                    };
                    cx.error_spanned_by(
                        &option,
                        format!("unknown option `{option}` of `operation`; {hint}"),
                    );
                    return None;
                }
            }
            rerun
        }
        Meta::NameValue(nv) => {
            cx.error_spanned_by(
                nv,
                "`operation` is written alone, or `operation(rerun)` for work that is safe to run again",
            );
            return None;
        }
    };
    Some(OperationDecl {
        rerun,
        key: k.key.clone(),
    })
}

/// `Some(OperationDecl { .. })` or `None`, for the route's metadata.
pub(crate) fn opt_operation(rt: &TokenStream, decl: Option<&OperationDecl>) -> TokenStream {
    match decl {
        Some(d) => {
            let rerun = d.rerun;
            quote!(::core::option::Option::Some(#rt::OperationDecl { rerun: #rerun }))
        }
        None => quote!(::core::option::Option::None),
    }
}
