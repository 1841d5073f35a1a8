//! What a `#[plugin_route]` declares, as `'static` data the macro generates. The same values
//! drive mounting, limits, the compile-time duplicate checks, the documents and the manifest.

use super::{Permissions, PluginMeta, Security};
use axum::routing::MethodFilter;

pub use plugin_routes_rules::Method;

/// The axum filter that routes `method`.
pub(crate) fn method_filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// Where a route reads its input from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLocation {
    /// The route takes no input.
    None,
    /// A JSON body (POST, PUT, PATCH).
    Body,
    /// The query string (GET, DELETE).
    Query,
}

/// An error code a route declares with `errors(CODE = status)`.
#[derive(Debug)]
pub struct ErrorDecl {
    /// The code, SCREAMING_SNAKE_CASE.
    pub code: &'static str,
    /// The HTTP status, 400–599.
    pub status: u16,
    /// The description from `CODE = (status, "description")`; also the default message.
    pub description: Option<&'static str>,
}

/// Writes the JSON Schema of one type into a generator: a `$ref` to a shared component for named
/// types, the schema itself for the rest (`schema_ref`), or always the schema itself
/// (`schema_inline`, for a query input that is split into parameters).
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// The schema of `T` as a property or body would refer to it: a `$ref` for named types.
pub fn schema_ref<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// The schema of `T` itself, never a `$ref`: a query input's fields become parameters.
pub fn schema_inline<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    T::json_schema(generator)
}

/// A path parameter: its name in the path and its argument's type.
#[derive(Debug)]
pub struct PathParam {
    /// The name, as in `{id}`.
    pub name: &'static str,
    /// The argument type's schema.
    pub schema: SchemaFn,
}

/// Everything a `#[plugin_route]` declares.
#[derive(Debug)]
pub struct RouteMeta {
    /// The handler function's name.
    pub handler: &'static str,
    /// The module the handler is defined in.
    pub module: &'static str,
    /// The method.
    pub method: Method,
    /// The path relative to the plugin's base path, parameters written `{name}`.
    pub path: &'static str,
    /// The success status.
    pub status: u16,
    /// The declared error codes.
    pub errors: &'static [ErrorDecl],
    /// The codes of its plugin's `errors(...)` it never returns (`errors(CODE = none)`).
    pub left_out_errors: &'static [&'static str],
    /// `timeout_ms`, if the route sets one.
    pub timeout_ms: Option<u64>,
    /// `body_limit` in bytes, if the route sets one.
    pub body_limit: Option<u64>,
    /// Where the input comes from.
    pub input: InputLocation,
    /// The path parameters, in order.
    pub path_params: &'static [PathParam],
    /// The input type's schema, if the route takes input.
    pub input_schema: Option<SchemaFn>,
    /// The output type's schema; `None` for `status = 204`.
    pub output_schema: Option<SchemaFn>,
    /// The success body's media type (`application/json`, `text/html`); empty for `status = 204`.
    pub output_media_type: &'static str,
    /// Whether the route answers conditional requests (`If-None-Match`, `ETag`, `304`).
    pub output_conditional: bool,
    /// `summary`, else the first paragraph of the doc comment.
    pub summary: Option<&'static str>,
    /// The rest of the doc comment (all of it when `summary` is set).
    pub description: Option<&'static str>,
    /// `tags(...)`; empty means the plugin's name.
    pub tags: &'static [&'static str],
    /// `operation_id`; `None` means `<plugin>_<handler>` (see [`RouteMeta::operation_id`]).
    pub operation_id: Option<&'static str>,
    /// `deprecated`: marked so in the documents.
    pub deprecated: bool,
    /// `hidden`: served, but left out of every document.
    pub hidden: bool,
    /// `security(...)`; `None` inherits the plugin's, then the server's default.
    pub security: Option<Security>,
    /// `scopes(...)`: scopes a caller must all hold; `None` inherits the plugin's.
    pub scopes: Option<&'static [&'static str]>,
    /// `permissions(...)`: what the handler's own code may do; `None` inherits the plugin's,
    /// `Some` replaces them entirely.
    pub permissions: Option<&'static Permissions>,
    /// `rate_limit(...)`; `None` inherits the plugin's, then the server's; `Some(&[])` is
    /// `rate_limit(none)`.
    pub rate_limits: Option<&'static [super::RateLimit]>,
    /// `concurrency(...)`; `None` inherits the plugin's, then the server's cap on streams (for
    /// a streamed route).
    pub concurrency: Option<super::Concurrency>,
    /// `operation` (or `operation(rerun)`): the route answers `202 Accepted` and runs its
    /// handler as an operation.
    pub operation: Option<OperationDecl>,
}

/// What `operation(...)` declares of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationDecl {
    /// `operation(rerun)`: an operation whose server died while running it is run again from
    /// the start by another; without it, it ends `failed` (`503 UNAVAILABLE`).
    pub rerun: bool,
}

impl RouteMeta {
    /// Stands in for a route whose attribute failed to compile; skipped by every check.
    #[doc(hidden)]
    pub const FALLBACK: &'static RouteMeta = &Self::BLANK;

    /// A route that declares nothing and is in no document: the base of the stand-ins.
    pub(crate) const BLANK: RouteMeta = RouteMeta {
        handler: "",
        module: "",
        method: Method::Get,
        path: "",
        status: 200,
        errors: &[],
        left_out_errors: &[],
        timeout_ms: None,
        body_limit: None,
        input: InputLocation::None,
        path_params: &[],
        input_schema: None,
        output_schema: None,
        output_media_type: "application/json",
        output_conditional: false,
        summary: None,
        description: None,
        tags: &[],
        operation_id: None,
        deprecated: false,
        hidden: true,
        security: None,
        scopes: None,
        permissions: None,
        rate_limits: None,
        concurrency: None,
        operation: None,
    };

    pub(crate) const fn is_fallback(&self) -> bool {
        self.path.is_empty()
    }

    /// Whether it answers with an event stream (`RouteResult<EventStream<T>>`).
    pub fn streams(&self) -> bool {
        self.output_media_type == "text/event-stream"
    }

    /// What the handler's code may do: the route's `permissions(...)`, else its plugin's (a
    /// route's replace the plugin's entirely), else nothing.
    pub fn effective_permissions(&self, plugin: &PluginMeta) -> &'static Permissions {
        self.permissions
            .or(plugin.permissions)
            .unwrap_or(&Permissions::NONE)
    }

    /// The codes the route may return: its own `errors(...)`, then those of its plugin's that it
    /// neither declares itself (a route's declaration of a shared code replaces the plugin's) nor
    /// leaves out (`CODE = none`). The default `GET /health` returns none of the plugin's.
    pub fn effective_errors(
        &self,
        plugin: &PluginMeta,
    ) -> impl Iterator<Item = &'static ErrorDecl> + use<> {
        let own: &'static [ErrorDecl] = self.errors;
        let shared: &'static [ErrorDecl] = if std::ptr::eq(self, plugin.health) {
            &[]
        } else {
            plugin.errors
        };
        let left_out = self.left_out_errors;
        own.iter().chain(
            shared.iter().filter(move |s| {
                !own.iter().any(|e| e.code == s.code) && !left_out.contains(&s.code)
            }),
        )
    }

    /// Whether the documents mark it deprecated: it says so, or its plugin does.
    pub fn is_deprecated(&self, plugin: &PluginMeta) -> bool {
        self.deprecated || plugin.deprecated
    }

    /// Whether it is in no document: it says so, or its plugin does.
    pub const fn is_hidden(&self, plugin: &PluginMeta) -> bool {
        self.hidden || plugin.hidden
    }

    /// How log lines and refusals name the route: `commit POST /v1/plugins/commit/push`.
    pub fn label(&self, plugin: &PluginMeta) -> String {
        format!(
            "{} {} {}",
            plugin.name,
            self.method.as_str(),
            plugin_routes_rules::full_path(plugin.base_path, self.path)
        )
    }

    /// The operation id in the OpenAPI documents: `operation_id`, else `<plugin>_<handler>` with
    /// `-` in the plugin's name written `_` (`items_get_item`).
    pub fn operation_id(&self, plugin: &PluginMeta) -> String {
        match self.operation_id {
            Some(id) => id.to_owned(),
            None => plugin_routes_rules::derive_operation_id(plugin.name, self.handler),
        }
    }
}
