//! Raw hyper doing both routes' work by hand (the library of this crate), with nothing between
//! the connection and the work.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use peer_hyper_work::handle;

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
                let response = handle(route.request::<Full<Bytes>>())
                    .await
                    .unwrap_or_else(|never| match never {});
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            })
        }
    }
}
