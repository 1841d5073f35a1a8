//! The documents of a route declared `operation`: its request answers `202 Accepted` with the
//! operation's `Location` and the operation itself, and the operation's own paths are
//! documented beside it (`GET` on it, its event stream, its cancel), each under the route's
//! security, each with the operation's schema: the route's result type, and the codes its
//! error may carry (the route's declared ones, and the framework's that a run can end with).

use super::operation::{
    Served, caller_errors, error_response, string_header, tagged_with_path, with_request_id,
};
use super::schemas::{Direction, Schemas};
use crate::declare::{ConcurrencyLimit, Method, PluginMeta, RouteMeta};
use crate::policy::ServerConfig;
use crate::request::FrameworkCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Required};

const LOCATION: &str = "The operation's URL: read it with `GET`, watch it at `…/events`, cancel it with `POST …/cancel`.";

const EVENTS_TEXT: &str = "Server-sent events: one `progress` event per report the handler \
    made, in order, its `id` the report's number (send `Last-Event-ID` to resume after it), \
    then one event named by how the operation ended (`succeeded`, `failed`, `cancelled`) whose \
    data is the operation, its result or error included. Quiet streams get `: keep-alive` \
    comments.";

/// Makes `op` (the route's own operation) answer `202 Accepted` with the operation, and say so.
pub(super) fn accepted(
    op: &mut Operation,
    schemas: &mut Schemas,
    plugin: &PluginMeta,
    route: &RouteMeta,
) {
    let response = with_request_id(
        ResponseBuilder::new()
            .description("Accepted: the operation is queued; its outcome is read at `Location`"),
    )
    .header("location", string_header(LOCATION))
    .content(
        "application/json",
        Content::new(Some(operation_schema(schemas, plugin, route))),
    )
    .build();
    op.responses
        .responses
        .insert("202".to_owned(), utoipa::openapi::RefOr::T(response));
    let rerun = route.operation.is_some_and(|o| o.rerun);
    op.extensions.get_or_insert_with(Default::default).merge(
        ExtensionsBuilder::new()
            .add("x-operation", json!({"rerun": rerun}))
            .build(),
    );
}

/// The operation as a client reads it.
fn operation_schema(
    schemas: &mut Schemas,
    plugin: &PluginMeta,
    route: &RouteMeta,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let result = match route.output_schema {
        Some(f) => serde_json::to_value(schemas.of(f, Direction::Output)).unwrap_or(Value::Null),
        None => json!({"type": "null"}),
    };
    let envelope = super::operation::envelope(schemas);
    let mut codes: Vec<&str> = route.effective_errors(plugin).map(|e| e.code).collect();
    codes.extend(
        [
            FrameworkCode::Internal,
            FrameworkCode::Timeout,
            FrameworkCode::Unavailable,
            FrameworkCode::Cancelled,
        ]
        .map(FrameworkCode::as_str),
    );
    let time = |what: &str| json!({"type": "string", "format": "date-time", "description": what});
    let schema = json!({
        "type": "object",
        "description": format!(
            "An operation of `{} {}`: queued, then run on one of the servers; once it ended, `status` and `result` or `error` are what the route would have answered.",
            route.method.as_str(),
            route.path
        ),
        "required": ["id", "state", "cancelRequested", "createdAt"],
        "properties": {
            "id": {"type": "string", "description": "The last segment of its URL."},
            "state": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "progress": {
                "type": "object",
                "description": "The last progress it reported.",
                "required": ["message"],
                "properties": {
                    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                    "message": {"type": "string"}
                }
            },
            "cancelRequested": {"type": "boolean"},
            "createdAt": time("When it was accepted."),
            "startedAt": time("When its last run started."),
            "finishedAt": time("When it ended."),
            "status": {
                "type": "integer",
                "description": "Once it ended: the status the route would have answered (499 when cancelled)."
            },
            "result": result,
            "error": {
                "description": "Once it failed or was cancelled: the `error` object of the envelope the route would have answered.",
                "allOf": [
                    {"$ref": format!("{}/properties/error", envelope.ref_location)},
                    {"properties": {"code": {"enum": codes}}}
                ]
            }
        }
    });
    schemas.value(schema, Direction::Output)
}

/// The operation's own paths: `GET`, its events, its cancel.
pub(super) fn resources(
    schemas: &mut Schemas,
    config: &ServerConfig,
    auth: &Served<'_>,
    plugin: &PluginMeta,
    route: &RouteMeta,
    path: &str,
) -> Vec<(String, &'static str, Operation)> {
    let base = format!("{path}/operations/{{operationId}}");
    let id = route.operation_id(plugin);
    let read = resource(schemas, config, auth, plugin, route, Method::Get, None)
        .operation_id(Some(format!("{id}_operation")))
        .summary(Some(format!(
            "Read an operation of `{}`",
            route.operation_id(plugin)
        )))
        .response(
            "200",
            with_request_id(ResponseBuilder::new().description("OK"))
                .content(
                    "application/json",
                    Content::new(Some(operation_schema(schemas, plugin, route))),
                )
                .build(),
        );
    // Its event streams count against the server's cap on streams per caller.
    let events = resource(
        schemas,
        config,
        auth,
        plugin,
        route,
        Method::Get,
        config.stream_cap(),
    )
    .operation_id(Some(format!("{id}_operation_events")))
    .summary(Some(format!("Watch an operation of `{id}`")))
    .parameter(
        ParameterBuilder::new()
            .name("last-event-id")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("Resume after the progress report of this number."))
            .schema(Some(schemas.value(
                json!({"type": "string", "pattern": "^[0-9]{1,18}$"}),
                Direction::Input,
            ))),
    )
    .response(
        "200",
        with_request_id(ResponseBuilder::new().description(EVENTS_TEXT))
            .content("text/event-stream", events_content(schemas, plugin, route))
            .build(),
    );
    let cancel = resource(schemas, config, auth, plugin, route, Method::Post, None)
        .operation_id(Some(format!("{id}_operation_cancel")))
        .summary(Some(format!("Cancel an operation of `{id}`")))
        .response(
            "202",
            with_request_id(ResponseBuilder::new().description(
                "Accepted: the operation with `cancelRequested`; one queued is `cancelled` at once, one running stops where its server next looks",
            ))
            .content(
                "application/json",
                Content::new(Some(operation_schema(schemas, plugin, route))),
            )
            .build(),
        );
    vec![
        (base.clone(), "GET", read.build()),
        (format!("{base}/events"), "GET", events.build()),
        (format!("{base}/cancel"), "POST", cancel.build()),
    ]
}

/// What every operation path shares: the route's parameters and `operationId`, its security,
/// and the errors of reading one (`404` for an operation that is not the caller's); `cap`, the
/// cap on streams a path's answers count against.
fn resource(
    schemas: &mut Schemas,
    config: &ServerConfig,
    auth: &Served<'_>,
    plugin: &PluginMeta,
    route: &RouteMeta,
    method: Method,
    cap: Option<ConcurrencyLimit>,
) -> OperationBuilder {
    let mut op = tagged_with_path(schemas, plugin, route).parameter(
        ParameterBuilder::new()
            .name("operationId")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("The operation's id, as in its `Location`."))
            .schema(Some(
                schemas.value(json!({"type": "string"}), Direction::Input),
            )),
    );
    let (security, scopes) = config.security_for(plugin, route);
    op = op.securities(Some(
        security
            .schemes()
            .iter()
            .map(|name| SecurityRequirement::new(*name, scopes.iter().copied())),
    ));
    let mut by_status: BTreeMap<u16, Vec<(&str, Option<&str>)>> = BTreeMap::new();
    let mut add = |code: FrameworkCode, text: &'static str| {
        by_status
            .entry(code.status())
            .or_default()
            .push((code.as_str(), Some(text)));
    };
    caller_errors(&mut add, auth, security, scopes, method);
    match (security.is_public(), &cap) {
        (true, None) => {}
        (false, None) => add(
            FrameworkCode::RateLimited,
            "too many failed authentications from this address; `Retry-After` says in how many seconds to come back",
        ),
        (true, Some(_)) => add(
            FrameworkCode::RateLimited,
            "as many event streams open at once as the caller may have (`x-concurrency-limit`); come back when one ends; `details.policy` names the policy",
        ),
        (false, Some(_)) => add(
            FrameworkCode::RateLimited,
            "too many failed authentications from this address (`auth-failures`; `Retry-After` says in how many seconds to come back), or as many event streams open at once as the caller may have (`x-concurrency-limit`; come back when one ends); `details.policy` names the policy",
        ),
    }
    if let Some(cap) = &cap {
        op = op.extensions(Some(
            ExtensionsBuilder::new()
                .add("x-concurrency-limit", cap.json())
                .build(),
        ));
    }
    add(
        FrameworkCode::NotFound,
        "no operation of the caller's has this id under this path: another caller's, or deleted after the retention period",
    );
    add(
        FrameworkCode::Internal,
        "an unexpected failure; the cause is logged with the request id",
    );
    add(
        FrameworkCode::Unavailable,
        if cap.is_some() {
            "the database, or the store counting the caller's streams, cannot be reached now; `Retry-After` says in how many seconds to try again"
        } else {
            "the database cannot be reached now; `Retry-After` says in how many seconds to try again"
        },
    );
    add(
        FrameworkCode::Timeout,
        "the database did not answer within the server's timeout",
    );
    for (status, codes) in by_status {
        op = op.response(status.to_string(), error_response(schemas, auth, &codes));
    }
    op
}

/// One event of the stream: a progress report, or the end with the operation.
fn events_content(schemas: &mut Schemas, plugin: &PluginMeta, route: &RouteMeta) -> Content {
    let operation =
        serde_json::to_value(operation_schema(schemas, plugin, route)).unwrap_or(Value::Null);
    let progress = json!({
        "type": "object",
        "required": ["message"],
        "properties": {
            "fraction": {"type": "number", "minimum": 0, "maximum": 1},
            "message": {"type": "string"}
        }
    });
    let data = |schema: Value| json!({"type": "string", "contentMediaType": "application/json", "contentSchema": schema});
    let schema = json!({"oneOf": [
        {
            "type": "object",
            "required": ["event", "data", "id"],
            "properties": {
                "event": {"const": "progress"},
                "id": {"type": "string"},
                "data": data(progress),
            }
        },
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"enum": ["succeeded", "failed", "cancelled"]},
                "data": data(operation),
            }
        }
    ]});
    Content::new(Some(schemas.value(schema, Direction::Output)))
}
