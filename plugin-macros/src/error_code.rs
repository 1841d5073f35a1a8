//! The diagnostic for `route_error!(CODE)` when the route did not declare `CODE`. It is a proc
//! macro (not a `compile_error!` in the `macro_rules!` arm) so the error can point at the code
//! token itself and suggest the closest declared code.

use crate::diag::did_you_mean;
use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

struct Undeclared {
    code: Ident,
    handler: LitStr,
    declared: Vec<Ident>,
}

impl Parse for Undeclared {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let code = input.parse()?;
        input.parse::<Token![;]>()?;
        let handler = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut declared = Vec::new();
        while !input.is_empty() {
            declared.push(input.parse()?);
        }
        Ok(Undeclared {
            code,
            handler,
            declared,
        })
    }
}

pub(crate) fn expand_undeclared(input: TokenStream) -> TokenStream {
    let u = match syn::parse2::<Undeclared>(input) {
        Ok(u) => u,
        Err(e) => return e.to_compile_error(),
    };
    let code = u.code.to_string();
    let handler = u.handler.value();
    let names: Vec<String> = u.declared.iter().map(ToString::to_string).collect();
    let message = if names.is_empty() {
        format!(
            "error code `{code}` is not declared by route `{handler}`, which declares no error codes\n\
             help: declare it in the attribute: `errors({code} = <status>)`"
        )
    } else {
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let suggestion = match did_you_mean(&code, &refs) {
            Some(s) => format!("\nhelp: did you mean `{s}`?"),
            None => String::new(),
        };
        format!(
            "error code `{code}` is not declared by route `{handler}`; it declares {list}{suggestion}\n\
             help: to return it, add `{code} = <status>` to `errors(...)` in its #[plugin_route]"
        )
    };
    syn::Error::new(u.code.span(), message).to_compile_error()
}
