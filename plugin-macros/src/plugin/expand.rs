//! Code generation for a plugin: the struct with its state, `new`, the `Plugin` impl that mounts
//! every listed route, and one compile-time check per route against the routes before it.

use super::validate::PluginDecl;
use crate::krate::Krate;
use crate::route::expand_companion_ident;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

pub(crate) fn plugin(krate: &Krate, decl: &PluginDecl, strukt: &syn::ItemStruct) -> TokenStream {
    let rt = krate.private();
    let syn::ItemStruct {
        attrs, vis, ident, ..
    } = strukt;
    let state = decl.state.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let (name, version, base_path) = (&decl.name, &decl.version, &decl.base_path);
    let timeout = opt(decl.timeout_ms);
    let body_limit = opt(decl.body_limit);
    let type_name = ident.to_string();
    let description = &decl.description;
    let security = crate::security::opt_security(&rt, decl.security);
    let permissions = crate::security::opt_permissions(decl.permissions.as_deref());
    let rate_limits = crate::rate_limit::opt_rate_limits(&rt, decl.rate_limit.as_ref());
    let companions: Vec<syn::Path> = decl.routes.iter().map(companion_path).collect();
    let checks = companions.iter().enumerate().map(|(i, c)| {
        let rt = krate.private_at(c.span());
        quote_spanned!(c.span()=> const _: () = #rt::check_plugin_route(<#ident as #rt::Plugin>::META, #i);)
    });
    // Spanned on the state type, so a private state in a public plugin is reported there.
    let state_assoc = quote_spanned!(state.span()=> type State = #state;);
    let constructor = if decl.state.is_some() {
        quote! {
            /// Creates the plugin with the state its handlers receive through `Ctx`.
            #vis fn new(state: #state) -> Self {
                Self { state: ::std::sync::Arc::new(state) }
            }

            /// Creates the plugin from state that is already shared.
            #vis fn from_arc(state: ::std::sync::Arc<#state>) -> Self {
                Self { state }
            }
        }
    } else {
        quote! {
            /// Creates the plugin.
            #vis fn new() -> Self {
                Self { state: ::std::sync::Arc::new(()) }
            }
        }
    };

    // The default `GET /health`, declared with `#[plugin_route]` in a module of its own so its
    // handler is named `health` (its operation id `<plugin>_health`) whatever the plugin's name.
    let health_mod = format_ident!("__plugin_health_{}", ident);
    let child = krate.seen_from_child_module();
    let (child_path, child_str) = (child.path(), child.as_string());
    let health = quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #health_mod {
            #[doc = "Report that the plugin is mounted and serving"]
            #[#child_path::plugin_route(crate = #child_str, method = "GET", path = "/health", security(none), rate_limit(none))]
            pub(super) async fn health() -> #child_path::__private::RouteResult<#child_path::__private::Health> {
                ::core::result::Result::Ok(#child_path::__private::Health::new(#name, #version))
            }
        }
    };

    quote! {
        #health

        #(#attrs)*
        #vis struct #ident {
            state: ::std::sync::Arc<#state>,
        }

        #[automatically_derived]
        impl #ident {
            #constructor
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#type_name).finish_non_exhaustive()
            }
        }

        #[automatically_derived]
        impl #rt::Plugin for #ident {
            #state_assoc

            const META: &'static #rt::PluginMeta = &#rt::PluginMeta {
                name: #name,
                version: #version,
                base_path: #base_path,
                type_name: #type_name,
                description: #description,
                timeout_ms: #timeout,
                body_limit: #body_limit,
                routes: &[#(#companions::META),*],
                security: #security,
                permissions: #permissions,
                rate_limits: #rate_limits,
                health: #health_mod::plugin_route_health::META,
            };

            fn mount(
                self,
                server: &#rt::ServerConfig,
                auth: ::core::option::Option<&#rt::SharedAuthenticator>,
            ) -> #rt::Router {
                let mut mounter = #rt::Mounter::new(<Self as #rt::Plugin>::META, self.state, server)
                    .with_auth(::core::option::Option::map(auth, ::core::clone::Clone::clone));
                #(mounter.add(#companions());)*
                if <Self as #rt::Plugin>::META.serves_default_health() {
                    mounter.add(#health_mod::plugin_route_health());
                }
                mounter.finish()
            }
        }

        #(#checks)*
    }
}

/// `handlers::create_item` → `handlers::plugin_route_create_item`, spanned on the user's name.
fn companion_path(route: &syn::Path) -> syn::Path {
    let mut path = route.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = expand_companion_ident(&last.ident);
    }
    path
}

/// What is emitted when the attribute is wrong: the struct with a stand-in `Plugin` impl and
/// constructors (so `plugins![...]` does not cascade into more errors), and a use of every listed
/// route (so they are not also reported as unregistered).
pub(crate) fn fallback(
    krate: &Krate,
    strukt: &syn::ItemStruct,
    routes: &[syn::Path],
    has_state: bool,
) -> TokenStream {
    let syn::ItemStruct {
        attrs, vis, ident, ..
    } = strukt;
    let rt = krate.private();
    let companions = routes.iter().map(companion_path);
    let constructors = if has_state {
        quote! {
            #vis fn new<T>(_state: T) -> Self { Self {} }
            #vis fn from_arc<T>(_state: T) -> Self { Self {} }
        }
    } else {
        quote!(#vis fn new() -> Self { Self {} })
    };
    quote! {
        #(#attrs)*
        #vis struct #ident {}

        impl #ident {
            #constructors
        }

        impl #rt::Plugin for #ident {
            type State = ();
            const META: &'static #rt::PluginMeta = #rt::PluginMeta::FALLBACK;
            fn mount(
                self,
                _: &#rt::ServerConfig,
                _: ::core::option::Option<&#rt::SharedAuthenticator>,
            ) -> #rt::Router {
                #rt::Router::new()
            }
        }

        #[allow(dead_code)]
        fn __plugin_fallback_uses() {
            #(let _ = #companions;)*
        }
    }
}

fn opt(v: Option<u64>) -> TokenStream {
    match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}
