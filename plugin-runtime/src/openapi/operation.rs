//! One operation per route, documenting every response the route can really produce: its
//! success, each declared error, and each framework error its shape allows (`400` when it reads
//! input or parameters, `413`/`415` when it reads a body, `500` and `504` always).

use super::schemas::{Direction, Schemas};
use crate::declare::{ErrorDecl, InputLocation, PluginMeta, RouteMeta};
use crate::policy::{KeyLocation, Scheme, SchemeKind, ServerConfig, WhenUnreachable};
use crate::request::{FieldError, FrameworkCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Deprecated, Ref, RefOr, Required};

const ENVELOPE: &str = "ErrorEnvelope";
const EVENT_STREAM: &str = "text/event-stream";
const STREAM_TEXT: &str = "Server-sent events: one `data:` event per item, its JSON as the \
    schema's `contentSchema` says. An error once events flow ends the stream with \
    `event: error`, whose data is the envelope's `error` object (`code`, `message`, `details`, \
    `requestId`, and `traceId` when the request is traced). Quiet streams get `: keep-alive` \
    comments.";
const ETAG: &str = "A strong validator of the body's bytes.";

pub(crate) fn route(
    schemas: &mut Schemas,
    config: &ServerConfig,
    auth: &Served<'_>,
    plugin: &PluginMeta,
    route: &RouteMeta,
) -> Operation {
    let timeout_ms = millis(config.timeout_for(plugin, route));
    let mut extensions = ExtensionsBuilder::new().add("x-timeout-ms", timeout_ms);
    let mut op = tagged_with_path(schemas, plugin, route)
        .summary(route.summary)
        .description(route.description)
        .operation_id(Some(route.operation_id(plugin)))
        .deprecated(route.is_deprecated(plugin).then_some(Deprecated::True));
    if route.output_conditional {
        op = op.parameter(
            ParameterBuilder::new()
                .name("if-none-match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "An `ETag` from an earlier response: `304` if it is still current.",
                ))
                .schema(Some(
                    schemas.value(json!({"type": "string"}), Direction::Input),
                )),
        );
    }
    let mut reads_body = false;
    match (route.input, route.input_schema) {
        (InputLocation::Query, Some(f)) => {
            let schema = schemas.input_value(f);
            for p in query_parameters(schemas, &schema) {
                op = op.parameter(p);
            }
        }
        (InputLocation::Body, Some(f)) => {
            reads_body = true;
            let limit = config.body_limit_for(plugin, route);
            extensions = extensions.add("x-body-limit-bytes", limit);
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        Content::new(Some(schemas.of(f, Direction::Input))),
                    )
                    .build(),
            ));
        }
        _ => {}
    }
    let takes_input =
        reads_body || route.input != InputLocation::None || !route.path_params.is_empty();

    // Who may call: each admitted scheme is one alternative, each with the required scopes.
    let (security, scopes) = config.security_for(plugin, route);
    // A public operation says so with an empty list, which linters and generators read as "no
    // credential" rather than "not stated".
    op = op.securities(Some(
        security
            .schemes()
            .iter()
            .map(|name| SecurityRequirement::new(*name, scopes.iter().copied())),
    ));

    let success = match route.output_schema {
        Some(f) if route.output_media_type == EVENT_STREAM => {
            with_request_id(ResponseBuilder::new().description(STREAM_TEXT))
                .content(EVENT_STREAM, event_stream(schemas, f))
        }
        Some(f) => with_request_id(ResponseBuilder::new().description(success_text(route.status)))
            .content(
                route.output_media_type,
                Content::new(Some(schemas.of(f, Direction::Output))),
            ),
        None => with_request_id(ResponseBuilder::new().description(success_text(route.status))),
    };
    // An operation's success (`202`) is added where its own paths are documented; its result
    // and declared errors are the operation's.
    let long = route.operation.is_some();
    if !long {
        if route.output_conditional {
            op = op
                .response(
                    route.status.to_string(),
                    success.header("etag", string_header(ETAG)).build(),
                )
                .response(
                    "304",
                    with_request_id(
                        ResponseBuilder::new()
                            .description("Not Modified: `If-None-Match` names the current version")
                            .header("etag", string_header(ETAG)),
                    )
                    .build(),
                );
        } else {
            op = op.response(route.status.to_string(), success.build());
        }
    }

    // Every error code the route can send, grouped by status.
    let mut by_status: BTreeMap<u16, Vec<(&str, Option<&str>)>> = BTreeMap::new();
    let mut framework = |code: FrameworkCode, text: &'static str| {
        by_status
            .entry(code.status())
            .or_default()
            .push((code.as_str(), Some(text)));
    };
    if takes_input {
        framework(
            FrameworkCode::InvalidInput,
            "the input or a path parameter is invalid; `details` lists every problem",
        );
    }
    if reads_body {
        framework(
            FrameworkCode::PayloadTooLarge,
            "the body is larger than the route's limit",
        );
        framework(
            FrameworkCode::UnsupportedMediaType,
            "the body is not `application/json`",
        );
    }
    caller_errors(&mut framework, auth, security, scopes, route.method);
    let limits = config.rate_limits_for(plugin, route);
    let cap = config.concurrency_for(plugin, route);
    if !limits.is_empty() || !security.is_public() || cap.is_some() {
        framework(
            FrameworkCode::RateLimited,
            "over a rate limit, or too many failed authentications from this address (`auth-failures`), or too many requests in flight at once (`x-concurrency-limit`); `Retry-After` says in how many seconds to come back (absent for requests in flight: come back when one finishes), and `details.policy` names the policy",
        );
    }
    if let Some(cap) = cap {
        extensions = extensions.add("x-concurrency-limit", cap.json());
    }
    // A database the handler or the credential check needs that cannot answer now; and, where
    // the server refuses what it cannot count, the shared rate-limit store.
    let refuses_uncounted = (!limits.is_empty() || cap.is_some())
        && config.limit_store().when_unreachable() == WhenUnreachable::Refuse;
    match (cfg!(feature = "auth-store"), refuses_uncounted) {
        (true, false) => framework(
            FrameworkCode::Unavailable,
            "the database cannot be reached now; `Retry-After` says in how many seconds to try again",
        ),
        (true, true) => framework(
            FrameworkCode::Unavailable,
            "the database, or the shared rate-limit store the server refuses to do without, cannot be reached now; `Retry-After` says in how many seconds to try again",
        ),
        (false, true) => framework(
            FrameworkCode::Unavailable,
            "the shared rate-limit store cannot be reached, and the server refuses what it cannot count; `Retry-After` says in how many seconds to try again",
        ),
        (false, false) => {}
    }
    if !limits.is_empty() {
        let policies: Vec<serde_json::Value> =
            limits.iter().map(crate::declare::RateLimit::json).collect();
        extensions = extensions.add("x-rate-limit", policies);
    }
    // What the handler's own code may do, reviewed with the API (absent when nothing).
    let permissions = route.effective_permissions(plugin);
    if !permissions.is_empty() {
        extensions = extensions.add("x-permissions", permissions.json());
    }
    framework(
        FrameworkCode::Internal,
        "an unexpected failure; the cause is logged with the request id",
    );
    if !long {
        framework(
            FrameworkCode::Timeout,
            "the handler did not finish within the route's timeout",
        );
    }
    let errors: Vec<&ErrorDecl> = if long {
        Vec::new()
    } else {
        route.effective_errors(plugin).collect()
    };
    for e in &errors {
        by_status
            .entry(e.status)
            .or_default()
            .push((e.code, e.description));
    }
    for (status, codes) in by_status {
        let response = match codes.as_slice() {
            // A framework error alone under its status reads the same on every operation: it is
            // written once, under `components/responses`.
            [(code, _)] if !errors.iter().any(|e| e.status == status) => {
                let name = pascal_case(code);
                RefOr::Ref(schemas.shared_response(&name, |s| error_response(s, auth, &codes)))
            }
            _ => RefOr::T(error_response(schemas, auth, &codes)),
        };
        op = op.response(status.to_string(), response);
    }
    op.extensions(Some(extensions.build())).build()
}

/// An operation of `route` with its tags (its own, else its plugin's name) and its path
/// parameters: what the route's operation and those of its operations start from.
pub(super) fn tagged_with_path(
    schemas: &mut Schemas,
    plugin: &PluginMeta,
    route: &RouteMeta,
) -> OperationBuilder {
    let tags: Vec<&str> = if route.tags.is_empty() {
        vec![plugin.name]
    } else {
        route.tags.to_vec()
    };
    let mut op = OperationBuilder::new().tags(Some(tags));
    for param in route.path_params {
        op = op.parameter(
            ParameterBuilder::new()
                .name(param.name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schemas.of(param.schema, Direction::Input))),
        );
    }
    op
}

/// What checking the caller can refuse: `401`, `403` without a scope, and a cookie's write
/// from another site.
pub(super) fn caller_errors(
    framework: &mut impl FnMut(FrameworkCode, &'static str),
    auth: &Served<'_>,
    security: crate::declare::Security,
    scopes: &[&str],
    method: crate::declare::Method,
) {
    if security.is_public() {
        return;
    }
    framework(
        FrameworkCode::Unauthorized,
        "no valid credential: missing, malformed, unknown, expired and revoked ones all get this same answer",
    );
    if !scopes.is_empty() {
        framework(
            FrameworkCode::Forbidden,
            "the caller lacks a required scope; `details.missingScopes` lists them",
        );
    }
    let by_cookie = security.schemes().iter().any(|name| auth.is_cookie(name));
    if by_cookie && method.is_unsafe() {
        framework(
            FrameworkCode::CsrfRejected,
            "a cookie-authenticated request came from another site (`Sec-Fetch-Site` or `Origin`)",
        );
    }
}

/// `INVALID_INPUT` → `InvalidInput`.
fn pascal_case(code: &str) -> String {
    code.split('_')
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect()
}

pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn success_text(status: u16) -> &'static str {
    match status {
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        _ => "OK",
    }
}

/// Each property of a query input's object schema as a query parameter; repeated keys fill
/// arrays (`?tag=a&tag=b`), which is OpenAPI's default `form` style with `explode`.
fn query_parameters(
    schemas: &mut Schemas,
    schema: &Value,
) -> Vec<utoipa::openapi::path::Parameter> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let is_required = required.contains(&name.as_str());
            let mut property = property.clone();
            let description = property
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if !is_required {
                // An absent parameter is `None`; a query string has no way to send `null`.
                strip_null(&mut property);
            }
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if is_required {
                    Required::True
                } else {
                    Required::False
                })
                .description(description)
                .schema(Some(schemas.value(property, Direction::Input)))
                .build()
        })
        .collect()
}

/// `{"anyOf": [S, {"type": "null"}]}` → `S`; `{"type": ["string", "null"]}` → `{"type": "string"}`.
fn strip_null(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(any)) = map.get("anyOf") {
        let rest: Vec<Value> = any
            .iter()
            .filter(|s| **s != json!({"type": "null"}))
            .cloned()
            .collect();
        if rest.len() == 1 {
            map.remove("anyOf");
            if let Some(Value::Object(inner)) = rest.into_iter().next() {
                for (k, v) in inner {
                    map.entry(k).or_insert(v);
                }
            }
        } else {
            map.insert("anyOf".into(), Value::Array(rest));
        }
    }
}

/// One status's response: the envelope, with `code` narrowed to the codes sent with the status.
pub(super) fn error_response(
    schemas: &mut Schemas,
    auth: &Served<'_>,
    codes: &[(&str, Option<&str>)],
) -> Response {
    let envelope = envelope(schemas);
    let names: Vec<&str> = codes.iter().map(|(c, _)| *c).collect();
    let description = codes
        .iter()
        .map(|(c, d)| match d {
            Some(d) => format!("`{c}`: {d}"),
            None => format!("`{c}`"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut error = json!({"type": "object", "properties": {"code": {"enum": names}}});
    if names == [FrameworkCode::InvalidInput.as_str()] {
        let field = schemas.output_component::<FieldError>();
        error["properties"]["details"] = json!({"type": "array", "items": field});
        error["required"] = json!(["details"]);
    }
    if names == [FrameworkCode::Forbidden.as_str()] {
        error["properties"]["details"] = json!({
            "type": "object",
            "required": ["missingScopes"],
            "properties": {"missingScopes": {"type": "array", "items": {"type": "string"}}}
        });
        error["required"] = json!(["details"]);
    }
    let unauthorized = names.contains(&FrameworkCode::Unauthorized.as_str());
    let limited = names.contains(&FrameworkCode::RateLimited.as_str());
    let unavailable = names.contains(&FrameworkCode::Unavailable.as_str());
    let schema = json!({
        "allOf": [
            {"$ref": envelope.ref_location},
            {"type": "object", "properties": {"error": error}},
        ]
    });
    let mut response = with_request_id(ResponseBuilder::new().description(description));
    if unauthorized && let Some(challenges) = auth.challenges() {
        response = response.header("www-authenticate", string_header(&challenges));
    }
    if limited {
        response = response
            .header(
                "retry-after",
                string_header("Seconds until a request would be admitted."),
            )
            .header(
                "ratelimit-policy",
                string_header("The route's policies (draft-ietf-httpapi-ratelimit-headers-09): `\"name\";q=<quota>;w=<window seconds>`, one item each."),
            )
            .header(
                "ratelimit",
                string_header("Each policy's state: `\"name\";r=<remaining>;t=<seconds until whole>`; sent on every response of a limited route."),
            );
    }
    if unavailable {
        response = response.header(
            "retry-after",
            string_header("Seconds after which to try again (also `details.retryAfterSeconds`)."),
        );
    }
    response
        .content(
            "application/json",
            Content::new(Some(schemas.value(schema, Direction::Output))),
        )
        .build()
}

/// The security schemes the app serves, as the documents describe them.
pub(crate) struct Served<'a> {
    schemes: &'a [Scheme],
}

impl<'a> Served<'a> {
    pub(crate) fn new(schemes: &'a [Scheme]) -> Self {
        Served { schemes }
    }

    /// Whether the scheme `name` is a cookie, which a browser sends on its own.
    pub(super) fn is_cookie(&self, name: &str) -> bool {
        self.schemes.iter().any(|s| {
            s.name() == name
                && matches!(
                    s.kind(),
                    SchemeKind::ApiKey {
                        location: KeyLocation::Cookie,
                        ..
                    }
                )
        })
    }

    /// What a `401`'s `WWW-Authenticate` carries: each challenge with the schemes that send it.
    fn challenges(&self) -> Option<String> {
        let mut by_challenge: Vec<(&str, Vec<String>)> = Vec::new();
        let mut alone = Vec::new();
        for s in self.schemes {
            let name = format!("`{}`", s.name());
            let Some(c) = s.challenge() else {
                if let Some(c) = s.kind_challenge() {
                    alone.push(format!(
                        "`{c}` for {name} where the operation admits no scheme above"
                    ));
                }
                continue;
            };
            match by_challenge.iter_mut().find(|(seen, _)| *seen == c) {
                Some((_, names)) => names.push(name),
                None => by_challenge.push((c, vec![name])),
            }
        }
        let each: Vec<String> = by_challenge
            .iter()
            .map(|(c, names)| format!("`{c}` for {}", names.join(" and ")))
            .chain(alone)
            .collect();
        if each.is_empty() {
            return None;
        }
        Some(format!(
            "The challenges of the schemes the operation admits (see `security`), comma-separated: {}.",
            each.join("; ")
        ))
    }

    /// The schemes as components, an OAuth 2 scheme's flows offering `scopes`.
    pub(crate) fn components(&self, scopes: &[&str]) -> Vec<(&'static str, Value)> {
        self.schemes
            .iter()
            .map(|s| (s.name(), s.to_openapi(scopes)))
            .collect()
    }
}

/// The one error envelope, as a component.
pub(super) fn envelope(schemas: &mut Schemas) -> Ref {
    schemas.fixed(ENVELOPE, || {
        json!({
            "description": "The body of every error the server sends.",
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "requestId"],
                    "properties": {
                        "code": {"type": "string", "description": "What went wrong, SCREAMING_SNAKE_CASE."},
                        "message": {"type": "string", "description": "For a person to read."},
                        "details": {"description": "More about the error: for `INVALID_INPUT`, every problem found."},
                        "requestId": {"type": "string", "description": "Also in the `x-request-id` header; quote it when reporting a problem."},
                        "traceId": {"type": "string", "description": "The request's W3C trace id (32 lowercase hex digits), when the server traces requests (OpenTelemetry) and this one was sampled: look it up in the tracing backend."}
                    }
                }
            }
        })
    })
}

pub(super) fn with_request_id(response: ResponseBuilder) -> ResponseBuilder {
    response.header(
        "x-request-id",
        string_header("The request's id: the caller's well-formed `x-request-id`, else a new one."),
    )
}

/// A `text/event-stream` body. Its `schema` describes one event, as schemathesis and the other
/// tools that read OpenAPI 3.1 take it (3.2 would name this `itemSchema`): an object whose
/// `data` is JSON, with `contentSchema` the item's schema for `message` events and the envelope's
/// `error` object for the `error` event that ends a failed stream. The branches exclude each
/// other, as `oneOf` needs: a `message` event may leave `event` out (the server does), an `error`
/// event must name itself.
fn event_stream(schemas: &mut Schemas, item: crate::declare::SchemaFn) -> Content {
    let item = serde_json::to_value(schemas.of(item, Direction::Output)).unwrap_or(Value::Null);
    let envelope = envelope(schemas);
    let error = format!("{}/properties/error", envelope.ref_location);
    let event = |name: &str, data: Value| {
        let required = if name == "message" {
            json!(["data"])
        } else {
            json!(["data", "event"])
        };
        json!({
            "type": "object",
            "required": required,
            "properties": {
                "event": {"const": name},
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
            },
        })
    };
    let schema = json!({"oneOf": [event("message", item), event("error", json!({"$ref": error}))]});
    Content::new(Some(schemas.value(schema, Direction::Output)))
}

/// A response header whose value is a string.
pub(super) fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .description(Some(description))
        .schema(Some(RefOr::T(Object::with_type(Type::String).into())))
        .build()
}
