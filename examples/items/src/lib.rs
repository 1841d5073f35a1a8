//! The items plugin: a small CRUD API under `/v1/plugins/items`, persisted in SQLite (or
//! PostgreSQL). Every route needs a session, an API key or an OAuth token with `items:read`;
//! writes need `items:write` too. Items belong to the user who created them.
//!
//! | route | does |
//! |---|---|
//! | `GET /items?page=1&limit=20&filter=active` | one page of items, newest first |
//! | `GET /items/{id}` | one item, or `404 ITEM_NOT_FOUND` |
//! | `POST /items` | creates one (`201`), or `409 ITEM_EXISTS` for a name in use |
//! | `PATCH /items/{id}` | changes name and/or status |
//! | `DELETE /items/{id}` | deletes one (`204`) |

mod model;
pub mod routes;
mod store;

pub use model::{CreateItem, Item, ItemPage, ItemStatus, ListQuery, Pagination, UpdateItem};
pub use store::{ItemsState, StoreError};

use ai_plugin::{AiPlugin, AiState};
use commit_plugin::{CommitPlugin, CommitState};
use plugin_routes::auth::{Auth, AuthRoutes, SettingsPage};
use plugin_routes::otel::opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use plugin_routes::{App, Plugin as _, ServerConfig, app, plugin};

/// The server's settings: the defaults, with the API's name and version in the documents.
pub fn config() -> ServerConfig {
    ServerConfig::default().with_api_info("Items example", env!("CARGO_PKG_VERSION"))
}

/// A tracer provider exporting spans over OTLP/HTTP (protobuf) in batches, from a background
/// thread: to `endpoint` (the full URL, `http://collector:4318/v1/traces`) when given, else as
/// the standard variables say (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` added; `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`). The service is `OTEL_SERVICE_NAME`, else `example-server`;
/// the sampler is `OTEL_TRACES_SAMPLER`, else every request (and what a caller's
/// `traceparent` decided).
///
/// # Errors
/// When the endpoint is not a URL.
pub fn otlp_tracer_provider(
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    // The exporter's reqwest has no crypto provider of its own; ring is the process's (an
    // `https://` endpoint needs it, and reqwest refuses to build without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary);
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let mut resource = Resource::builder();
    #[expect(
        clippy::disallowed_methods,
        reason = "the server's own start-up, before any route runs: the service's name is the operator's"
    )]
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("example-server");
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter.build()?)
        .build())
}

/// What `example-server` serves: the items plugin under `/v1/plugins/items`, the AI plugin under
/// `/v1/plugins/ai`, the commit plugin under `/v1/plugins/commit` when a repository is given
/// (without one it is neither served nor documented), the auth routes under `/v1/auth` and the
/// settings page, the OpenAPI documents and Swagger UI at `/docs`.
pub fn app(
    state: ItemsState,
    ai: AiState,
    commit: Option<CommitState>,
    auth: &Auth,
) -> axum::Router {
    app_with(state, ai, commit, auth, config())
}

/// [`app`] with other settings: where quotas are counted, say.
pub fn app_with(
    state: ItemsState,
    ai: AiState,
    commit: Option<CommitState>,
    auth: &Auth,
    config: ServerConfig,
) -> axum::Router {
    let commit = commit.map(|commit| {
        let placeholders = commit.placeholders();
        CommitPlugin::new(commit).with_placeholders(&placeholders)
    });
    let ai_placeholders = ai.placeholders();
    app_of(
        state,
        AiPlugin::new(ai).with_placeholders(&ai_placeholders),
        commit,
        auth,
        config,
    )
}

/// [`app_with`] from plugins already made: started through their hooks, as `example-server`
/// does.
pub fn app_of(
    state: ItemsState,
    ai: AiPlugin,
    commit: Option<CommitPlugin>,
    auth: &Auth,
    config: ServerConfig,
) -> axum::Router {
    assembled(state, ai, commit, auth, config).into_router()
}

/// Whether `config`'s rate-limit overrides each name a policy of a plugin [`assembled`] mounts
/// (the commit plugin with `commit`): the server refuses a wrong one before it assembles.
///
/// # Errors
/// The first override that names nothing.
pub fn check_overrides(config: &ServerConfig, commit: bool) -> Result<(), String> {
    config.check_rate_limit_overrides(&mounted(commit))
}

/// The plugins [`assembled`] mounts (the commit plugin with `commit`), known before any of them
/// is made. `tests/tests/openapi.rs` holds this list to the app's own.
pub fn mounted(commit: bool) -> Vec<&'static plugin_routes::PluginMeta> {
    let mut mounted = vec![
        AuthRoutes::META,
        SettingsPage::META,
        ItemsPlugin::META,
        AiPlugin::META,
    ];
    if commit {
        mounted.push(CommitPlugin::META);
    }
    mounted
}

/// [`app_of`] as the assembled [`App`]: the router, and the documents and manifest it serves
/// (`example-server openapi` writes them).
pub fn assembled(
    state: ItemsState,
    ai: AiPlugin,
    commit: Option<CommitPlugin>,
    auth: &Auth,
    config: ServerConfig,
) -> App {
    // One list, assembled with or without the commit plugin.
    macro_rules! assemble {
        ($($more:tt)*) => {
            app![
                config = config;
                auth = auth.clone();
                AuthRoutes::new(auth.clone()),
                SettingsPage::new(),
                ItemsPlugin::new(state),
                ai: AiPlugin
                $($more)*
            ]
        };
    }
    match commit {
        Some(commit) => assemble!(, commit: CommitPlugin),
        None => assemble!(),
    }
}

/// Items that people keep: create, list, rename, archive and delete them.
#[plugin(
    name = "items",
    version = "1.0.0",
    state = ItemsState,
    timeout_ms = 30_000,
    security(user, token, oauth),
    scopes("items:read"),
    client = ItemsClient,
    routes(
        routes::list_items,
        routes::get_item,
        routes::create_item,
        routes::update_item,
        routes::delete_item,
    ),
)]
pub struct ItemsPlugin;
