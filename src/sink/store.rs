//! The one object-store builder: S3, GCS and Azure are configured by the same recipe
//! ([`build`]), each backend giving only what differs ([`Backend`]): its builder type, its
//! configuration keys, its timeout option's name, and which dedicated settings apply to it.
//!
//! The recipe: the environment (unless `read_env` is off), the URL, a request timeout unless a
//! storage option sets one, every storage option (an unknown key is refused), the dedicated
//! settings (`s3_*`, `allow_http`), a check that a plain-HTTP endpoint was allowed, a loud
//! warning when TLS certificates are not verified, then the retry policy and the observing HTTP
//! connector. Building does no I/O.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as StorePath;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use super::errors::{redact_error, redact_url, redact_url_text};
use super::location::{Location, literal_key, object_key, refuse_s3_settings};
use super::observe::{ObservingConnector, UploadObserver};
use super::options::{DEFAULT_UPLOAD_REQUEST_TIMEOUT, DestinationOptions, StorageOption};
use crate::error::{Error, Result};

/// An object (replace) or prefix (append) in a bucket, and the client to reach it.
#[derive(Clone)]
pub(super) struct StoreTarget {
    pub(super) store: Arc<dyn ObjectStore>,
    /// Object key (replace) or dataset prefix (append; may be empty).
    pub(super) key: StorePath,
    /// `scheme://bucket/` with no credentials, for messages.
    pub(super) base: String,
    /// Counts the transient failures the client retries.
    pub(super) observer: Arc<UploadObserver>,
    /// Which service, endpoint and bucket: with a key, a [`Location`].
    pub(super) place: Place,
}

/// The service, endpoint and bucket a store client reaches (see [`Location::Store`]).
#[derive(Clone, Debug)]
pub(super) struct Place {
    service: &'static str,
    endpoint: Option<String>,
    bucket: String,
}

/// Shows where, never the store client (its configuration holds credentials).
impl std::fmt::Debug for StoreTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("base", &self.base)
            .field("key", &self.key.as_ref())
            .finish_non_exhaustive()
    }
}

impl StoreTarget {
    /// `scheme://bucket/key`, for messages.
    pub(super) fn location(&self) -> String {
        format!("{}{}", self.base, self.key)
    }

    /// The [`Location`] of `key` in this store.
    pub(super) fn location_id(&self, key: &str) -> Location {
        Location::Store {
            service: self.place.service,
            endpoint: self.place.endpoint.clone(),
            bucket: self.place.bucket.clone(),
            key: key.to_owned(),
        }
    }
}

/// Builds the client for an object-store URL (`output` is the URL as written: the key is taken
/// from it literally, see [`object_key`]).
pub(super) fn build(url: &Url, output: &str, options: &DestinationOptions) -> Result<StoreTarget> {
    let Ok((scheme, parsed)) = ObjectStoreScheme::parse(url) else {
        // A key object_store cannot take (`a//b`, `..`) is refused for what it is.
        literal_key(output)?;
        return Err(unsupported_scheme(url));
    };
    let key = object_key(output, &parsed)?;
    let observer = Arc::new(UploadObserver::default());
    let recipe = Recipe {
        url,
        options,
        display: redact_url(url),
        observer: &observer,
    };
    let (store, place) = match scheme {
        ObjectStoreScheme::AmazonS3 => recipe.build::<AmazonS3Builder>()?,
        ObjectStoreScheme::GoogleCloudStorage => recipe.build::<GoogleCloudStorageBuilder>()?,
        ObjectStoreScheme::MicrosoftAzure => recipe.build::<MicrosoftAzureBuilder>()?,
        _ => return Err(unsupported_scheme(url)),
    };
    let display = recipe.display;
    let base = match display.find("://") {
        Some(i) => {
            let after = &display[i + 3..];
            let host_end = after.find('/').map_or(display.len(), |j| i + 3 + j);
            format!("{}/", &display[..host_end])
        }
        None => display.clone(),
    };
    Ok(StoreTarget {
        store,
        key,
        base,
        observer,
        place,
    })
}

fn unsupported_scheme(url: &Url) -> Error {
    Error::invalid_setting(
        "output",
        format!(
            "unsupported destination {}; use a local path, file:///path, s3://bucket/key, \
             gs://bucket/key, az://container/key or \
             abfss://container@account.dfs.core.windows.net/key",
            redact_url(url)
        ),
    )
}

/// What differs between object-store backends; the rest is [`Recipe::build`].
trait Backend: Sized {
    /// The builder's configuration key.
    type Key: FromStr;
    /// The backend's name in messages.
    const NAME: &'static str;
    /// The backend-prefixed storage option for the request timeout (besides `timeout`).
    const TIMEOUT_OPTION: &'static str;
    /// How to allow plain HTTP from the environment, for messages.
    const ALLOW_HTTP_ENV: &'static str;
    /// The service's name in a [`Location`].
    const SERVICE: &'static str;

    /// A builder, from the environment or empty.
    fn start(read_env: bool) -> Self;
    /// Sets what the URL says (bucket, account, ...).
    fn with_url(self, url: &str) -> Self;
    /// Sets one configuration value.
    fn set(self, key: Self::Key, value: &str) -> Self;
    /// One configuration value, as set so far (environment included).
    fn get(&self, key: &Self::Key) -> Option<String>;
    /// The key of an HTTP client option.
    fn client(key: ClientConfigKey) -> Self::Key;
    /// The key of the service endpoint (checked for plain HTTP).
    fn endpoint() -> Self::Key;
    /// The configuration the dedicated `s3_*` settings make, or why they do not apply.
    fn dedicated_settings(options: &DestinationOptions) -> Result<Vec<(Self::Key, String)>>;
    /// Whether a plain-HTTP endpoint needs `allow_http` (not for a local emulator).
    fn checks_plain_http(&self) -> bool {
        true
    }
    /// The bucket (or `account/container`) `url` names, the builder's configuration filling in
    /// what the URL leaves out. (The builders read the URL only when they build.)
    fn bucket(&self, url: &Url) -> String {
        let _ = self;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match url.scheme() {
            // The bucket is in the path: `https://host/bucket/key`.
            "http" | "https" => {
                let first = url.path_segments().and_then(|mut s| s.next());
                format!("{host}/{}", first.unwrap_or_default())
            }
            _ => host,
        }
    }
    /// Refuses, before any request, a configuration that has no credentials and may not look
    /// for any (see [`AmazonS3Builder`]'s).
    fn check_credentials(&self, _options: &DestinationOptions, _display: &str) -> Result<()> {
        Ok(())
    }
    /// The store, with the retry policy and the HTTP connector.
    fn finish(
        self,
        retry: RetryConfig,
        connector: ObservingConnector,
    ) -> object_store::Result<Arc<dyn ObjectStore>>;
}

/// The [`Backend`] methods every `object_store` builder has under the same names (the builders
/// share an API but no trait).
macro_rules! same_builder_api {
    () => {
        fn start(read_env: bool) -> Self {
            if read_env {
                Self::from_env()
            } else {
                Self::new()
            }
        }
        fn with_url(self, url: &str) -> Self {
            self.with_url(url)
        }
        fn set(self, key: Self::Key, value: &str) -> Self {
            self.with_config(key, value)
        }
        fn get(&self, key: &Self::Key) -> Option<String> {
            self.get_config_value(key)
        }
        fn finish(
            self,
            retry: RetryConfig,
            connector: ObservingConnector,
        ) -> object_store::Result<Arc<dyn ObjectStore>> {
            let store = self
                .with_retry(retry)
                .with_http_connector(connector)
                .build()?;
            Ok(Arc::new(store))
        }
    };
}

impl Backend for AmazonS3Builder {
    type Key = AmazonS3ConfigKey;
    const NAME: &'static str = "S3";
    const TIMEOUT_OPTION: &'static str = "aws_timeout";
    const ALLOW_HTTP_ENV: &'static str = "AWS_ALLOW_HTTP=true";
    const SERVICE: &'static str = "s3";

    same_builder_api!();
    fn check_credentials(&self, options: &DestinationOptions, display: &str) -> Result<()> {
        let has = |k: AmazonS3ConfigKey| self.get(&k).is_some_and(|v| !v.is_empty());
        let configured = has(AmazonS3ConfigKey::AccessKeyId)
            || has(AmazonS3ConfigKey::SecretAccessKey)
            || (has(AmazonS3ConfigKey::WebIdentityTokenFile) && has(AmazonS3ConfigKey::RoleArn))
            || has(AmazonS3ConfigKey::ContainerCredentialsRelativeUri)
            || has(AmazonS3ConfigKey::ContainerCredentialsFullUri)
            || is_true(self.get(&AmazonS3ConfigKey::SkipSignature).as_deref());
        // object_store would ask the instance metadata service next; the AWS tools' own switch
        // turns that off (object_store does not read it).
        let metadata_disabled =
            options.read_env && is_true(std::env::var("AWS_EC2_METADATA_DISABLED").ok().as_deref());
        if configured || !metadata_disabled {
            return Ok(());
        }
        Err(Error::usage(format!(
            "no AWS credentials found for {display}: {}, and not the instance metadata \
             service, which AWS_EC2_METADATA_DISABLED turns off ({})",
            super::errors::AWS_CREDENTIAL_SOURCES,
            super::errors::AWS_NOT_READ
        )))
    }
    fn client(key: ClientConfigKey) -> Self::Key {
        AmazonS3ConfigKey::Client(key)
    }
    fn endpoint() -> Self::Key {
        AmazonS3ConfigKey::Endpoint
    }
    fn dedicated_settings(options: &DestinationOptions) -> Result<Vec<(Self::Key, String)>> {
        let mut settings = Vec::new();
        if let Some(e) = &options.s3_endpoint {
            settings.push((AmazonS3ConfigKey::Endpoint, e.clone()));
        }
        if let Some(r) = &options.s3_region {
            settings.push((AmazonS3ConfigKey::Region, r.clone()));
        }
        if options.s3_path_style {
            settings.push((AmazonS3ConfigKey::VirtualHostedStyleRequest, "false".into()));
        }
        Ok(settings)
    }
}

impl Backend for GoogleCloudStorageBuilder {
    type Key = GoogleConfigKey;
    const NAME: &'static str = "GCS";
    const TIMEOUT_OPTION: &'static str = "google_timeout";
    const ALLOW_HTTP_ENV: &'static str = "allow_http=true";
    const SERVICE: &'static str = "gs";

    same_builder_api!();
    fn client(key: ClientConfigKey) -> Self::Key {
        GoogleConfigKey::Client(key)
    }
    fn endpoint() -> Self::Key {
        GoogleConfigKey::BaseUrl
    }
    fn dedicated_settings(options: &DestinationOptions) -> Result<Vec<(Self::Key, String)>> {
        refuse_s3_settings(options, "a gs:// URL").map(|()| Vec::new())
    }
}

impl Backend for MicrosoftAzureBuilder {
    type Key = AzureConfigKey;
    const NAME: &'static str = "Azure";
    const TIMEOUT_OPTION: &'static str = "azure_timeout";
    const ALLOW_HTTP_ENV: &'static str = "AZURE_ALLOW_HTTP=true";
    const SERVICE: &'static str = "azure";

    same_builder_api!();
    fn bucket(&self, url: &Url) -> String {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let account_in_host = host.split('.').next().unwrap_or_default().to_owned();
        let (account, container) = match url.scheme() {
            // `abfss://container@account.dfs.core.windows.net/key`
            "abfs" | "abfss" if !url.username().is_empty() => {
                (account_in_host, url.username().to_owned())
            }
            // `https://account.blob.core.windows.net/container/key`
            "http" | "https" => (
                account_in_host,
                url.path_segments()
                    .and_then(|mut s| s.next())
                    .unwrap_or_default()
                    .to_owned(),
            ),
            // `az://container/key`: the account is configured.
            _ => (
                self.get(&AzureConfigKey::AccountName)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                host,
            ),
        };
        format!("{account}/{container}")
    }
    fn client(key: ClientConfigKey) -> Self::Key {
        AzureConfigKey::Client(key)
    }
    fn endpoint() -> Self::Key {
        AzureConfigKey::Endpoint
    }
    fn dedicated_settings(options: &DestinationOptions) -> Result<Vec<(Self::Key, String)>> {
        refuse_s3_settings(options, "an Azure URL").map(|()| Vec::new())
    }
    fn checks_plain_http(&self) -> bool {
        // The Azurite emulator is plain HTTP on the local machine.
        self.get_config_value(&AzureConfigKey::UseEmulator)
            .as_deref()
            != Some("true")
    }
}

/// The one way every backend is configured.
struct Recipe<'a> {
    url: &'a Url,
    options: &'a DestinationOptions,
    /// The URL without secrets, for messages.
    display: String,
    observer: &'a Arc<UploadObserver>,
}

impl Recipe<'_> {
    fn build<B: Backend>(&self) -> Result<(Arc<dyn ObjectStore>, Place)> {
        let builder = self.configure::<B>()?;
        builder.check_credentials(self.options, &self.display)?;
        let endpoint = builder
            .get(&B::endpoint())
            .map(|e| e.trim_end_matches('/').to_ascii_lowercase())
            .filter(|e| !e.is_empty());
        let place = Place {
            service: B::SERVICE,
            endpoint,
            bucket: builder.bucket(self.url),
        };
        let retry = RetryConfig {
            backoff: backoff_for(self.options.max_retries, self.options.retry_timeout),
            max_retries: self.options.max_retries,
            retry_timeout: self.options.retry_timeout,
        };
        let connector = ObservingConnector {
            observer: Arc::clone(self.observer),
        };
        let store = builder.finish(retry, connector).map_err(|e| {
            Error::usage(format!(
                "cannot configure the destination {}: {}",
                self.display,
                redact_error(&e)
            ))
        })?;
        Ok((store, place))
    }

    /// Everything but the retry policy and the connector (what the tests look at).
    fn configure<B: Backend>(&self) -> Result<B> {
        let options = self.options;
        let dedicated = B::dedicated_settings(options)?;
        let mut b = B::start(options.read_env).with_url(self.url.as_str());
        let has_timeout = options
            .storage_options
            .iter()
            .any(|o| o.key == "timeout" || o.key == B::TIMEOUT_OPTION);
        if !has_timeout {
            let timeout = humantime::format_duration(DEFAULT_UPLOAD_REQUEST_TIMEOUT).to_string();
            b = b.set(B::client(ClientConfigKey::Timeout), &timeout);
        }
        for o in &options.storage_options {
            let key = o.key.parse().map_err(|_| unknown_option::<B>(o))?;
            b = b.set(key, o.value.expose());
        }
        for (key, value) in dedicated {
            b = b.set(key, &value);
        }
        if options.allow_http {
            b = b.set(B::client(ClientConfigKey::AllowHttp), "true");
        }
        if b.checks_plain_http() {
            check_plain_http(
                b.get(&B::endpoint()).as_deref(),
                b.get(&B::client(ClientConfigKey::AllowHttp)).as_deref(),
                B::ALLOW_HTTP_ENV,
            )?;
        }
        warn_if_unverified(
            b.get(&B::client(ClientConfigKey::AllowInvalidCertificates))
                .as_deref(),
            &self.display,
        );
        Ok(b)
    }
}

/// Growth factor of the backoff: `object_store` draws each wait at random between the first
/// wait and this many times the previous one ("decorrelated jitter"). With 2 a wait is on
/// average the previous one plus half the first: the waits spread evenly enough that the
/// total rarely falls far below its expectation (3 makes a few retries far apart, or many
/// close together).
const BACKOFF_BASE: f64 = 2.0;
/// Bounds of the first wait, whatever the budget.
const MIN_FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// A backoff that spreads `max_retries` retries across the `retry_timeout` budget, so a storage
/// blip of a few seconds does not use up every retry within the first second: the expected
/// waits add up to about four fifths of the budget, no single wait is longer than a third of
/// it, and the first is between 50 ms and 5 s.
///
/// With decorrelated jitter of base 2, wait `k` is on average `init × (1 + k/2)`, so `n` waits
/// add up to `init × (n + n(n-1)/4)`; solving that for four fifths of the budget gives `init`.
fn backoff_for(max_retries: usize, retry_timeout: Duration) -> BackoffConfig {
    let max_backoff = (retry_timeout / 3).max(MIN_FIRST_BACKOFF);
    #[allow(clippy::cast_precision_loss)] // a retry count
    let n = max_retries.max(1) as f64;
    let init = retry_timeout.mul_f64(0.8 / (n + n * (n - 1.0) / 4.0));
    BackoffConfig {
        init_backoff: init
            .clamp(MIN_FIRST_BACKOFF, MAX_FIRST_BACKOFF)
            .min(max_backoff),
        max_backoff,
        base: BACKOFF_BASE,
    }
}

fn unknown_option<B: Backend>(o: &StorageOption) -> Error {
    let backend = B::NAME;
    Error::invalid_setting(
        "storage_options",
        format!(
            "{}: not an object_store option for {backend} (see the object_store documentation \
             of the {backend} builder's configuration keys)",
            o.key
        ),
    )
}

/// True for the ways `object_store` spells a true boolean option.
fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes" | "y"
        )
    })
}

/// TLS certificates are verified unless `allow_invalid_certificates` (a storage option or its
/// environment variable) turns it off; then every run says so, loudly.
fn warn_if_unverified(allow_invalid_certificates: Option<&str>, location: &str) {
    if is_true(allow_invalid_certificates) {
        tracing::warn!(
            "TLS certificate verification is OFF for {location} (allow_invalid_certificates): \
             anyone between here and the storage service can read and change the data and \
             the credentials; use it only against a test server"
        );
    }
}

/// A plain-HTTP endpoint without `allow_http` fails at the first request with reqwest's
/// cryptic "builder error"; say what is wrong before that.
fn check_plain_http(
    endpoint: Option<&str>,
    allow_http: Option<&str>,
    env_hint: &str,
) -> Result<()> {
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    let plain = endpoint
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    // Not `is_true`: object_store itself takes only these for allow_http.
    let allowed = allow_http.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    });
    if plain && !allowed {
        return Err(Error::invalid_setting(
            "allow_http",
            format!(
                "needed for the plain-HTTP storage endpoint {} (or set {env_hint}); data and \
                 request signatures would travel unencrypted, so use an https:// endpoint \
                 outside a trusted network",
                redact_url_text(endpoint)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(output: &str, storage_options: &[&str]) -> DestinationOptions {
        let mut o = DestinationOptions::new(output);
        o.read_env = false;
        o.storage_options = storage_options
            .iter()
            .map(|s| StorageOption::parse(s).unwrap())
            .collect();
        o
    }

    fn recipe<'a>(
        url: &'a Url,
        options: &'a DestinationOptions,
        observer: &'a Arc<UploadObserver>,
    ) -> Recipe<'a> {
        Recipe {
            url,
            options,
            display: redact_url(url),
            observer,
        }
    }

    fn setting_of(e: &Error) -> &'static str {
        match e {
            Error::InvalidSetting { setting, .. } => setting,
            other => panic!("not an invalid setting: {other:?}"),
        }
    }

    /// The same table for every backend: (URL, a valid option, what an endpoint option is
    /// called, whether the S3 settings apply).
    const BACKENDS: [(&str, &str, &str, bool); 3] = [
        (
            "s3://bucket/x.parquet",
            "region=eu-west-1",
            "endpoint",
            true,
        ),
        (
            "gs://bucket/x.parquet",
            "bucket_name=bucket",
            "base_url",
            false,
        ),
        (
            "az://data/x.parquet",
            "account_name=myaccount",
            "endpoint",
            false,
        ),
    ];

    #[test]
    fn every_backend_accepts_and_refuses_options_the_same_way() {
        let observer = Arc::new(UploadObserver::default());
        for (output, valid, endpoint, s3) in BACKENDS {
            let url = Url::parse(output).unwrap();

            let o = opts(output, &[valid, "account_key=c2VjcmV0"]);
            // Azure wants a key; the others refuse it as not theirs.
            let result = build(&url, url.as_str(), &o);
            assert_eq!(result.is_ok(), output.starts_with("az:"), "{output}");
            if let Err(e) = result {
                assert_eq!(setting_of(&e), "storage_options", "{output}");
                assert!(e.to_string().contains("account_key"), "{output}: {e}");
            }

            let o = opts(output, &[valid, "no_such_option=1"]);
            let e = build(&url, url.as_str(), &o).unwrap_err();
            assert_eq!(setting_of(&e), "storage_options", "{output}");
            assert!(e.to_string().contains("no_such_option"), "{e}");

            // The default request timeout, unless an option sets one.
            let o = opts(output, &[valid]);
            let timeout = |o: &DestinationOptions| match output.split_once(':').unwrap().0 {
                "s3" => recipe(&url, o, &observer)
                    .configure::<AmazonS3Builder>()
                    .unwrap()
                    .get(&AmazonS3Builder::client(ClientConfigKey::Timeout)),
                "gs" => recipe(&url, o, &observer)
                    .configure::<GoogleCloudStorageBuilder>()
                    .unwrap()
                    .get(&GoogleCloudStorageBuilder::client(ClientConfigKey::Timeout)),
                _ => recipe(&url, o, &observer)
                    .configure::<MicrosoftAzureBuilder>()
                    .unwrap()
                    .get(&MicrosoftAzureBuilder::client(ClientConfigKey::Timeout)),
            };
            assert_eq!(timeout(&o).as_deref(), Some("5m"), "{output}");
            let o = opts(output, &[valid, "timeout=30s"]);
            assert_eq!(timeout(&o).as_deref(), Some("30s"), "{output}");

            // A plain-HTTP endpoint needs allow_http, by setting or by option (object_store
            // allows it by default for GCS, whose emulators are plain HTTP).
            let plain = format!("{endpoint}=http://127.0.0.1:9000");
            let o = opts(output, &[valid, &plain]);
            if output.starts_with("gs:") {
                build(&url, url.as_str(), &o).unwrap();
                let o = opts(output, &[valid, &plain, "allow_http=false"]);
                let e = build(&url, url.as_str(), &o).unwrap_err();
                assert_eq!(setting_of(&e), "allow_http", "{output}");
            } else {
                let e = build(&url, url.as_str(), &o).unwrap_err();
                assert_eq!(setting_of(&e), "allow_http", "{output}");
                assert!(e.to_string().contains("http://127.0.0.1:9000"), "{e}");
            }
            let mut o = opts(output, &[valid, &plain]);
            o.allow_http = true;
            build(&url, url.as_str(), &o).unwrap();
            let o = opts(output, &[valid, &plain, "allow_http=true"]);
            build(&url, url.as_str(), &o).unwrap();

            // The S3 settings apply to S3 only.
            let mut o = opts(output, &[valid]);
            o.s3_region = Some("eu-west-1".into());
            o.s3_path_style = true;
            match build(&url, url.as_str(), &o) {
                Ok(_) => assert!(s3, "{output}"),
                Err(e) => {
                    assert!(!s3, "{output}: {e}");
                    assert_eq!(setting_of(&e), "s3_region");
                }
            }
        }
    }

    #[test]
    fn the_s3_settings_reach_the_builder() {
        let url = Url::parse("s3://bucket/x.parquet").unwrap();
        let mut o = opts("s3://bucket/x.parquet", &["region=us-east-1"]);
        o.s3_endpoint = Some("https://minio.example:9000".into());
        o.s3_region = Some("eu-west-1".into());
        o.s3_path_style = true;
        let observer = Arc::new(UploadObserver::default());
        let b = recipe(&url, &o, &observer)
            .configure::<AmazonS3Builder>()
            .unwrap();
        // The dedicated settings win over the storage options.
        assert_eq!(
            b.get(&AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            b.get(&AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("https://minio.example:9000")
        );
        assert_eq!(
            b.get(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
                .as_deref(),
            Some("false")
        );
    }

    #[test]
    fn the_azure_emulator_may_be_plain_http() {
        let url = Url::parse("az://data/x.parquet").unwrap();
        let o = opts(
            "az://data/x.parquet",
            &["use_emulator=true", "endpoint=http://127.0.0.1:10000"],
        );
        build(&url, url.as_str(), &o).unwrap();
    }

    /// `object_store`'s backoff, as its `client::backoff` computes it: the first wait is
    /// `init`, each next one random between `init` and `base` times the previous, capped.
    fn waits(b: &BackoffConfig, retries: usize, rng: &mut fastrand::Rng) -> Vec<f64> {
        let (init, max) = (b.init_backoff.as_secs_f64(), b.max_backoff.as_secs_f64());
        let mut next = init;
        (0..retries)
            .map(|_| {
                let drawn = init + rng.f64() * (next * b.base - init);
                std::mem::replace(&mut next, drawn.min(max))
            })
            .collect()
    }

    #[test]
    fn retries_are_spread_across_the_budget() {
        let mut rng = fastrand::Rng::with_seed(12);
        // (retries, budget in seconds)
        for (retries, budget) in [(6, 20.0), (6, 120.0), (6, 6.0), (2, 3.0), (10, 60.0)] {
            let b = backoff_for(retries, Duration::from_secs_f64(budget));
            assert!(b.max_backoff.as_secs_f64() <= budget / 3.0 + 1e-9);
            let mut totals: Vec<f64> = (0..10_000)
                .map(|_| waits(&b, retries, &mut rng).iter().sum())
                .collect();
            totals.sort_by(f64::total_cmp);
            let (p1, median) = (totals[100], totals[5_000]);
            // Most of the budget is used, most of the time (0.75 s of 20 s before), and the
            // waits alone rarely overrun it.
            assert!(
                median > 0.45 * budget && median < 0.85 * budget,
                "{retries} in {budget}s ({b:?}): median {median:.2}"
            );
            assert!(
                p1 > 0.25 * budget,
                "{retries} in {budget}s ({b:?}): 1st percentile {p1:.2}"
            );
        }
        // One retry with a long budget: the first wait is bounded.
        let b = backoff_for(1, Duration::from_mins(2));
        assert_eq!(b.init_backoff, MAX_FIRST_BACKOFF);
        // A tiny budget: the shortest first wait.
        let b = backoff_for(6, Duration::from_millis(100));
        assert_eq!(b.init_backoff, MIN_FIRST_BACKOFF);
    }

    #[test]
    fn places_name_the_bucket_whatever_the_spelling() {
        let place = |output: &str, options: &[&str]| {
            let url = Url::parse(output).unwrap();
            let t = build(&url, output, &opts(output, options)).unwrap();
            t.location_id(t.key.as_ref())
        };
        let s3 = place("s3://lake/k", &["region=us-east-1"]);
        assert_eq!(s3.to_string(), "s3://lake/k");
        assert_eq!(s3, place("s3a://LAKE/%6B", &[]));
        assert_ne!(
            s3,
            place("s3://lake/k", &["endpoint=https://minio.example"])
        );
        assert_ne!(s3, place("gs://lake/k", &[]));
        let key = "account_key=c2VjcmV0";
        let az = place("az://data/x", &["account_name=Acct", key]);
        assert_eq!(
            az,
            place("abfss://data@acct.dfs.core.windows.net/x", &[key])
        );
        assert_eq!(
            az,
            place("https://acct.blob.core.windows.net/data/x", &[key])
        );
        assert_ne!(az, place("az://data/x", &["account_name=other", key]));
    }

    #[test]
    fn check_plain_http_table() {
        let cases = [
            (None, None, true),
            (Some("https://x"), None, true),
            (Some("http://x"), None, false),
            (Some("http://x"), Some("false"), false),
            (Some("http://x"), Some("true"), true),
            (Some("HTTP://x"), Some("TRUE"), true),
            (Some("http://x"), Some("1"), true),
        ];
        for (endpoint, allow, ok) in cases {
            assert_eq!(
                check_plain_http(endpoint, allow, "X").is_ok(),
                ok,
                "{endpoint:?} {allow:?}"
            );
        }
    }

    #[test]
    fn unsupported_schemes_name_the_output() {
        for output in ["ftp://host/x.parquet", "http://example.com/x.parquet"] {
            let url = Url::parse(output).unwrap();
            let e = build(&url, output, &opts(output, &[])).unwrap_err();
            assert_eq!(setting_of(&e), "output");
            assert!(e.to_string().contains("unsupported destination"), "{e}");
        }
    }
}
