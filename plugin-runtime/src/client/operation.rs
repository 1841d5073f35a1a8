//! An operation started through a typed client: the method of a route declared `operation`
//! answers a [`Pending`] once the server accepted it, which reads the operation, waits for its
//! end (reporting progress, reconnecting after `Last-Event-ID`) or cancels it. A client that
//! went away comes back with [`Pending::resume`] and the operation's `Location`.

use super::events::Frames;
use super::{Answer, Call, Client, ErrorBody, Refusal, RouteErrors, Transport, Unexpected};
use crate::declare::{Operation, OperationState, Progress};
use http::{HeaderValue, header};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

/// How many times in a row [`Pending::wait`] joins again a stream that broke (or a server
/// that did not answer) before the end: with the waits between, about two minutes.
const RECONNECTS: u32 = 30;

/// An operation the server accepted: `T` is its route's result, `E` its route's errors.
pub struct Pending<T, E> {
    client: Client,
    location: String,
    id: String,
    _types: PhantomData<fn() -> (T, E)>,
}

impl<T, E> std::fmt::Debug for Pending<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl<T, E> Clone for Pending<T, E> {
    fn clone(&self) -> Self {
        Pending {
            client: self.client.clone(),
            location: self.location.clone(),
            id: self.id.clone(),
            _types: PhantomData,
        }
    }
}

/// Starts the operation of a route declared `operation`: `202 Accepted` gives its `Location`.
#[doc(hidden)]
pub async fn start<T: DeserializeOwned, E: RouteErrors>(
    client: &Client,
    call: Call<'_>,
) -> Result<Pending<T, E>, E> {
    let answer = client.send(call).await.map_err(E::transport)?;
    if answer.status != 202 {
        return Err(refused(answer).await);
    }
    let location = answer
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = answer.status;
    let bytes = answer.bytes().await.map_err(E::transport)?;
    let Some(location) = location else {
        return Err(E::unexpected(Unexpected {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            why: "a 202 without `Location`".to_owned(),
        }));
    };
    Ok(Pending::resume(client, location))
}

/// A refusal sorted into `E`.
async fn refused<E: RouteErrors>(answer: Answer) -> E {
    match answer.refusal().await {
        Err(t) => E::transport(t),
        Ok(Err(u)) => E::unexpected(u),
        Ok(Ok(r)) => E::from_refusal(r),
    }
}

impl<T: DeserializeOwned, E: RouteErrors> Pending<T, E> {
    /// The operation at `location` (its `Location`, `/v1/plugins/.../operations/<id>`), read
    /// through `client`: how a client that went away comes back to it.
    pub fn resume(client: &Client, location: impl Into<String>) -> Self {
        let location = location.into();
        let id = location.rsplit('/').next().unwrap_or_default().to_owned();
        Pending {
            client: client.clone(),
            location,
            id,
            _types: PhantomData,
        }
    }

    /// Its URL's path, to keep and [`resume`](Pending::resume) from.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The operation as it stands.
    ///
    /// # Errors
    /// The route's errors of reading it (`NOT_FOUND` once deleted, or for another caller).
    pub async fn status(&self) -> Result<Operation<T>, E> {
        self.exchange(http::Method::GET, "").await
    }

    /// Asks it to stop: the operation as it stands then, `cancel_requested` set.
    ///
    /// # Errors
    /// As [`status`](Pending::status).
    pub async fn cancel(&self) -> Result<Operation<T>, E> {
        self.exchange(http::Method::POST, "/cancel").await
    }

    /// Waits for its end: its result, or the error its route would have answered (a cancelled
    /// operation is `E`'s `Cancelled`).
    ///
    /// # Errors
    /// The route's errors.
    pub async fn wait(self) -> Result<T, E> {
        self.wait_with(|_| {}).await
    }

    /// Waits for its end, giving each progress report to `progress` as it comes, in order.
    /// A stream that breaks is joined again where it broke.
    ///
    /// # Errors
    /// The route's errors.
    pub async fn wait_with(self, mut progress: impl FnMut(&Progress)) -> Result<T, E> {
        let mut last: Option<String> = None;
        let mut broken: u32 = 0;
        loop {
            let mut headers = Vec::new();
            if let Some(id) = &last
                && let Ok(v) = HeaderValue::from_str(id)
            {
                headers.push((http::HeaderName::from_static("last-event-id"), v));
            }
            let path = format!("{}/events", self.location);
            let why = match self
                .client
                .to_path(http::Method::GET, &path, &headers)
                .await
            {
                // No server, or none that can answer now (a deploy, a proxy without upstream):
                // joined again, as a broken stream is.
                Err(t) => t.0,
                Ok(answer) if answer.status >= 500 => {
                    format!("the server answered {}", answer.status)
                }
                Ok(answer) if answer.status != 200 => return Err(refused(answer).await),
                Ok(answer) => {
                    let mut frames = Frames::new(answer.body);
                    loop {
                        match frames.next().await {
                            None => break "the stream ended before the operation did".to_owned(),
                            Some(Err(t)) => break t.0,
                            Some(Ok(event)) if event.name == "progress" => {
                                if let Ok(p) = serde_json::from_str::<Progress>(&event.data) {
                                    progress(&p);
                                }
                                last = event.id;
                                // It moves: only breaks in a row count against it.
                                broken = 0;
                            }
                            Some(Ok(event)) => {
                                return match serde_json::from_str::<Operation<T>>(&event.data) {
                                    Ok(op) => ended(op),
                                    Err(e) => Err(E::unexpected(Unexpected {
                                        status: 200,
                                        body: event.data,
                                        why: format!("the end is not the operation ({e})"),
                                    })),
                                };
                            }
                        }
                    }
                }
            };
            broken += 1;
            if broken > RECONNECTS {
                return Err(E::transport(Transport(why)));
            }
            tokio::time::sleep((Duration::from_millis(250) * broken).min(Duration::from_secs(5)))
                .await;
        }
    }

    async fn exchange(&self, method: http::Method, suffix: &str) -> Result<Operation<T>, E> {
        let path = format!("{}{suffix}", self.location);
        let answer = self
            .client
            .to_path(method, &path, &[])
            .await
            .map_err(E::transport)?;
        if !matches!(answer.status, 200 | 202) {
            return Err(refused(answer).await);
        }
        let status = answer.status;
        let bytes = answer.bytes().await.map_err(E::transport)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            E::unexpected(Unexpected {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
                why: format!("the body is not the operation ({e})"),
            })
        })
    }
}

/// The result of an operation that ended, or its error sorted into `E`.
fn ended<T: DeserializeOwned, E: RouteErrors>(op: Operation<T>) -> Result<T, E> {
    let status = op.status.unwrap_or(0);
    match (op.state, op.result) {
        (OperationState::Succeeded, Some(result)) => Ok(result),
        // A route answering `()` stores `null`, read back as no result.
        (OperationState::Succeeded, None) => serde_json::from_value(serde_json::Value::Null)
            .map_err(|e| {
                E::unexpected(Unexpected {
                    status,
                    body: String::new(),
                    why: format!("it succeeded without a result ({e})"),
                })
            }),
        _ => {
            let raw = op.error.clone().unwrap_or_default();
            match serde_json::from_value::<ErrorBody>(raw.clone()) {
                Ok(error) => Err(E::from_refusal(Refusal {
                    status,
                    error,
                    retry_after: None,
                    raw: raw.to_string(),
                })),
                Err(e) => Err(E::unexpected(Unexpected {
                    status,
                    body: raw.to_string(),
                    why: format!("it ended without an error object ({e})"),
                })),
            }
        }
    }
}
