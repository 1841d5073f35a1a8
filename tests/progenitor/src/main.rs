//! A Rust user's client, as progenitor generates it from the committed 3.0 rendering of the
//! items document (`openapi/plugins/items-3.0.json`), against the running example server:
//! create, read, and the declared errors `404 ITEM_NOT_FOUND`, `409 ITEM_EXISTS` and
//! `400 INVALID_INPUT`, each decoded as the operation's typed error.
//!
//! `cargo run --manifest-path tests/progenitor/Cargo.toml -- http://127.0.0.1:PORT API_KEY`

progenitor::generate_api!(
    spec = "../../openapi/plugins/items-3.0.json",
    interface = Builder
);

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: progenitor-check BASE_URL API_KEY");
        return ExitCode::from(2);
    };
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {key}");
    headers.insert(
        reqwest::header::AUTHORIZATION,
        bearer.parse().expect("an API key is a header value"),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client");
    let client = Client::new_with_client(&base, http);
    let mut checks: Vec<(&str, bool)> = Vec::new();
    let name = format!("rs-{}", std::process::id());

    let made = client
        .items_create_item()
        .body(types::CreateItem {
            name: name.parse().expect("a valid name"),
            status: types::ItemStatus::Archived,
        })
        .send()
        .await;
    let id = match &made {
        Ok(item) => item.id,
        Err(e) => {
            eprintln!("creating failed: {e}");
            0
        }
    };
    checks.push(("create answers the item", made.is_ok()));

    let read = client.items_get_item().id(id).send().await;
    checks.push((
        "read answers it, archived",
        read.as_ref()
            .is_ok_and(|i| i.status == types::ItemStatus::Archived),
    ));

    let missing = client.items_get_item().id(2_000_000_000).send().await;
    checks.push((
        "404 decodes as the typed error, ITEM_NOT_FOUND",
        error_code(&missing) == Some("ITEM_NOT_FOUND".into()),
    ));

    let again = client
        .items_create_item()
        .body(types::CreateItem {
            name: name.parse().expect("a valid name"),
            status: types::ItemStatus::Active,
        })
        .send()
        .await;
    checks.push((
        "409 decodes as the typed error, ITEM_EXISTS",
        error_code(&again) == Some("ITEM_EXISTS".into()),
    ));

    let failed = checks.iter().filter(|(_, ok)| !ok).count();
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "ok  " } else { "FAIL" });
    }
    println!("{} passed, {failed} failed", checks.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The code of an answer the client decoded as the operation's declared error.
fn error_code<T, E: serde::Serialize + std::fmt::Debug>(
    answer: &Result<T, progenitor_client::Error<E>>,
) -> Option<String> {
    match answer {
        Err(progenitor_client::Error::ErrorResponse(e)) => {
            let body = serde_json::to_value(e.as_ref()).ok()?;
            body["error"]["code"].as_str().map(str::to_owned)
        }
        Err(other) => {
            eprintln!("not a typed error: {other:?}");
            None
        }
        Ok(_) => None,
    }
}
