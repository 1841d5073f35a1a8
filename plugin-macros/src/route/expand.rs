//! Code generation for a validated route. The user's function is kept as written (so tests can
//! call it directly) with a `route_error!` macro added to its body; next to it comes a hidden
//! companion, `plugin_route_<fn>`: a struct that carries the route's metadata and builds its
//! axum handler, and a same-named constructor function that a plugin's `routes(...)` calls. The
//! constructor is `pub(crate)` and `#[deny(dead_code)]`: a route that no plugin lists fails to
//! compile instead of being silently dead.

use super::signature::{Role, Signature, type_span};
use super::validate::RouteDecl;
use crate::docs::doc_string;
use crate::krate::Krate;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

/// The companion's name. It deliberately lacks the `__plugin_` prefix the other generated names
/// have: rustc's dead-code lint ignores names that start with `_`, and that lint is what turns an
/// unregistered route into a compile error.
pub(crate) fn companion_ident(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("plugin_route_{}", fn_ident, span = fn_ident.span())
}

/// The struct whose associated constants are the codes the route may return: its own, and (added
/// by the plugin that lists it) its plugin's. `route_error!(CODE)` reads `plugin_errors_<fn>::CODE`.
pub(crate) fn errors_ident(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("plugin_errors_{}", fn_ident, span = fn_ident.span())
}

/// The macro a plugin calls once per shared code to add it to the route's errors struct; it
/// adds nothing for a code the route declares itself, whose declaration wins.
pub(crate) fn shared_errors_macro(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("plugin_route_{}_shared_error", fn_ident)
}

/// The struct `errors_ident` names and the macro `shared_errors_macro` names, for a route whose
/// own codes (declared, or left out with `CODE = none`) are `own` (`None`: a route whose attribute failed, which takes any code and adds
/// nothing, as its `route_error!` accepts anything).
fn errors_struct(
    rt: &TokenStream,
    fn_ident: &syn::Ident,
    own: Option<&[&syn::Ident]>,
) -> TokenStream {
    let errors = errors_ident(fn_ident);
    let mac = shared_errors_macro(fn_ident);
    let arms = match own {
        Some(own) => {
            let skips = own
                .iter()
                .map(|code| quote!(($($m:ident ::)* ; #code = $decl:expr) => {};));
            quote! {
                #(#skips)*
                ($($m:ident ::)* ; $code:ident = $decl:expr) => {
                    impl $($m ::)* #errors {
                        pub(crate) const $code: &'static #rt::ErrorDecl = $decl;
                    }
                };
            }
        }
        None => quote!(($($t:tt)*) => {};),
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        pub(crate) struct #errors {}

        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #mac {
            #arms
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #mac;
    }
}

pub(crate) fn route(
    krate: &Krate,
    decl: &RouteDecl,
    sig: &Signature,
    mut func: syn::ItemFn,
) -> TokenStream {
    let rt = krate.private();
    let fn_ident = func.sig.ident.clone();
    let companion = companion_ident(&fn_ident);
    let (summary, description) =
        summary_and_description(decl.docs.summary.as_deref(), &doc_string(&func.attrs));

    let errors_ty = errors_ident(&fn_ident);
    insert_error_macro(&rt, &mut func, &errors_ty);
    func.attrs.push(syn::parse_quote!(
        #[allow(clippy::unused_async, reason = "a route handler is an `async fn` whether or not it awaits")]
    ));

    let errors = crate::attr::errors::decls(&rt, &decl.errors);
    let error_consts = crate::attr::errors::consts(&rt, &decl.errors, &quote!(#companion::ERRORS));
    let errors_def = errors_struct(&rt, &fn_ident, Some(&decl.own_codes()));
    let left_out = decl.left_out_errors.iter().map(ToString::to_string);
    let method = format_ident!("{}", decl.method.variant_name());
    let path = &decl.path.template;
    let status = decl.status;
    let timeout = opt_u64(decl.timeout_ms);
    let body_limit = opt_u64(decl.body_limit.map(|(v, _)| v));
    let input_location = match sig.input() {
        None => quote!(#rt::InputLocation::None),
        Some(_) if decl.method.reads_body() => quote!(#rt::InputLocation::Body),
        Some(_) => quote!(#rt::InputLocation::Query),
    };
    let path_params = decl.path.params.iter().filter_map(|name| {
        let arg = sig.args.iter().find(|a| a.ident == name)?;
        let ty = &arg.ty;
        Some(quote!(#rt::PathParam { name: #name, schema: #rt::schema_ref::<#ty> }))
    });
    let input_schema = match sig.input() {
        None => quote!(::core::option::Option::None),
        Some(a) if decl.method.reads_body() => {
            let ty = &a.ty;
            quote!(::core::option::Option::Some(#rt::schema_ref::<#ty> as #rt::SchemaFn))
        }
        // A query input is split into one parameter per field, so its schema is taken inline.
        Some(a) => {
            let ty = &a.ty;
            quote!(::core::option::Option::Some(#rt::schema_inline::<#ty> as #rt::SchemaFn))
        }
    };
    let (output_schema, output_media_type, output_conditional) = if decl.status == 204 {
        (
            quote!(::core::option::Option::None),
            quote!(""),
            quote!(false),
        )
    } else {
        let responder = responder(krate, &sig.output);
        (
            quote!(::core::option::Option::Some(<#responder as #rt::Described>::schema as #rt::SchemaFn)),
            quote!(<#responder as #rt::Described>::MEDIA_TYPE),
            quote!(<#responder as #rt::Described>::CONDITIONAL),
        )
    };
    let summary_tokens = opt_str(summary.as_deref());
    let description = opt_str(description.as_deref());
    let tags = &decl.docs.tags;
    let operation_id = opt_str(decl.docs.operation_id.as_deref());
    let (deprecated, hidden) = (decl.docs.deprecated, decl.docs.hidden);
    let handler_name = fn_ident.to_string();
    let security = crate::attr::security::opt_security(&rt, decl.security.as_ref());
    let scopes = crate::attr::scopes::opt_scopes(decl.scopes.as_deref());
    let permissions = crate::attr::permissions::opt_permissions(&rt, decl.permissions.as_ref());
    let rate_limits = crate::attr::rate_limit::opt_rate_limits(&rt, decl.rate_limit.as_ref());
    let concurrency = crate::attr::concurrency::opt_concurrency(&rt, decl.concurrency.as_ref());
    let operation = crate::attr::operation::opt_operation(&rt, decl.operation.as_ref());

    let client = super::client::client(krate, decl, sig, &fn_ident, &companion, summary.as_deref());
    let assertions = assertions(krate, decl, sig);
    let method_router = method_router(krate, decl, sig, &fn_ident);
    let (impl_generics, state_ty) = match &sig.state {
        Some(s) => (quote!(), quote!(#s)),
        None => (
            quote!(<__S: ::core::marker::Send + ::core::marker::Sync + 'static>),
            quote!(__S),
        ),
    };
    // The constructor is what a plugin's `routes(...)` calls; if no plugin lists the route it is
    // never used, and rustc reports it (spanned on the handler's name) with this reason.
    let constructor = quote_spanned! {fn_ident.span()=>
        #[doc(hidden)]
        #[deny(
            dead_code,
            reason = "every #[plugin_route] must be listed in the `routes(...)` of a #[plugin]; this one is not, so it would never be served"
        )]
        pub(crate) const fn #companion() -> #companion {
            #companion {}
        }
    };

    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        pub(crate) struct #companion {}

        #constructor

        #errors_def

        impl #errors_ty {
            #(#error_consts)*
        }

        #[automatically_derived]
        impl #companion {
            #[doc(hidden)]
            pub(crate) const ERRORS: &'static [#rt::ErrorDecl] = &[#(#errors),*];
            #[doc(hidden)]
            pub(crate) const META: &'static #rt::RouteMeta = &#rt::RouteMeta {
                handler: #handler_name,
                module: ::core::module_path!(),
                method: #rt::Method::#method,
                path: #path,
                status: #status,
                errors: Self::ERRORS,
                left_out_errors: &[#(#left_out),*],
                timeout_ms: #timeout,
                body_limit: #body_limit,
                input: #input_location,
                path_params: &[#(#path_params),*],
                input_schema: #input_schema,
                output_schema: #output_schema,
                output_media_type: #output_media_type,
                output_conditional: #output_conditional,
                summary: #summary_tokens,
                description: #description,
                tags: &[#(#tags),*],
                operation_id: #operation_id,
                deprecated: #deprecated,
                hidden: #hidden,
                security: #security,
                scopes: #scopes,
                permissions: #permissions,
                rate_limits: #rate_limits,
                concurrency: #concurrency,
                operation: #operation,
            };
        }

        #assertions

        #client

        #[automatically_derived]
        impl #impl_generics #rt::Route<#state_ty> for #companion {
            fn meta(&self) -> &'static #rt::RouteMeta {
                Self::META
            }

            #method_router
        }
    }
}

/// Builds `fn method_router`, which hands the runtime's generic endpoint a closure that puts the
/// extracted pieces back in the order the handler declares them.
fn method_router(
    krate: &Krate,
    decl: &RouteDecl,
    sig: &Signature,
    fn_ident: &syn::Ident,
) -> TokenStream {
    let rt = krate.private();
    let state_ty = match &sig.state {
        Some(s) => quote!(#s),
        None => quote!(__S),
    };

    // The path parameters as a tuple in the order the path names them: one deserializer for
    // every route whose parameters have the same types, where a struct of their own would make
    // one a route.
    let path_args: Vec<_> = decl
        .path
        .params
        .iter()
        .filter_map(|name| {
            sig.args
                .iter()
                .find(|a| a.ident == name && matches!(a.role, Role::Path))
        })
        .collect();
    let (params_source, params_ty, params_pat) = if path_args.is_empty() {
        (quote!(#rt::NoParams), quote!(()), quote!(()))
    } else {
        let tys = path_args.iter().map(|a| &a.ty);
        let names = path_args.iter().map(|a| &a.ident);
        let ty = quote!((#(#tys,)*));
        (quote!(#rt::PathOf<#ty>), ty, quote!((#(#names,)*)))
    };

    let (input_source, input_ty, input_pat) = match sig.input() {
        None => (quote!(#rt::NoInput), quote!(()), quote!(())),
        Some(a) => {
            let (ident, ty) = (&a.ident, &a.ty);
            // Named through the checks, spanned on the user's type: an input that does not
            // deserialize or validate is one error there, and none at the attribute.
            let span = type_span(ty);
            let rt = krate.private_at(span);
            let checked = quote_spanned!(span=>
                <<#ty as #rt::CheckedInput>::Input as #rt::IsValidated>::Input
            );
            let source = if decl.method.reads_body() {
                quote_spanned!(span=> #rt::JsonBody<#checked>)
            } else {
                quote_spanned!(span=> #rt::QueryInput<#checked>)
            };
            (source, quote!(#ty), quote!(#ident))
        }
    };

    let extracts: Vec<_> = sig.with_role(|r| matches!(r, Role::Extract)).collect();
    let extract_tys = extracts.iter().map(|a| &a.ty);
    let extract_idents = extracts.iter().map(|a| &a.ident);
    let extract_ty = quote!((#(#extract_tys,)*));

    let ctx_pat = if sig.args.iter().any(|a| matches!(a.role, Role::Ctx)) {
        let ident = &sig
            .args
            .iter()
            .find(|a| matches!(a.role, Role::Ctx))
            .map(|a| &a.ident);
        quote!(#ident)
    } else {
        quote!(_)
    };
    let call_args = sig.args.iter().map(|a| &a.ident);
    let output = &sig.output;
    let responder = if decl.status == 204 {
        quote!(#rt::NoContent<#output>)
    } else {
        responder(krate, output)
    };

    if decl.operation.is_some() {
        let status = decl.status;
        return quote! {
            fn method_router(self, runtime: #rt::RouteRuntime<#state_ty>) -> #rt::MethodRouter {
                #rt::operation_endpoint::<#state_ty>(
                    runtime,
                    // The request: read and checked like any route's, then stored and queued.
                    |runtime, request| {
                        #rt::serve::<#state_ty, #params_source, #input_source, (), #rt::Accepted, _, _>(
                            runtime,
                            request,
                            |ctx: #rt::Ctx<#state_ty>, params: #params_ty, input: #input_ty, (): ()| {
                                #rt::accept_operation(ctx, params, input)
                            },
                        )
                    },
                    // The run, later, wherever it is taken: the stored input back in order.
                    |ctx, input| {
                        #rt::run_operation::<#state_ty, #params_ty, #input_ty, _, _, _>(
                            ctx,
                            input,
                            #status,
                            |#ctx_pat: #rt::Ctx<#state_ty>, #params_pat: #params_ty, #input_pat: #input_ty| async move {
                                ::core::result::Result::map_err(#fn_ident(#(#call_args),*).await, ::core::convert::Into::into)
                            },
                        )
                    },
                )
            }
        };
    }

    quote! {
        fn method_router(self, runtime: #rt::RouteRuntime<#state_ty>) -> #rt::MethodRouter {
            // A closure capturing nothing: a plain function pointer, the same type for every
            // route of this state.
            #rt::endpoint::<#state_ty>(runtime, |runtime, request| {
                #rt::serve::<#state_ty, #params_source, #input_source, #extract_ty, #responder, _, _>(
                    runtime,
                    request,
                    |#ctx_pat: #rt::Ctx<#state_ty>,
                     #params_pat: #params_ty,
                     #input_pat: #input_ty,
                     (#(#extract_idents,)*): #extract_ty| async move {
                        // The identity for `RouteResult`; for another error type the assertion
                        // above reports the mistake, and this keeps it to that one error.
                        ::core::result::Result::map_err(#fn_ident(#(#call_args),*).await, ::core::convert::Into::into)
                    },
                )
            })
        }
    }
}

/// The `Responder` the endpoint writes the handler's success with, spanned on the user's type,
/// so that a type that cannot be returned is one error there rather than one per use: rustc
/// reports a failed bound once per span and predicate. For `EventStream<E>` (known by its last
/// segment) everything is bounded on `E: StreamEvent` alone, so the error names `E`, the type to
/// derive for; anything else is written `<T as CheckedOutput>::Output`.
fn responder(krate: &Krate, output: &syn::Type) -> TokenStream {
    if let syn::Type::Path(p) = output
        && p.qself.is_none()
        && let Some(last) = p.path.segments.last()
        && last.ident == "EventStream"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let [syn::GenericArgument::Type(event)] = args.args.iter().collect::<Vec<_>>()[..]
    {
        let span = type_span(event);
        let rt = krate.private_at(span);
        return quote_spanned!(span=> #rt::Events<<#event as #rt::CheckedEvent>::Event>);
    }
    let span = type_span(output);
    let rt = krate.private_at(span);
    quote_spanned!(span=> #rt::Output<<#output as #rt::CheckedOutput>::Output>)
}

/// Trait-bound checks spanned on the user's types, so "does not implement `Validate`" points at
/// the input type rather than at generated code.
fn assertions(krate: &Krate, decl: &RouteDecl, sig: &Signature) -> TokenStream {
    let mut checks = Vec::new();
    for arg in &sig.args {
        let ty = &arg.ty;
        let span = type_span(ty);
        let rt = krate.private_at(span);
        match arg.role {
            // `Deserialize` and `Validate` are required (and reported, at the type) where the
            // input's source is named, `JsonSchema` by the route's metadata.
            Role::Input => {}
            Role::Path => checks.push(quote_spanned!(span=> #rt::assert_path_param::<#ty>)),
            Role::Extract => checks.push(quote_spanned!(span=> #rt::assert_extractor::<#ty>)),
            Role::Ctx => {}
        }
    }
    let output = &sig.output;
    let span = type_span(output);
    let rt = krate.private_at(span);
    if let Some(op) = &decl.operation {
        // Stored between the request and the run: the input and path parameters are written
        // and read back as JSON, and so is the result.
        let key_span = op.key.span();
        let krt = krate.private_at(key_span);
        checks.push(quote_spanned!(key_span=> #krt::assert_operations_enabled::<()>));
        for arg in sig
            .args
            .iter()
            .filter(|a| matches!(a.role, Role::Input | Role::Path))
        {
            let ty = &arg.ty;
            let span = type_span(ty);
            let rt = krate.private_at(span);
            checks.push(quote_spanned!(span=> #rt::assert_stored::<#ty>));
        }
        checks.push(quote_spanned!(span=> #rt::assert_operation_result::<#output>));
    } else if decl.status == 204 {
        checks.push(quote_spanned!(span=> #rt::assert_empty_output::<#output>));
    } else {
        let responder = responder(krate, output);
        checks.push(quote_spanned!(span=> #rt::assert_responder::<#responder>));
    }
    if let Some(e) = &sig.error_ty {
        let span = type_span(e);
        let rt = krate.private_at(span);
        checks.push(quote_spanned!(span=> #rt::assert_route_error::<#e>));
    }
    quote! {
        const _: () = {
            #(let _ = #checks;)*
        };
    }
}

/// Adds `route_error!` to the top of the handler body. A code is found as an associated
/// constant of the route's errors struct, which holds the route's codes and its plugin's: one
/// the route and its plugin do not declare is rustc's "no associated item named `CODE` found for
/// struct `plugin_errors_<fn>`", at the code, suggesting the closest declared one.
fn insert_error_macro(rt: &TokenStream, func: &mut syn::ItemFn, errors: &syn::Ident) {
    let mac: syn::Stmt = syn::parse_quote! {
        #[allow(unused_macros)]
        macro_rules! route_error {
            ($code:ident $(,)?) => {
                #rt::declared_error(#errors::$code, ::core::option::Option::None)
            };
            ($code:ident, $($fmt:tt)+) => {
                #rt::declared_error(#errors::$code, ::core::option::Option::Some(::std::format!($($fmt)+)))
            };
            ($($other:tt)*) => {
                ::core::compile_error!("expected `route_error!(CODE)` or `route_error!(CODE, \"message {}\", args)`")
            };
        }
    };
    func.block.stmts.insert(0, mac);
}

/// What is emitted when the attribute is wrong: the user's function, a `route_error!` that
/// accepts anything, and a companion that satisfies plugin declarations, so the only errors
/// shown are the real ones.
pub(crate) fn fallback(krate: &Krate, mut func: syn::ItemFn) -> TokenStream {
    let rt = krate.private();
    let companion = companion_ident(&func.sig.ident);
    let mac: syn::Stmt = syn::parse_quote! {
        #[allow(unused_macros)]
        macro_rules! route_error {
            ($($t:tt)*) => { #rt::fallback_error() };
        }
    };
    func.block.stmts.insert(0, mac);
    for arg in &mut func.sig.inputs {
        if let syn::FnArg::Typed(t) = arg {
            t.attrs.retain(|a| !a.path().is_ident("extract"));
        }
    }
    let errors_def = errors_struct(&rt, &func.sig.ident, None);
    quote! {
        #func
        #errors_def
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        pub(crate) struct #companion {}
        #[doc(hidden)]
        #[allow(dead_code)]
        pub(crate) const fn #companion() -> #companion {
            #companion {}
        }
        impl #companion {
            #[doc(hidden)]
            pub(crate) const META: &'static #rt::RouteMeta = #rt::RouteMeta::FALLBACK;
        }
        impl<__S> #rt::Route<__S> for #companion {
            fn meta(&self) -> &'static #rt::RouteMeta { Self::META }
            fn method_router(self, _: #rt::RouteRuntime<__S>) -> #rt::MethodRouter { #rt::fallback_method_router() }
        }
    }
}

/// The OpenAPI summary and description. With an explicit `summary`, the whole doc comment is the
/// description; otherwise its first paragraph is the summary and the rest the description.
fn summary_and_description(explicit: Option<&str>, doc: &str) -> (Option<String>, Option<String>) {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if let Some(summary) = explicit {
        return (Some(summary.to_owned()), non_empty(doc));
    }
    let (first, rest) = doc.split_once("\n\n").unwrap_or((doc, ""));
    let first = first.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    (non_empty(&first), non_empty(rest))
}

fn opt_str(v: Option<&str>) -> TokenStream {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn opt_u64(v: Option<u64>) -> TokenStream {
    match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}
