//! What every peer server shares: the command line, the two routes' semantics, and the harness
//! that counts instructions per request in process.
//!
//! Every peer serves `GET /v1/plugins/items/items/{id}` (a typed `i64` id; `400` when it is not
//! one, `404 ITEM_NOT_FOUND` above [`LAST_ID`]) and `POST /v1/plugins/items/items` (a JSON body
//! of `name`, 1 to 100 characters, and `status`, `active` or `archived`, with no other field;
//! `201`, or `409 ITEM_EXISTS` for the name [`TAKEN`]). How each framework says so is its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};

/// The path of `POST`, and the prefix of `GET`'s.
pub const ITEMS: &str = "/v1/plugins/items/items";
/// The path the measured `GET` asks for.
pub const ITEM_7: &str = "/v1/plugins/items/items/7";
/// The body the measured `POST` sends.
pub const CREATE_BODY: &str = r#"{"name":"widget","status":"active"}"#;
/// Ids up to this one exist; above it, `404 ITEM_NOT_FOUND`.
pub const LAST_ID: i64 = 1_000_000;
/// The name that is taken: creating an item with it answers `409 ITEM_EXISTS`.
pub const TAKEN: &str = "taken";
/// The name every found item has.
pub const FOUND_NAME: &str = "item";

/// Whether an item with this id exists.
pub fn exists(id: i64) -> bool {
    id <= LAST_ID
}

/// The id of the next item created.
pub fn next_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One of the two measured routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/plugins/items/items/7`, answered `200`.
    Get,
    /// `POST /v1/plugins/items/items` with [`CREATE_BODY`], answered `201`.
    Create,
}

impl Route {
    /// The status a correct answer has.
    pub fn expected_status(self) -> u16 {
        match self {
            Route::Get => 200,
            Route::Create => 201,
        }
    }

    /// The request, with whatever body type the framework takes.
    pub fn request<B: From<&'static str>>(self) -> http::Request<B> {
        let builder = http::Request::builder();
        let built = match self {
            Route::Get => builder.uri(ITEM_7).body(B::from("")),
            Route::Create => builder
                .method(http::Method::POST)
                .uri(ITEMS)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::CONTENT_LENGTH, CREATE_BODY.len())
                .body(B::from(CREATE_BODY)),
        };
        built.expect("a fixed, valid request")
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Mode {
    /// `--addr 127.0.0.1:PORT`: serve until killed.
    Serve(SocketAddr),
    /// `--count get|create N`: answer N requests in process, for callgrind.
    Count { route: Route, requests: usize },
}

/// Reads the command line: `--addr ADDR` (default `127.0.0.1:3000`) or `--count ROUTE N`.
pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Mode::Serve(SocketAddr::from(([127, 0, 0, 1], 3000))),
        ["--addr", addr] => Mode::Serve(
            addr.parse()
                .unwrap_or_else(|e| usage(&format!("{addr}: {e}"))),
        ),
        ["--count", route, n] => Mode::Count {
            route: match *route {
                "get" => Route::Get,
                "create" => Route::Create,
                other => usage(&format!("no route {other:?}; get or create")),
            },
            requests: n.parse().unwrap_or_else(|e| usage(&format!("{n}: {e}"))),
        },
        _ => usage("unexpected arguments"),
    }
}

fn usage(why: &str) -> ! {
    eprintln!("{why}\nusage: peer [--addr 127.0.0.1:PORT | --count get|create N]");
    std::process::exit(2)
}

/// Answers `requests` requests in process through `call` (which sends one and gives its status),
/// after as many again to warm up, on a current-thread runtime. Only [`measured_batch`] runs
/// under callgrind's `--toggle-collect`, so the count divided by `requests` is what one request
/// costs the framework and the handler. Exits non-zero if any answer has the wrong status, so a
/// broken peer is never measured.
pub fn count<F, Fut>(route: Route, requests: usize, mut call: F)
where
    F: FnMut(Route) -> Fut,
    Fut: Future<Output = u16>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        for _ in 0..requests {
            check(route, call(route).await);
        }
    });
    let batch = async {
        for _ in 0..requests {
            check(route, call(route).await);
        }
    };
    measured_batch(&runtime, std::pin::pin!(batch));
}

/// The part of [`count`] that callgrind counts. Not generic and with no closure of its own, so
/// `--toggle-collect=*measured_batch*` matches this one function: entering another function of
/// that name would switch counting off again.
#[inline(never)]
pub fn measured_batch(
    runtime: &tokio::runtime::Runtime,
    batch: std::pin::Pin<&mut dyn Future<Output = ()>>,
) {
    runtime.block_on(batch);
}

fn check(route: Route, status: u16) {
    if status != route.expected_status() {
        eprintln!(
            "{route:?} answered {status}, not {}",
            route.expected_status()
        );
        std::process::exit(1);
    }
}
