//! Outbound HTTP (`wasi:http/outgoing-handler`) under the skill's grants:
//! every request is checked against `allow.http`, every address its host
//! resolves to against the internal-address rule, and the response body is
//! cut off at `limits.http-response-size`. `describe` makes no requests: it
//! runs at load, before anyone asked for anything.

use crate::outbound::{self, Grant, OutboundPolicy, Target, Unreachable};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What one skill's outbound HTTP may do: set at load from its grants and
/// limits, shared by all its events.
pub struct HttpGrant {
    /// The skill's name, for the log.
    pub name: String,
    /// `allow.http`: the hosts it may call.
    pub hosts: OutboundPolicy,
    /// The event's time budget: no wait of a request is longer.
    pub budget: Duration,
    /// `limits.http-response-size`.
    pub response_size: u64,
}

impl HttpGrant {
    /// A component that imports `wasi:http` needs hosts to call: refused
    /// at load otherwise (the configuration, not the file, decides). Returns
    /// the import refused.
    pub fn refuses_import<'a>(&self, import: &'a str) -> Option<&'a str> {
        (import.starts_with("wasi:http/") && self.hosts.is_empty()).then_some(import)
    }
}

pub struct HttpHooks {
    skill: Arc<HttpGrant>,
    describing: bool,
    /// Requests refused, for the execution record.
    denials: Arc<Mutex<Vec<String>>>,
}

impl HttpHooks {
    /// `describing`: the store runs `describe`, which may make no request.
    pub fn new(skill: Arc<HttpGrant>, describing: bool) -> Self {
        HttpHooks {
            skill,
            describing,
            denials: Arc::default(),
        }
    }

    pub fn take_denials(&self) -> Vec<String> {
        std::mem::take(&mut *self.denials.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        let (skill, denials) = (self.skill.clone(), self.denials.clone());
        if self.describing {
            tracing::warn!(skill = %skill.name, "outbound HTTP denied: `describe` may not make requests");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move { send(&skill, &denials, request, options).await })
    }
}

async fn send(
    skill: &HttpGrant,
    denials: &Mutex<Vec<String>>,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let deny = |why: &dyn std::fmt::Display| {
        tracing::warn!(skill = %skill.name, "outbound HTTP denied: {why}");
        denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("outbound HTTP: {why}"));
    };
    let target = Target::from_uri(request.uri()).ok_or(Error::HttpRequestUriInvalid)?;
    let grant = skill.hosts.check(&target).map_err(|e| {
        deny(&e);
        Error::HttpRequestDenied
    })?;

    let addrs = outbound::resolve(grant, &target)
        .await
        .map_err(|e| match e {
            Unreachable::DnsTimeout(_) => Error::DnsTimeout,
            Unreachable::NotFound { .. } | Unreachable::NoAddress(_) => Error::DestinationNotFound,
            Unreachable::Denied(e) => {
                deny(&e);
                Error::DestinationIpProhibited
            }
        })?;
    let first = addrs[0];
    // Plain HTTP connects to the address just checked, so a second lookup
    // cannot answer differently (DNS rebinding). HTTPS keeps the name for
    // certificate checks, and a rebound name fails them.
    if target.scheme == "http" && grant == Grant::PublicOnly {
        pin_address(&mut request, first)?;
    }

    let options = cap_timeouts(options, skill.budget);
    let cap = skill.response_size;
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        tracing::warn!(skill = %skill.name, url = %target, "HTTP response of {} bytes is over the skill's limit of {cap}", declared.unwrap_or(0));
        return Err(Error::HttpResponseBodySize(declared));
    }
    let response = response.map(|body| {
        CappedBody {
            body: body.boxed_unsync(),
            left: cap,
            cap,
        }
        .boxed_unsync()
    });
    Ok((response, Box::new(io)))
}

fn pin_address(request: &mut http::Request<WasiBody>, addr: SocketAddr) -> Result<(), Error> {
    let uri = request.uri();
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(
        addr.to_string()
            .parse()
            .map_err(|_| Error::HttpRequestUriInvalid)?,
    );
    *request.uri_mut() = http::Uri::from_parts(parts).map_err(|_| Error::HttpRequestUriInvalid)?;
    Ok(())
}

/// No wait longer than the event's whole budget.
fn cap_timeouts(options: Option<RequestOptions>, budget: Duration) -> RequestOptions {
    let o = options.unwrap_or_default();
    let cap = |d: Option<Duration>| Some(d.map_or(budget, |d| d.min(budget)));
    RequestOptions {
        connect_timeout: cap(o.connect_timeout),
        first_byte_timeout: cap(o.first_byte_timeout),
        between_bytes_timeout: cap(o.between_bytes_timeout),
    }
}

/// A response body that fails once more than `cap` bytes have come.
struct CappedBody<B> {
    body: B,
    left: u64,
    cap: u64,
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.body).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let n = data.len() as u64;
            if n > self.left {
                let cap = self.cap;
                self.left = 0;
                return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(cap)))));
            }
            self.left -= n;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}
