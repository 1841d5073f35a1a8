//! `permissions(...)`: what a plugin's own code may do, on `#[plugin]` (the default of its
//! routes) and on `#[plugin_route]` (replacing the plugin's entirely). Entries are presets
//! written bare (`git`), or kinds: `shell("git push")`, `fs(read("/etc/ssl"), write("{repo}"))`,
//! `net("{provider}", "127.0.0.1:6379")`, `env("OPENAI_API_KEY")`; `permissions(none)` allows
//! nothing. Presets are expanded here, so the runtime sees the effective lists. Each entry's
//! grammar is `plugin_routes_rules`' (the runtime resolves and checks with the same functions).
//!
//! Until this key meant caller scopes, so a string written directly in the list
//! (`permissions("items:write")`) is answered with the way to write it now: `scopes(...)`.

use crate::ctxt::Ctxt;
use crate::diag::{did_you_mean, one_of};
use crate::keyed::{self, Keyed};
use plugin_routes_rules::{FS_KINDS, PERMISSION_KINDS, PRESET_NAMES};
use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Expr, Token};

const EXAMPLE: &str = "permissions(git, shell(\"git push\"), net(\"{remote}\"))";

/// The effective permissions: presets expanded, each entry checked, none repeated.
#[derive(Default)]
pub(crate) struct PermissionsDecl {
    presets: Vec<String>,
    shell: Vec<String>,
    read: Vec<String>,
    write: Vec<String>,
    net: Vec<String>,
    env: Vec<String>,
}

impl PermissionsDecl {
    fn add(list: &mut Vec<String>, entries: &[&str]) {
        for e in entries {
            if !list.iter().any(|x| x == e) {
                list.push((*e).to_owned());
            }
        }
    }

    fn tokens(&self, rt: &TokenStream) -> TokenStream {
        let PermissionsDecl {
            presets,
            shell,
            read,
            write,
            net,
            env,
        } = self;
        quote!(#rt::Permissions {
            presets: &[#(#presets),*],
            shell: &[#(#shell),*],
            read: &[#(#read),*],
            write: &[#(#write),*],
            net: &[#(#net),*],
            env: &[#(#env),*],
        })
    }
}

/// Parses `permissions(...)`; `None` after reporting a mistake.
pub(crate) fn permissions(cx: &Ctxt, k: &Keyed) -> Option<PermissionsDecl> {
    let list = keyed::list(cx, k, EXAMPLE)?;
    let entries = cx.ok(list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated))?;
    if entries.is_empty() {
        cx.error_spanned_by(
            list,
            format!("`permissions` needs at least one entry, e.g. `{EXAMPLE}`; write `permissions(none)` for a route that may do nothing"),
        );
        return None;
    }
    let old: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(format!("{:?}", s.value())),
            _ => None,
        })
        .collect();
    if !old.is_empty() {
        cx.error_spanned_by(
            &k.key,
            format!(
                "the scopes a caller must hold are now written `scopes(...)`: write `scopes({})`. `permissions(...)` declares what the plugin's own code may do, e.g. `{EXAMPLE}`",
                old.join(", ")
            ),
        );
        return None;
    }
    let mut decl = PermissionsDecl::default();
    let mut ok = true;
    let mut seen_kinds: Vec<String> = Vec::new();
    let mut none: Option<&syn::Ident> = None;
    let mut idents: Vec<&Expr> = Vec::new();
    for entry in &entries {
        ok &= match entry {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked");
                idents.push(entry);
                if ident == "none" {
                    none = Some(ident);
                    true
                } else {
                    preset(cx, ident, &mut decl)
                }
            }
            Expr::Call(call) => kind(cx, call, &mut decl, &mut seen_kinds),
            other => {
                cx.error_spanned_by(
                    other,
                    format!(
                        "expected a preset ({}), `none`, or a kind: {}, e.g. `{EXAMPLE}`",
                        one_of(PRESET_NAMES),
                        one_of(PERMISSION_KINDS)
                    ),
                );
                false
            }
        };
    }
    if let Some(none) = none
        && entries.len() > 1
    {
        cx.error_spanned_by(
            none,
            "`none` allows nothing and cannot be combined with other entries: write `permissions(none)` alone, or drop `none`",
        );
        return None;
    }
    // A placeholder's values are read as paths or as addresses, never both.
    let paths: Vec<&str> = decl
        .read
        .iter()
        .chain(&decl.write)
        .flat_map(|e| placeholders_in(e))
        .collect();
    for name in decl.net.iter().flat_map(|e| placeholders_in(e)) {
        if paths.contains(&name) {
            cx.error_spanned_by(
                &k.key,
                format!(
                    "`{{{name}}}` is used both as a path (in `fs(...)`) and as an address (in `net(...)`): its values cannot be both; give each use a placeholder of its own, e.g. `{{{name}_dir}}` for the path"
                ),
            );
            return None;
        }
    }
    ok.then_some(decl)
}

/// The placeholders an entry names: `{repo}/x` → `repo`.
fn placeholders_in(entry: &str) -> impl Iterator<Item = &str> {
    entry
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

fn preset(cx: &Ctxt, ident: &syn::Ident, decl: &mut PermissionsDecl) -> bool {
    let name = ident.to_string();
    if let Some(p) = plugin_routes_rules::preset(&name) {
        if decl.presets.contains(&name) {
            cx.error_spanned_by(ident, format!("preset `{name}` is listed more than once"));
            return false;
        }
        decl.presets.push(name);
        PermissionsDecl::add(&mut decl.shell, p.shell);
        PermissionsDecl::add(&mut decl.read, p.read);
        PermissionsDecl::add(&mut decl.write, p.write);
        PermissionsDecl::add(&mut decl.net, p.net);
        PermissionsDecl::add(&mut decl.env, p.env);
        return true;
    }
    let message = if PERMISSION_KINDS.contains(&name.as_str()) {
        format!(
            "`{name}` is a kind and takes a list, e.g. `{}`",
            kind_example(&name)
        )
    } else {
        let mut candidates: Vec<&str> = PRESET_NAMES.to_vec();
        candidates.push("none");
        match did_you_mean(&name, &candidates) {
            Some(s) => format!("unknown preset `{name}`; did you mean `{s}`?"),
            None => format!(
                "unknown preset `{name}`: the presets are {}; the kinds are {}",
                one_of(PRESET_NAMES),
                one_of(PERMISSION_KINDS)
            ),
        }
    };
    cx.error_spanned_by(ident, message);
    false
}

fn kind_example(kind: &str) -> &'static str {
    match kind {
        "shell" => "shell(\"git\", \"git push\")",
        "fs" => "fs(read(\"/etc/ssl\"), write(\"{repo}\"))",
        "net" => "net(\"api.openai.com:443\", \"{provider}\")",
        "read" => "read(\"/etc/ssl\")",
        "write" => "write(\"{repo}\")",
        _ => "env(\"OPENAI_API_KEY\", \"GIT_*\")",
    }
}

/// The name of a call such as `shell(...)`, or an error.
fn call_name<'a>(cx: &Ctxt, call: &'a syn::ExprCall, what: &str) -> Option<&'a syn::Ident> {
    match &*call.func {
        Expr::Path(p) if p.path.get_ident().is_some() => p.path.get_ident(),
        other => {
            cx.error_spanned_by(other, format!("expected {what}"));
            None
        }
    }
}

fn check_known(cx: &Ctxt, ident: &syn::Ident, known: &[&str], seen: &mut Vec<String>) -> bool {
    let name = ident.to_string();
    if !known.contains(&name.as_str()) {
        let hint = match did_you_mean(&name, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of {}", one_of(known)),
        };
        cx.error_spanned_by(ident, format!("unknown kind `{name}`; {hint}"));
        return false;
    }
    if seen.contains(&name) {
        cx.error_spanned_by(ident, format!("`{name}` is specified more than once"));
        return false;
    }
    seen.push(name);
    true
}

fn kind(
    cx: &Ctxt,
    call: &syn::ExprCall,
    decl: &mut PermissionsDecl,
    seen: &mut Vec<String>,
) -> bool {
    let Some(ident) = call_name(cx, call, "a kind such as `shell(\"git\")`") else {
        return false;
    };
    if !check_known(cx, ident, PERMISSION_KINDS, seen) {
        return false;
    }
    let name = ident.to_string();
    if name == "fs" {
        return fs(cx, call, decl);
    }
    let Some(items) = strings(cx, call, &name) else {
        return false;
    };
    let mut ok = true;
    for lit in items {
        let v = lit.value();
        let checked = match name.as_str() {
            "shell" => plugin_routes_rules::parse_program(&v).map(|_| ()),
            "net" => plugin_routes_rules::check_net(&v),
            _ if plugin_routes_rules::is_env_pattern(&v) => Ok(()),
            _ => Err(format!(
                "`{v}` is not an environment variable: expected upper-case letters, digits and `_` (`OPENAI_API_KEY`), or a family ending in `*` (`GIT_*`)"
            )),
        };
        let list = match name.as_str() {
            "shell" => &mut decl.shell,
            "net" => &mut decl.net,
            _ => &mut decl.env,
        };
        ok &= push(cx, &lit, checked, list);
    }
    ok
}

fn fs(cx: &Ctxt, call: &syn::ExprCall, decl: &mut PermissionsDecl) -> bool {
    if call.args.is_empty() {
        cx.error_spanned_by(
            call,
            format!(
                "`fs` needs `read(...)` or `write(...)`, e.g. `{}`",
                kind_example("fs")
            ),
        );
        return false;
    }
    let mut seen = Vec::new();
    let mut ok = true;
    for arg in &call.args {
        let Expr::Call(inner) = arg else {
            cx.error_spanned_by(
                arg,
                format!(
                    "expected `read(...)` or `write(...)`, e.g. `{}`",
                    kind_example("fs")
                ),
            );
            ok = false;
            continue;
        };
        let Some(ident) = call_name(cx, inner, "`read(...)` or `write(...)`") else {
            ok = false;
            continue;
        };
        if !check_known(cx, ident, FS_KINDS, &mut seen) {
            ok = false;
            continue;
        }
        let name = ident.to_string();
        let Some(items) = strings(cx, inner, &name) else {
            ok = false;
            continue;
        };
        for lit in items {
            let checked = plugin_routes_rules::check_path(&lit.value());
            let list = if name == "read" {
                &mut decl.read
            } else {
                &mut decl.write
            };
            ok &= push(cx, &lit, checked, list);
        }
    }
    ok
}

/// The string literals a kind lists: at least one.
fn strings(cx: &Ctxt, call: &syn::ExprCall, name: &str) -> Option<Vec<syn::LitStr>> {
    let mut out = Vec::new();
    for arg in &call.args {
        match arg {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => out.push(s.clone()),
            other => {
                cx.error_spanned_by(
                    other,
                    format!(
                        "`{name}` lists string literals, e.g. `{}`",
                        kind_example(name)
                    ),
                );
                return None;
            }
        }
    }
    if out.is_empty() {
        cx.error_spanned_by(
            call,
            format!(
                "`{name}` needs at least one entry, e.g. `{}`",
                kind_example(name)
            ),
        );
        return None;
    }
    Some(out)
}

/// Adds a checked entry; one repeated (or already brought by a preset) is kept once.
fn push(cx: &Ctxt, lit: &syn::LitStr, checked: Result<(), String>, list: &mut Vec<String>) -> bool {
    if let Err(message) = checked {
        cx.error_spanned_by(lit, message);
        return false;
    }
    PermissionsDecl::add(list, &[lit.value().as_str()]);
    true
}

pub(crate) fn opt_permissions(rt: &TokenStream, p: Option<&PermissionsDecl>) -> TokenStream {
    match p {
        Some(p) => {
            let t = p.tokens(rt);
            quote!(::core::option::Option::Some(&#t))
        }
        None => quote!(::core::option::Option::None),
    }
}
