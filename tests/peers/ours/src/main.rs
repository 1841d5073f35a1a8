//! The two routes as a user of this project writes them: the macros generate the input parsing,
//! validation, the error envelope, the request id and the documents.

use plugin_routes::prelude::*;
use tower::ServiceExt as _;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Archived,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    /// The item's name.
    #[garde(length(chars, min = 1, max = 100))]
    name: String,
    /// Whether it is in use.
    #[garde(skip)]
    status: Status,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Item {
    id: i64,
    name: String,
    status: Status,
}

/// Create an item.
#[plugin_route(
    method = "POST",
    path = "/items",
    status = 201,
    errors(ITEM_EXISTS = 409)
)]
async fn create_item(input: CreateItem) -> RouteResult<Item> {
    if input.name == peers::TAKEN {
        return Err(route_error!(ITEM_EXISTS, "an item with this name exists"));
    }
    Ok(Item {
        id: peers::next_id(),
        name: input.name,
        status: input.status,
    })
}

/// Get one item.
#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = 404))]
async fn get_item(id: i64) -> RouteResult<Item> {
    if !peers::exists(id) {
        return Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}"));
    }
    Ok(Item {
        id,
        name: peers::FOUND_NAME.to_owned(),
        status: Status::Active,
    })
}

/// The items routes, public.
#[plugin(
    name = "items",
    version = "1.0.0",
    security(none),
    routes(create_item, get_item)
)]
struct Items;

#[cfg(not(feature = "observed"))]
fn app() -> axum::Router {
    plugins![Items::new()]
}

/// The same routes recording metrics and tracing every request: a server span each, sampled or
/// dropped as `PEER_TRACES` says (`sampled` or `dropped`), handed to the SDK's batch processor,
/// whose exporter discards what it gets. The processor's thread is the server's, so its work is
/// in the server's CPU; sending the spans over the network would come on top.
#[cfg(feature = "observed")]
fn app() -> axum::Router {
    use plugin_routes::otel::opentelemetry_sdk::error::OTelSdkResult;
    use plugin_routes::otel::opentelemetry_sdk::trace::{
        Sampler, SdkTracerProvider, SpanData, SpanExporter,
    };

    #[derive(Debug)]
    struct Discard;

    impl SpanExporter for Discard {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            std::hint::black_box(batch);
            Ok(())
        }
    }

    static PROVIDER: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();
    let provider = PROVIDER.get_or_init(|| {
        let sampler = match std::env::var("PEER_TRACES").as_deref() {
            Ok("sampled") => Sampler::AlwaysOn,
            Ok("dropped") => Sampler::AlwaysOff,
            other => {
                eprintln!("PEER_TRACES must be `sampled` or `dropped`, not {other:?}");
                std::process::exit(2)
            }
        };
        SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_batch_exporter(Discard)
            .build()
    });
    plugins![
        config = plugin_routes::ServerConfig::default().with_tracer_provider(provider);
        Items::new()
    ]
}

fn main() {
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                plugin_routes::serve(listener, app()).await.expect("serve");
            });
        }
        peers::Mode::Count { route, requests } => {
            let app = app();
            peers::count(route, requests, |route| {
                let app = app.clone();
                async move {
                    let response = app
                        .oneshot(route.request::<axum::body::Body>())
                        .await
                        .expect("infallible");
                    let status = response.status().as_u16();
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                    status
                }
            });
        }
    }
}
