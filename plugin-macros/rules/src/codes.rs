//! Error codes: the framework's own (reserved, with their statuses) and the syntax and status
//! range of the codes a route declares.

/// The lowest status a declared error may have.
pub const MIN_ERROR_STATUS: u16 = 400;
/// The highest status a declared error may have.
pub const MAX_ERROR_STATUS: u16 = 599;

/// The codes the framework itself sends. Plugins cannot declare them, so a client can tell a
/// framework rejection from a plugin failure by the code alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameworkCode {
    /// 400: malformed JSON, wrong types, missing fields, failed validation, bad query or path.
    InvalidInput,
    /// 401: no valid credential.
    Unauthorized,
    /// 403: authenticated but without the route's scopes.
    Forbidden,
    /// 403: a cookie-authenticated request that changes state from a foreign origin.
    CsrfRejected,
    /// 404: no route matches the path.
    NotFound,
    /// 405: the path exists but not for this method; the `Allow` header lists those that do.
    MethodNotAllowed,
    /// 413: the body is larger than the route's limit.
    PayloadTooLarge,
    /// 415: a route that reads JSON received another content type.
    UnsupportedMediaType,
    /// 429: over a quota the route declares with `rate_limit(...)`; `Retry-After` says when to
    /// come back.
    RateLimited,
    /// 431: the request head (its line and headers) is larger than the server accepts.
    HeadersTooLarge,
    /// 500: an unexpected failure; the cause is logged with the request id, never sent.
    Internal,
    /// 503: something the request depends on cannot be reached (the shared rate-limit store,
    /// when set to refuse rather than admit uncounted); retrying shortly may succeed.
    Unavailable,
    /// 504: the handler did not finish within the route's timeout.
    Timeout,
    /// 499: an operation cancelled before it ended (the status nginx made common for a
    /// request its client gave up on); found in the operation, never sent as a response.
    Cancelled,
}

impl FrameworkCode {
    /// Every framework code.
    pub const ALL: &'static [FrameworkCode] = &[
        FrameworkCode::InvalidInput,
        FrameworkCode::Unauthorized,
        FrameworkCode::Forbidden,
        FrameworkCode::CsrfRejected,
        FrameworkCode::NotFound,
        FrameworkCode::MethodNotAllowed,
        FrameworkCode::PayloadTooLarge,
        FrameworkCode::UnsupportedMediaType,
        FrameworkCode::RateLimited,
        FrameworkCode::HeadersTooLarge,
        FrameworkCode::Internal,
        FrameworkCode::Unavailable,
        FrameworkCode::Timeout,
        FrameworkCode::Cancelled,
    ];

    /// The code as it appears in the envelope.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameworkCode::InvalidInput => "INVALID_INPUT",
            FrameworkCode::Unauthorized => "UNAUTHORIZED",
            FrameworkCode::Forbidden => "FORBIDDEN",
            FrameworkCode::CsrfRejected => "CSRF_REJECTED",
            FrameworkCode::NotFound => "NOT_FOUND",
            FrameworkCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            FrameworkCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            FrameworkCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            FrameworkCode::RateLimited => "RATE_LIMITED",
            FrameworkCode::HeadersTooLarge => "HEADERS_TOO_LARGE",
            FrameworkCode::Internal => "INTERNAL",
            FrameworkCode::Unavailable => "UNAVAILABLE",
            FrameworkCode::Timeout => "TIMEOUT",
            FrameworkCode::Cancelled => "CANCELLED",
        }
    }

    /// The HTTP status sent with the code.
    pub const fn status(self) -> u16 {
        match self {
            FrameworkCode::InvalidInput => 400,
            FrameworkCode::Unauthorized => 401,
            FrameworkCode::Forbidden | FrameworkCode::CsrfRejected => 403,
            FrameworkCode::NotFound => 404,
            FrameworkCode::MethodNotAllowed => 405,
            FrameworkCode::PayloadTooLarge => 413,
            FrameworkCode::UnsupportedMediaType => 415,
            FrameworkCode::RateLimited => 429,
            FrameworkCode::HeadersTooLarge => 431,
            FrameworkCode::Internal => 500,
            FrameworkCode::Unavailable => 503,
            FrameworkCode::Timeout => 504,
            FrameworkCode::Cancelled => 499,
        }
    }

    /// The framework code spelled `code`, if it is one (a plugin may not declare it).
    pub fn from_code(code: &str) -> Option<FrameworkCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

/// Whether `code` is SCREAMING_SNAKE_CASE: upper-case letters and digits in words joined by
/// single `_`, starting with a letter (`ITEM_NOT_FOUND`).
pub fn is_error_code(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_uppercase())
        && code.split('_').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_by_their_own_rule_and_have_error_statuses() {
        for c in FrameworkCode::ALL {
            assert!(is_error_code(c.as_str()), "{c:?}");
            assert_eq!(FrameworkCode::from_code(c.as_str()), Some(*c));
            assert!((MIN_ERROR_STATUS..=MAX_ERROR_STATUS).contains(&c.status()));
        }
        assert_eq!(FrameworkCode::from_code("ITEM_NOT_FOUND"), None);
    }

    #[test]
    fn error_code_syntax() {
        for ok in ["A", "ITEM_NOT_FOUND", "E2E_FAILED", "LLM_FAILED"] {
            assert!(is_error_code(ok), "{ok}");
        }
        for bad in ["", "item", "Item", "_A", "A_", "A__B", "2FA", "A-B"] {
            assert!(!is_error_code(bad), "{bad}");
        }
    }
}
