//! Reading a route's pieces from the request: path parameters, the input (JSON body or query
//! string) and extra axum extractors. Each failure is an `ApiError` for the one envelope.
//!
//! Parsing takes a fast path first (plain `serde_json`, or the crate's query reader); only when
//! that fails is the input parsed again with `serde_path_to_error`, to name the field that is
//! wrong. A valid request pays nothing for the error reporting.

use super::error::{ApiError, FieldError, FrameworkCode, Location};
use super::objects_only::ObjectsOnly;
use super::wording::{client_terms, expected_of_text, json_string, unknown_variant_parts};
use crate::declare::PathParam;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::Path;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::response::IntoResponse;
use http::request::Parts;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Path parameters of a route.
pub trait PathParams: Send + 'static {
    /// What the handler receives.
    type Value: Send;
    /// Reads them from the matched path; `params` names them in the path's order.
    fn extract(parts: &mut Parts, params: &'static [PathParam]) -> Result<Self::Value, ApiError>;
}

/// A route without path parameters.
#[derive(Debug)]
pub struct NoParams;

impl PathParams for NoParams {
    type Value = ();
    fn extract(_: &mut Parts, _: &'static [PathParam]) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Path parameters deserialized into `T`, a tuple of their types in the order the path names
/// them, so routes whose parameters have the same types share one deserializer.
#[derive(Debug)]
pub struct PathOf<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + Send + 'static> PathParams for PathOf<T> {
    type Value = T;
    fn extract(parts: &mut Parts, params: &'static [PathParam]) -> Result<T, ApiError> {
        // axum's extractor is an `async fn` that never waits: it reads what the router left
        // in the request's extensions. Polled once here, so a route's work has no future of it.
        let polled = {
            let extracted = pin!(Path::<T>::from_request_parts(parts, &()));
            extracted.poll(&mut Context::from_waker(Waker::noop()))
        };
        match polled {
            Poll::Ready(Ok(Path(v))) => Ok(v),
            Poll::Ready(Err(rejection)) => Err(path_error(rejection, params, parts)),
            Poll::Pending => {
                tracing::error!("reading the path parameters waited, which axum's never does");
                Err(ApiError::internal())
            }
        }
    }
}

fn path_error(
    rejection: PathRejection,
    params: &'static [PathParam],
    parts: &mut Parts,
) -> ApiError {
    let field = |path: String, message: String| FieldError {
        location: Location::Path,
        path,
        message,
    };
    // A segment that does not parse as its type, named by the parameter.
    let unparsed = |path: String, value: &str, expected: &str| {
        let expected = expected_of_text(expected, value);
        field(
            path,
            format!(
                "expected {expected}, found the string {}",
                json_string(value)
            ),
        )
    };
    let fields = match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.into_kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => vec![unparsed(key, &value, expected_type)],
            ErrorKind::ParseErrorAtIndex {
                index,
                value,
                expected_type,
            } => {
                let key = params.get(index).map(|p| p.name).unwrap_or_default();
                vec![unparsed(key.to_owned(), &value, expected_type)]
            }
            ErrorKind::WrongNumberOfParameters { got, .. } => {
                // The route matched more (or fewer) parameters than it names: it was nested
                // under a path with parameters of its own, which the declaration cannot know.
                tracing::error!(
                    matched = got,
                    declared = params.len(),
                    "a route matched another number of path parameters than it declares; is it nested under a path with parameters?"
                );
                return ApiError::internal();
            }
            ErrorKind::DeserializeError {
                key,
                value,
                message,
            } => {
                // An enumeration's value outside it is said in the client's terms, with the
                // value; anything else keeps serde's words after the value.
                let reworded = client_terms(&message, false);
                let quoted = json_string(&value);
                if reworded.contains(&quoted) {
                    vec![field(key, reworded)]
                } else {
                    vec![field(key, format!("{quoted}: {reworded}"))]
                }
            }
            ErrorKind::InvalidUtf8InPathParam { key } => {
                vec![field(key, "not valid UTF-8 once percent-decoded".into())]
            }
            ErrorKind::Message(message) => {
                // An enumeration's value outside it comes from axum without the parameter's
                // name: it is the one parameter whose value the message quotes.
                let reworded = client_terms(&message, false);
                match unknown_variant_parts(&message).map(|(value, _)| named_with(parts, value)) {
                    Some(Some(name)) if reworded != message => vec![field(name, reworded)],
                    _ => vec![field(String::new(), reworded)],
                }
            }
            other => vec![field(String::new(), other.to_string())],
        },
        other => vec![field(String::new(), other.body_text())],
    };
    ApiError::invalid_input("invalid path parameter", fields)
}

/// The name of the one path parameter whose (decoded) value is `value`; `None` when none is,
/// or several are (which of them failed cannot be told).
fn named_with(parts: &mut Parts, value: &str) -> Option<String> {
    let raw = pin!(axum::extract::RawPathParams::from_request_parts(parts, &()));
    let Poll::Ready(Ok(raw)) = raw.poll(&mut Context::from_waker(Waker::noop())) else {
        return None;
    };
    let mut named = raw.iter().filter(|(_, v)| *v == value).map(|(k, _)| k);
    match (named.next(), named.next()) {
        (Some(name), None) => Some(name.to_owned()),
        _ => None,
    }
}

/// Where a route's input comes from.
pub trait InputSource: Send + 'static {
    /// What the handler receives.
    type Value: Send;
    /// Whether it is the request's JSON body, read (within the route's limit) before
    /// [`InputSource::parse`] by one function every route shares.
    const BODY: bool;
    /// Parses and validates the input from the request's head and, if [`InputSource::BODY`],
    /// its body.
    fn parse(parts: &Parts, body: &[u8]) -> Result<Self::Value, ApiError>;
}

/// A route without input: the body, if any, is not read.
#[derive(Debug)]
pub struct NoInput;

impl InputSource for NoInput {
    type Value = ();
    const BODY: bool = false;
    fn parse(_: &Parts, _: &[u8]) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Input from a JSON body (POST, PUT, PATCH).
#[derive(Debug)]
pub struct JsonBody<T>(PhantomData<fn() -> T>);

impl<T> InputSource for JsonBody<T>
where
    T: DeserializeOwned + IsValidated + Send + 'static,
{
    type Value = T;
    const BODY: bool = true;

    fn parse(_: &Parts, bytes: &[u8]) -> Result<T, ApiError> {
        let value: T = match read_json(bytes) {
            Some(v) => v,
            // JSON Schema's `integer` admits `572.0`, which serde does not read as an integer:
            // the documents promise it, so it is read as `572` (on this failing path only).
            None => match whole_numbers(bytes).and_then(|b| read_json(&b)) {
                Some(v) => v,
                None => return Err(json_error::<T>(bytes)),
            },
        };
        validate(&value, Location::Body)?;
        Ok(value)
    }
}

/// `bytes` read as one JSON object of type `T`, and nothing after it.
fn read_json<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    T::deserialize(ObjectsOnly(&mut de))
        .and_then(|v| de.end().map(|()| v))
        .ok()
}

/// `bytes` with every number that is a whole number written with a fraction or an exponent
/// (`572.0`, `5e2`) written as an integer; `None` when there is none (or it is not JSON).
fn whole_numbers(bytes: &[u8]) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value, changed: &mut bool) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // Within the range a 64-bit integer holds exactly.
                let exact = f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0;
                if exact {
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "a whole number within 2^53, so exactly an i64"
                    )]
                    let whole = f as i64;
                    *v = serde_json::Value::from(whole);
                    *changed = true;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|x| walk(x, changed)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|x| walk(x, changed)),
            _ => {}
        }
    }
    if !bytes.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut changed = false;
    walk(&mut value, &mut changed);
    if changed {
        serde_json::to_vec(&value).ok()
    } else {
        None
    }
}

/// Input from the query string (GET, DELETE). Repeated keys fill lists (`?tag=a&tag=b`); an
/// empty value (`?before=`) is the empty string, `Some("")` for an optional one (only an absent
/// parameter is `None`); any other parameter given twice is refused, naming it. The reader is
/// the crate's own and borrows the query: a value without escapes is not copied.
#[derive(Debug)]
pub struct QueryInput<T>(PhantomData<fn() -> T>);

impl<T> InputSource for QueryInput<T>
where
    T: DeserializeOwned + IsValidated + Send + 'static,
{
    type Value = T;
    const BODY: bool = false;

    fn parse(parts: &Parts, _: &[u8]) -> Result<T, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let value: T = match super::query::from_str(query) {
            Ok(v) => v,
            Err(_) => return Err(query_error::<T>(query)),
        };
        validate(&value, Location::Query)?;
        Ok(value)
    }
}

/// Whether the body is declared JSON: `application/json` or `application/<anything>+json`, in
/// any case, with any parameters, its value visible ASCII. What nearly every client sends,
/// `application/json` exactly, is one comparison; read as text, the value took some 600
/// instructions a request, mostly the searchers `split` sets up for a character
/// (BENCHMARKS.md, issue 28).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    if value.as_bytes() == b"application/json" {
        return true;
    }
    let Ok(ct) = value.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
}

/// Reads at most `limit` bytes. A declared `content-length` over the limit is refused before
/// reading; a chunked body is cut off as soon as it passes the limit.
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::framework(
            FrameworkCode::PayloadTooLarge,
            format!("the body is larger than this route's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid_input(
            "the body could not be read",
            vec![FieldError {
                location: Location::Body,
                path: String::new(),
                message: e.to_string(),
            }],
        )),
    }
}

/// A JSON body's bytes, within `limit`. Not generic: every JSON route shares it.
pub(crate) async fn json_bytes(
    parts: &Parts,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    if !is_json(&parts.headers) {
        return Err(ApiError::framework(
            FrameworkCode::UnsupportedMediaType,
            "expected a JSON body with `content-type: application/json`",
        ));
    }
    read_limited(&parts.headers, body, limit).await
}

/// Parses `bytes` again as `T`, tracking the path, to say which field is wrong.
fn json_error<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(ObjectsOnly(&mut de)).map(drop);
    let end = parsed.is_ok().then(|| de.end());
    describe_json_error(parsed, end, bytes)
}

/// The error for a body that did not parse: from the second parse's result, and what followed
/// the value if that parse succeeded. Not generic: only the parse itself depends on the type.
fn describe_json_error(
    parsed: Result<(), serde_path_to_error::Error<serde_json::Error>>,
    end: Option<Result<(), serde_json::Error>>,
    bytes: &[u8],
) -> ApiError {
    let (summary, path, message) = match (parsed, end) {
        (Err(e), _) => {
            let segments = e.path().clone();
            let path = e.path().to_string();
            let inner = e.into_inner();
            // serde_json says `expected value` both where the text is no JSON and where an
            // enumeration's value is not a string (`"status": 5`), and counts both as syntax;
            // and a body may be of the wrong shape before it stops being JSON. So whether it is
            // JSON at all is asked of serde_json's own value (strings checked as UTF-8): if not,
            // that is what the client is told, where it broke.
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Err(not_json) => {
                    let said = not_json.to_string();
                    let summary = if said.starts_with("recursion limit exceeded") {
                        "the body is nested too deeply (at most 128 levels)"
                    } else {
                        "the body is not valid JSON"
                    };
                    // The path where the typed parse stopped, if it stopped at the same fault.
                    let syntax_path = if inner.to_string() == said {
                        path
                    } else {
                        String::new()
                    };
                    let (path, message) = field_and_message(syntax_path, &said, true);
                    (summary, path, message)
                }
                Ok(value) => {
                    let (path, mut message) = field_and_message(path, &inner.to_string(), false);
                    // serde words an object's unknown key as it words an unknown string: the
                    // value sent says which the client gave.
                    if let Some(serde_json::Value::Object(fields)) = value_at(&value, &segments)
                        && let Some(found) = message.find(", found the string ")
                    {
                        message.truncate(found);
                        message.push_str(&match fields.keys().next() {
                            Some(key) if fields.len() == 1 => format!(
                                ", found an object whose key {} is none of them",
                                json_string(key)
                            ),
                            _ => format!(", found an object of {} keys", fields.len()),
                        });
                    }
                    ("the body does not match the expected shape", path, message)
                }
            }
        }
        // The value parsed; what failed is what follows it.
        (Ok(()), Some(Err(e))) => ("the body is not valid JSON", String::new(), e.to_string()),
        (Ok(()), _) => ("the body could not be parsed", String::new(), String::new()),
    };
    ApiError::invalid_input(
        summary,
        vec![FieldError {
            location: Location::Body,
            path,
            message,
        }],
    )
}

/// The value at serde_path_to_error's `path` in `root`, if every segment names one.
fn value_at<'a>(
    root: &'a serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(root, |value, segment| match segment {
        serde_path_to_error::Segment::Seq { index } => value.get(*index),
        serde_path_to_error::Segment::Map { key } => value.get(key),
        _ => None,
    })
}

/// Parses the query again as `T`, tracking the path, to say which parameter is wrong.
fn query_error<T: DeserializeOwned>(query: &str) -> ApiError {
    let de = super::query::Deserializer::new(query);
    let (path, message) = match serde_path_to_error::deserialize::<_, T>(de) {
        Err(e) => {
            let path = e.path().to_string();
            field_and_message(path, &e.into_inner().to_string(), false)
        }
        Ok(_) => (
            String::new(),
            "the query string could not be parsed".to_owned(),
        ),
    };
    ApiError::invalid_input(
        "invalid query string",
        vec![FieldError {
            location: Location::Query,
            path,
            message,
        }],
    )
}

/// The field's path and the message, as the client should read them:
/// - `serde_path_to_error` writes `.` for the root, and `?` for a segment it could not name (a
///   key whose syntax broke before it was read); the envelope names only what is known;
/// - a missing field is reported where it is missing (`items[0].name`: "required"), not at its
///   parent;
/// - everything else is reworded in JSON's terms ([`client_terms`]).
fn field_and_message(path: String, message: &str, syntax: bool) -> (String, String) {
    let known = match path.find('?') {
        Some(i) => path[..i].trim_end_matches('.'),
        None => &path,
    };
    let known = if known == "." { "" } else { known };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        let path = if known.is_empty() {
            field.to_owned()
        } else {
            format!("{known}.{field}")
        };
        return (path, "required".to_owned());
    }
    (known.to_owned(), client_terms(message, syntax))
}

/// A route's input is validated with garde before the handler sees it. Named in the bounds of
/// the input sources (not `garde::Validate` itself), so a missing derive is reported in these
/// words where it is a bound; where the macros name a route's input through `Input` (one error
/// at the type, `__private::CheckedInput`), rustc says the type is not `Validate`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a route's input, so it must derive `Validate` (garde)",
    label = "add `#[derive(Validate)]` to `{Self}` (with `use plugin_routes::prelude::*;` or `use garde::Validate;`)",
    note = "mark each field `#[garde(...)]` with its rules, or `#[garde(skip)]` for a field without any"
)]
pub trait IsValidated {
    /// The type itself: the macros name a route's input through it, so a missing derive is one
    /// error at the type (`__private::CheckedInput`).
    type Input;

    /// Runs the type's garde rules.
    fn check(&self) -> Result<(), garde::Report>;
}

impl<T: garde::Validate> IsValidated for T
where
    T::Context: Default,
{
    type Input = T;

    fn check(&self) -> Result<(), garde::Report> {
        self.validate()
    }
}

/// A garde report's problems as field errors found at `location`.
pub(crate) fn field_errors(report: &garde::Report, location: Location) -> Vec<FieldError> {
    report
        .iter()
        .map(|(path, error)| FieldError {
            location,
            path: path.to_string(),
            message: error.message().to_owned(),
        })
        .collect()
}

fn validate<T: IsValidated>(value: &T, location: Location) -> Result<(), ApiError> {
    match value.check() {
        Ok(()) => Ok(()),
        Err(report) => Err(ApiError::invalid_input(
            "the input failed validation",
            field_errors(&report, location),
        )),
    }
}

/// Extra axum extractors a handler takes with `#[extract]`, as a tuple.
pub trait Extractors: Sized + Send + 'static {
    /// Runs each extractor in order.
    fn extract(parts: &mut Parts) -> impl Future<Output = Result<Self, ApiError>> + Send;
}

impl Extractors for () {
    async fn extract(_: &mut Parts) -> Result<Self, ApiError> {
        Ok(())
    }
}

macro_rules! impl_extractors {
    ($($t:ident),+) => {
        impl<$($t),+> Extractors for ($($t,)+)
        where
            $($t: FromRequestParts<()> + Send + 'static,)+
        {
            async fn extract(parts: &mut Parts) -> Result<Self, ApiError> {
                Ok(($(
                    {
                        let rejected = match $t::from_request_parts(parts, &()).await {
                            Ok(v) => Ok(v),
                            Err(rejection) => Err(rejection.into_response()),
                        };
                        match rejected {
                            Ok(v) => v,
                            Err(response) => return Err(extractor_error(response).await),
                        }
                    },
                )+))
            }
        }
    };
}

impl_extractors!(A);
impl_extractors!(A, B);
impl_extractors!(A, B, C);
impl_extractors!(A, B, C, D);
impl_extractors!(A, B, C, D, E);
impl_extractors!(A, B, C, D, E, F);

/// Re-wraps an extractor's own rejection in the envelope, keeping its status and its text.
async fn extractor_error(response: axum::response::Response) -> ApiError {
    let status = response.status();
    let text = match Limited::new(response.into_body(), 4096).collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let code = FrameworkCode::ALL
        .iter()
        .copied()
        .find(|c| c.status() == status.as_u16());
    match code {
        Some(FrameworkCode::InvalidInput) | None if status.is_client_error() => {
            ApiError::invalid_input(
                "the request was rejected",
                vec![FieldError {
                    location: Location::Header,
                    path: String::new(),
                    message: text,
                }],
            )
        }
        Some(code) if status.is_client_error() => ApiError::framework(code, text),
        _ => {
            tracing::error!(%status, body = %text, "an extractor failed");
            ApiError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_recognised_by_its_media_type() {
        let cases: [(&[u8], bool); 16] = [
            (b"application/json", true),
            (b"Application/JSON", true),
            (b"application/json; charset=utf-8", true),
            (b" \tapplication/json \t; q=1", true),
            (b"application/merge-patch+json", true),
            (b"application/vnd.api+JSON;v=2", true),
            (b"application/+json", true),
            (b"application/jsonx", false),
            (b"application/json+x", false),
            (b"text/json", false),
            (b"application", false),
            (b"json", false),
            (b"", false),
            (b"application/json\xff", false),
            (b"application/json; name=\xe9", false),
            (b"application/json ", true),
        ];
        for (ct, json) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_bytes(ct).unwrap(),
            );
            assert_eq!(is_json(&headers), json, "{:?}", String::from_utf8_lossy(ct));
        }
        assert!(!is_json(&HeaderMap::new()), "no content type");
    }
}
