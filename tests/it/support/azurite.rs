//! A real Azure Blob server for tests: Azurite (Microsoft's storage emulator, from npm),
//! started per test on `127.0.0.1:0` with a fresh data directory, telemetry off.
//!
//! Where the `azurite-blob` program comes from, first found wins: `$AZURITE_BLOB`, then
//! `.ci/azurite/node_modules/.bin/azurite-blob` (`npm ci --prefix .ci/azurite`, which `.ci/run`
//! does), then `azurite-blob` on `PATH`. The tests that need it are `#[ignore]`d with that
//! instruction, so a plain `cargo test` without Node.js lists them as ignored, not passed;
//! `.ci/run` runs them with `--ignored`.
//!
//! Containers are made with the Blob REST API signed with the emulator's well-known account
//! key (object_store cannot create containers); the same signing lists blobs, including
//! uncommitted ones, so a test can see blocks that a failed upload left.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::Sha256;

/// The emulator's well-known account (documented by Microsoft; not a secret).
pub const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key.
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// What the ignored tests say when Azurite is missing.
pub const NEEDS_AZURITE: &str =
    "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::";

/// One running Azurite blob service. Stops (and deletes its data) when dropped.
pub struct Azurite {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    _data: tempfile::TempDir,
}

/// The `azurite-blob` program, or why it cannot be found.
fn program() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AZURITE_BLOB") {
        return Ok(PathBuf::from(p));
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/azurite/node_modules/.bin/azurite-blob");
    if local.exists() {
        return Ok(local);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("azurite-blob"))
            .find(|p| p.exists())
    });
    on_path.ok_or_else(|| format!("azurite-blob not found ({NEEDS_AZURITE})"))
}

impl Azurite {
    /// Starts the blob service and waits until it listens.
    pub fn start() -> Azurite {
        let program = program().unwrap_or_else(|e| panic!("{e}"));
        let data = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(&program)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(data.path())
            .args([
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads until the service says where it listens; keeps draining afterwards so the
        // emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(i) = line.find("listens on http://") {
                    let url = line[i + "listens on ".len()..].trim().to_string();
                    let _ = tx.send(url);
                    sent = true;
                }
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_mins(1)) else {
            let _ = child.kill();
            panic!("Azurite did not start within 60 s");
        };
        Azurite {
            url,
            child,
            _data: data,
        }
    }

    /// The environment that points the binary (object_store) at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            ("AZURITE_BLOB_STORAGE_URL", self.url.clone()),
        ]
    }

    /// Sets [`Azurite::env`] on `cmd` and clears Azure settings the caller's environment
    /// might hold.
    pub fn configure(&self, cmd: &mut Command) {
        for key in [
            "AZURE_STORAGE_ACCOUNT_NAME",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_STORAGE_TOKEN",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "AZURE_FEDERATED_TOKEN_FILE",
        ] {
            cmd.env_remove(key);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// A client for `container` that reaches the emulator the way a real account is reached
    /// (account endpoint, account name and key), not through emulator mode.
    pub fn client(&self, container: &str) -> Arc<dyn ObjectStore> {
        let store = MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(ACCOUNT_KEY)
            .with_endpoint(format!("{}/{ACCOUNT}", self.url))
            .with_allow_http(true)
            .with_container_name(container)
            .build()
            .expect("azure client");
        Arc::new(store)
    }

    /// Creates a container.
    pub async fn create_container(&self, name: &str) {
        let status = self
            .request(
                reqwest::Method::PUT,
                name,
                &[("restype", "container")],
                Bytes::new(),
            )
            .await
            .0;
        assert_eq!(status, 201, "create container {name}");
    }

    /// Committed blob names in `container`, sorted.
    pub async fn blobs(&self, container: &str) -> Vec<String> {
        self.list(container, false).await
    }

    /// Blob names including blobs that have only uncommitted blocks, sorted.
    pub async fn blobs_with_uncommitted(&self, container: &str) -> Vec<String> {
        self.list(container, true).await
    }

    async fn list(&self, container: &str, uncommitted: bool) -> Vec<String> {
        let mut query = vec![("comp", "list"), ("restype", "container")];
        if uncommitted {
            query.insert(1, ("include", "uncommittedblobs"));
        }
        let (status, body) = self
            .request(reqwest::Method::GET, container, &query, Bytes::new())
            .await;
        assert_eq!(status, 200, "list {container}: {body}");
        let mut names: Vec<String> = body
            .split("<Name>")
            .skip(1)
            .filter_map(|s| s.split_once("</Name>").map(|(n, _)| n.to_string()))
            .collect();
        names.sort();
        names
    }

    /// How many committed blocks `blob` is made of (0 for a blob uploaded in one request).
    pub async fn committed_blocks(&self, container: &str, blob: &str) -> usize {
        let (status, body) = self
            .request(
                reqwest::Method::GET,
                &format!("{container}/{blob}"),
                &[("blocklisttype", "committed"), ("comp", "blocklist")],
                Bytes::new(),
            )
            .await;
        assert_eq!(status, 200, "block list of {blob}: {body}");
        body.matches("<Block>").count()
    }

    /// The bytes of a blob.
    pub async fn get(&self, container: &str, blob: &str) -> Bytes {
        self.client(container)
            .get(&StorePath::from(blob))
            .await
            .expect("get blob")
            .bytes()
            .await
            .expect("blob body")
    }

    /// Puts a blob in one request.
    pub async fn put(&self, container: &str, blob: &str, data: &[u8]) {
        self.client(container)
            .put(&StorePath::from(blob), Bytes::copy_from_slice(data).into())
            .await
            .expect("put blob");
    }

    /// One Blob REST request signed with the account key (Shared Key): status and body.
    /// `query` must be sorted by name (the signature lists it in that order).
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> (u16, String) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut resource = format!("/{ACCOUNT}/{ACCOUNT}/{path}");
        for (k, v) in query {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        let to_sign = format!(
            "{method}\n\n\n{length}\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n{resource}"
        );
        let key = BASE64.decode(ACCOUNT_KEY).expect("key is base64");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
        mac.update(to_sign.as_bytes());
        let signature = BASE64.encode(mac.finalize().into_bytes());
        let url = reqwest::Url::parse_with_params(&format!("{}/{ACCOUNT}/{path}", self.url), query)
            .expect("url");
        let response = reqwest::Client::new()
            .request(method, url)
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .header("Content-Length", body.len())
            .body(body)
            .send()
            .await
            .expect("Azurite answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
