//! The error codes the framework itself sends. A plugin may not declare them: a client must be
//! able to tell a framework rejection from a plugin's own failure by the code alone.
//!
//! The runtime has the same list (`plugin_runtime::FrameworkCode`); a test in `tests/` compares
//! the two through `__framework_codes!`.

use proc_macro2::TokenStream;

pub(crate) const FRAMEWORK_CODES: &[&str] = &[
    "INVALID_INPUT",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "CSRF_REJECTED",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "INTERNAL",
    "TIMEOUT",
];

pub(crate) fn codes_array() -> TokenStream {
    let codes = FRAMEWORK_CODES;
    quote::quote! { [#(#codes),*] }
}
