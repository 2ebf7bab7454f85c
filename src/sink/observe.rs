//! Retry visibility: the object store's HTTP client, wrapped to see every response, so that the
//! transient failures it retries on its own are counted (in the run's progress and its
//! [`Written::retries`](super::Written::retries)) and logged as they happen.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};

use crate::progress::Progress;

/// Transient storage failures seen by one destination's HTTP client, by reason.
#[derive(Debug, Default)]
pub(super) struct UploadObserver {
    failures: Mutex<BTreeMap<String, u64>>,
    progress: Mutex<Option<Progress>>,
}

impl UploadObserver {
    /// Counts each failure into `progress` too, from now on.
    pub(super) fn report_to(&self, progress: Progress) {
        *lock(&self.progress) = Some(progress);
    }

    fn record(&self, reason: String) {
        *lock(&self.failures).entry(reason).or_insert(0) += 1;
        if let Some(p) = lock(&self.progress).as_ref() {
            p.add_retry();
        }
    }

    /// The failures so far, by reason.
    pub(super) fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.failures).clone()
    }

    /// The failures since `baseline` (an earlier [`snapshot`](Self::snapshot)), by reason.
    pub(super) fn since(&self, baseline: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
        self.snapshot()
            .into_iter()
            .filter_map(|(reason, n)| {
                let before = baseline.get(&reason).copied().unwrap_or(0);
                (n > before).then(|| (reason, n - before))
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `reqwest` connector `object_store` would use, wrapped to see every response.
#[derive(Debug)]
pub(super) struct ObservingConnector {
    pub(super) observer: Arc<UploadObserver>,
}

impl HttpConnector for ObservingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(ObservingService {
            inner,
            observer: Arc::clone(&self.observer),
        }))
    }
}

#[derive(Debug)]
struct ObservingService {
    inner: HttpClient,
    observer: Arc<UploadObserver>,
}

type HttpFuture<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'a>>;

impl HttpService for ObservingService {
    fn call<'s, 'f>(&'s self, req: HttpRequest) -> HttpFuture<'f>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let method = req.method().clone();
            // The path names bucket and key; the query string (upload ids, SAS tokens) is left out.
            let path = req.uri().path().to_string();
            let result = self.inner.execute(req).await;
            if let Some(reason) = transient_reason(&result) {
                tracing::info!(
                    "{method} {path}: transient failure ({}); retrying within the retry budget",
                    reason.trim_start_matches("storage: ")
                );
                self.observer.record(reason);
            }
            result
        })
    }
}

/// Why one HTTP exchange failed in a way the client retries, or `None`.
fn transient_reason(result: &Result<HttpResponse, HttpError>) -> Option<String> {
    match result {
        Ok(r) => {
            let s = r.status();
            (s.is_server_error() || s.as_u16() == 429 || s.as_u16() == 408)
                .then(|| format!("storage: HTTP {s}"))
        }
        Err(e) => match e.kind() {
            HttpErrorKind::Connect => Some("storage: connection failed".to_string()),
            HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                Some("storage: request interrupted".to_string())
            }
            HttpErrorKind::Timeout => Some("storage: timeout".to_string()),
            _ => None,
        },
    }
}
