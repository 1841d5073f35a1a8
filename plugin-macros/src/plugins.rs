//! `plugins![config = cfg; auth = authenticator; ItemsPlugin::new(state), OtherPlugin::new()]`:
//! assembles plugins into one `axum::Router`. Every setting is optional: `config` (a
//! `ServerConfig`), `auth` (an `Authenticator`, which routes that are not public need: without it
//! such a route does not compile) and `crate = "path"` (where the runtime is re-exported).
//!
//! Each entry must be a constructor call whose path names the plugin type
//! (`ItemsPlugin::new(..)`), optionally followed by method calls
//! (`CommitPlugin::new(state).with_placeholder("repo", dir)`), or a start awaited in place
//! (`CommitPlugin::start(config, &mut lifecycle).await?`); a plugin value made earlier is written
//! with its type, `commit: CommitPlugin`. The macro reads the type from it so that duplicate plugin names,
//! base paths and routes across plugins are found by a `const` check, at compile time.

use crate::krate::Krate;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Token};

struct Input {
    config: Option<Expr>,
    auth: Option<Expr>,
    krate: Option<syn::LitStr>,
    plugins: Punctuated<Entry, Token![,]>,
}

/// One plugin: an expression making it, and its type when written `value: PluginType` (a
/// plugin made earlier, `commit: CommitPlugin`); otherwise the type is read from the expression.
struct Entry {
    expr: Expr,
    ty: Option<syn::Path>,
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let value: syn::Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let ty: syn::Path = input.parse()?;
            return Ok(Entry {
                expr: syn::parse_quote!(#value),
                ty: Some(ty),
            });
        }
        Ok(Entry {
            expr: input.parse()?,
            ty: None,
        })
    }
}

impl quote::ToTokens for Entry {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.expr.to_tokens(tokens);
    }
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut config = None;
        let mut auth = None;
        let mut krate = None;
        while (input.peek(syn::Ident) || input.peek(Token![crate])) && input.peek2(Token![=]) {
            if input.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                if krate.is_some() {
                    return Err(syn::Error::new(
                        key.span,
                        "`crate` is specified more than once",
                    ));
                }
                input.parse::<Token![=]>()?;
                krate = Some(input.parse()?);
                input.parse::<Token![;]>()?;
                continue;
            }
            let key: syn::Ident = input.parse()?;
            let slot = match key.to_string().as_str() {
                "config" => &mut config,
                "auth" => &mut auth,
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown setting `{key}`: expected `config = <ServerConfig>;`, `auth = <an Authenticator>;` or `crate = \"path\";`"
                        ),
                    ));
                }
            };
            if slot.is_some() {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` is specified more than once"),
                ));
            }
            input.parse::<Token![=]>()?;
            *slot = Some(input.parse()?);
            input.parse::<Token![;]>()?;
        }
        let plugins = Punctuated::parse_terminated(input)?;
        Ok(Input {
            config,
            auth,
            krate,
            plugins,
        })
    }
}

/// What the macro gives: `plugins![...]` the router, `app![...]` the assembled `App`.
#[derive(Clone, Copy)]
pub(crate) enum Output {
    Router,
    App,
}

pub(crate) fn expand(input: TokenStream, output: Output) -> TokenStream {
    let with_router_fallback = |krate: &Krate, e: &syn::Error| fallback(krate, e, output);
    let input = match syn::parse2::<Input>(input) {
        Ok(i) => i,
        Err(e) => return with_router_fallback(&Krate::default(), &e),
    };
    let krate = match &input.krate {
        Some(lit) => {
            let meta: syn::Meta = syn::parse_quote!(crate = #lit);
            match crate::krate::from_meta(&meta) {
                (k, None) => k,
                (k, Some(e)) => return with_router_fallback(&k, &e),
            }
        }
        None => Krate::default(),
    };
    let rt = krate.private();
    let mut types = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for entry in &input.plugins {
        let expr = &entry.expr;
        match entry.ty.clone().or_else(|| plugin_type(expr)) {
            Some(ty) => types.push(ty),
            None => {
                let e = syn::Error::new_spanned(
                    expr,
                    "expected a plugin constructor such as `ItemsPlugin::new(state)`, or a plugin made earlier with its type, `commit: CommitPlugin`: plugins! reads the plugin type to check routes at compile time",
                );
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
        }
    }
    if let Some(e) = errors {
        return with_router_fallback(&krate, &e);
    }
    let metas: Vec<TokenStream> = types
        .iter()
        .map(|t| quote!(<#t as #rt::Plugin>::META))
        .collect();
    let checks = input.plugins.iter().enumerate().map(|(i, expr)| {
        let rt = krate.private_at(expr.span());
        quote_spanned!(expr.span()=> const _: () = #rt::check_plugins(&[#(#metas),*], #i);)
    });
    // Without an authenticator, a route that is not public could admit nobody: it does not
    // compile. Routes that inherit a default set at run time by `config` are checked at start.
    let defer_inherited = input.config.is_some();
    let needs_auth = input.plugins.iter().enumerate().filter(|_| input.auth.is_none()).map(|(i, expr)| {
        let rt = krate.private_at(expr.span());
        quote_spanned!(expr.span()=> const _: () = if let ::core::option::Option::Some(m) = #rt::check_authenticator_needed(&[#(#metas),*], #i, #defer_inherited) { ::core::panic!("{}", m.text()) };)
    });
    let config = match &input.config {
        Some(c) => quote!(#c),
        None => quote!(#rt::ServerConfig::default()),
    };
    let auth = input.auth.as_ref().map(|a| quote!(.with_auth(#a)));
    let finish = match output {
        Output::Router => quote!(finish),
        Output::App => quote!(finish_app),
    };
    let mounts = input
        .plugins
        .iter()
        .zip(&types)
        .map(|(expr, ty)| quote!(.mount::<#ty>(#expr)));
    quote! {
        {
            #(#checks)*
            #(#needs_auth)*
            #rt::Assembly::new(#config) #auth #(#mounts)* .#finish()
        }
    }
}

/// The plugin type named by a constructor call: `a::B::new(..)` → `a::B`, also under method
/// calls made on the plugin (`a::B::new(..).with_placeholder(..)`) and an awaited, tried start
/// (`a::B::start(..).await?`).
fn plugin_type(expr: &Expr) -> Option<syn::Path> {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() >= 2 => {
                let mut path = p.path.clone();
                path.segments.pop();
                path.segments.pop_punct();
                Some(path)
            }
            _ => None,
        },
        Expr::MethodCall(m) => plugin_type(&m.receiver),
        // `CommitPlugin::start(config, &mut lifecycle).await?`
        Expr::Await(a) => plugin_type(&a.base),
        Expr::Try(t) => plugin_type(&t.expr),
        Expr::Paren(p) => plugin_type(&p.expr),
        Expr::Group(g) => plugin_type(&g.expr),
        _ => None,
    }
}

fn fallback(krate: &Krate, e: &syn::Error, output: Output) -> TokenStream {
    let errors = e.to_compile_error();
    let rt = krate.private();
    match output {
        Output::Router => quote! {{
            #errors
            #rt::Router::new()
        }},
        Output::App => quote! {{
            #errors
            #rt::Assembly::new(#rt::ServerConfig::default()).finish_app()
        }},
    }
}
