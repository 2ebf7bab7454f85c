//! The toolkit every endpoint uses: [`Ctx`] (what a handler knows about its request, fault
//! dice included), JSON answers, the Integration API's error envelope, and download answers
//! (spoiled by a [`BodyFault`] when the dice say so, gzip-encoded when asked).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::body::{gzip_stream, take_bytes, throttle};
use super::conn::ConnInfo;
use super::faults::{FaultKind, FaultSpec};
use super::state::Shared;

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

impl BodyFault {
    /// How a download body should be spoiled, when the dice say so.
    pub(crate) fn decide(ctx: &Ctx, faults: &FaultSpec, len: u64) -> BodyFault {
        if len > 0 && faults.reset > 0.0 && ctx.roll("reset") < faults.reset {
            ctx.fault(FaultKind::Reset);
            return BodyFault::Reset(ctx.hash("reset-at") % len);
        }
        if len > 0 && faults.truncate > 0.0 && ctx.roll("truncate") < faults.truncate {
            ctx.fault(FaultKind::Truncate);
            return BodyFault::Truncate(ctx.hash("truncate-at") % len);
        }
        if faults.slow > 0.0 && ctx.roll("slow") < faults.slow {
            ctx.fault(FaultKind::Slow);
            return BodyFault::Slow(faults.trickle());
        }
        BodyFault::None
    }
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
}
