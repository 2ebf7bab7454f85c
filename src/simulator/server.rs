//! The HTTP side: a listener whose connections can be throttled or reset, the one handler that
//! routes every request, request logging, and the response helpers shared by the endpoints.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::faults::FaultKind;
use super::state::{RequestRecord, Shared};
use super::{api, auth};

/// A TCP listener handing out [`SimIo`] connections.
pub(crate) struct SimListener {
    pub inner: TcpListener,
    pub bandwidth: Arc<AtomicU64>,
}

impl Listener for SimListener {
    type Io = SimIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimIo, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (SimIo::new(stream, Arc::clone(&self.bandwidth)), addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("simulator accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// What a handler can do to its connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// Reset the connection (RST) instead of closing it.
    pub reset: AtomicBool,
}

/// Per-connection information handed to the handler.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub control: Arc<ConnControl>,
}

impl Connected<IncomingStream<'_, SimListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        ConnInfo {
            control: Arc::clone(&stream.io().control),
        }
    }
}

/// A TCP stream with a bandwidth cap (token bucket, rate read at every write) and a reset
/// switch (dropped with `SO_LINGER` 0, so the peer sees a reset).
pub(crate) struct SimIo {
    stream: TcpStream,
    control: Arc<ConnControl>,
    bandwidth: Arc<AtomicU64>,
    tokens: f64,
    refilled: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SimIo {
    fn new(stream: TcpStream, bandwidth: Arc<AtomicU64>) -> Self {
        SimIo {
            stream,
            control: Arc::new(ConnControl::default()),
            bandwidth,
            tokens: 0.0,
            refilled: Instant::now(),
            sleep: None,
        }
    }
}

impl Drop for SimIo {
    fn drop(&mut self) {
        if self.control.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.control.reset.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let rate = this.bandwidth.load(Ordering::Relaxed);
        let mut n = buf.len();
        if rate > 0 {
            let rate = rate as f64;
            // Bursts of at most 20 ms worth of bytes (at least 1 KiB).
            let burst = (rate / 50.0).max(1024.0);
            loop {
                if let Some(sleep) = this.sleep.as_mut() {
                    ready!(sleep.as_mut().poll(cx));
                    this.sleep = None;
                }
                let now = Instant::now();
                let elapsed = now.duration_since(this.refilled).as_secs_f64();
                this.refilled = now;
                this.tokens = (this.tokens + elapsed * rate).min(burst);
                if this.tokens >= 1.0 {
                    n = n.min(this.tokens as usize);
                    break;
                }
                let want = (n as f64).min(burst);
                let wait = (want - this.tokens) / rate;
                this.sleep = Some(Box::pin(tokio::time::sleep(Duration::from_secs_f64(wait))));
            }
        }
        let result = Pin::new(&mut this.stream).poll_write(cx, &buf[..n]);
        if let Poll::Ready(Ok(written)) = result
            && rate > 0
        {
            this.tokens -= written as f64;
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// What a handler knows about the request it serves.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub conn: ConnInfo,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// Method, path and query: what fault decisions hash.
    pub identity: String,
    /// Earlier requests with the same identity.
    pub attempt: u64,
    /// The fault injected into this answer, if any.
    pub fault: std::sync::Mutex<Option<FaultKind>>,
    /// Body size of the answer, for the log.
    pub bytes: AtomicU64,
}

impl Ctx {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Notes an injected fault (counted on the handle and shown in the log).
    pub fn fault(&self, kind: FaultKind) {
        *self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(kind);
        self.shared.lock().count_fault(kind);
    }

    /// A fault roll for this request.
    pub fn roll(&self, salt: &str) -> f64 {
        let seed = self.shared.lock().config.seed;
        super::faults::roll(seed, salt, &self.identity, self.attempt)
    }

    /// A hash of this request for choices other than yes/no.
    pub fn hash(&self, salt: &str) -> u64 {
        let seed = self.shared.lock().config.seed;
        super::faults::hash(seed, salt, &self.identity, self.attempt)
    }
}

/// The one handler: every request comes through here.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: Request,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let identity = match &query {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    let (attempt, latency) = {
        let mut inner = shared.lock();
        (inner.next_attempt(&identity), inner.config.faults.latency)
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let (parts, body) = req.into_parts();
    let ctx = Ctx {
        shared: Arc::clone(&shared),
        conn,
        method: method.clone(),
        path: path.clone(),
        query,
        headers: parts.headers,
        identity,
        attempt,
        fault: std::sync::Mutex::new(None),
        bytes: AtomicU64::new(0),
    };
    let response = if path == "/token" || path.starts_with("/token/") {
        auth::handle(&ctx, body).await
    } else if let Some(rest) = path.strip_prefix("/2/0") {
        api::handle(&ctx, api::Version::V2, rest, body).await
    } else if let Some(rest) = path.strip_prefix("/1/3") {
        api::handle(&ctx, api::Version::V13, rest, body).await
    } else {
        error(&ctx, StatusCode::NOT_FOUND, "Not Found")
    };
    let status = response.status().as_u16();
    let bytes = ctx.bytes.load(Ordering::Relaxed);
    let fault = *ctx
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Paths never carry credentials; headers are not logged.
    tracing::debug!(%method, path = %ctx.identity.split_once(' ').map_or("", |(_, p)| p), status, bytes, fault = ?fault.map(FaultKind::name), "simulator request");
    {
        let mut inner = shared.lock();
        if status == 401 && !path.starts_with("/token") {
            inner.counters.unauthorized += 1;
        }
        inner.record(RequestRecord {
            method: method.to_string(),
            path: ctx
                .identity
                .split_once(' ')
                .map_or(String::new(), |(_, p)| p.to_owned()),
            status,
            bytes,
            fault,
        });
    }
    response
}

/// Current time as the API writes it: RFC 3339 with nanoseconds, UTC.
pub(crate) fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A JSON response.
pub(crate) fn json_response(ctx: &Ctx, status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    ctx.bytes.store(body.len() as u64, Ordering::Relaxed);
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The Integration API error envelope: `{status{code,message},path,timestamp}`.
pub(crate) fn error(ctx: &Ctx, status: StatusCode, message: &str) -> Response {
    let value = json!({
        "status": {"code": status.as_u16(), "message": message},
        "path": ctx.path,
        "timestamp": timestamp(),
    });
    json_response(ctx, status, &value)
}

/// How a download body is to be spoiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFault {
    None,
    /// Reset the connection after this many bytes.
    Reset(u64),
    /// End the body after this many bytes (short of its length).
    Truncate(u64),
    /// Trickle at this many bytes per second.
    Slow(u64),
}

/// A download response: `application/octet-stream`, `Content-Length` unless gzip-encoded.
pub(crate) fn download(
    ctx: &Ctx,
    len: u64,
    body: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    fault: BodyFault,
    gzip: bool,
    content_type: &'static str,
) -> Response {
    ctx.bytes.store(len, Ordering::Relaxed);
    let shared = Arc::clone(&ctx.shared);
    let counted = body.inspect(move |piece| {
        if let Ok(p) = piece {
            shared
                .bytes_sent
                .fetch_add(p.len() as u64, Ordering::Relaxed);
        }
    });
    let stream: futures::stream::BoxStream<'static, io::Result<Bytes>> = match fault {
        BodyFault::None => counted.boxed(),
        BodyFault::Reset(cut) => {
            let control = Arc::clone(&ctx.conn.control);
            let tail = futures::stream::once(async move {
                // Let what was sent reach the socket, then reset it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                control.reset.store(true, Ordering::Relaxed);
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            take_bytes(counted, cut).chain(tail).boxed()
        }
        BodyFault::Truncate(cut) => {
            // Let what was sent reach the socket before the body ends short.
            let pause = futures::stream::once(tokio::time::sleep(Duration::from_millis(20)))
                .filter_map(|()| async { None });
            let cut_body = take_bytes(counted, cut).chain(pause);
            if gzip {
                // No Content-Length to fall short of: abort the chunked body instead.
                cut_body
                    .chain(futures::stream::once(async {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "simulated truncation",
                        ))
                    }))
                    .boxed()
            } else {
                cut_body.boxed()
            }
        }
        BodyFault::Slow(rate) => throttle(counted, rate).boxed(),
    };
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type);
    let body = if gzip {
        builder = builder
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::VARY, "Accept-Encoding");
        Body::from_stream(gzip_stream(stream))
    } else {
        builder = builder.header(header::CONTENT_LENGTH, HeaderValue::from(len));
        Body::from_stream(stream)
    };
    builder.body(body).unwrap_or_default()
}

/// True when the request accepts gzip.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

/// The first `limit` bytes of a stream.
fn take_bytes(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    limit: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold((Box::pin(stream), limit), |(mut stream, left)| async move {
        if left == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut piece) => {
                if piece.len() as u64 > left {
                    piece.truncate(left as usize);
                }
                let left = left - piece.len() as u64;
                Some((Ok(piece), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
}

/// A stream trickled at `rate` bytes per second, in pieces of 1/20 s.
fn throttle(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    rate: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let piece = (rate / 20).max(1) as usize;
    stream
        .flat_map(move |item| {
            let parts: Vec<io::Result<Bytes>> = match item {
                Ok(mut b) => {
                    let mut v = Vec::new();
                    while !b.is_empty() {
                        let n = piece.min(b.len());
                        v.push(Ok(b.split_to(n)));
                    }
                    v
                }
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(parts)
        })
        .then(move |item| async move {
            if let Ok(b) = &item {
                tokio::time::sleep(Duration::from_secs_f64(b.len() as f64 / rate as f64)).await;
            }
            item
        })
}

/// Gzip-compresses a stream piece by piece (fast level: the simulator's CPU is shared with the
/// client under test).
fn gzip_stream(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    use std::io::Write;
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    futures::stream::unfold(
        (Box::pin(stream), Some(encoder)),
        |(mut stream, encoder)| async move {
            let mut encoder = encoder?;
            loop {
                match stream.next().await {
                    Some(Ok(piece)) => {
                        if let Err(e) = encoder.write_all(&piece) {
                            return Some((Err(e), (stream, None)));
                        }
                        let out = std::mem::take(encoder.get_mut());
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (stream, Some(encoder))));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (stream, None))),
                    None => {
                        return match encoder.finish() {
                            Ok(out) => Some((Ok(Bytes::from(out)), (stream, None))),
                            Err(e) => Some((Err(e), (stream, None))),
                        };
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_acceptance() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("br, gzip;q=0.8"));
        assert!(h("*"));
        assert!(!h("gzip;q=0"));
        assert!(!h("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn take_and_gzip_streams() {
        let parts = || {
            futures::stream::iter(vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ])
        };
        let cut: Vec<Bytes> = take_bytes(parts(), 8).map(Result::unwrap).collect().await;
        assert_eq!(cut.concat(), b"hello wo");
        let zipped: Vec<Bytes> = gzip_stream(parts()).map(Result::unwrap).collect().await;
        let mut out = String::new();
        io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(zipped.concat().as_slice()),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "hello world");
    }
}
