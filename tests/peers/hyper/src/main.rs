//! Raw hyper: no router, no parsing, no validation; each route answers fixed bytes. Nothing a
//! framework does can be cheaper, so this is the ceiling the others are seen against. It does
//! not read the body or check the id, so only valid requests are compared with it.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;

const ITEM: &[u8] = br#"{"id":7,"name":"item","status":"active"}"#;
const CREATED: &[u8] = br#"{"id":1,"name":"widget","status":"active"}"#;

async fn handle<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body): (StatusCode, &'static [u8]) = match (req.method(), req.uri().path()) {
        (&Method::POST, peers::ITEMS) => (StatusCode::CREATED, CREATED),
        (&Method::GET, path) if path.starts_with(peers::ITEMS) => (StatusCode::OK, ITEM),
        _ => (StatusCode::NOT_FOUND, b""),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() {
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let service = hyper::service::service_fn(handle::<hyper::body::Incoming>);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        }
        peers::Mode::Count { route, requests } => {
            peers::count(route, requests, |route| async move {
                let response = handle(route.request::<String>())
                    .await
                    .unwrap_or_else(|never| match never {});
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            })
        }
    }
}
