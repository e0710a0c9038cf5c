//! Request bodies: read into a bounded buffer, within the server's budget
//! of body bytes held at once (`web.max-bodies-in-flight`, all requests
//! together) and `web.body-timeout`. A body that does not fit the budget
//! is refused (503) rather than waited for, so what many clients send at
//! once, before any of them has proved a secret, costs bounded memory. The
//! budget is taken as bytes arrive and given back when the request's
//! handler drops what it read.

use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The server's budget, shared by every request (a request extension,
/// put there by `server`).
pub struct Bodies {
    budget: Arc<Semaphore>,
    timeout: Duration,
}

/// A body read whole, and its share of the budget.
pub struct Read {
    pub bytes: bytes::Bytes,
    pub held: Held,
}

/// A body's share of the budget, given back when dropped: kept for as long
/// as the body's bytes are.
pub struct Held {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// Over the route's cap, by its `Content-Length` or as it came.
    TooLarge,
    /// The server holds as many body bytes as it may.
    Busy,
    /// It did not arrive within `web.body-timeout`.
    TimedOut,
    /// The connection failed or the body was malformed.
    Broken,
}

impl Bodies {
    pub fn new(budget: u64, timeout: Duration) -> Bodies {
        let permits = usize::try_from(budget)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Bodies {
            budget: Arc::new(Semaphore::new(permits)),
            timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Bytes of the budget not in use now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }

    /// Reads `body` whole, at most `max` bytes: a bigger `Content-Length`
    /// is refused before reading, a body that turns out bigger stops
    /// being read.
    pub async fn read(
        &self,
        body: axum::body::Body,
        headers: &HeaderMap,
        max: u64,
    ) -> Result<Read, Unread> {
        let declared = declared_length(headers);
        if declared.is_some_and(|n| n > max) {
            return Err(Unread::TooLarge);
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let reading = async {
            let mut body = body;
            // Sized by what was declared (within the cap): no regrowth. A
            // declared length costs nothing until bytes fill it.
            let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(max));
            let mut held: Option<OwnedSemaphorePermit> = None;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Unread::Broken)?;
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                if bytes.len() + data.len() > max {
                    return Err(Unread::TooLarge);
                }
                if data.is_empty() {
                    continue;
                }
                let n = u32::try_from(data.len()).map_err(|_| Unread::TooLarge)?;
                let permit = self
                    .budget
                    .clone()
                    .try_acquire_many_owned(n)
                    .map_err(|_| Unread::Busy)?;
                match held.as_mut() {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
                bytes.extend_from_slice(&data);
            }
            Ok(Read {
                bytes: bytes.into(),
                held: Held { _permit: held },
            })
        };
        tokio::time::timeout(self.timeout, reading)
            .await
            .unwrap_or(Err(Unread::TimedOut))
    }
}

/// The `Content-Length` a request declares, if it is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_take_their_bytes_from_the_budget_and_give_them_back() {
        let bodies = Bodies::new(10, Duration::from_secs(5));
        let none = HeaderMap::new();
        let first = bodies
            .read(axum::body::Body::from("123456"), &none, 100)
            .await
            .unwrap();
        assert_eq!(&first.bytes[..], b"123456");
        assert_eq!(bodies.available(), 4);
        let refused = bodies
            .read(axum::body::Body::from("12345"), &none, 100)
            .await;
        assert_eq!(refused.err(), Some(Unread::Busy));
        assert_eq!(bodies.available(), 4, "a refused body holds nothing");
        drop(first);
        assert_eq!(bodies.available(), 10);
        let over = bodies.read(axum::body::Body::from("123"), &none, 2).await;
        assert_eq!(over.err(), Some(Unread::TooLarge));
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
        let over = bodies
            .read(axum::body::Body::from("1"), &declared, 100)
            .await;
        assert_eq!(over.err(), Some(Unread::TooLarge));
    }

    #[tokio::test]
    async fn a_body_that_does_not_come_times_out() {
        let bodies = Bodies::new(10, Duration::from_millis(50));
        let (_tx, rx) = futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        let body = axum::body::Body::from_stream(rx);
        let read = bodies.read(body, &HeaderMap::new(), 100).await;
        assert_eq!(read.err(), Some(Unread::TimedOut));
    }
}
