//! Code generation for a plugin: the struct with its state, `new`, the `Plugin` impl that mounts
//! every listed route, and one compile-time check per route against the routes before it.

use super::validate::PluginDecl;
use crate::krate::Krate;
use crate::route::{expand_companion_ident, shared_errors_macro};
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
    let security = crate::attr::security::opt_security(&rt, decl.security.as_ref());
    let scopes = crate::attr::scopes::opt_scopes(decl.scopes.as_deref());
    let permissions = crate::attr::permissions::opt_permissions(&rt, decl.permissions.as_ref());
    let rate_limits = crate::attr::rate_limit::opt_rate_limits(&rt, decl.rate_limit.as_ref());
    let concurrency = crate::attr::concurrency::opt_concurrency(&rt, decl.concurrency.as_ref());
    let companions: Vec<syn::Path> = decl.routes.iter().map(companion_path).collect();
    let shared_errors = shared_errors(
        &decl.routes,
        decl.errors.iter().enumerate().map(|(i, e)| {
            (
                e.code.clone(),
                quote!(&<#ident as #rt::Plugin>::META.errors[#i]),
            )
        }),
    );
    let error_decls = crate::attr::errors::decls(&rt, &decl.errors);
    let mut written: Vec<String> = Vec::new();
    let listed_once = companions.iter().filter_map(|c| {
        // `routes(x, x)` is reported by the duplicate-route check alone.
        let text = quote!(#c).to_string();
        if written.contains(&text) {
            return None;
        }
        written.push(text);
        let rt = krate.private_at(c.span());
        Some(if decl.errors.is_empty() {
            quote_spanned!(c.span()=> impl #rt::SharedErrorsNeedOnePlugin<#ident> for #c {})
        } else {
            quote_spanned!(c.span()=> impl<__P> #rt::SharedErrorsNeedOnePlugin<__P> for #c {})
        })
    });
    let listed_once: Vec<TokenStream> = listed_once.collect();
    let (deprecated, hidden) = (decl.deprecated, decl.hidden);
    let route_count = companions.len();
    let fingerprints = quote! {
        impl #ident {
            #[doc(hidden)]
            const __PLUGIN_ROUTE_FINGERPRINTS: [#rt::RouteFingerprint; #route_count] =
                #rt::route_fingerprints::<#route_count>(<#ident as #rt::Plugin>::META);
        }
    };
    let checks = companions.iter().enumerate().map(|(i, c)| {
        let rt = krate.private_at(c.span());
        quote_spanned!(c.span()=> const _: () = #rt::check_plugin_route(<#ident as #rt::Plugin>::META, &#ident::__PLUGIN_ROUTE_FINGERPRINTS, #i);)
    });
    // Spanned on the state type, so a private state in a public plugin is reported there.
    let state_assoc = quote_spanned!(state.span()=> type State = #state;);
    let constructor = if decl.state.is_some() {
        quote! {
            /// Creates the plugin with the state its handlers receive through `Ctx`.
            #vis fn new(state: #state) -> Self {
                Self::from_arc(::std::sync::Arc::new(state))
            }

            /// Creates the plugin from state that is already shared.
            #vis fn from_arc(state: ::std::sync::Arc<#state>) -> Self {
                Self { state, placeholders: #rt::Placeholders::new() }
            }
        }
    } else {
        quote! {
            /// Creates the plugin.
            #vis fn new() -> Self {
                Self { state: ::std::sync::Arc::new(()), placeholders: #rt::Placeholders::new() }
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
            #[#child_path::plugin_route(crate = #child_str, method = "GET", path = "/health", security(none), rate_limit(none), concurrency(none))]
            pub(super) async fn health() -> #child_path::__private::RouteResult<#child_path::__private::Health> {
                ::core::result::Result::Ok(#child_path::__private::Health::new(#name, #version))
            }
        }
    };

    let lifecycle = lifecycle(krate, decl, vis, ident, &state);
    let config_meta = match &decl.config {
        Some(_) => quote!(::core::option::Option::Some(<#ident as #rt::Configured>::CONFIG)),
        None => quote!(::core::option::Option::None),
    };
    let (has_start, has_stop, has_ready) = (
        decl.start.is_some(),
        decl.stop.is_some(),
        decl.ready.is_some(),
    );
    let ready_check = match &decl.ready {
        Some(ready) => quote_spanned! {ready.span()=>
            fn ready_check(&self) -> ::core::option::Option<#rt::ReadyCheck> {
                ::core::option::Option::Some(#rt::ReadyCheck::__new(
                    #name,
                    ::std::sync::Arc::clone(&self.state),
                    |__state: ::std::sync::Arc<#state>| -> #rt::BoxFuture<#rt::Readiness> {
                        ::std::boxed::Box::pin(async move { #ready(&__state).await })
                    },
                ))
            }
        },
        None => quote!(),
    };
    let client = match &decl.client {
        Some(name) => client(krate, decl, vis, ident, name, &health_mod),
        None => quote!(),
    };

    quote! {
        #health

        #client

        #lifecycle

        #(#attrs)*
        #vis struct #ident {
            state: ::std::sync::Arc<#state>,
            placeholders: #rt::Placeholders,
        }

        #[automatically_derived]
        impl #ident {
            #constructor

            /// Gives the placeholder `{name}` of the plugin's `permissions(...)` a value: an
            /// absolute path for a path entry, a URL or `host:port` for a net entry. A
            /// placeholder may be given several values; each is allowed. Assembling the plugin
            /// panics, naming the placeholder, if one its routes use has none.
            #[must_use]
            #vis fn with_placeholder(
                mut self,
                name: &str,
                value: impl ::core::convert::Into<::std::string::String>,
            ) -> Self {
                self.placeholders.insert(name, value);
                self
            }

            /// The values its permissions' placeholders were given (by `with_placeholder`, or
            /// by its start hook): what `reach::ServerReach::with_plugin` needs.
            #vis fn placeholders(&self) -> &#rt::Placeholders {
                &self.placeholders
            }

            /// Gives every placeholder in `values` its values (see `with_placeholder`).
            #[must_use]
            #vis fn with_placeholders(mut self, values: &#rt::Placeholders) -> Self {
                self.placeholders.extend(values);
                self
            }
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
                errors: &[#(#error_decls),*],
                deprecated: #deprecated,
                hidden: #hidden,
                security: #security,
                scopes: #scopes,
                permissions: #permissions,
                rate_limits: #rate_limits,
                concurrency: #concurrency,
                health: #health_mod::plugin_route_health::META,
                config: #config_meta,
                hooks: #rt::Hooks { start: #has_start, stop: #has_stop, ready: #has_ready },
            };

            #ready_check

            fn mount(
                self,
                server: &#rt::ServerConfig,
                auth: ::core::option::Option<&#rt::SharedAuthenticator>,
            ) -> #rt::Router {
                let mut mounter = #rt::Mounter::new(<Self as #rt::Plugin>::META, self.state, server)
                    .with_auth(::core::option::Option::map(auth, ::core::clone::Clone::clone))
                    .with_placeholders(self.placeholders);
                #(mounter.add(#companions());)*
                if <Self as #rt::Plugin>::META.serves_default_health() {
                    mounter.add(#health_mod::plugin_route_health());
                }
                mounter.finish()
            }
        }

        #fingerprints
        #(#checks)*

        #(#listed_once)*

        #shared_errors
    }
}

/// The plugin's `errors(...)` as constants of each listed route's errors struct, where that
/// route's `route_error!` finds them; each through the route's own macro, which leaves out a
/// code the route declares itself.
fn shared_errors(
    routes: &[syn::Path],
    codes: impl Iterator<Item = (syn::Ident, TokenStream)>,
) -> TokenStream {
    let codes: Vec<_> = codes.collect();
    let mut out = TokenStream::new();
    let mut done: Vec<String> = Vec::new();
    for route in routes {
        // A route listed twice is reported once, by the duplicate-route check.
        let written = quote!(#route).to_string();
        if done.contains(&written) {
            continue;
        }
        done.push(written);
        let Some(last) = route.segments.last() else {
            continue;
        };
        let mac = shared_errors_macro(&last.ident);
        let module: Vec<&syn::Ident> = route
            .segments
            .iter()
            .take(route.segments.len() - 1)
            .map(|s| &s.ident)
            .collect();
        // The route's module as a prefix, `routes::`, or nothing: a route in the plugin's own
        // module is named bare, which also finds it when both are items of a block.
        let module = quote!(#(#module ::)*);
        for (code, decl) in &codes {
            out.extend(quote!(#module #mac!(#module ; #code = #decl);));
        }
    }
    out
}

/// With `start = f`: the generated `start`, which runs the hook (with the configuration when the
/// plugin declares one), keeps its placeholders and registers its state and `stop` hook with the
/// host's `Lifecycle`. With `config = T`: `Configured`, so that `ConfigSource::load::<P>()` reads
/// `T`.
fn lifecycle(
    krate: &Krate,
    decl: &PluginDecl,
    vis: &syn::Visibility,
    ident: &syn::Ident,
    state: &syn::Type,
) -> TokenStream {
    let rt = krate.private();
    let name = &decl.name;
    let configured = match &decl.config {
        Some(ty) => {
            let rt_at = krate.private_at(ty.span());
            let env = &decl.config_env;
            let ty_name = quote::ToTokens::to_token_stream(ty)
                .to_string()
                .replace(' ', "");
            quote_spanned! {ty.span()=>
                #rt_at::if_config! {
                    #[automatically_derived]
                    impl #rt_at::Configured for #ident {
                        type Config = #ty;
                        const CONFIG: &'static #rt_at::ConfigMeta = &#rt_at::ConfigMeta {
                            env_prefix: #env,
                            type_name: #ty_name,
                            // Also the check of the type: each derive it needs, asked where it is named.
                            schema: #rt_at::config_schema::<#ty>,
                        };
                        const NAME: &'static str = #name;
                    }
                }
            }
        }
        None => quote!(),
    };
    let Some(start) = &decl.start else {
        return configured;
    };
    let stop = match &decl.stop {
        Some(stop) => quote_spanned! {stop.span()=>
            ::core::option::Option::Some(
                |__state: ::std::sync::Arc<#state>| -> #rt::BoxFuture<()> {
                    ::std::boxed::Box::pin(async move { #stop(&__state).await })
                },
            )
        },
        None => quote!(::core::option::Option::None),
    };
    let (param, call, doc) = match &decl.config {
        Some(ty) => (
            quote!(config: #ty,),
            quote_spanned!(start.span()=> #start(config, &mut __starting).await),
            format!(
                "Starts the plugin: runs its start hook `{}` with `config` (read with `plugin_routes::config::ConfigSource::load::<{ident}>()`), and registers its state, placeholders and stop hook with `lifecycle`.",
                quote::ToTokens::to_token_stream(start)
                    .to_string()
                    .replace(' ', "")
            ),
        ),
        None => (
            quote!(),
            quote_spanned!(start.span()=> #start(&mut __starting).await),
            format!(
                "Starts the plugin: runs its start hook `{}`, and registers its state, placeholders and stop hook with `lifecycle`.",
                quote::ToTokens::to_token_stream(start)
                    .to_string()
                    .replace(' ', "")
            ),
        ),
    };
    quote! {
        #configured

        #[automatically_derived]
        impl #ident {
            #[doc = #doc]
            ///
            /// # Errors
            /// The hook's own error, with the plugin named, or the hook running past the
            /// lifecycle's start timeout (60 s unless set): the server should stop before it
            /// listens.
            #vis async fn start(
                #param
                lifecycle: &mut #rt::Lifecycle,
            ) -> ::core::result::Result<Self, #rt::StartFailed> {
                let __wait = lifecycle.start_timeout();
                let mut __starting = lifecycle.__starting(#name);
                let __state: #state = match #rt::__within_start(__wait, async { #call }).await {
                    ::core::option::Option::Some(::core::result::Result::Ok(__state)) => __state,
                    ::core::option::Option::Some(::core::result::Result::Err(__error)) => {
                        return ::core::result::Result::Err(#rt::StartFailed::new(#name, __error));
                    }
                    ::core::option::Option::None => {
                        return ::core::result::Result::Err(#rt::StartFailed::timed_out(#name, __wait));
                    }
                };
                let __placeholders = __starting.__into_placeholders();
                let __state = ::std::sync::Arc::new(__state);
                lifecycle.__started(#name, &__state, #stop);
                ::core::result::Result::Ok(Self { state: __state, placeholders: __placeholders })
            }
        }
    }
}

/// The typed client, in a module of its own (`items_client` for `ItemsClient`, holding it and
/// every route's error enum), re-exported next to the plugin. Emitted through the runtime's
/// `if_client!`: without the `client` feature there is none.
fn client(
    krate: &Krate,
    decl: &PluginDecl,
    vis: &syn::Visibility,
    plugin: &syn::Ident,
    name: &syn::Ident,
    health_mod: &syn::Ident,
) -> TokenStream {
    let rt = krate.private();
    let child_rt = {
        let child = krate.seen_from_child_module();
        let path = child.path();
        quote!(#path::__private)
    };
    let module = format_ident!("{}", snake(&name.to_string()));
    let base = quote!(<super::#plugin as #child_rt::Plugin>::META.base_path);
    let doc_base = decl.base_path.trim_end_matches('/');
    let mut uses = Vec::new();
    let mut methods = Vec::new();
    let mut routes: Vec<syn::Path> = decl.routes.clone();
    if plugin_routes_rules::serves_default_health(&decl.base_path) {
        routes.push(syn::parse_quote!(#health_mod::health));
    }
    // The shared codes, as each route's error enum takes them: `CODE Variant "CODE" status "doc"`.
    let shared: Vec<TokenStream> = decl
        .errors
        .iter()
        .map(|e| {
            let code = e.code.to_string();
            let variant = format_ident!("{}", crate::attr::errors::camel(&code));
            let status = e.status;
            let doc = match &e.description {
                Some(d) => format!("`{status} {code}`: {d}."),
                None => format!("`{status} {code}`."),
            };
            let ident = &e.code;
            quote!(#ident #variant #code #status #doc)
        })
        .collect();
    for (i, route) in routes.iter().enumerate() {
        let Some(last) = route.segments.last() else {
            continue;
        };
        let fn_ident = &last.ident;
        let module_of: Vec<TokenStream> = from_child(route);
        let mac = crate::route::method_macro(fn_ident);
        let errors_mac = crate::route::errors_macro(fn_ident);
        // The default `GET /health` returns none of them.
        let shared = if i < decl.routes.len() {
            &shared[..]
        } else {
            &[]
        };
        uses.push(quote!(#(#module_of)::*::#errors_mac!(#(#module_of)::* ; [] #(#shared)*);));
        methods.push(quote!(#(#module_of)::*::#mac!(#(#module_of)::* ; #base ; #doc_base);));
    }
    let doc = format!(
        "A typed client of [`{plugin}`]'s routes: one method per route, with its path parameters and input by their Rust types, its output as its Rust type, and an error enum per route."
    );
    let module_doc = format!("[`{name}`] and the error enums of its methods.");
    quote! {
        #rt::if_client! {
            #[doc = #module_doc]
            // Its items are as visible as the plugin: `pub` here, whatever the module's reach.
            #[allow(unreachable_pub)]
            #vis mod #module {
                #(#uses)*

                #[doc = #doc]
                #[derive(Clone, Debug)]
                pub struct #name {
                    client: #child_rt::client::Client,
                }

                #[automatically_derived]
                impl #name {
                    /// A client of the server at `base_url`: its root (`http://127.0.0.1:8080`),
                    /// not the plugin's path, which each method adds.
                    ///
                    /// # Errors
                    /// A URL the client cannot use.
                    pub fn new(base_url: &str) -> ::core::result::Result<Self, #child_rt::client::ClientError> {
                        ::core::result::Result::Ok(Self { client: #child_rt::client::Client::new(base_url)? })
                    }

                    /// A client sharing `client`'s connections and settings.
                    pub fn from_client(client: #child_rt::client::Client) -> Self {
                        Self { client }
                    }

                    /// Sends `Authorization: Bearer <token>` (an API key or an OAuth token).
                    #[must_use]
                    pub fn bearer(self, token: &str) -> Self {
                        Self { client: self.client.bearer(token) }
                    }

                    /// Sends the header `name: value` with every request (a gateway's
                    /// `x-user-id`, say); for a tower layer, make a `plugin_routes::client::Client`
                    /// with `layer` and use `from_client`.
                    ///
                    /// # Errors
                    /// A name or value a header cannot have.
                    pub fn header(self, name: &str, value: &str) -> ::core::result::Result<Self, #child_rt::client::ClientError> {
                        ::core::result::Result::Ok(Self { client: self.client.header(name, value)? })
                    }

                    /// Whether inputs are checked with their garde rules before sending (on by
                    /// default): an invalid one fails with `InvalidInput`, without a round trip.
                    #[must_use]
                    pub fn validate_before_sending(self, on: bool) -> Self {
                        Self { client: self.client.validate_before_sending(on) }
                    }

                    #(#methods)*
                }
            }
            #vis use #module::#name;
        }
    }
}

/// `ItemsClient` → `items_client`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The module of `route` as seen from a child module of the plugin's: `routes::get_item` →
/// `super::routes`, `get_item` → `super`, `crate::a::b` stays `crate::a`.
fn from_child(route: &syn::Path) -> Vec<TokenStream> {
    let segments: Vec<&syn::Ident> = route.segments.iter().map(|s| &s.ident).collect();
    let module = &segments[..segments.len().saturating_sub(1)];
    let mut out: Vec<TokenStream> = Vec::new();
    match module.first().map(ToString::to_string).as_deref() {
        Some("crate") => {}
        Some("self") => {
            out.push(quote!(super));
            out.extend(module[1..].iter().map(|s| quote!(#s)));
            return out;
        }
        _ => out.push(quote!(super)),
    }
    out.extend(module.iter().map(|s| quote!(#s)));
    out
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
    errors: &[syn::Ident],
    has_state: bool,
) -> TokenStream {
    let syn::ItemStruct {
        attrs, vis, ident, ..
    } = strukt;
    let rt = krate.private();
    let companions = routes.iter().map(companion_path);
    // The codes it tried to declare, so the routes returning them are not reported as well.
    let shared_errors = shared_errors(
        routes,
        errors.iter().map(|code| {
            let name = code.to_string();
            let decl = quote! {
                &#rt::ErrorDecl { code: #name, status: 500, description: ::core::option::Option::None }
            };
            (code.clone(), decl)
        }),
    );
    // One per plugin, so that two failing plugins in a module do not clash.
    let uses = format_ident!("__plugin_fallback_uses_{}", ident);
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

        #[allow(dead_code, non_snake_case)]
        fn #uses() {
            #(let _ = #companions;)*
        }

        #shared_errors
    }
}

fn opt(v: Option<u64>) -> TokenStream {
    match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}
