//! Procedural macros for `plugin-routes`.
//!
//! Depend on `plugin-routes`, not on this crate: it re-exports every macro here together with
//! its documentation and the items the generated code refers to. Each macro below only hands
//! `proc_macro2` token streams to an `expand` function, so the real work can be unit-tested
//! without a compiler run.

mod attr;
mod ctxt;
mod diag;
mod docs;
#[cfg(test)]
mod golden;
mod keyed;
mod krate;
mod plugin;
mod plugins;
mod route;

use proc_macro::TokenStream;

/// Turns an `async fn` into a plugin route. Documented on `plugin_routes::plugin_route`.
#[proc_macro_attribute]
pub fn plugin_route(args: TokenStream, item: TokenStream) -> TokenStream {
    route::expand(args.into(), item.into()).into()
}

/// Declares a plugin. Documented on `plugin_routes::plugin`.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    plugin::expand(args.into(), item.into()).into()
}

/// Assembles plugins into one router. Documented on `plugin_routes::plugins`.
#[proc_macro]
pub fn plugins(input: TokenStream) -> TokenStream {
    plugins::expand(input.into(), plugins::Output::Router).into()
}

/// Assembles plugins into an `App`: the router and its documents. Documented on
/// `plugin_routes::app`.
#[proc_macro]
pub fn app(input: TokenStream) -> TokenStream {
    plugins::expand(input.into(), plugins::Output::App).into()
}
