//! Errors: say what failed, never leak secrets.
//!
//! An `object_store` error becomes one line in words ([`store_error`]) whose kind is read from
//! the error's types: its variant (not found, permission denied, ...), the
//! [`HttpErrorKind`](object_store::client::HttpErrorKind) of a transport failure, a `rustls`
//! certificate error. Every URL in a message loses its password and query string, and the
//! usual signature parameters are blanked wherever they appear.

use object_store::client::{HttpError, HttpErrorKind};
use url::Url;

use crate::error::{DestinationError, DestinationErrorKind, Error, error_chain};
use crate::units::shorten;

/// What every failed write adds: the run left nothing behind.
pub(super) const NOTHING_WRITTEN: &str = "; nothing was written";

/// Where `object_store` looks for AWS credentials before the instance metadata service (the
/// last place), for the message that says none were found.
pub(super) const AWS_CREDENTIAL_SOURCES: &str = "looked in the storage options \
    (access_key_id and secret_access_key) and the environment (AWS_ACCESS_KEY_ID and \
    AWS_SECRET_ACCESS_KEY; AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN; \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI)";
/// What `object_store` does not read, for the same message.
pub(super) const AWS_NOT_READ: &str = "~/.aws/credentials and AWS_PROFILE are not read";

/// Turns an `object_store` error at `location` into a one-line message:
/// `{what} failed: {cause}{tail}`, or `{what} {cause}{tail}` when `what` ends with a colon.
/// Transient failures that outlasted the retry budget (5xx, 429, timeouts, connection failures)
/// are of kind [`DestinationErrorKind::Transient`], and exit as such.
pub(super) fn store_error(location: &str, what: &str, e: object_store::Error, tail: &str) -> Error {
    let reason = explain(&e);
    let retried = retries(&e)
        .map(|n| format!(" (after {n} retries)"))
        .unwrap_or_default();
    let message = match what.strip_suffix(':') {
        Some(what) => format!("{what}: {reason}{retried}{tail}"),
        None => format!("{what} failed: {reason}{retried}{tail}"),
    };
    DestinationError::new(kind_of(&e), location, message)
        .with_cause(e)
        .into()
}

/// `if_exists = fail` and something is there.
pub(super) fn exists_error(location: &str) -> Error {
    DestinationError::new(
        DestinationErrorKind::AlreadyExists,
        location,
        format!("{location} already exists and --if-exists fail was given; nothing was written"),
    )
    .into()
}

/// What kind of failure an `object_store` error is, from its types.
pub(super) fn kind_of(e: &object_store::Error) -> DestinationErrorKind {
    // No credentials anywhere: asking the instance metadata service again will not help.
    if instance_metadata_failure(&error_chain(e)).is_some() {
        return DestinationErrorKind::Unauthenticated;
    }
    // A certificate that cannot be verified will not become valid by trying again, although
    // the HTTP client reports it as a connection failure.
    if causes(e).any(is_certificate_failure) {
        return DestinationErrorKind::Certificate;
    }
    match e {
        object_store::Error::NotFound { .. } => return DestinationErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => return DestinationErrorKind::AlreadyExists,
        object_store::Error::PermissionDenied { .. } => {
            return DestinationErrorKind::PermissionDenied;
        }
        object_store::Error::Unauthenticated { .. } => {
            return DestinationErrorKind::Unauthenticated;
        }
        _ => {}
    }
    if let Some(h) = causes(e).find_map(|c| c.downcast_ref::<HttpError>()) {
        return if matches!(
            h.kind(),
            HttpErrorKind::Connect
                | HttpErrorKind::Timeout
                | HttpErrorKind::Request
                | HttpErrorKind::Interrupted
        ) {
            DestinationErrorKind::Transient
        } else {
            DestinationErrorKind::Store
        };
    }
    match http_status(e) {
        Some(s) if s >= 500 || s == 429 || s == 408 => DestinationErrorKind::Transient,
        _ => DestinationErrorKind::Store,
    }
}

/// An error and its causes, including the error inside an `io::Error` (whose `source` skips
/// it: that is where a TLS library puts its own error).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| {
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        }
    })
}

fn is_certificate_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

// object_store 0.14 keeps its request error type (`client::retry::RetryError`, which has
// `status()` and the retry count) in a private module, so neither can be downcast to: a
// non-2xx status that is not a typed variant (5xx, 429, 408), and the number of retries, are
// only in its text (`... after 3 retries, ... status code: 503 ...`). These two read the text.

/// The HTTP status a request ended with, read from the error's text (see above).
fn http_status(e: &object_store::Error) -> Option<u16> {
    let text = error_chain(e);
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

/// How many times the request was retried, read from the error's text (see above).
fn retries(e: &object_store::Error) -> Option<u64> {
    retries_in(&error_chain(e))
}

/// `after N retries` in object_store's retry error text.
fn retries_in(text: &str) -> Option<u64> {
    let at = text.find("after ")? + "after ".len();
    let rest = &text[at..];
    let n = rest.split_whitespace().next()?;
    rest[n.len()..]
        .trim_start()
        .starts_with("retries")
        .then(|| n.parse().ok())
        .flatten()
}

/// When a failure is the instance metadata service's (the last place `object_store` looks for
/// AWS credentials: no credentials were configured anywhere else), what it answered. Read from
/// the text (see above): its request paths are fixed by the service.
fn instance_metadata_failure(text: &str) -> Option<String> {
    const PATHS: [&str; 2] = [
        "/latest/api/token",
        "/latest/meta-data/iam/security-credentials",
    ];
    if !PATHS.iter().any(|p| text.contains(p)) {
        return None;
    }
    Some(match text.find("status code: ") {
        Some(at) => {
            let status = &text[at + "status code: ".len()..];
            let end = status.find([',', '\n']).unwrap_or(status.len());
            let status = status[..end].trim().trim_end_matches(':');
            format!("answered {}", shorten(status, 60))
        }
        None => "could not be reached".to_owned(),
    })
}

/// An `object_store` error in words, without secrets.
pub(super) fn explain(e: &object_store::Error) -> String {
    if let Some(answer) = instance_metadata_failure(&error_chain(e)) {
        return format!(
            "no AWS credentials found: {AWS_CREDENTIAL_SOURCES}, then asked the instance \
             metadata service, which {answer} ({AWS_NOT_READ}); set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or, off an EC2 instance, AWS_EC2_METADATA_DISABLED=true to \
             fail without asking it"
        );
    }
    match e {
        object_store::Error::NotFound { .. } => {
            let text = error_chain(e);
            match xml_tag(&text, "Code").as_deref() {
                Some(code) => explain_code(code, &text),
                None => "not found (the bucket or container may not exist)".into(),
            }
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            let text = error_chain(e);
            match xml_tag(&text, "Code") {
                Some(code) => explain_code(&code, &text),
                None => "the storage service refused the request (HTTP 401/403): check the \
                         credentials and their permissions on this bucket"
                    .into(),
            }
        }
        _ => explain_chain(e),
    }
}

fn explain_chain(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some((err, h)) = causes(e).find_map(|c| Some((c, c.downcast_ref::<HttpError>()?))) {
        match h.kind() {
            HttpErrorKind::Connect => {
                return format!(
                    "cannot connect to the storage service: {}",
                    redact_text(&root_cause(err))
                );
            }
            HttpErrorKind::Timeout => return "the storage service did not answer in time".into(),
            _ => {}
        }
    }
    let text = error_chain(e);
    if let Some(code) = xml_tag(&text, "Code") {
        return explain_code(&code, &text);
    }
    // reqwest says only "builder error" when it refuses a plain-http URL; nothing typed tells.
    if text.contains("builder error") {
        return "the HTTP client refused the request (a plain-http endpoint needs --allow-http)"
            .into();
    }
    shorten(&redact_text(&text), 400)
}

/// Names the usual S3/Azure/GCS error codes (from the XML body of the answer) in words.
fn explain_code(code: &str, text: &str) -> String {
    let message = xml_tag(text, "Message")
        .map(|m| format!(": {}", shorten(&redact_text(&m), 200)))
        .unwrap_or_default();
    match code {
        "NoSuchBucket" | "ContainerNotFound" => {
            format!("the bucket does not exist ({code}); create it first or fix the URL")
        }
        "InvalidAccessKeyId" | "NotSignedUp" | "InvalidClientTokenId" => format!(
            "the storage service does not know the access key id ({code}): check the credentials \
             (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the access_key_id / \
             secret_access_key storage options)"
        ),
        "SignatureDoesNotMatch" | "AuthenticationFailed" => format!(
            "the storage service rejected the request signature ({code}): the secret key does \
             not match the access key id; check the credentials"
        ),
        "AccessDenied" | "AuthorizationFailure" | "AuthorizationPermissionMismatch" => {
            format!("access denied ({code}): the credentials lack permission to write here")
        }
        "ExpiredToken" | "TokenRefreshRequired" => {
            format!("the credentials have expired ({code})")
        }
        "EntityTooSmall" => format!(
            "the storage service rejected a part as too small ({code}); use a larger \
             --upload-part-size"
        ),
        _ => format!("the storage service answered {code}{message}"),
    }
}

/// The error code in the XML body of a storage service's answer (`<Code>AccessDenied</Code>`).
/// The body is only in the error's text.
pub(super) fn store_code(e: &object_store::Error) -> Option<String> {
    xml_tag(&error_chain(e), "Code")
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(text[start..end].trim().to_string())
}

/// An error and its causes on one line, without secrets.
pub(super) fn redact_error(e: &(dyn std::error::Error + 'static)) -> String {
    redact_text(&error_chain(e))
}

/// A URL without password, query string or fragment.
pub(super) fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// [`redact_url`] for text that should be one URL; falls back to dropping anything after `?`.
pub(super) fn redact_url_text(s: &str) -> String {
    match Url::parse(s) {
        Ok(u) => redact_url(&u),
        Err(_) => redact_text(s),
    }
}

/// Strips query strings and passwords from every `http(s)://` URL inside `text` (error
/// messages from HTTP clients may carry a signed URL or a SAS token).
pub(super) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let found = ["https://", "http://"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min();
        let Some(start) = found else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        match Url::parse(token) {
            Ok(u) => out.push_str(redact_url(&u).trim_end_matches('/')),
            Err(_) => out.push_str(token.split('?').next().unwrap_or_default()),
        }
        rest = &tail[end..];
    }
    // Also drop well-known secret query parameters that appear without a URL around them.
    for key in [
        "sig=",
        "X-Amz-Signature=",
        "X-Amz-Credential=",
        "X-Amz-Security-Token=",
    ] {
        let mut from = 0;
        while let Some(i) = out[from..].find(key).map(|i| from + i + key.len()) {
            let end = out[i..]
                .find(|c: char| c == '&' || c.is_whitespace())
                .map_or(out.len(), |j| i + j);
            out.replace_range(i..end, "REDACTED");
            from = i + "REDACTED".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use object_store::aws::AmazonS3Builder;
    use object_store::client::{
        HttpClient, HttpConnector, HttpRequest, HttpResponse, HttpResponseBody, HttpService,
    };
    use object_store::{BackoffConfig, ObjectStoreExt, PutPayload, RetryConfig};

    use super::*;

    #[derive(Debug)]
    struct Text(&'static str);
    impl std::fmt::Display for Text {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Text {}

    fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(source),
        }
    }

    #[test]
    fn transport_failures_are_classified_by_type() {
        let cases = [
            (HttpErrorKind::Connect, DestinationErrorKind::Transient),
            (HttpErrorKind::Timeout, DestinationErrorKind::Transient),
            (HttpErrorKind::Request, DestinationErrorKind::Transient),
            (HttpErrorKind::Interrupted, DestinationErrorKind::Transient),
            (HttpErrorKind::Decode, DestinationErrorKind::Store),
            (HttpErrorKind::Unknown, DestinationErrorKind::Store),
        ];
        for (http, want) in cases {
            let e = generic(HttpError::new(http, Text("boom")));
            assert_eq!(kind_of(&e), want, "{http:?}");
        }
    }

    #[test]
    fn a_certificate_failure_is_not_transient() {
        // As reqwest reports it: a connection failure, the TLS error inside an io::Error.
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let e = generic(HttpError::new(HttpErrorKind::Connect, tls));
        assert_eq!(kind_of(&e), DestinationErrorKind::Certificate);
        let err = store_error("s3://b/k", "upload to s3://b/k", e, NOTHING_WRITTEN);
        assert_eq!(err.exit_class().code(), 6);
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );

        // Another TLS failure is a connection failure like any other.
        let other =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        let e = generic(HttpError::new(HttpErrorKind::Connect, other));
        assert_eq!(kind_of(&e), DestinationErrorKind::Transient);
    }

    #[test]
    fn refusals_are_classified_by_variant() {
        let path = || "b/k".to_string();
        let source = || Box::new(Text("Server returned non-2xx status code: 403 Forbidden")) as _;
        let cases = [
            (
                object_store::Error::PermissionDenied {
                    path: path(),
                    source: source(),
                },
                DestinationErrorKind::PermissionDenied,
            ),
            (
                object_store::Error::Unauthenticated {
                    path: path(),
                    source: source(),
                },
                DestinationErrorKind::Unauthenticated,
            ),
            (
                object_store::Error::NotFound {
                    path: path(),
                    source: source(),
                },
                DestinationErrorKind::NotFound,
            ),
            (
                object_store::Error::AlreadyExists {
                    path: path(),
                    source: source(),
                },
                DestinationErrorKind::AlreadyExists,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(kind_of(&e), want, "{e}");
            let err = store_error("s3://b/k", "upload to s3://b/k", e, "");
            assert_eq!(err.exit_class().code(), 6, "{err}");
        }
    }

    /// An HTTP service that answers every request with `status`, and counts the requests.
    #[derive(Debug)]
    struct Canned {
        status: u16,
        body: &'static str,
        calls: Arc<AtomicUsize>,
    }

    impl HttpService for Canned {
        fn call<'s, 'f>(
            &'s self,
            _req: HttpRequest,
        ) -> Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'f>>
        where
            's: 'f,
            Self: 'f,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut response = HttpResponse::new(HttpResponseBody::from(self.body.to_string()));
            *response.status_mut() = reqwest::StatusCode::from_u16(self.status).unwrap();
            Box::pin(async move { Ok(response) })
        }
    }

    #[derive(Debug)]
    struct CannedConnector(u16, &'static str, Arc<AtomicUsize>);

    impl HttpConnector for CannedConnector {
        fn connect(&self, _: &object_store::ClientOptions) -> object_store::Result<HttpClient> {
            Ok(HttpClient::new(Canned {
                status: self.0,
                body: self.1,
                calls: Arc::clone(&self.2),
            }))
        }
    }

    /// What a real S3 client (its own retry loop included) returns for a PUT that is always
    /// answered with `status`, and how many requests it made.
    async fn put_answered_with(status: u16, body: &'static str) -> (object_store::Error, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let store = AmazonS3Builder::new()
            .with_bucket_name("b")
            .with_region("us-east-1")
            .with_access_key_id("AKIDEXAMPLE")
            .with_secret_access_key("secret")
            .with_endpoint("http://127.0.0.1:9")
            .with_allow_http(true)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(2),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
            })
            .with_http_connector(CannedConnector(status, body, Arc::clone(&calls)))
            .build()
            .unwrap();
        let e = store
            .put(&"k".into(), PutPayload::from_static(b"x"))
            .await
            .unwrap_err();
        (e, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn real_store_errors_are_classified() {
        // A 503 the client retried until its budget ran out: transient, exit 7.
        let (e, calls) = put_answered_with(503, "").await;
        assert_eq!(calls, 3);
        assert_eq!(kind_of(&e), DestinationErrorKind::Transient);
        assert_eq!(retries(&e), Some(2));
        let err = store_error("s3://b/k", "upload to s3://b/k", e, NOTHING_WRITTEN);
        assert_eq!(err.exit_class().code(), 7, "{err}");
        assert!(err.to_string().contains("(after 2 retries)"), "{err}");

        // A 429 too.
        let (e, _) = put_answered_with(429, "").await;
        assert_eq!(kind_of(&e), DestinationErrorKind::Transient);

        // A 403 is not retried, and is not transient.
        let body = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        let (e, calls) = put_answered_with(403, body).await;
        assert_eq!(calls, 1);
        assert_eq!(kind_of(&e), DestinationErrorKind::PermissionDenied);
        let err = store_error("s3://b/k", "upload to s3://b/k", e, NOTHING_WRITTEN);
        assert_eq!(err.exit_class().code(), 6);
        assert!(
            err.to_string().contains("access denied (AccessDenied)"),
            "{err}"
        );

        // A 400 is the request's fault: not transient.
        let (e, calls) = put_answered_with(400, "").await;
        assert_eq!(calls, 1);
        assert_eq!(kind_of(&e), DestinationErrorKind::Store);
    }

    #[test]
    fn retry_counts_are_read_from_object_store_errors() {
        let t = "Error performing PUT http://h/b/k in 1.2s, after 3 retries, max_retries: 6";
        assert_eq!(retries_in(t), Some(3));
        assert_eq!(retries_in("after all, nothing"), None);
        assert_eq!(retries_in("no retry here"), None);
    }

    #[test]
    fn error_codes_are_explained() {
        let body = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\
                    <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert!(explain_code("NoSuchBucket", body).contains("bucket does not exist"));
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert!(explain_code("Weird", body).contains("Weird: The specified"));
    }

    #[test]
    fn an_instance_metadata_failure_means_no_credentials() {
        let cases = [
            (
                "Generic S3 error: Error performing PUT http://169.254.169.254/latest/api/token \
                 in 2ms - Server returned non-2xx status code: 403 Forbidden: ",
                Some("answered 403 Forbidden"),
            ),
            (
                "Error performing GET http://169.254.169.254/latest/meta-data/iam/security-credentials/ \
                 in 1s, after 2 retries - HTTP error: error sending request",
                Some("could not be reached"),
            ),
            (
                "Error performing PUT http://127.0.0.1:9000/lake/x in 1s - Server returned \
                 non-2xx status code: 403 Forbidden",
                None,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(instance_metadata_failure(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn redaction_strips_queries_and_passwords() {
        let t =
            "Error performing PUT https://acct.blob.core.windows.net/c/k?sv=2020&sig=abc123 in 1s";
        let r = redact_text(t);
        assert!(!r.contains("abc123"), "{r}");
        assert!(r.contains("https://acct.blob.core.windows.net/c/k"), "{r}");
        assert_eq!(
            redact_url_text("https://user:pw@host:9000/p?token=x"),
            "https://user@host:9000/p"
        );
        assert!(!redact_text("query sig=zzz&x=1").contains("zzz"));
    }
}
