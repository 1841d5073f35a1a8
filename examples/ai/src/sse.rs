//! Reading server-sent events from a byte stream, as a provider sends them: events end at a
//! blank line (`\n\n` or `\r\n\r\n`), their `data:` lines are joined with `\n`, comments and other
//! fields are skipped. Bytes may split an event (or a UTF-8 character) anywhere.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// The events of a byte stream.
#[derive(Debug)]
pub struct SseLines<S> {
    bytes: S,
    buffer: BytesMut,
    ended: bool,
}

impl<S: Stream<Item = Result<Bytes, String>> + Unpin> SseLines<S> {
    /// Reads events from `bytes`.
    pub fn new(bytes: S) -> Self {
        SseLines {
            bytes,
            buffer: BytesMut::new(),
            ended: false,
        }
    }

    /// The data of the next event that has some; `None` when the bytes end (an unfinished event
    /// at the end is dropped, as the protocol says).
    ///
    /// # Errors
    /// The byte stream failing, or an event that is not UTF-8.
    pub async fn next_data(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(event) = self.take_event() {
                let text =
                    std::str::from_utf8(&event).map_err(|_| "an event is not UTF-8".to_owned())?;
                let mut data: Option<String> = None;
                for line in text.lines() {
                    let value = match line.strip_prefix("data:") {
                        Some(v) => v.strip_prefix(' ').unwrap_or(v),
                        None => continue,
                    };
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => data = Some(value.to_owned()),
                    }
                }
                match data {
                    Some(d) => return Ok(Some(d)),
                    None => continue,
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.bytes.next().await {
                Some(Ok(b)) => self.buffer.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => self.ended = true,
            }
        }
    }

    /// One whole event from the buffer, without its blank line.
    fn take_event(&mut self) -> Option<Bytes> {
        let b = &self.buffer[..];
        let (end, sep) = (0..b.len()).find_map(|i| {
            if b[i..].starts_with(b"\r\n\r\n") {
                Some((i, 4))
            } else if b[i..].starts_with(b"\n\n") {
                Some((i, 2))
            } else {
                None
            }
        })?;
        let event = self.buffer.split_to(end).freeze();
        self.buffer.advance(sep);
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, at: usize) -> SseLines<impl Stream<Item = Result<Bytes, String>> + Unpin> {
        let pieces: Vec<Result<Bytes, String>> = text
            .as_bytes()
            .chunks(at)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        SseLines::new(futures_util::stream::iter(pieces))
    }

    #[tokio::test]
    async fn events_survive_any_split() {
        let text = ": comment\n\ndata: {\"a\":1}\n\nevent: x\r\ndata: two\r\ndata: lines\r\n\r\ndata: é\n\ndata: cut";
        for at in 1..text.len() {
            let mut events = split(text, at);
            assert_eq!(
                events.next_data().await.unwrap().as_deref(),
                Some("{\"a\":1}")
            );
            assert_eq!(
                events.next_data().await.unwrap().as_deref(),
                Some("two\nlines")
            );
            assert_eq!(events.next_data().await.unwrap().as_deref(), Some("é"));
            assert_eq!(events.next_data().await.unwrap(), None, "split at {at}");
        }
    }
}
