//! A view's or a list's large-volume read request as a [`Source`]: its pages downloaded
//! concurrently **as they become available**, handed over in order, each piece labelled with
//! its page number (error positions say "chunk k" for page k).
//!
//! The request must exist (created by [`crate::read`]); the source only reads it. Pages
//! `0 … availablePages-1` may be fetched while the request is still IN_PROGRESS, so the
//! stream of page downloads is produced lazily: the next page's download is started as soon
//! as the page is available, and when none is, the status is polled (with backoff, starting
//! at a fifth of the poll interval) until one is or the request is COMPLETE. At most
//! `concurrency` downloads are in flight (`buffered`), each fetched whole and retried like a
//! chunk ([`crate::RetryConfig`]), and they are yielded strictly in page order.
//!
//! Whether pages after the first repeat the header line is not known (API notes §2.3), so both
//! are read: when page `k > 0` starts with page 0's header line, each page is taken as a CSV
//! document of its own (the repeated header dropped, a missing final line end supplied);
//! otherwise the pages' bytes are joined as they are, so a record split across two pages is
//! joined again by the decoder.
//!
//! A request idle for 30 minutes is reclaimed, and only pages whose number is a multiple of
//! 100 reset that timer: while the stream is open, page 0 is fetched again every
//! `keep_alive` (default 10 minutes) so a slow download (a slow destination holding back the
//! pages) keeps its request.
//!
//! Reading the pages again is how the engine reads the input a second time
//! ([`Source::replayable`]); the request is deleted only once the run is over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, FutureExt};
use futures::{StreamExt, TryStreamExt};

use crate::anaplan::AnaplanClient;
use crate::anaplan::reads::{ReadRef, ReadRequest};
use crate::error::{ExportFailed, Result};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::source::meter::DownloadMeter;
use crate::source::{Piece, PieceStream, Source};

/// Default time between keep-alive fetches of page 0.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_mins(10);

/// How a read request's pages are awaited.
#[derive(Clone, Copy, Debug)]
pub struct PageOptions {
    /// Pages downloaded at once.
    pub concurrency: usize,
    /// Longest wait between status checks.
    pub poll_interval: Duration,
    /// Give up (and say so) when the request has not completed this long after the source
    /// was first opened.
    pub timeout: Option<Duration>,
    /// Fetch page 0 this often while reading, to keep the request from being reclaimed.
    pub keep_alive: Duration,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            concurrency: crate::source::export::DEFAULT_CONCURRENCY,
            poll_interval: Duration::from_secs(5),
            timeout: Some(Duration::from_hours(1)),
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

/// The pages of one read request.
#[derive(Clone, Debug)]
pub struct PageSource {
    client: AnaplanClient,
    read: Arc<ReadRef>,
    request_id: Arc<str>,
    options: PageOptions,
    progress: Progress,
    shutdown: Shutdown,
    name: String,
    started: Instant,
    meter: Option<DownloadMeter>,
}

impl PageSource {
    /// A source for the pages of request `request_id` of `read`.
    pub fn new(
        client: AnaplanClient,
        read: ReadRef,
        request_id: &str,
        options: PageOptions,
        progress: Progress,
        shutdown: Shutdown,
    ) -> Self {
        let name = format!(
            "read request {request_id} of {} in model {}",
            read.target.describe(),
            read.model_id
        );
        PageSource {
            client,
            read: Arc::new(read),
            request_id: request_id.into(),
            options: PageOptions {
                concurrency: options.concurrency.max(1),
                ..options
            },
            progress,
            shutdown,
            name,
            started: Instant::now(),
            meter: None,
        }
    }

    /// Renames the source (for logs and the summary).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Counts the page downloads (bytes, latency) and how long the reader waits for them
    /// into `meter`.
    pub fn with_meter(mut self, meter: DownloadMeter) -> Self {
        self.meter = Some(meter);
        self
    }
}

/// Where the lazy page listing stands.
struct Listing {
    client: AnaplanClient,
    read: Arc<ReadRef>,
    request_id: Arc<str>,
    options: PageOptions,
    shutdown: Shutdown,
    deadline: Option<Instant>,
    progress: Progress,
    /// The next page to start downloading.
    next: u64,
    /// Pages known to be available.
    available: u64,
    /// The request is COMPLETE: `available` is all of them.
    complete: bool,
    /// An error was handed over: nothing follows it.
    ended: bool,
    /// The next status check waits this long (grows to the poll interval).
    delay: Duration,
    meter: Option<DownloadMeter>,
}

type Download = BoxFuture<'static, Result<(u64, Bytes)>>;

impl Listing {
    /// The next page's download, once it is available; `None` after the last page.
    async fn next_download(&mut self) -> Option<Download> {
        if self.ended {
            return None;
        }
        loop {
            if self.next < self.available {
                let k = self.next;
                self.next += 1;
                return Some(self.download(k));
            }
            if self.complete {
                return None;
            }
            if let Err(e) = self.check().await {
                self.ended = true;
                return Some(futures::future::ready(Err(e)).boxed());
            }
        }
    }

    fn download(&self, k: u64) -> Download {
        let client = self.client.clone();
        let read = Arc::clone(&self.read);
        let id = Arc::clone(&self.request_id);
        let meter = self.meter.clone();
        async move {
            let started = meter.as_ref().map(DownloadMeter::chunk_started);
            let data = client.read_page(&read, &id, k).await?;
            if let (Some(m), Some(t)) = (&meter, started) {
                m.chunk_done(t, data.len() as u64);
            }
            Ok((k, data))
        }
        .boxed()
    }

    /// Waits (unless this is the first check), reads the status and updates what is known.
    async fn check(&mut self) -> Result<()> {
        if self.delay.is_zero() {
            // The first check: no wait.
            self.delay = (self.options.poll_interval / 5).max(Duration::from_millis(1));
        } else {
            let now = Instant::now();
            if let Some(deadline) = self.deadline
                && now >= deadline
            {
                return Err(ExportFailed::ReadTimedOut {
                    object: self.read.target.describe(),
                    request_id: self.request_id.to_string(),
                    limit: self.options.timeout.unwrap_or_default(),
                }
                .into());
            }
            let wait = self.deadline.map_or(self.delay, |d| {
                self.delay.min(d.saturating_duration_since(now))
            });
            tokio::select! {
                () = self.shutdown.triggered() => return Err(self.shutdown.error()),
                () = tokio::time::sleep(wait) => {}
            }
            self.delay = (self.delay * 2).min(self.options.poll_interval);
        }
        let status: ReadRequest = self
            .client
            .read_request(&self.read, &self.request_id)
            .await?;
        tracing::debug!(
            "read request {}: {} with {} pages available",
            self.request_id,
            status
                .request_state
                .as_ref()
                .map_or("(no state)", |s| s.as_str()),
            status.available()
        );
        if status.has_failed() {
            return Err(ExportFailed::ReadFailed {
                object: self.read.target.describe(),
                request_id: self.request_id.to_string(),
                state: match (&status.request_state, status.successful) {
                    (Some(s), Some(false)) => format!("{s} without success"),
                    (Some(s), _) => s.to_string(),
                    (None, _) => "without a state".to_owned(),
                },
            }
            .into());
        }
        if status.available() > self.available {
            self.available = status.available();
            // New pages: the next wait starts short again.
            self.delay = (self.options.poll_interval / 5).max(Duration::from_millis(1));
        }
        if status.is_done() {
            self.complete = true;
            self.progress.set_chunks_total(self.available);
        }
        Ok(())
    }
}

/// Puts pages back together in order: drops a repeated header, supplies missing line ends
/// between pages that are documents of their own.
#[derive(Default)]
struct Joiner {
    /// Page 0's first line, with its line end.
    header: Option<Bytes>,
    /// The pages repeat the header (decided at page 1).
    documents: Option<bool>,
    /// The last page handed over ended with a line end.
    ended_line: bool,
}

impl Joiner {
    fn join(&mut self, k: u64, data: Bytes) -> Bytes {
        if k == 0 {
            self.header = data
                .iter()
                .position(|&b| b == b'\n')
                .map(|end| data.slice(..=end));
            self.ended_line = data.last() == Some(&b'\n');
            return data;
        }
        let repeats = self
            .header
            .as_ref()
            .is_some_and(|h| data.starts_with(h) || data.as_ref() == h.trim_ascii_end());
        let documents = *self.documents.get_or_insert(repeats);
        if !documents {
            if !data.is_empty() {
                self.ended_line = data.last() == Some(&b'\n');
            }
            return data;
        }
        let body = if repeats {
            let h = self.header.as_ref().map_or(0, Bytes::len).min(data.len());
            data.slice(h..)
        } else {
            data
        };
        if body.is_empty() {
            return body;
        }
        let out = if self.ended_line {
            body
        } else {
            let mut b = BytesMut::with_capacity(body.len() + 1);
            b.extend_from_slice(b"\n");
            b.extend_from_slice(&body);
            b.freeze()
        };
        self.ended_line = out.last() == Some(&b'\n');
        out
    }
}

impl Source for PageSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        let listing = Listing {
            client: self.client.clone(),
            read: Arc::clone(&self.read),
            request_id: Arc::clone(&self.request_id),
            options: self.options,
            shutdown: self.shutdown.clone(),
            deadline: self.options.timeout.map(|t| self.started + t),
            progress: self.progress.clone(),
            next: 0,
            available: 0,
            complete: false,
            ended: false,
            delay: Duration::ZERO,
            meter: self.meter.clone(),
        };
        let keep_alive = KeepAlive::start(
            self.client.clone(),
            Arc::clone(&self.read),
            Arc::clone(&self.request_id),
            self.options.keep_alive,
        );
        let progress = self.progress.clone();
        let concurrency = self.options.concurrency;
        let meter = self.meter.clone();
        Box::pin(async move {
            let downloads = futures::stream::unfold(listing, |mut listing| async move {
                let next = listing.next_download().await?;
                Some((next, listing))
            });
            let mut joiner = Joiner::default();
            let stream = downloads.buffered(concurrency).map_ok(move |(k, data)| {
                // The keep-alive lives as long as the stream.
                let _ = &keep_alive;
                progress.add_chunk();
                Piece {
                    data: joiner.join(k, data),
                    chunk: Some(k),
                }
            });
            Ok(match meter {
                Some(m) => m.watch(stream.boxed()),
                None => stream.boxed(),
            })
        })
    }

    fn replayable(&self) -> bool {
        true
    }
}

/// Fetches page 0 every `every` until dropped, so the request's inactivity timer (reset only
/// by pages divisible by 100) does not run out while the pages are read.
struct KeepAlive(tokio::task::AbortHandle);

impl KeepAlive {
    fn start(client: AnaplanClient, read: Arc<ReadRef>, id: Arc<str>, every: Duration) -> Self {
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match client.read_page(&read, &id, 0).await {
                    Ok(_) => tracing::debug!("read request {id}: kept alive (page 0)"),
                    Err(e) => tracing::debug!("read request {id}: keep-alive failed: {e}"),
                }
            }
        });
        KeepAlive(task.abort_handle())
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_all(pages: &[&str]) -> String {
        let mut j = Joiner::default();
        pages
            .iter()
            .enumerate()
            .map(|(k, p)| {
                String::from_utf8(
                    j.join(k as u64, Bytes::copy_from_slice(p.as_bytes()))
                        .to_vec(),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn pages_join_whether_or_not_they_repeat_the_header() {
        let whole = "a,b\n1,2\n3,4\n5,6\n";
        // Raw: one document cut anywhere, even inside a record.
        assert_eq!(join_all(&["a,b\n1,2\n3,", "4\n5,6\n"]), whole);
        // Documents: the header repeated on every page.
        assert_eq!(join_all(&["a,b\n1,2\n", "a,b\n3,4\n", "a,b\n5,6\n"]), whole);
        // Documents without a final line end.
        assert_eq!(join_all(&["a,b\n1,2", "a,b\n3,4", "a,b\n5,6\n"]), whole);
        // A page holding only the header.
        assert_eq!(join_all(&["a,b\n1,2\n", "a,b\n", "a,b\n3,4\n5,6\n"]), whole);
        // A record equal to the header on a raw page is data, once raw was decided.
        assert_eq!(
            join_all(&["a,b\n1,2\n", "3,4\n", "a,b\n"]),
            "a,b\n1,2\n3,4\na,b\n"
        );
    }
}
