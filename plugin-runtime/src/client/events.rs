//! A streamed route's events, read as they arrive: each `data:` event is one item, an
//! `event: error` ends the stream with the envelope's error object, comments (`: keep-alive`)
//! are skipped.

use super::{ErrorBody, Transport};
use bytes::{Buf, BytesMut};
use futures_core::Stream;
use http_body::Body;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Why a stream ended early.
#[derive(Clone, Debug, PartialEq)]
pub enum EventError {
    /// The server ended it with an error event: the envelope's `error` object.
    Refused(ErrorBody),
    /// An event whose data is not the route's event type.
    Malformed(String),
    /// The connection broke.
    Transport(Transport),
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::Refused(e) => write!(f, "{}: {}", e.code, e.message),
            EventError::Malformed(why) => write!(f, "a malformed event: {why}"),
            EventError::Transport(t) => t.fmt(f),
        }
    }
}

impl std::error::Error for EventError {}

/// The events of a streamed route, typed; ends after an error.
pub struct Events<T> {
    frames: Frames,
    done: bool,
    _event: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Events<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("done", &self.done).finish()
    }
}

impl<T> Events<T> {
    pub(crate) fn new(body: super::ClientBody) -> Self {
        Events {
            frames: Frames::new(body),
            done: false,
            _event: PhantomData,
        }
    }
}

/// One event as sent: its name (`message` when it has none), its `id`, its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

/// The events of a body, untyped, as they arrive.
pub(crate) struct Frames {
    body: super::ClientBody,
    buffer: BytesMut,
    ended: bool,
}

impl Frames {
    pub(crate) fn new(body: super::ClientBody) -> Self {
        Frames {
            body,
            buffer: BytesMut::new(),
            ended: false,
        }
    }

    /// The next whole event; `None` once the body ends.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event, Transport>>> {
        loop {
            if let Some(event) = next_event(&mut self.buffer) {
                return Poll::Ready(Some(Ok(event)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.ended = true,
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(Transport(e.to_string()))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        // Line breaks are normalized so that `\r\n` framing splits the same.
                        let text = data.iter().filter(|b| **b != b'\r').copied();
                        self.buffer.extend(text);
                    }
                }
            }
        }
    }

    /// The next whole event; `None` once the body ends.
    pub(crate) async fn next(&mut self) -> Option<Result<Event, Transport>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }
}

/// Every whole event in `bytes` (for the fuzz target).
#[cfg(fuzzing)]
pub(crate) fn split_events(bytes: &[u8]) -> Vec<(String, String)> {
    let mut buffer = BytesMut::from(bytes);
    std::iter::from_fn(|| next_event(&mut buffer))
        .map(|e| (e.name, e.data))
        .collect()
}

/// One whole event from the front of `buffer`.
fn next_event(buffer: &mut BytesMut) -> Option<Event> {
    loop {
        let end = buffer.windows(2).position(|w| w == b"\n\n")?;
        let block = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.advance(end + 2);
        let (mut name, mut id, mut data) = (String::from("message"), None, Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                v.trim().clone_into(&mut name);
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if !data.is_empty() {
            return Some(Event {
                name,
                id,
                data: data.join("\n"),
            });
        }
        // A comment or a keep-alive: nothing to hand out.
    }
}

impl<T: DeserializeOwned> Stream for Events<T> {
    type Item = Result<T, EventError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let event = match this.frames.poll_event(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(t))) => {
                this.done = true;
                return Poll::Ready(Some(Err(EventError::Transport(t))));
            }
            Poll::Ready(Some(Ok(event))) => event,
        };
        let item = if event.name == "error" {
            this.done = true;
            match serde_json::from_str::<ErrorBody>(&event.data) {
                Ok(e) => Err(EventError::Refused(e)),
                Err(e) => Err(EventError::Malformed(format!("an error event ({e})"))),
            }
        } else {
            serde_json::from_str(&event.data).map_err(|e| {
                this.done = true;
                EventError::Malformed(e.to_string())
            })
        };
        Poll::Ready(Some(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_and_comments_skipped() {
        let mut b = BytesMut::from(
            &b": keep-alive\n\ndata: {\"a\":1}\n\nevent: error\ndata: {}\n\nid: 7\nevent: progress\ndata: {}\n\ndata: par"[..],
        );
        let event = |name: &str, id: Option<&str>, data: &str| Event {
            name: name.into(),
            id: id.map(Into::into),
            data: data.into(),
        };
        assert_eq!(
            next_event(&mut b),
            Some(event("message", None, "{\"a\":1}"))
        );
        assert_eq!(next_event(&mut b), Some(event("error", None, "{}")));
        assert_eq!(next_event(&mut b), Some(event("progress", Some("7"), "{}")));
        assert_eq!(next_event(&mut b), None);
        assert_eq!(&b[..], b"data: par");
    }
}
