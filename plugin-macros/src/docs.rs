//! Doc comments, read from `#[doc = "..."]` attributes: they become descriptions in the OpenAPI
//! document.

/// The doc comment as text: each line without the one space `///` leaves, trimmed as a whole.
pub(crate) fn doc_string(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            let v = s.value();
            lines.push(v.strip_prefix(' ').unwrap_or(&v).to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}
