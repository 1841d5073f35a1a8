//! Parses and checks `#[plugin(...)]` into a [`PluginDecl`].

use crate::attr::permissions::{self, PermissionsDecl};
use crate::attr::security::{self, SecurityDecl};
use crate::attr::{PLUGIN_KEYS, concurrency, errors, rate_limit, scopes};
use crate::ctxt::Ctxt;
use crate::keyed;
use plugin_routes_rules::{
    AUTH_BASE_PATH, BASE_PREFIX, SITE_BASE_PATH, default_base_path, is_allowed_base_path,
    is_plugin_name, is_semver, parse_template, suggest_plugin_name,
};
use proc_macro2::{Span, TokenStream};
use syn::Token;
use syn::punctuated::Punctuated;

pub(crate) struct PluginDecl {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) state: Option<syn::Type>,
    pub(crate) base_path: String,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) body_limit: Option<u64>,
    pub(crate) routes: Vec<syn::Path>,
    /// `errors(...)`: codes every listed route may return, besides its own.
    pub(crate) errors: Vec<errors::ErrorDecl>,
    /// `deprecated` and `hidden`: every route is.
    pub(crate) deprecated: bool,
    pub(crate) hidden: bool,
    /// The struct's doc comment: the description of the plugin's tag in the OpenAPI document.
    pub(crate) description: String,
    /// The default `security(...)` of its routes.
    pub(crate) security: Option<SecurityDecl>,
    /// The default `scopes(...)` of its routes.
    pub(crate) scopes: Option<Vec<String>>,
    /// The default `permissions(...)` of its routes (a route's own replace it).
    pub(crate) permissions: Option<PermissionsDecl>,
    /// The default `rate_limit(...)` of its routes.
    pub(crate) rate_limit: Option<rate_limit::RateLimitDecl>,
    /// The default `concurrency(...)` of its routes.
    pub(crate) concurrency: Option<concurrency::ConcurrencyDecl>,
    /// `client = ItemsClient`: the typed client's name, generated when the runtime's `client`
    /// feature is on.
    pub(crate) client: Option<syn::Ident>,
    /// `config = CommitConfig`: the typed configuration its `start` hook receives.
    pub(crate) config: Option<syn::Type>,
    /// What its configuration's variables start with: `config_env = "..."`, or the name's.
    pub(crate) config_env: String,
    /// `start = f`, `stop = f`, `ready = f`.
    pub(crate) start: Option<syn::Path>,
    pub(crate) stop: Option<syn::Path>,
    pub(crate) ready: Option<syn::Path>,
}

/// What could be read even when the declaration is invalid, for the fallback expansion.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) routes: Vec<syn::Path>,
    /// The codes of `errors(...)`, so routes returning them are not also reported.
    pub(crate) errors: Vec<syn::Ident>,
    pub(crate) has_state: bool,
}

pub(crate) fn validate(
    cx: &Ctxt,
    args: TokenStream,
    strukt: &syn::ItemStruct,
) -> (Option<PluginDecl>, Seen) {
    let mut seen = Seen::default();
    let decl = validate_into(cx, args, strukt, &mut seen);
    (decl, seen)
}

fn validate_into(
    cx: &Ctxt,
    args: TokenStream,
    strukt: &syn::ItemStruct,
    seen: &mut Seen,
) -> Option<PluginDecl> {
    if !matches!(strukt.fields, syn::Fields::Unit) || !strukt.generics.params.is_empty() {
        cx.error_spanned_by(
            &strukt.ident,
            "#[plugin] applies to a unit struct without generics, e.g. `pub struct ItemsPlugin;`; it adds the state field itself",
        );
    }
    let keys = match keyed::parse(cx, args, "#[plugin]", PLUGIN_KEYS) {
        Ok(k) => k,
        Err(e) => {
            cx.push(e);
            return None;
        }
    };
    let mut name = None;
    let mut version = None;
    let mut state = None;
    let mut base_path = None;
    let mut timeout_ms = None;
    let mut body_limit = None;
    let mut routes = None;
    let mut errors = Vec::new();
    let mut deprecated = false;
    let mut hidden = false;
    let mut security = None;
    let mut scopes = None;
    let mut permissions = None;
    let mut rate_limit = None;
    let mut concurrency = None;
    let mut client = None;
    let mut config = None;
    let mut config_env = None;
    let mut start = None;
    let mut stop = None;
    let mut ready = None;
    for k in &keys {
        match k.key.to_string().as_str() {
            "name" => {
                name = keyed::lit_str(cx, k, "name = \"items\"").and_then(|l| check_name(cx, &l))
            }
            "version" => {
                version =
                    keyed::lit_str(cx, k, "version = \"1.0.0\"").and_then(|l| check_version(cx, &l))
            }
            "state" => {
                state = keyed::value(cx, k, "state = ItemsState").and_then(|v| state_type(cx, v))
            }
            "base_path" => {
                base_path = keyed::lit_str(cx, k, "base_path = \"/v1/plugins/items\"")
                    .and_then(|l| check_base(cx, &l))
            }
            "timeout_ms" => timeout_ms = keyed::timeout_ms(cx, k),
            "body_limit" => body_limit = keyed::body_limit(cx, k),
            "routes" => routes = parse_routes(cx, k),
            "deprecated" => deprecated = keyed::flag(cx, k),
            "hidden" => hidden = keyed::flag(cx, k),
            "errors" => match errors::parse(cx, k) {
                Ok(raw) => errors = raw,
                Err(e) => cx.push(e),
            },
            "security" => security = security::security(cx, k),
            "scopes" => scopes = scopes::scopes(cx, k).map(|p| (p, k.key.clone())),
            "permissions" => permissions = permissions::permissions(cx, k),
            "rate_limit" => rate_limit = rate_limit::rate_limit(cx, k),
            "concurrency" => concurrency = concurrency::concurrency(cx, k),
            "client" => {
                client =
                    keyed::value(cx, k, "client = ItemsClient").and_then(|v| client_name(cx, v))
            }
            "config" => {
                config = keyed::value(cx, k, "config = CommitConfig")
                    .and_then(|v| type_of(cx, v, "config", "config = CommitConfig"))
            }
            "config_env" => {
                config_env = keyed::lit_str(cx, k, "config_env = \"GIT_COMMIT_\"")
                    .and_then(|l| check_env_prefix(cx, &l))
            }
            "start" => start = hook(cx, k, "start = start"),
            "stop" => stop = hook(cx, k, "stop = stop"),
            "ready" => ready = hook(cx, k, "ready = ready"),
            // Read before validation, by `krate::scan`.
            "crate" => {}
            _ => unreachable!("keyed::parse only yields known keys"),
        }
    }
    let present = |key: &str| keys.iter().any(|k| k.key == key);
    scopes::check_public_without_scopes(cx, security.as_ref(), scopes.as_ref().map(|(_, k)| k));
    seen.routes = routes.clone().unwrap_or_default();
    seen.errors = keys
        .iter()
        .find(|k| k.key == "errors")
        .map(errors::codes_written)
        .unwrap_or_default();
    let errors = errors::validate(cx, errors, true).declared;
    seen.has_state = present("state");
    if !present("name") {
        cx.error_at(
            Span::call_site(),
            "missing `name`: add `name = \"items\"` (lowercase letters, digits and `-`)",
        );
    }
    if !present("version") {
        cx.error_at(
            Span::call_site(),
            "missing `version`: add a semantic version such as `version = \"1.0.0\"`",
        );
    }
    if !present("routes") {
        cx.error_at(
            Span::call_site(),
            "missing `routes`: list the plugin's handlers, e.g. `routes(list_items, get_item)`",
        );
    }
    check_hooks(cx, &keys);
    let name = name?;
    let config_env = match config_env {
        Some(prefix) => prefix,
        None => {
            let prefix = default_env_prefix(&name);
            if let Some(config) = keys.iter().find(|k| k.key == "config")
                && prefix.starts_with(|c: char| c.is_ascii_digit())
            {
                cx.error_spanned_by(
                    &config.key,
                    format!(
                        "the plugin's name makes the prefix `{prefix}`, which no shell can export (a variable name cannot start with a digit): add `config_env = \"P{prefix}\"` or another prefix"
                    ),
                );
            }
            prefix
        }
    };
    let base_path = match (present("base_path"), base_path) {
        (false, _) => default_base_path(&name),
        (true, Some(b)) => b,
        (true, None) => return None,
    };
    Some(PluginDecl {
        name,
        version: version?,
        state,
        base_path,
        timeout_ms,
        body_limit,
        routes: routes?,
        errors,
        deprecated,
        hidden,
        description: crate::docs::doc_string(&strukt.attrs),
        security,
        scopes: scopes.map(|(p, _)| p),
        permissions,
        rate_limit,
        concurrency,
        client,
        config,
        config_env,
        start,
        stop,
        ready,
    })
}

/// `commit` → `COMMIT_`, `my-plugin` → `MY_PLUGIN_`.
fn default_env_prefix(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    out.push('_');
    out
}

fn check_env_prefix(cx: &Ctxt, lit: &syn::LitStr) -> Option<String> {
    let v = lit.value();
    let ok = v.len() > 1
        && v.ends_with('_')
        && v.starts_with(|c: char| c.is_ascii_uppercase())
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        return Some(v);
    }
    let suggestion = default_env_prefix(&v.trim_end_matches(['_', '-']).replace('_', "-"));
    cx.error_spanned_by(
        lit,
        format!(
            "`{v}` cannot start environment variable names: expected upper-case letters, digits and `_`, ending in `_`, e.g. `{suggestion}`"
        ),
    );
    None
}

/// A hook: the path of a function.
fn hook(cx: &Ctxt, k: &keyed::Keyed, example: &str) -> Option<syn::Path> {
    match keyed::value(cx, k, example)? {
        syn::Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => Some(p.path.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{}` names a function, e.g. `{example}`", k.key),
            );
            None
        }
    }
}

/// A configuration needs a `start` hook to build the state from it; `stop` runs on what `start`
/// built; `config_env` needs a configuration.
fn check_hooks(cx: &Ctxt, keys: &[keyed::Keyed]) {
    let find = |key: &str| keys.iter().find(|k| k.key == key);
    if let (Some(config), None) = (find("config"), find("start")) {
        cx.error_spanned_by(
            &config.key,
            "a plugin with `config` builds its state from it in a start hook: add `start = start`, with `async fn start(config: YourConfig, cx: &mut Starting<'_>) -> Result<YourState, E>`",
        );
    }
    if let (Some(stop), None) = (find("stop"), find("start")) {
        cx.error_spanned_by(
            &stop.key,
            "`stop` runs on the state a start hook built, once the server has drained: add `start = start` too (the plugin is then started with `Plugin::start(.., &mut lifecycle)`, which keeps the stop hook)",
        );
    }
    if let (Some(env), None) = (find("config_env"), find("config")) {
        cx.error_spanned_by(
            &env.key,
            "`config_env` sets the prefix of a configuration's variables: declare the configuration with `config = YourConfig`",
        );
    }
}

fn type_of(cx: &Ctxt, v: &syn::Expr, key: &str, example: &str) -> Option<syn::Type> {
    match v {
        syn::Expr::Path(p) if p.attrs.is_empty() => Some(syn::Type::Path(syn::TypePath {
            qself: p.qself.clone(),
            path: p.path.clone(),
        })),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{key}` takes a type name, e.g. `{example}` (use a `type` alias for generic types)"),
            );
            None
        }
    }
}

fn client_name(cx: &Ctxt, v: &syn::Expr) -> Option<syn::Ident> {
    match v {
        syn::Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => {
            if let Some(ident) = p.path.get_ident() {
                return Some(ident.clone());
            }
            cx.error_spanned_by(
                p,
                "`client` names the type to generate, e.g. `client = ItemsClient`, not a path",
            );
            None
        }
        other => {
            cx.error_spanned_by(
                other,
                "`client` names the type to generate, e.g. `client = ItemsClient`",
            );
            None
        }
    }
}

fn check_name(cx: &Ctxt, lit: &syn::LitStr) -> Option<String> {
    let v = lit.value();
    if !is_plugin_name(&v) {
        cx.error_spanned_by(
            lit,
            format!(
                "plugin name `{v}` must be lowercase letters, digits and `-` (it becomes the URL segment), e.g. `{}`",
                suggest_plugin_name(&v)
            ),
        );
        return None;
    }
    Some(v)
}

fn check_version(cx: &Ctxt, lit: &syn::LitStr) -> Option<String> {
    let v = lit.value();
    if is_semver(&v) {
        Some(v)
    } else {
        cx.error_spanned_by(
            lit,
            format!("`{v}` is not a semantic version: expected MAJOR.MINOR.PATCH, e.g. `1.0.0`"),
        );
        None
    }
}

fn check_base(cx: &Ctxt, lit: &syn::LitStr) -> Option<String> {
    let v = lit.value();
    if !is_allowed_base_path(&v) {
        cx.error_spanned_by(lit, format!("base path `{v}` must be an absolute path naming the plugin, e.g. `{BASE_PREFIX}items` (the default layout), `/api/items` (under a host's plugin prefix), `{AUTH_BASE_PATH}` (an authenticator's own routes) or `{SITE_BASE_PATH}` (pages and documents served at their own paths)"));
        return None;
    }
    match parse_template(&v) {
        Ok(t) if t.params.is_empty() => Some(t.template),
        Ok(_) => {
            cx.error_spanned_by(
                lit,
                "a base path cannot have parameters; put them in the routes' paths",
            );
            None
        }
        Err(msg) => {
            cx.error_spanned_by(lit, msg);
            None
        }
    }
}

fn state_type(cx: &Ctxt, v: &syn::Expr) -> Option<syn::Type> {
    match v {
        syn::Expr::Path(p) if p.attrs.is_empty() => Some(syn::Type::Path(syn::TypePath {
            qself: p.qself.clone(),
            path: p.path.clone(),
        })),
        syn::Expr::Tuple(t) if t.elems.is_empty() => Some(syn::parse_quote!(())),
        other => {
            cx.error_spanned_by(other, "`state` takes a type name, e.g. `state = ItemsState` (use a `type` alias for generic types)");
            None
        }
    }
}

fn parse_routes(cx: &Ctxt, k: &keyed::Keyed) -> Option<Vec<syn::Path>> {
    let list = keyed::list(cx, k, "routes(list_items, get_item)")?;
    let paths = cx.ok(list.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated))?;
    let mut out: Vec<syn::Path> = Vec::new();
    for p in paths {
        let text = quote::ToTokens::to_token_stream(&p).to_string();
        if out
            .iter()
            .any(|seen| quote::ToTokens::to_token_stream(seen).to_string() == text)
        {
            cx.error_spanned_by(&p, format!("route `{text}` is listed more than once"));
            continue;
        }
        out.push(p);
    }
    Some(out)
}
