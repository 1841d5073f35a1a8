//! What routes and plugins declare, as `'static` data the macros generate. The same values drive
//! mounting, limits, the compile-time duplicate checks and (later) the OpenAPI document.

use axum::routing::MethodFilter;

/// An HTTP method a route can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: input from the query string.
    Get,
    /// `POST`: input from the JSON body.
    Post,
    /// `PUT`: input from the JSON body.
    Put,
    /// `PATCH`: input from the JSON body.
    Patch,
    /// `DELETE`: input from the query string.
    Delete,
}

impl Method {
    /// The method's name, e.g. `"GET"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub(crate) fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
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
    /// `timeout_ms`, if the route sets one.
    pub timeout_ms: Option<u64>,
    /// `body_limit` in bytes, if the route sets one.
    pub body_limit: Option<u64>,
    /// Where the input comes from.
    pub input: InputLocation,
    /// The path parameters, in order.
    pub path_params: &'static [&'static str],
    /// The handler's doc comment.
    pub doc: &'static str,
}

impl RouteMeta {
    /// Stands in for a route whose attribute failed to compile; skipped by every check.
    #[doc(hidden)]
    pub const FALLBACK: &'static RouteMeta = &RouteMeta {
        handler: "",
        module: "",
        method: Method::Get,
        path: "",
        status: 200,
        errors: &[],
        timeout_ms: None,
        body_limit: None,
        input: InputLocation::None,
        path_params: &[],
        doc: "",
    };

    pub(crate) const fn is_fallback(&self) -> bool {
        self.path.is_empty()
    }

    /// The implicit `GET /health` route of a plugin that does not declare one.
    pub(crate) const HEALTH: &'static RouteMeta = &RouteMeta {
        handler: "<default health endpoint>",
        module: "plugin_runtime",
        method: Method::Get,
        path: "/health",
        status: 200,
        errors: &[],
        timeout_ms: None,
        body_limit: None,
        input: InputLocation::None,
        path_params: &[],
        doc: "Reports that the plugin is mounted and serving.",
    };
}

/// Everything a `#[plugin]` declares.
#[derive(Debug)]
pub struct PluginMeta {
    /// The name, `[a-z0-9-]+`.
    pub name: &'static str,
    /// The semantic version.
    pub version: &'static str,
    /// The base path every route is mounted under, `/v1/plugins/<name>` by default.
    pub base_path: &'static str,
    /// The plugin struct's name, for diagnostics.
    pub type_name: &'static str,
    /// The default timeout of its routes.
    pub timeout_ms: Option<u64>,
    /// The default body limit of its routes.
    pub body_limit: Option<u64>,
    /// The routes, in declaration order.
    pub routes: &'static [&'static RouteMeta],
}

impl PluginMeta {
    /// Stands in for a plugin whose attribute failed to compile; skipped by every check.
    #[doc(hidden)]
    pub const FALLBACK: &'static PluginMeta = &PluginMeta {
        name: "",
        version: "",
        base_path: "",
        type_name: "",
        timeout_ms: None,
        body_limit: None,
        routes: &[],
    };

    pub(crate) const fn is_fallback(&self) -> bool {
        self.name.is_empty()
    }

    /// Whether the plugin declares its own `GET /health`.
    pub const fn declares_health(&self) -> bool {
        let mut i = 0;
        while i < self.routes.len() {
            let r = self.routes[i];
            if matches!(r.method, Method::Get) && crate::check::str_eq(r.path, "/health") {
                return true;
            }
            i += 1;
        }
        false
    }
}
