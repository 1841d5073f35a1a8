//! `#[plugin_route(...)]`: parse the attribute, validate it, read the handler's signature and
//! generate the route's companion item.

mod client;
mod expand;
mod parse;
mod signature;
mod validate;

use crate::ctxt::{Ctxt, with_fallback};
use proc_macro2::TokenStream;

pub(crate) use client::{errors_macro, method_macro};
pub(crate) use expand::{companion_ident as expand_companion_ident, shared_errors_macro};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[plugin_route] applies to an `async fn`",
            );
            return with_fallback(&e, item);
        }
    };
    let cx = Ctxt::new();
    let (krate, krate_error) = crate::krate::scan(&args);
    if let Some(e) = krate_error {
        cx.push(e);
    }
    let decl = match parse::parse(&cx, args) {
        Ok(raw) => validate::validate(&cx, raw),
        Err(e) => {
            cx.push(e);
            None
        }
    };
    let sig = signature::analyze(&cx, &mut func, decl.as_ref());
    match (cx.check(), decl, sig) {
        (Ok(()), Some(decl), Some(sig)) => expand::route(&krate, &decl, &sig, func),
        // A method cannot be listed in a plugin: the function alone, without a companion.
        (Err(e), ..) if func.sig.receiver().is_some() => with_fallback(&e, quote::quote!(#func)),
        (Err(e), ..) => with_fallback(&e, expand::fallback(&krate, func)),
        (Ok(()), ..) => unreachable!("validation failed without recording an error"),
    }
}
