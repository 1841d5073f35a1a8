//! Reads the handler's signature: which argument is the context, which are path parameters,
//! which one is the input and which are extra axum extractors, and what it returns.
//!
//! The rules, in order, for each argument `name: Type`:
//! 1. `#[extract]` marks an axum `FromRequestParts` extractor;
//! 2. a type spelled `Ctx<S>` is the context (at most one); `S` is the plugin state it needs;
//! 3. a name that appears as `{name}` in the path binds that path parameter;
//! 4. anything else is the input (at most one), read from the JSON body for POST/PUT/PATCH and
//!    from the query string for GET/DELETE. A scalar type (`i64`, `String`, …) cannot be an
//!    input, so such an argument is reported as a parameter missing from the path.

use super::validate::{Method, RouteDecl};
use crate::ctxt::Ctxt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, Type};

pub(crate) enum Role {
    Ctx,
    Path,
    Input,
    Extract,
}

pub(crate) struct Arg {
    pub(crate) ident: syn::Ident,
    pub(crate) ty: Type,
    pub(crate) role: Role,
}

pub(crate) struct Signature {
    pub(crate) args: Vec<Arg>,
    /// `S` of `Ctx<S>`, when the handler takes a context.
    pub(crate) state: Option<Type>,
    /// `T` of `RouteResult<T>`.
    pub(crate) output: Type,
    /// The error type when written as `Result<T, E>`, to check it is `RouteError`.
    pub(crate) error_ty: Option<Type>,
}

impl Signature {
    pub(crate) fn input(&self) -> Option<&Arg> {
        self.args.iter().find(|a| matches!(a.role, Role::Input))
    }

    pub(crate) fn with_role<'a>(
        &'a self,
        role: fn(&Role) -> bool,
    ) -> impl Iterator<Item = &'a Arg> + 'a {
        self.args.iter().filter(move |a| role(&a.role))
    }
}

const SCALARS: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32",
    "f64", "bool", "char", "String", "str", "Uuid",
];

/// Analyses `func`, removing the `#[extract]` markers from its arguments. `decl` is `None` when
/// the attribute itself was invalid; the checks that need the path or method are then skipped.
pub(crate) fn analyze(
    cx: &Ctxt,
    func: &mut syn::ItemFn,
    decl: Option<&RouteDecl>,
) -> Option<Signature> {
    let sig = &mut func.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(sig.fn_token, "a route handler must be an `async fn`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "a route handler cannot be generic: name concrete types",
        );
    }
    if sig.variadic.is_some() || sig.abi.is_some() {
        cx.error_spanned_by(&sig.ident, "a route handler is a plain `async fn`");
    }

    let mut args: Vec<Arg> = Vec::new();
    let mut state = None;
    for input in sig.inputs.iter_mut() {
        let pat_ty = match input {
            FnArg::Receiver(r) => {
                cx.error_spanned_by(&*r, "a route handler is a free `async fn`, not a method");
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let extract = take_extract_attr(&mut pat_ty.attrs);
        let ident = match &*pat_ty.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                cx.error_spanned_by(other, "route arguments must be plain names (`input: CreateItem`); destructure in the body");
                continue;
            }
        };
        let ty = (*pat_ty.ty).clone();
        let role = if extract {
            Role::Extract
        } else if let Some(s) = ctx_state(&ty) {
            if state.is_some() {
                cx.error_spanned_by(&ty, "a route handler takes at most one `Ctx`");
                continue;
            }
            state = Some(s);
            Role::Ctx
        } else if decl.is_some_and(|d| d.path.params.iter().any(|p| ident == p)) {
            Role::Path
        } else {
            Role::Input
        };
        args.push(Arg { ident, ty, role });
    }

    if let Some(decl) = decl {
        check_against_route(cx, &args, decl, &sig.ident);
    }

    let (output, error_ty) = match &sig.output {
        ReturnType::Default => {
            cx.error_spanned_by(
                &sig.ident,
                "a route handler returns `RouteResult<T>`: add `-> RouteResult<YourOutput>`",
            );
            return None;
        }
        ReturnType::Type(_, ty) => match route_result(ty) {
            Some(found) => found,
            None => {
                cx.error_spanned_by(
                    ty,
                    "a route handler returns `RouteResult<T>` (or `Result<T, RouteError>`)",
                );
                return None;
            }
        },
    };
    if let Some(decl) = decl {
        let unit = is_unit(&output) || headers_around_unit(&output);
        if decl.status == 204 && !unit {
            cx.error_spanned_by(
                &output,
                "`status = 204` sends no body: the handler must return `RouteResult<()>` (or `RouteResult<WithHeaders<()>>` to set headers)",
            );
        } else if decl.status != 204 && unit {
            cx.error_spanned_by(
                &output,
                "a handler returning `()` has no body: declare `status = 204`",
            );
        }
    }
    Some(Signature {
        args,
        state,
        output,
        error_ty,
    })
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// `WithHeaders<()>`: no body, headers only.
fn headers_around_unit(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "WithHeaders"
        && matches!(args.args.first(), Some(syn::GenericArgument::Type(t)) if args.args.len() == 1 && is_unit(t))
}

fn check_against_route(cx: &Ctxt, args: &[Arg], decl: &RouteDecl, fn_ident: &syn::Ident) {
    // Every `{param}` has an argument of the same name.
    for param in &decl.path.params {
        match args.iter().find(|a| a.ident == param) {
            None => cx.error_spanned_by(
                &decl.path_lit,
                format!("path parameter `{{{param}}}` has no argument: add `{param}: <type>` to `{fn_ident}`"),
            ),
            Some(arg) if matches!(arg.role, Role::Extract) => cx.error_spanned_by(
                &arg.ident,
                format!("`{param}` names the path parameter `{{{param}}}`, so it cannot be an `#[extract]` argument: rename the extractor's argument, or drop `#[extract]` to take the parameter"),
            ),
            Some(_) => {}
        }
    }
    // Each parameter is one segment, read as one value: a tuple or an array would take the
    // parameter's name and value apart, or fail on every request.
    for arg in args.iter().filter(|a| matches!(a.role, Role::Path)) {
        if matches!(arg.ty, Type::Tuple(_) | Type::Array(_) | Type::Slice(_)) {
            cx.error_spanned_by(
                &arg.ty,
                format!(
                    "path parameter `{{{name}}}` is one segment of the path, so its type cannot be a tuple or an array: use a scalar, a `String`, or a type that deserializes from one string (a newtype, an enum)",
                    name = arg.ident
                ),
            );
        }
    }
    // The parameters reach the handler as one tuple, and serde reads tuples of at most 16.
    if decl.path.params.len() > 16 {
        cx.error_spanned_by(
            &decl.path_lit,
            format!(
                "a route takes at most 16 path parameters; this path names {}",
                decl.path.params.len()
            ),
        );
    }
    // An operation's handler runs after its request is gone, from what was stored.
    if decl.operation.is_some() {
        for arg in args.iter().filter(|a| matches!(a.role, Role::Extract)) {
            cx.error_spanned_by(
                &arg.ident,
                format!(
                    "`{}` is an `#[extract]` argument, but the route is an `operation`: its handler runs after the request is gone, from the path parameters and input stored with it; take what it needs as input",
                    arg.ident
                ),
            );
        }
    }
    let mut input: Option<&Arg> = None;
    for arg in args.iter().filter(|a| matches!(a.role, Role::Input)) {
        if is_scalar(&arg.ty) {
            cx.error_spanned_by(
                &arg.ident,
                format!(
                    "argument `{name}` is not a parameter of path `{path}`: add `{{{name}}}` to the path, or mark an axum extractor with `#[extract]`",
                    name = arg.ident,
                    path = decl.path_lit.value()
                ),
            );
            continue;
        }
        if let Some(first) = input {
            let source = if decl.method == Method::Get || decl.method == Method::Delete {
                "query string"
            } else {
                "JSON body"
            };
            cx.error_spanned_by(
                &arg.ident,
                format!(
                    "a route takes at most one input (its {source}), but `{}` and `{}` both are; mark axum extractors with `#[extract]`",
                    first.ident, arg.ident
                ),
            );
            continue;
        }
        input = Some(arg);
    }
}

/// Removes a `#[extract]` marker, reporting whether there was one.
fn take_extract_attr(attrs: &mut Vec<syn::Attribute>) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !a.path().is_ident("extract"));
    attrs.len() != before
}

/// `S` if `ty` is spelled `Ctx<S>` (with any path prefix).
fn ctx_state(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Ctx" {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `(T, Some(E))` for `Result<T, E>`, `(T, None)` for `RouteResult<T>`.
fn route_result(ty: &Type) -> Option<(Type, Option<Type>)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let PathArguments::AngleBracketed(a) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = a
        .args
        .iter()
        .filter_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match (last.ident.to_string().as_str(), types.as_slice()) {
        ("RouteResult", [t]) => Some(((*t).clone(), None)),
        ("Result", [t, e]) => Some(((*t).clone(), Some((*e).clone()))),
        _ => None,
    }
}

fn is_scalar(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_scalar(&r.elem),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.arguments.is_none() && SCALARS.contains(&s.ident.to_string().as_str())
        }),
        _ => false,
    }
}

/// The span to blame for a type: its first token.
pub(crate) fn type_span(ty: &Type) -> proc_macro2::Span {
    ty.span()
}
