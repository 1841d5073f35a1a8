//! Both routes' work done by hand, exactly as `peer-hyper-work` does it (its library), but routed
//! by axum's `Router`: the match, the path parameter it inserts, the boxed route it clones, the
//! boxed body and the `Content-Length` it sets. Nothing else sits between the connection and the
//! work: each route is a plain service (`get_service`, `post_service`: not a handler, whose
//! future axum boxes once more), with no extractor and no middleware. Each route takes its
//! request id and times its work itself, with the raw hyper server's code, as this project's
//! routes do; the routes are mounted as this project mounts its own, a service for a method on
//! a path.
//!
//! It measures what axum's router adds to the least work, for any server routed by it, as every
//! plugin served by this project is: the least found, not a proven minimum.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use peer_hyper_work::{create_item, get_item, no_route, not_allowed, request_id, within_time};
use std::convert::Infallible;
use tower::ServiceExt as _;

/// A route's work with its request id, made or taken here, and its answer timed: inside the
/// route, as this project's routes do both.
async fn timed<F, Fut>(request: Request, work: F) -> Result<Response<Full<Bytes>>, Infallible>
where
    F: FnOnce(Request, HeaderValue) -> Fut,
    Fut: Future<Output = Response<Full<Bytes>>>,
{
    let id = request_id(request.headers());
    let answer = within_time(&id, work(request, id.clone())).await;
    Ok(answer.unwrap_or_else(|late| late))
}

async fn get(request: Request) -> Result<Response<Full<Bytes>>, Infallible> {
    timed(request, |request, id| async move {
        // The router matched `/items/{id}`: the id is what follows the prefix.
        let path = request.uri().path();
        let segment = path
            .strip_prefix(peers::ITEMS)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or_default();
        get_item(segment, id)
    })
    .await
}

async fn create(request: Request) -> Result<Response<Full<Bytes>>, Infallible> {
    timed(request, create_item).await
}

async fn unrouted(request: Request) -> Response<Full<Bytes>> {
    let id = request_id(request.headers());
    no_route(request.method(), request.uri().path(), id)
}

async fn wrong_method(request: Request) -> Response<Full<Bytes>> {
    not_allowed(request.method(), request_id(request.headers()))
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
                        let service = hyper::service::service_fn(
                            move |request: http::Request<hyper::body::Incoming>| {
                                router.clone().oneshot(request)
                            },
                        );
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
                let response = router
                    .oneshot(route.request::<Body>())
                    .await
                    .unwrap_or_else(|never| match never {});
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            }
        }),
    }
}
