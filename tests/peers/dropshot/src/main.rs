//! The two routes with dropshot. Its error body is its own (`request_id`, `error_code`,
//! `message`) and it has no validation attributes, so garde is called by hand. It serves over
//! sockets only, so it has no in-process count.

use dropshot::{
    ApiDescription, ClientErrorStatusCode, ConfigDropshot, HttpError, HttpResponseCreated,
    HttpResponseOk, Path, RequestContext, ServerBuilder, TypedBody, endpoint,
};
use garde::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    #[schemars(length(min = 1, max = 100))]
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

#[derive(Deserialize, JsonSchema)]
struct ItemPath {
    id: i64,
}

/// Create an item.
#[endpoint { method = POST, path = "/v1/plugins/items/items" }]
async fn create_item(
    _ctx: RequestContext<()>,
    body: TypedBody<CreateItem>,
) -> Result<HttpResponseCreated<Item>, HttpError> {
    let input = body.into_inner();
    if let Err(report) = input.validate() {
        return Err(HttpError::for_bad_request(
            Some("INVALID_INPUT".to_owned()),
            report.to_string(),
        ));
    }
    if input.name == peers::TAKEN {
        return Err(HttpError::for_client_error(
            Some("ITEM_EXISTS".to_owned()),
            ClientErrorStatusCode::CONFLICT,
            "an item with this name exists".to_owned(),
        ));
    }
    Ok(HttpResponseCreated(Item {
        id: peers::next_id(),
        name: input.name,
        status: input.status,
    }))
}

/// Get one item.
#[endpoint { method = GET, path = "/v1/plugins/items/items/{id}" }]
async fn get_item(
    _ctx: RequestContext<()>,
    path: Path<ItemPath>,
) -> Result<HttpResponseOk<Item>, HttpError> {
    let id = path.into_inner().id;
    if !peers::exists(id) {
        return Err(HttpError::for_client_error(
            Some("ITEM_NOT_FOUND".to_owned()),
            ClientErrorStatusCode::NOT_FOUND,
            format!("no item has id {id}"),
        ));
    }
    Ok(HttpResponseOk(Item {
        id,
        name: peers::FOUND_NAME.to_owned(),
        status: Status::Active,
    }))
}

fn main() {
    let addr = match peers::mode() {
        peers::Mode::Serve(addr) => addr,
        peers::Mode::Count { .. } => {
            eprintln!("dropshot serves over sockets only: no in-process count");
            std::process::exit(3);
        }
    };
    let mut api = ApiDescription::new();
    api.register(create_item).expect("create_item registers");
    api.register(get_item).expect("get_item registers");
    // A logger that keeps nothing, as the other peers log nothing per request.
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let config = ConfigDropshot {
        bind_address: addr,
        // The other peers take bodies up to at least 1 MiB; dropshot's default is 1 KiB.
        default_request_body_max_bytes: 1024 * 1024,
        ..ConfigDropshot::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let server = ServerBuilder::new(api, (), log)
            .config(config)
            .start()
            .expect("start");
        server.await.expect("serve");
    });
}
