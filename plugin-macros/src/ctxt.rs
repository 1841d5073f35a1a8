//! Collects every error found in one macro invocation so they are all reported in one compile.
//!
//! Dropping a [`Ctxt`] that still holds errors without calling [`Ctxt::check`] panics: a macro
//! cannot silently lose a diagnostic.

use proc_macro2::{Span, TokenStream};
use std::cell::RefCell;
use std::fmt::Display;

pub(crate) struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanned on `tokens`.
    pub(crate) fn error_spanned_by<T: quote::ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn error_at<M: Display>(&self, span: Span, message: M) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn push(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check()")
            .push(error);
    }

    /// Runs a fallible parse step, recording its error and returning `None` on failure.
    pub(crate) fn ok<T>(&self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// Returns all collected errors combined into one, or `Ok` if there were none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut iter = errors.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for rest in iter {
                    first.combine(rest);
                }
                Err(first)
            }
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if self.errors.borrow().is_some() && !std::thread::panicking() {
            panic!("plugin-macros bug: Ctxt dropped without calling check()");
        }
    }
}

/// Emits `errors` as `compile_error!`s followed by `fallback`, the user's item or a stand-in
/// for it, so one mistake does not cascade into "cannot find function" errors elsewhere.
pub(crate) fn with_fallback(errors: &syn::Error, fallback: TokenStream) -> TokenStream {
    let errors = errors.to_compile_error();
    quote::quote! {
        #errors
        #fallback
    }
}
