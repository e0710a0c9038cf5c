//! The server's connections: one accept loop for HTTP and HTTPS, and one
//! function that serves a connection, within the budget of `web:`:
//!
//! - slots: at most `max-connections` open at once, and at most
//!   `max-connections-per-client` from one address; past either, a new
//!   connection gets a one-line 503 (plain HTTP) and is closed at once.
//!   The default total stays under half the open-file limit, so the server
//!   does not run out of files on its own. The socket holds the slot, so
//!   an upgraded websocket keeps it until it closes.
//! - accept errors (out of files, say) back off from 10 ms to 1 s, logged
//!   once per burst, with one line when accepting works again;
//! - TLS: the handshake within `handshake-timeout` (`tls`);
//! - HTTP/1.1 by hyper with a timer: each request's head within
//!   `header-timeout`, at most 16 KiB of it;
//! - a connection on which nothing has moved for `idle-timeout` while no
//!   request is being answered is closed: kept alive with nothing to ask,
//!   or not reading its answer;
//! - every request passes `guard` (Host, Origin), then carries its
//!   client's address (`ConnectInfo`) and the body budget (`body::Bodies`).
//!
//! HTTP/1 only: hyper-util's auto builder also takes HTTP/2 by prior
//! knowledge (and sniffs for it before any timer runs), where none of the
//! HTTP/1 timers apply.

use super::body::Bodies;
use super::guard::Names;
use super::tls;
use crate::config::{DEFAULT_MAX_CONNECTIONS, WebSettings};
use crate::text::for_log;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 << 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Refusals (of connections without a slot, of requests not for this
/// server) are logged at most this often, with how many there were.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);

/// What serving needs, shared by every connection.
pub struct Server {
    app: TowerToHyperService<Router>,
    tls: Option<TlsAcceptor>,
    names: Names,
    /// Requests refused by `names`, for the log.
    foreign: Mutex<Throttle>,
    bodies: Arc<Bodies>,
    slots: Arc<Slots>,
    http: hyper::server::conn::http1::Builder,
    handshake_timeout: Duration,
    idle_timeout: Duration,
}

impl Server {
    pub fn new(settings: &WebSettings, app: Router, tls: Option<TlsAcceptor>) -> Server {
        let (total, per_client) = connection_limits(settings);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout.0)
            .max_buf_size(MAX_HEAD);
        Server {
            app: TowerToHyperService::new(app),
            tls,
            names: Names::new(settings),
            foreign: Mutex::default(),
            bodies: Arc::new(Bodies::new(
                settings.max_bodies_in_flight.0,
                settings.body_timeout.0,
            )),
            slots: Arc::new(Slots {
                total,
                per_client,
                open: Mutex::default(),
            }),
            http,
            handshake_timeout: settings.handshake_timeout.0,
            idle_timeout: settings.idle_timeout.0,
        }
    }

    /// Connections at most: in total, and from one address.
    pub fn limits(&self) -> (usize, usize) {
        (self.slots.total, self.slots.per_client)
    }
}

/// `max-connections` and `max-connections-per-client` as they apply: the
/// default total is at most half the open-file limit.
fn connection_limits(settings: &WebSettings) -> (usize, usize) {
    let files = open_file_limit();
    let total = match settings.max_connections {
        Some(n) => {
            if let Some(files) = files
                && n as u64 >= files
            {
                tracing::warn!(
                    "web.max-connections is {n}, but the bot may open only {files} files: \
                     past them new connections wait (accepting backs off) until some close"
                );
            }
            n
        }
        None => {
            let half = files.map_or(usize::MAX, |f| usize::try_from(f / 2).unwrap_or(usize::MAX));
            DEFAULT_MAX_CONNECTIONS.min(half)
        }
    }
    .max(1);
    let per_client = settings
        .max_connections_per_client
        .unwrap_or(total.div_ceil(2))
        .max(1);
    (total, per_client)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (read && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Accepts connections until the task is dropped.
pub async fn run(listener: TcpListener, server: Arc<Server>) {
    let mut failures = AcceptFailures::default();
    let mut refusals = Throttle::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if lost_before_accept(&e) => {
                tracing::debug!("a connection was lost before it was accepted: {e}");
                continue;
            }
            Err(e) => {
                failures.back_off(&e).await;
                continue;
            }
        };
        failures.recovered();
        match server.slots.take(peer.ip()) {
            Ok(slot) => {
                tokio::spawn(serve(server.clone(), stream, peer, slot));
            }
            Err(full) => {
                if let Some(n) = refusals.due() {
                    tracing::warn!(
                        client = %peer.ip(),
                        "refusing connections: {full} ({n} refused since the last such line)"
                    );
                }
                refuse(stream, server.tls.is_none(), &full.to_string());
            }
        }
    }
}

/// Errors of one connection, not of the listener: no reason to wait.
fn lost_before_accept(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A burst of failed accepts: waits longer after each, logs the first.
#[derive(Default)]
struct AcceptFailures {
    failed: u64,
    since: Option<Instant>,
    delay: Duration,
}

impl AcceptFailures {
    async fn back_off(&mut self, e: &io::Error) {
        if self.failed == 0 {
            tracing::warn!(
                "accepting connections failed: {e}; retrying, backing off up to {MAX_BACKOFF:?} (logged once until it works again)"
            );
            self.since = Some(Instant::now());
            self.delay = FIRST_BACKOFF;
        }
        self.failed += 1;
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
    }

    fn recovered(&mut self) {
        if self.failed > 0 {
            let over = self.since.map(|t| t.elapsed()).unwrap_or_default();
            tracing::info!(
                "accepting connections again, after {} failed attempts over {over:.1?}",
                self.failed
            );
            self.failed = 0;
        }
    }
}

/// Refusals of one kind, logged now and then with a count, so a flood of
/// them is not a flood of log lines.
#[derive(Default)]
struct Throttle {
    logged: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Counts one; `Some(how many since the last line)` if a line is due.
    fn due(&mut self) -> Option<u64> {
        self.unlogged += 1;
        if self
            .logged
            .is_some_and(|t| t.elapsed() < REFUSALS_LOGGED_EVERY)
        {
            return None;
        }
        self.logged = Some(Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// A connection with no slot: a one-line 503 if it speaks plain HTTP (what
/// the socket takes at once, never waiting), then closed.
fn refuse(stream: TcpStream, plain: bool, why: &str) {
    if plain {
        // What already came is read, so closing sends a FIN, not a reset
        // that could overtake the answer.
        let _ = stream.try_read(&mut [0u8; 4096]);
        let body = format!("{why}\n");
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.try_write(response.as_bytes());
    }
}

/// Connections open, in total and by client address.
struct Slots {
    total: usize,
    per_client: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why a connection got no slot.
enum Full {
    Total(usize),
    Client(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Total(n) => write!(
                f,
                "the server has as many connections open as it may (web.max-connections: {n})"
            ),
            Full::Client(n) => write!(
                f,
                "too many connections from this address (web.max-connections-per-client: {n})"
            ),
        }
    }
}

/// One connection's place; given back when the socket is dropped.
struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
}

impl Slots {
    fn take(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Full> {
        let client = client.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total {
            return Err(Full::Total(self.total));
        }
        let mine = open.by_client.entry(client).or_default();
        if *mine >= self.per_client {
            return Err(Full::Client(self.per_client));
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            slots: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests
/// are being answered: what tells an idle connection.
struct Activity {
    born: Instant,
    last_ms: AtomicU64,
    answering: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            last_ms: AtomicU64::new(0),
            answering: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection is idle for `idle`; `None` while a request is
    /// being answered.
    fn idle_at(&self, idle: Duration) -> Option<Instant> {
        if self.answering.load(Ordering::Relaxed) > 0 {
            return None;
        }
        Some(self.born + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle)
    }
}

/// A request being answered, for as long as this lives.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        activity.answering.fetch_add(1, Ordering::Relaxed);
        Answering(activity.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The socket, noting when bytes move, and holding the connection's slot.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: Slot,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves one connection: TLS if configured, then HTTP.
async fn serve(server: Arc<Server>, stream: TcpStream, peer: SocketAddr, slot: Slot) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = Tracked {
        stream,
        activity: activity.clone(),
        _slot: slot,
    };
    match &server.tls {
        None => serve_http(&server, TokioIo::new(io), peer, &activity).await,
        Some(acceptor) => match tls::handshake(acceptor, io, server.handshake_timeout).await {
            Ok(stream) => serve_http(&server, TokioIo::new(stream), peer, &activity).await,
            Err(why) => tracing::debug!(%peer, "{why}"),
        },
    }
}

async fn serve_http<I>(server: &Arc<Server>, io: I, peer: SocketAddr, activity: &Arc<Activity>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = {
        let (server, activity) = (server.clone(), activity.clone());
        hyper::service::service_fn(move |request| {
            answer(server.clone(), activity.clone(), peer, request)
        })
    };
    let connection = server.http.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let idle = server.idle_timeout;
    loop {
        let check = activity
            .idle_at(idle)
            .unwrap_or_else(|| Instant::now() + idle);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, "a connection ended: {e}");
                }
                return;
            }
            () = tokio::time::sleep_until(check.into()) => {
                if activity.idle_at(idle).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection idle for {idle:?} (web.idle-timeout)");
                    return;
                }
            }
        }
    }
}

/// One request: refused if it is not for this server, else routed.
async fn answer(
    server: Arc<Server>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<axum::body::Body>, Infallible> {
    let _answering = Answering::start(&activity);
    if let Err(why) = server.names.check(request.headers()) {
        let due = server
            .foreign
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .due();
        if let Some(n) = due {
            tracing::warn!(
                client = %peer.ip(),
                "refused {} {}: {why} ({n} refused since the last such line)",
                request.method(),
                for_log(request.uri().path())
            );
        }
        let refusal = (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{why}\n"),
        );
        return Ok(refusal.into_response());
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    request.extensions_mut().insert(server.bodies.clone());
    hyper::service::Service::call(&server.app, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_in_total_and_per_client_and_given_back() {
        let slots = Arc::new(Slots {
            total: 3,
            per_client: 2,
            open: Mutex::default(),
        });
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "::ffff:127.0.0.3".parse().unwrap();
        let first = slots.take(a).ok().unwrap();
        let _second = slots.take(a).ok().unwrap();
        assert!(matches!(slots.take(a), Err(Full::Client(2))));
        let third = slots.take(b).ok().unwrap();
        assert_eq!(third.client, "127.0.0.3".parse::<IpAddr>().unwrap());
        assert!(matches!(slots.take(b), Err(Full::Total(3))));
        drop(first);
        assert!(slots.take(b).is_ok());
        drop(third);
        assert_eq!(slots.open.lock().unwrap().by_client.len(), 1);
    }

    #[test]
    fn a_flood_of_refusals_is_logged_once_with_a_count() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.due(), Some(1));
        for _ in 0..1000 {
            assert_eq!(throttle.due(), None);
        }
        throttle.logged = Some(Instant::now() - REFUSALS_LOGGED_EVERY);
        assert_eq!(throttle.due(), Some(1001));
    }

    #[test]
    fn the_default_total_stays_under_the_open_file_limit() {
        let files = open_file_limit().unwrap();
        let (total, per_client) = connection_limits(&WebSettings::default());
        assert!(total as u64 <= files / 2 && total <= DEFAULT_MAX_CONNECTIONS);
        assert_eq!(per_client, total.div_ceil(2));
        let set = WebSettings {
            max_connections: Some(10),
            max_connections_per_client: Some(3),
            ..WebSettings::default()
        };
        assert_eq!(connection_limits(&set), (10, 3));
    }
}
