//! A real S3-compatible server for tests: s3s-fs (files on disk, request signatures checked),
//! started in process on `127.0.0.1:0` with a fresh data directory.
//!
//! A bucket is a directory under the data directory. s3s-fs cannot list in-progress multipart
//! uploads, but it keeps each one as `.upload-<id>.json` (plus `.upload_id-<id>.part-N` files)
//! at the top of the data directory, so [`S3Server::pending_uploads`] finds leaked uploads there.
//!
//! Faults can be injected in front of the real service, per operation ([`S3Server::fail`] with
//! an [`Op`]: creating, uploading a part of, completing and aborting a multipart upload, a
//! single PUT, a listing): the request is read in full, then answered `503 SlowDown` instead of
//! being handed on. Every operation is counted as it arrives ([`S3Server::seen`]), so a test
//! can tell that a multipart upload was started and then aborted.
//! [`S3Server::delay_part_uploads`] holds part uploads back (a slow destination); a client that
//! gives up meanwhile leaves nothing behind. [`S3Server::hold`] keeps requests of an operation
//! waiting until [`S3Server::release`] (then they are failed or handled as usual), so a test
//! can make things happen in a chosen order without timing.
//!
//! s3s-fs answers a conditional PUT (`If-None-Match: *`) on an existing key with 412, but it
//! checks and then writes, so two simultaneous creates of one key could both succeed. The
//! server here runs conditional PUTs one at a time, which makes put-if-absent atomic as on
//! AWS S3 (Delta commits rely on it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anaplan_parquet::sink::{DestinationOptions, StorageOption};
use bytes::Bytes;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "AKIATESTACCESSKEY01";
/// The secret key the server checks signatures with.
pub const SECRET_KEY: &str = "test-secret-key-do-not-leak-42";

/// One running server. Stops (and deletes its data) when dropped.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    data: tempfile::TempDir,
    faults: Arc<Faults>,
    task: JoinHandle<()>,
}

/// The S3 operations the server tells apart, to count them and to fail them on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `POST key?uploads`: CreateMultipartUpload.
    CreateUpload,
    /// `PUT key?partNumber=N&uploadId=U`: UploadPart.
    PartUpload,
    /// `POST key?uploadId=U`: CompleteMultipartUpload.
    CompleteUpload,
    /// `DELETE key?uploadId=U`: AbortMultipartUpload.
    AbortUpload,
    /// `PUT key` (not a part, not a copy): a single-request PutObject.
    ObjectPut,
    /// `GET bucket?list-type=2`: ListObjectsV2.
    List,
}

const OPS: usize = 6;

impl Op {
    fn index(self) -> usize {
        self as usize
    }

    /// Which operation a request is, if it is one of those above.
    fn of<B>(req: &hyper::Request<B>) -> Option<Op> {
        let query = req.uri().query().unwrap_or("");
        let has = |name: &str| {
            query
                .split('&')
                .any(|p| p == name || p.split_once('=').is_some_and(|(k, _)| k == name))
        };
        let method = req.method();
        if method == hyper::Method::PUT {
            if has("partNumber") {
                Some(Op::PartUpload)
            } else if req.headers().contains_key("x-amz-copy-source") {
                None
            } else {
                Some(Op::ObjectPut)
            }
        } else if method == hyper::Method::POST && has("uploads") {
            Some(Op::CreateUpload)
        } else if method == hyper::Method::POST && has("uploadId") {
            Some(Op::CompleteUpload)
        } else if method == hyper::Method::DELETE && has("uploadId") {
            Some(Op::AbortUpload)
        } else if method == hyper::Method::GET && has("list-type") {
            Some(Op::List)
        } else {
            None
        }
    }
}

#[derive(Debug)]
struct Faults {
    /// Per operation: requests still to answer with 503.
    fail: [AtomicUsize; OPS],
    /// Per operation: requests received so far (answered or not).
    seen: [AtomicUsize; OPS],
    /// Requests answered with an injected 503 so far.
    injected: AtomicUsize,
    /// Milliseconds each upload-part request is held before it is handled.
    part_delay_ms: AtomicU64,
    /// Per operation: true while requests are held back.
    gates: [tokio::sync::watch::Sender<bool>; OPS],
    /// Per operation: requests being held back now.
    holding: [AtomicUsize; OPS],
    /// Requests lined up in groups (see [`S3Server::line_up`]).
    line_up: std::sync::Mutex<Option<LineUp>>,
    /// Requests of the line-up so far.
    lined_up: tokio::sync::watch::Sender<usize>,
    /// Held while a conditional PUT is handled: put-if-absent is atomic.
    conditional: tokio::sync::Mutex<()>,
}

/// Which requests [`S3Server::line_up`] groups, and how.
#[derive(Debug)]
struct LineUp {
    op: Op,
    fragment: String,
    size: usize,
    limit: usize,
}

impl S3Server {
    /// Starts a server on the current Tokio runtime.
    pub async fn start() -> S3Server {
        let data = tempfile::tempdir().expect("temp dir");
        let fs = s3s_fs::FileSystem::new(data.path()).expect("s3s-fs data dir");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let faults = Arc::new(Faults::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let svc = FaultyService {
            inner: service,
            faults: Arc::clone(&faults),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let svc = svc.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), svc)
                        .await;
                });
            }
        });
        S3Server {
            endpoint: format!("http://{addr}"),
            data,
            faults,
            task,
        }
    }

    /// The data directory (buckets are directories in it).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.data.path().join(name)).expect("create bucket");
    }

    /// Destination options for `output` on this server: endpoint, plain HTTP allowed,
    /// path-style, the right keys, and no environment.
    pub fn options(&self, output: &str) -> DestinationOptions {
        self.options_with_keys(output, ACCESS_KEY, SECRET_KEY)
    }

    /// As [`options`](Self::options), with other credentials.
    pub fn options_with_keys(
        &self,
        output: &str,
        access: &str,
        secret: &str,
    ) -> DestinationOptions {
        let mut o = DestinationOptions::new(output);
        o.read_env = false;
        o.s3_endpoint = Some(self.endpoint.clone());
        o.s3_region = Some("us-east-1".into());
        o.s3_path_style = true;
        o.allow_http = true;
        o.storage_options = vec![
            StorageOption::parse(&format!("access_key_id={access}")).unwrap(),
            StorageOption::parse(&format!("secret_access_key={secret}")).unwrap(),
        ];
        o
    }

    /// The keys of every object in `bucket`, sorted, read from the data directory.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let root = self.data.path().join(bucket);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    /// The raw bytes of an object, read from the data directory.
    pub fn object_on_disk(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.data.path().join(bucket).join(key)).ok()
    }

    /// Puts a file straight into the data directory (a file some other tool left there).
    pub fn put_on_disk(&self, bucket: &str, key: &str, data: &[u8]) {
        let path = self.data.path().join(bucket).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    /// An object read back through the S3 API (signed GET).
    pub async fn get(&self, bucket: &str, key: &str) -> Bytes {
        self.client(bucket)
            .get(&StorePath::from(key))
            .await
            .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e}"))
            .bytes()
            .await
            .expect("body")
    }

    /// An object_store client for `bucket` on this server.
    pub fn client(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .build()
                .expect("client"),
        )
    }

    /// Multipart uploads started and neither completed nor aborted (and their parts).
    pub fn pending_uploads(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.data.path())
            .expect("data dir")
            .filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                (name.starts_with(".upload-") || name.starts_with(".upload_id-")).then_some(name)
            })
            .collect();
        out.sort();
        out
    }

    /// Waits (up to 10 s) until no multipart upload is pending, for aborts done in the
    /// background; returns what is still pending.
    pub async fn pending_uploads_settled(&self) -> Vec<String> {
        for _ in 0..200 {
            if self.pending_uploads().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.pending_uploads()
    }

    /// Answers the next `n` requests of `op` with `503 SlowDown` (`usize::MAX`: all of them;
    /// 0: none from now on).
    pub fn fail(&self, op: Op, n: usize) {
        self.faults.fail[op.index()].store(n, Ordering::SeqCst);
    }

    /// Requests of `op` received so far (answered, failed on purpose, or still held).
    pub fn seen(&self, op: Op) -> usize {
        self.faults.seen[op.index()].load(Ordering::SeqCst)
    }

    /// Answers the next `n` upload-part requests with `503 SlowDown`.
    pub fn fail_part_uploads(&self, n: usize) {
        self.fail(Op::PartUpload, n);
    }

    /// Answers the next `n` single-request object PUTs (not parts) with `503 SlowDown`.
    pub fn fail_object_puts(&self, n: usize) {
        self.fail(Op::ObjectPut, n);
    }

    /// Holds every upload-part request this long before handling it (a slow destination).
    pub fn delay_part_uploads(&self, delay: Duration) {
        self.faults
            .part_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Holds every request of `op` from now on until [`release`](Self::release).
    pub fn hold(&self, op: Op) {
        self.faults.gates[op.index()].send_replace(true);
    }

    /// Lines up the next `size * groups` requests of `op` whose path and query contain
    /// `fragment` in groups of `size`: each waits until its group is complete, then the group
    /// goes on together (two runs made to take the same step at the same moment). Later ones
    /// pass.
    pub fn line_up(&self, op: Op, fragment: &str, size: usize, groups: usize) {
        *self.faults.line_up.lock().unwrap() = Some(LineUp {
            op,
            fragment: fragment.to_owned(),
            size,
            limit: size * groups,
        });
        self.faults.lined_up.send_replace(0);
    }

    /// Requests of the line-up so far.
    pub fn lined_up(&self) -> usize {
        *self.faults.lined_up.borrow()
    }

    /// Lets the held requests of `op` (and later ones) go on.
    pub fn release(&self, op: Op) {
        self.faults.gates[op.index()].send_replace(false);
    }

    /// Waits (up to `limit`) until at least `n` requests of `op` are being held; false when
    /// that did not happen in time.
    pub async fn wait_held(&self, op: Op, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.faults.holding[op.index()].load(Ordering::SeqCst) < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Upload-part requests received so far (answered or not).
    pub fn part_uploads_seen(&self) -> usize {
        self.seen(Op::PartUpload)
    }

    /// Requests answered with an injected fault so far.
    pub fn injected_faults(&self) -> usize {
        self.faults.injected.load(Ordering::SeqCst)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            let key: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(key.join("/"));
        }
    }
}

/// The real S3 service, with faults injected in front of it.
#[derive(Clone)]
struct FaultyService {
    inner: S3Service,
    faults: Arc<Faults>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for FaultyService {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let op = Op::of(&req);
        if let Some(op) = op {
            self.faults.seen[op.index()].fetch_add(1, Ordering::SeqCst);
        }
        let faults = Arc::clone(&self.faults);
        let inner = self.inner.clone();
        let uri = req.uri().to_string();
        let conditional = req.headers().contains_key("if-none-match");
        Box::pin(async move {
            let _one_at_a_time = if conditional {
                Some(faults.conditional.lock().await)
            } else {
                None
            };
            if let Some(op) = op {
                faults.line_up(op, &uri).await;
                faults.pass_gate(op).await;
            }
            if op.is_some_and(|op| take_one(&faults.fail[op.index()])) {
                faults.injected.fetch_add(1, Ordering::SeqCst);
                // Read the whole request first, as a busy server would before answering.
                let mut body = s3s::Body::from(req.into_body());
                let _ = body.store_all_limited(usize::MAX).await;
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown\
                           </Code><Message>injected fault</Message></Error>";
                return Ok(hyper::Response::builder()
                    .status(503)
                    .header("content-type", "application/xml")
                    .body(s3s::Body::from(xml.to_string()))
                    .expect("response"));
            }
            let delay = faults.part_delay_ms.load(Ordering::SeqCst);
            if op == Some(Op::PartUpload) && delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            hyper::service::Service::call(&inner, req).await
        })
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail: Default::default(),
            seen: Default::default(),
            injected: AtomicUsize::new(0),
            part_delay_ms: AtomicU64::new(0),
            gates: std::array::from_fn(|_| tokio::sync::watch::Sender::new(false)),
            holding: Default::default(),
            line_up: std::sync::Mutex::new(None),
            lined_up: tokio::sync::watch::Sender::new(0),
            conditional: tokio::sync::Mutex::new(()),
        }
    }
}

impl Faults {
    /// Waits for the rest of its group when the request is one of a line-up.
    async fn line_up(&self, op: Op, uri: &str) {
        let target = {
            let guard = self.line_up.lock().unwrap();
            let Some(l) = guard.as_ref() else {
                return;
            };
            if l.op != op || !uri.contains(&l.fragment) {
                return;
            }
            let mut target = None;
            self.lined_up.send_modify(|k| {
                if *k < l.limit {
                    target = Some((*k / l.size + 1) * l.size);
                }
                *k += 1;
            });
            target
        };
        if let Some(target) = target {
            let mut arrived = self.lined_up.subscribe();
            let _ = arrived.wait_for(|k| *k >= target).await;
        }
    }

    /// Waits while requests of `op` are held back.
    async fn pass_gate(&self, op: Op) {
        let mut gate = self.gates[op.index()].subscribe();
        if !*gate.borrow_and_update() {
            return;
        }
        self.holding[op.index()].fetch_add(1, Ordering::SeqCst);
        let _ = gate.wait_for(|held| !*held).await;
        self.holding[op.index()].fetch_sub(1, Ordering::SeqCst);
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
