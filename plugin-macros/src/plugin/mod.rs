//! `#[plugin(...)]` on a unit struct: the plugin's name, version, base path, defaults, state
//! type and the routes it mounts.

mod expand;
mod validate;

use crate::ctxt::{Ctxt, with_fallback};
use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let strukt: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(s) => s,
        Err(_) => {
            let e = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[plugin] applies to a unit struct, e.g. `pub struct ItemsPlugin;`",
            );
            return with_fallback(&e, item);
        }
    };
    let cx = Ctxt::new();
    let (krate, krate_error) = crate::krate::scan(&args);
    if let Some(e) = krate_error {
        cx.push(e);
    }
    let (decl, seen) = validate::validate(&cx, args, &strukt);
    match (cx.check(), decl) {
        (Ok(()), Some(decl)) => expand::plugin(&krate, &decl, &strukt),
        (Err(e), _) => with_fallback(
            &e,
            expand::fallback(&krate, &strukt, &seen.routes, &seen.errors, seen.has_state),
        ),
        (Ok(()), None) => unreachable!("validation failed without recording an error"),
    }
}
