//! What a generated client method runs: its output read by the output's kind, its error sorted
//! into the route's enum.

use super::{Answer, Call, Client, Events, InvalidInput, Refusal, Transport, Unexpected};
use crate::request::{Binary, Conditional, EventStream, Html, RawJson, StreamEvent, WithHeaders};
use serde::de::DeserializeOwned;

/// A route's error enum, generated next to the route: one variant per declared code, one per
/// framework code the route can answer, `Unexpected` and `Transport`.
pub trait RouteErrors: Sized {
    /// The variant for a refusal the server sent; `Unexpected` for one the route does not allow.
    fn from_refusal(refusal: Refusal) -> Self;
    /// `Unexpected`.
    fn unexpected(u: Unexpected) -> Self;
    /// `Transport`.
    fn transport(t: Transport) -> Self;
    /// `InvalidInput`, for an input refused before it was sent (only routes with an input have
    /// the variant; the others never call this).
    fn invalid_input(i: InvalidInput) -> Self;
}

/// How a route's success body is read.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the output of a route of a plugin with a `client`, so it must derive `Deserialize` as well as `Serialize`",
    label = "add `Deserialize` to the derives of `{Self}`"
)]
pub trait ClientOutput {
    /// What the method answers.
    type Received;

    /// Reads a success answer.
    fn read(answer: Answer) -> impl Future<Output = Result<Self::Received, Failure>> + Send;
}

/// Why a success answer could not be read.
#[doc(hidden)]
#[derive(Debug)]
pub enum Failure {
    Transport(Transport),
    Unexpected(Unexpected),
}

async fn whole(answer: Answer) -> Result<(u16, bytes::Bytes), Failure> {
    let status = answer.status;
    let bytes = answer.bytes().await.map_err(Failure::Transport)?;
    Ok((status, bytes))
}

fn not_output(status: u16, bytes: &[u8], why: String) -> Failure {
    Failure::Unexpected(Unexpected {
        status,
        body: String::from_utf8_lossy(bytes).into_owned(),
        why,
    })
}

impl<T: DeserializeOwned + serde::Serialize + schemars::JsonSchema + Send + 'static> ClientOutput
    for T
{
    type Received = T;

    async fn read(answer: Answer) -> Result<T, Failure> {
        let (status, bytes) = whole(answer).await?;
        // A `204` has no body: its output is `()`, read from JSON's `null`.
        let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(text).map_err(|e| {
            not_output(
                status,
                &bytes,
                format!("the body is not the route's output ({e})"),
            )
        })
    }
}

impl ClientOutput for Html {
    type Received = String;

    async fn read(answer: Answer) -> Result<String, Failure> {
        let (_, bytes) = whole(answer).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl ClientOutput for Binary {
    /// The body and its media type.
    type Received = (bytes::Bytes, String);

    async fn read(answer: Answer) -> Result<Self::Received, Failure> {
        let media = answer
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let (_, bytes) = whole(answer).await?;
        Ok((bytes, media))
    }
}

impl ClientOutput for RawJson {
    type Received = serde_json::Value;

    async fn read(answer: Answer) -> Result<serde_json::Value, Failure> {
        let (status, bytes) = whole(answer).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| not_output(status, &bytes, format!("the body is not JSON ({e})")))
    }
}

impl<T: ClientOutput + Send> ClientOutput for Conditional<T> {
    type Received = T::Received;

    fn read(answer: Answer) -> impl Future<Output = Result<Self::Received, Failure>> + Send {
        T::read(answer)
    }
}

impl<T: ClientOutput + Send> ClientOutput for WithHeaders<T> {
    type Received = T::Received;

    fn read(answer: Answer) -> impl Future<Output = Result<Self::Received, Failure>> + Send {
        T::read(answer)
    }
}

impl<T: StreamEvent + DeserializeOwned> ClientOutput for EventStream<T> {
    /// The events as they arrive.
    type Received = Events<T>;

    async fn read(answer: Answer) -> Result<Events<T>, Failure> {
        Ok(Events::new(answer.body))
    }
}

/// Sends `call` and sorts the answer into `O`'s value or one of `E`'s variants.
#[doc(hidden)]
pub async fn call<O: ClientOutput, E: RouteErrors>(
    client: &Client,
    call: Call<'_>,
) -> Result<O::Received, E> {
    let expected = call.route.status;
    let answer = client.send(call).await.map_err(E::transport)?;
    if answer.status == expected {
        return O::read(answer).await.map_err(|f| match f {
            Failure::Transport(t) => E::transport(t),
            Failure::Unexpected(u) => E::unexpected(u),
        });
    }
    let status = answer.status;
    match answer.refusal().await {
        Err(t) => Err(E::transport(t)),
        Ok(Err(mut u)) => {
            if (200..300).contains(&status) {
                u.why = format!("the route answers {expected}, not {status}");
            }
            Err(E::unexpected(u))
        }
        Ok(Ok(refusal)) => Err(E::from_refusal(refusal)),
    }
}
