//! Both routes' work done by hand, exactly as `peer-hyper-work` does it (its library), but routed
//! by axum's `Router`: the match, the path parameter it inserts, the boxed route it clones, the
//! boxed body and the `Content-Length` it sets. Nothing else sits between the connection and the
//! work: each route is a plain service (`get_service`, `post_service`: not a handler, whose
//! future axum boxes once more), with no extractor and no middleware; the request id and the
//! timeout are the same code as the raw hyper server's, around the router. The routes are
//! mounted as this project mounts its own, a service for a method on a path.
//!
//! It is the floor for any server that routes with axum's router, as every plugin served by this
//! project does: what answering the contract costs on this stack once that router is in the path.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use peer_hyper_work::{create_item, get_item, no_route, not_allowed, request_id, within_time};
use std::convert::Infallible;
use tower::ServiceExt as _;

/// The request id, made or taken before the router, for the routes' answers.
#[derive(Clone)]
struct RequestId(HeaderValue);

fn id_of(request: &Request) -> HeaderValue {
    request
        .extensions()
        .get::<RequestId>()
        .map(|RequestId(id)| id.clone())
        .unwrap_or_else(|| request_id(request.headers()))
}

async fn get(request: Request) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = id_of(&request);
    // The router matched `/items/{id}`: the id is the last segment.
    let segment = request.uri().path().rsplit('/').next().unwrap_or_default();
    Ok(get_item(segment, id))
}

async fn create(request: Request) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = id_of(&request);
    Ok(create_item(request, id).await)
}

async fn unrouted(request: Request) -> Response<Full<Bytes>> {
    no_route(request.method(), request.uri().path(), id_of(&request))
}

async fn wrong_method(request: Request) -> Response<Full<Bytes>> {
    not_allowed(request.method(), id_of(&request))
}

fn app() -> Router {
    Router::new()
        .route(
            peers::ITEMS,
            axum::routing::post_service(tower::service_fn(create)),
        )
        .route(
            &format!("{}/{{id}}", peers::ITEMS),
            axum::routing::get_service(tower::service_fn(get)),
        )
        .fallback(unrouted)
        .method_not_allowed_fallback(wrong_method)
}

/// One request: its id made or taken, the router called, its answer timed.
async fn handle<B>(router: Router, mut request: http::Request<B>) -> Result<Response, Infallible>
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let id = request_id(request.headers());
    request.extensions_mut().insert(RequestId(id.clone()));
    let answer = within_time(&id, router.oneshot(request)).await;
    Ok(match answer {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(late) => late.into_response(),
    })
}

fn main() {
    let router = app();
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let router = router.clone();
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let service = hyper::service::service_fn(move |request| {
                            handle::<hyper::body::Incoming>(router.clone(), request)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        }
        peers::Mode::Count { route, requests } => peers::count(route, requests, |route| {
            let router = router.clone();
            async move {
                let response = handle(router, route.request::<Body>())
                    .await
                    .unwrap_or_else(|never| match never {});
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            }
        }),
    }
}
