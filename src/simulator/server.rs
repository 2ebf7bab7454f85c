//! The router: serves the simulator on its listener and sends every request to the auth service
//! or the API, with the configured latency, then logs and records the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::conn::{ConnInfo, SimListener};
use super::faults::FaultKind;
use super::http::{Ctx, error};
use super::state::{RequestRecord, Shared};
use super::{api, auth, oauth};

/// Serves `shared`'s simulator on `listener` until its stop token is cancelled.
pub(crate) fn serve(listener: SimListener, shared: &Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(shared));
    let stop = shared.stop.clone();
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await });
    tokio::spawn(async move {
        if let Err(e) = serve.await {
            tracing::error!("simulator stopped: {e}");
        }
    })
}

/// The one handler: every request comes through here.
async fn handle(
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
    } else if path.starts_with("/oauth/") {
        oauth::handle(&ctx, body).await
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
