//! A route's side of the typed client, emitted through the runtime's `if_client!` (so nothing of
//! it exists unless the `client` feature is on):
//!
//! - `pub enum <Handler>Error`: a variant per declared code (the envelope's error object), per
//!   framework code the route can answer, `Unexpected` and `Transport`;
//! - `plugin_client_<fn>`: the call itself, written here where the route's types are in scope;
//! - aliases of its parameter and return types, and a `plugin_client_<fn>_method!` macro that a
//!   plugin's `client = ...` expands inside its client's `impl`, naming the types through the
//!   aliases (a `macro_rules!` body resolves paths where it is expanded, not where it is written).

use super::signature::{Role, Signature};
use super::validate::RouteDecl;
use crate::attr::errors::camel;
use crate::attr::security::SecurityDecl;
use crate::krate::Krate;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The error enum of the route `fn_ident`.
fn error_enum(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("{}Error", camel(&fn_ident.to_string()))
}

/// The method macro of the route `fn_ident`.
pub(crate) fn method_macro(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("plugin_client_{}_method", fn_ident)
}

/// The macro that defines the error enum of the route `fn_ident` where a plugin's client is,
/// given the plugin's shared codes as `Variant "CODE" status "doc"`.
pub(crate) fn errors_macro(fn_ident: &syn::Ident) -> syn::Ident {
    format_ident!("plugin_client_{}_errors", fn_ident)
}

struct Variant {
    ident: syn::Ident,
    doc: String,
    payload: TokenStream,
    /// The arm that builds it from a refusal `r`, for its status and code.
    status: u16,
    code: String,
    build: TokenStream,
}

pub(crate) fn client(
    krate: &Krate,
    decl: &RouteDecl,
    sig: &Signature,
    fn_ident: &syn::Ident,
    companion: &syn::Ident,
    summary: Option<&str>,
) -> TokenStream {
    let rt = krate.private();
    let c = quote!(#rt::client);
    let enum_ident = error_enum(fn_ident);
    let body = decl.method.reads_body();
    let input = sig.input();
    let path_args: Vec<_> = sig.with_role(|r| matches!(r, Role::Path)).collect();

    let mut variants: Vec<Variant> = decl
        .errors
        .iter()
        .map(|e| {
            let code = e.code.to_string();
            let doc = match &e.description {
                Some(d) => format!("`{} {code}`: {d}.", e.status),
                None => format!("`{} {code}`.", e.status),
            };
            Variant {
                ident: format_ident!("{}", camel(&code)),
                doc,
                payload: quote!(#c::ErrorBody),
                status: e.status,
                code,
                build: quote!(r.error),
            }
        })
        .collect();
    let declared = variants.len();
    let mut framework = |name: &str, status: u16, doc: &str, payload: TokenStream, build| {
        variants.push(Variant {
            ident: format_ident!("{}", camel(name)),
            doc: format!("`{status} {name}`: {doc}."),
            payload,
            status,
            code: name.to_owned(),
            build,
        });
    };
    if input.is_some() || !path_args.is_empty() {
        framework(
            "INVALID_INPUT",
            400,
            "the input was refused, field by field (by the server, or before sending)",
            quote!(#c::InvalidInput),
            quote!(r.invalid_input()),
        );
    }
    if input.is_some() && body {
        framework(
            "PAYLOAD_TOO_LARGE",
            413,
            "the body is larger than the route accepts",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
        framework(
            "UNSUPPORTED_MEDIA_TYPE",
            415,
            "the body was not sent as JSON",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
    }
    // A route that inherits its security may still be public (a plugin's `security(none)`);
    // only an explicit `security(none)` is known here to need no credential.
    if !decl.security.as_ref().is_some_and(SecurityDecl::is_public) {
        framework(
            "UNAUTHORIZED",
            401,
            "no valid credential",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
        framework(
            "FORBIDDEN",
            403,
            "the credential lacks scopes; `missing_scopes` names them",
            quote!(#c::Forbidden),
            quote!(r.forbidden()),
        );
        framework(
            "CSRF_REJECTED",
            403,
            "a cookie-authenticated write from a foreign origin",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
    }
    framework(
        "RATE_LIMITED",
        429,
        "over a quota; `retry_after` says when to come back",
        quote!(#c::RateLimited),
        quote!(r.rate_limited()),
    );
    framework(
        "HEADERS_TOO_LARGE",
        431,
        "the request's head is larger than the server accepts",
        quote!(#c::ErrorBody),
        quote!(r.error),
    );
    framework(
        "INTERNAL",
        500,
        "the server failed; its log has the cause under the request id",
        quote!(#c::ErrorBody),
        quote!(r.error),
    );
    framework(
        "UNAVAILABLE",
        503,
        "something the server depends on cannot be reached",
        quote!(#c::ErrorBody),
        quote!(r.error),
    );
    framework(
        "TIMEOUT",
        504,
        "the route did not finish within its timeout",
        quote!(#c::ErrorBody),
        quote!(r.error),
    );
    if decl.operation.is_some() {
        framework(
            "NOT_FOUND",
            404,
            "the operation is not the caller's, or was deleted after the retention period",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
        framework(
            "CANCELLED",
            499,
            "the operation was cancelled before it ended",
            quote!(#c::ErrorBody),
            quote!(r.error),
        );
    }

    let def = |v: &Variant| {
        let (ident, doc, payload) = (&v.ident, &v.doc, &v.payload);
        quote!(#[doc = #doc] #ident(#payload),)
    };
    let own_defs = variants[..declared].iter().map(def);
    let framework_defs = variants[declared..].iter().map(def);
    let arms = variants.iter().map(|v| {
        let (ident, status, code, build) = (&v.ident, v.status, &v.code, &v.build);
        quote!((#status, #code) => #enum_ident::#ident(#build),)
    });
    let displays = variants.iter().map(|v| {
        let ident = &v.ident;
        let code = &v.code;
        quote!(#enum_ident::#ident(e) => ::core::write!(f, "{}: {}", #code, e.message),)
    });
    let invalid_input = if variants.iter().any(|v| v.code == "INVALID_INPUT") {
        quote!(#enum_ident::InvalidInput(i))
    } else {
        quote!(#enum_ident::Unexpected(#c::Unexpected {
            status: 400,
            body: ::std::string::String::new(),
            why: ::std::format!("the input was refused before sending: {}", i.message),
        }))
    };
    let errors_mac = errors_macro(fn_ident);
    // The plugin passes its shared codes as `CODE Variant "CODE" status "doc"` after `[]`; they
    // are kept in the brackets one by one, but for the codes the route declares itself.
    let skips = decl.own_codes().into_iter().map(|code| {
        quote! {
            ($($m:ident)::+ ; [$($kept:tt)*] #code $variant:ident $code:tt $status:tt $doc:tt $($rest:tt)*) => {
                $($m)::+::#errors_mac!($($m)::+ ; [$($kept)*] $($rest)*);
            };
        }
    });
    let enum_doc = format!(
        "What `{fn_ident}` can fail with: each code it declares, each framework code it can answer, an answer its declaration does not allow, or none at all."
    );

    // Aliases of the types the method names, in the route's module where they are in scope.
    let alias = |name: &str| format_ident!("plugin_client_{}__{}", fn_ident, name);
    let output = &sig.output;
    let out_alias = alias("Output");
    let mut params = Vec::new();
    let mut aliases = vec![quote!(pub(crate) type #out_alias = #output;)];
    // Path parameters in the order the path names them, then the input.
    for name in &decl.path.params {
        if let Some(arg) = path_args.iter().find(|a| a.ident == name) {
            let (ident, ty) = (&arg.ident, &arg.ty);
            let a = alias(&ident.to_string());
            aliases.push(quote!(pub(crate) type #a = #ty;));
            params.push((ident.clone(), a));
        }
    }
    if let Some(arg) = input {
        let (ident, ty) = (&arg.ident, &arg.ty);
        let a = alias(&ident.to_string());
        aliases.push(quote!(pub(crate) type #a = #ty;));
        params.push((ident.clone(), a));
    }
    let values = params
        .iter()
        .take(params.len() - usize::from(input.is_some()))
        .map(
            |(i, _)| quote!(#rt::serde_json::to_value(&#i).unwrap_or(#rt::serde_json::Value::Null)),
        );
    let encode = match input {
        None => quote!(#c::Input::None),
        Some(arg) => {
            let ident = &arg.ident;
            let (location, encoded) = if body {
                (
                    quote!(#rt::Location::Body),
                    quote!(#c::Input::Json(#c::encode_json(&#ident))),
                )
            } else {
                (
                    quote!(#rt::Location::Query),
                    quote!(#c::Input::Query(#c::encode_query(&#ident))),
                )
            };
            quote! {{
                if self.client.validates() {
                    if let ::core::result::Result::Err(i) = #c::check_input(&#ident, #location) {
                        return ::core::result::Result::Err(<#enum_ident as #c::RouteErrors>::invalid_input(i));
                    }
                }
                #encoded
            }}
        }
    };

    // The method, expanded in the client's `impl` (only a plugin with `client = ...` does, so
    // only its routes' types need `Serialize` and `Deserialize` both ways).
    let mac = method_macro(fn_ident);
    let method_params = params.iter().map(|(i, a)| quote!(#i: $($m)::+::#a));
    // `GET {base_url}/v1/plugins/items/items/{id}`: the plugin's base path comes from the plugin.
    let doc_before = format!(
        "{}`{} {{base_url}}",
        summary.map(|s| format!("{s}\n\n")).unwrap_or_default(),
        decl.method.variant_name().to_ascii_uppercase(),
    );
    let doc_after = if decl.operation.is_some() {
        format!(
            "`, where `base_url` is the one the client was made with (the server's root): starts the operation, answering once the server accepted it; wait for its result (or cancel it) through the [`Pending`]({c}::Pending) answered. Its errors are [`{enum_ident}`].",
            c = "plugin_routes::client"
        )
    } else {
        "`, where `base_url` is the one the client was made with (the server's root); its errors are [`{enum_ident}`]."
            .replace("{enum_ident}", &enum_ident.to_string())
    };
    let doc_after = format!("{}{doc_after}", decl.path.template);

    // An operation's method answers once it is accepted, with what waits for its end.
    let (returns, sends) = if decl.operation.is_some() {
        (
            quote!(#c::Pending<$($m)::+::#out_alias, #enum_ident>),
            quote!(#c::start::<$($m)::+::#out_alias, #enum_ident>),
        )
    } else {
        (
            quote!(<$($m)::+::#out_alias as #c::ClientOutput>::Received),
            quote!(#c::call::<$($m)::+::#out_alias, #enum_ident>),
        )
    };

    quote! {
        #rt::if_client! {
            // The error enum, defined where the plugin's client is, with the plugin's shared
            // codes (which this route cannot know) among its variants.
            #[doc(hidden)]
            #[allow(unused_macros)]
            macro_rules! #errors_mac {
                #(#skips)*
                ($($m:ident)::+ ; [$($kept:tt)*] $name:ident $variant:ident $code:tt $status:tt $doc:tt $($rest:tt)*) => {
                    $($m)::+::#errors_mac!($($m)::+ ; [$($kept)* $variant $code $status $doc] $($rest)*);
                };
                ($($m:ident)::+ ; [$($variant:ident $code:tt $status:tt $doc:tt)*]) => {
                    #[doc = #enum_doc]
                    // Unused when the client's method for the route is never called.
                    #[allow(dead_code)]
                    #[derive(Clone, Debug, PartialEq)]
                    pub enum #enum_ident {
                        #(#own_defs)*
                        $(#[doc = $doc] $variant(#c::ErrorBody),)*
                        #(#framework_defs)*
                        /// An answer the declaration does not allow: its status and body are kept.
                        Unexpected(#c::Unexpected),
                        /// No answer: the connection failed or broke.
                        Transport(#c::Transport),
                    }

                    #[automatically_derived]
                    impl ::core::fmt::Display for #enum_ident {
                        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                            match self {
                                #(#displays)*
                                $(#enum_ident::$variant(e) => ::core::write!(f, "{}: {}", $code, e.message),)*
                                #enum_ident::Unexpected(u) => ::core::write!(f, "unexpected answer {}: {}", u.status, u.why),
                                #enum_ident::Transport(t) => ::core::fmt::Display::fmt(t, f),
                            }
                        }
                    }

                    #[automatically_derived]
                    impl ::std::error::Error for #enum_ident {}

                    #[automatically_derived]
                    impl #c::RouteErrors for #enum_ident {
                        fn from_refusal(r: #c::Refusal) -> Self {
                            match (r.status, r.error.code.as_str()) {
                                #(#arms)*
                                $(($status, $code) => #enum_ident::$variant(r.error),)*
                                _ => #enum_ident::Unexpected(r.unexpected()),
                            }
                        }
                        fn unexpected(u: #c::Unexpected) -> Self {
                            #enum_ident::Unexpected(u)
                        }
                        fn transport(t: #c::Transport) -> Self {
                            #enum_ident::Transport(t)
                        }
                        fn invalid_input(i: #c::InvalidInput) -> Self {
                            #invalid_input
                        }
                    }
                };
            }
            #[doc(hidden)]
            #[allow(unused_imports)]
            pub(crate) use #errors_mac;

            #(#[doc(hidden)] #[allow(non_camel_case_types, dead_code)] #aliases)*

            #[doc(hidden)]
            #[allow(unused_macros)]
            macro_rules! #mac {
                ($($m:ident)::+ ; $base:expr ; $doc_base:literal) => {
                    #[doc = ::core::concat!(#doc_before, $doc_base, #doc_after)]
                    pub async fn #fn_ident(&self, #(#method_params),*) -> ::core::result::Result<
                        #returns,
                        #enum_ident,
                    > {
                        let params = [#(#values),*];
                        let input = #encode;
                        #sends(&self.client, #c::Call {
                            route: $($m)::+::#companion::META,
                            base_path: $base,
                            params: &params,
                            input,
                        }).await
                    }
                };
            }
            #[doc(hidden)]
            #[allow(unused_imports)]
            pub(crate) use #mac;
        }
    }
}
