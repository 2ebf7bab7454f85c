//! Authentication: credentials, the token they buy, and keeping that token fresh.
//!
//! - **Basic**: `POST {auth}/token/authenticate` with `Authorization: Basic ...`.
//! - **CA certificate**: the same call with `Authorization: CACertificate <base64 of the PEM>`
//!   and a JSON body holding a nonce and its RSA-SHA512 (PKCS#1 v1.5) signature, in the v2
//!   format: `encodedDataFormat: "v2"`, the nonce starting with an 8-byte big-endian Unix time
//!   in seconds followed by random bytes.
//!
//! One token serves the whole run. The client refreshes it (`/token/refresh`) when little
//! of its life is left, signs in again when it has expired, and signs in again when a request
//! gets a 401 (at most three times for one request) — single-flight: requests that fail together wait behind one
//! lock for one new token instead of each signing in (token generations tell whether another
//! request already replaced the token). [`AnaplanClient::logout`] ends the session. Tokens
//! only live in [`Secret`]s.

#[cfg(feature = "certificate")]
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
#[cfg(feature = "certificate")]
use rsa::{
    pkcs1v15::SigningKey,
    sha2::Sha512,
    signature::{SignatureEncoding, Signer},
};
use serde::Deserialize;
use tokio::time::Instant;

use super::{
    AnaplanClient, Call, CallAuth, CallError, Interrupt, bad_answer, call_error, sign_in_refused,
};
use crate::error::{Error, Result};
use crate::retry::GiveUp;
use crate::secret::Secret;

/// The most time logging out may take.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who signs in. `Debug` is derived: the password is a [`Secret`], which redacts itself.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// User name and password.
    Basic {
        /// The user's email address.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A CA-issued certificate and its private key.
    Certificate(Box<CertificateCredentials>),
    /// An OAuth device-grant client and its refresh token ([`super::oauth`]).
    OAuth(super::oauth::credentials::OAuthCredentials),
}

/// A certificate and the private key that signs the nonce, parsed and checked.
#[cfg(feature = "certificate")]
#[derive(Clone)]
pub struct CertificateCredentials {
    certificate_pem: String,
    subject: String,
    key: SigningKey<Sha512>,
}

#[cfg(feature = "certificate")]
impl fmt::Debug for CertificateCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("private_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "certificate")]
impl CertificateCredentials {
    /// Parses a PEM certificate and a PEM private key (PKCS#8, encrypted PKCS#8 with
    /// `passphrase`, or PKCS#1), and checks that the key belongs to the certificate.
    pub fn from_pem(
        certificate_pem: &str,
        private_key_pem: &Secret,
        passphrase: Option<&Secret>,
    ) -> Result<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
        use x509_cert::der::{DecodePem, Encode};

        let cert =
            x509_cert::Certificate::from_pem(certificate_pem.trim().as_bytes()).map_err(|e| {
                Error::usage(format!(
                    "the certificate is not a PEM X.509 certificate: {e}"
                ))
            })?;
        let pem = private_key_pem.expose().trim();
        let key = if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            let Some(pass) = passphrase else {
                return Err(Error::usage(
                    "the private key is encrypted: set ANAPLAN_PRIVATE_KEY_PASSPHRASE",
                ));
            };
            rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, pass.expose().as_bytes()).map_err(
                |_| {
                    Error::usage(
                        "cannot decrypt the private key: wrong passphrase, or not an RSA key",
                    )
                },
            )?
        } else if pem.contains("BEGIN RSA PRIVATE KEY") {
            if pem.contains("ENCRYPTED") {
                return Err(Error::usage(
                    "the private key uses legacy PEM encryption, which is not supported: convert it \
                     with `openssl pkcs8 -topk8 -in KEY -out KEY.p8` (PKCS#8)",
                ));
            }
            rsa::PrivateKey::from_pkcs1_pem(pem)
                .map_err(|_| Error::usage("the private key is not a valid PKCS#1 RSA key"))?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            rsa::PrivateKey::from_pkcs8_pem(pem)
                .map_err(|_| Error::usage("the private key is not a valid PKCS#8 RSA key"))?
        } else {
            return Err(Error::usage(
                "the private key is not a PEM RSA key (expected BEGIN PRIVATE KEY, BEGIN RSA PRIVATE \
                 KEY or BEGIN ENCRYPTED PRIVATE KEY)",
            ));
        };
        let key_spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| Error::usage(format!("cannot encode the public key: {e}")))?;
        let cert_spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| Error::usage(format!("cannot read the certificate's public key: {e}")))?;
        if key_spki.as_bytes() != cert_spki.as_slice() {
            return Err(Error::usage(
                "the private key does not belong to the certificate",
            ));
        }
        Ok(CertificateCredentials {
            certificate_pem: certificate_pem.to_owned(),
            subject: cert.tbs_certificate().subject().to_string(),
            key: SigningKey::<Sha512>::new(key),
        })
    }

    /// The certificate's subject (for messages).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `Authorization` header value: `CACertificate <base64 of the PEM text>`.
    pub(crate) fn header(&self) -> String {
        format!(
            "CACertificate {}",
            BASE64.encode(self.certificate_pem.as_bytes())
        )
    }

    /// The JSON body: a fresh v2 nonce and its signature.
    pub(crate) fn body(&self, now: SystemTime) -> Result<serde_json::Value> {
        let nonce = v2_nonce(now);
        let signature = self
            .key
            .try_sign(&nonce)
            .map_err(|e| Error::Internal(format!("cannot sign the authentication nonce: {e}")))?;
        Ok(serde_json::json!({
            "encodedDataFormat": "v2",
            "encodedData": BASE64.encode(&nonce),
            "encodedSignedData": BASE64.encode(signature.to_bytes()),
        }))
    }
}

/// Certificate sign-in is not in this build (it lacks the `certificate` feature): the type keeps
/// [`Credentials`] the same in every build, but no value of it can be made.
#[cfg(not(feature = "certificate"))]
#[derive(Clone, Debug)]
pub struct CertificateCredentials(std::convert::Infallible);

#[cfg(not(feature = "certificate"))]
impl CertificateCredentials {
    /// Always a usage error: this build cannot sign in with a certificate.
    pub fn from_pem(
        _certificate_pem: &str,
        _private_key_pem: &Secret,
        _passphrase: Option<&Secret>,
    ) -> Result<Self> {
        Err(Error::usage(
            "certificate sign-in is not available: this build lacks the `certificate` feature \
             (rebuild with default features or `--features certificate`), or sign in with a user \
             name and password",
        ))
    }

    /// The certificate's subject (for messages).
    pub fn subject(&self) -> &str {
        match self.0 {}
    }

    pub(crate) fn header(&self) -> String {
        match self.0 {}
    }

    pub(crate) fn body(&self, _now: SystemTime) -> Result<serde_json::Value> {
        match self.0 {}
    }
}

/// Random bytes after the timestamp in a v2 nonce.
#[cfg(feature = "certificate")]
const NONCE_RANDOM_BYTES: usize = 100;

/// A v2 nonce: 8-byte big-endian Unix seconds, then random bytes from the OS generator.
#[cfg(feature = "certificate")]
fn v2_nonce(now: SystemTime) -> Vec<u8> {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut nonce = Vec::with_capacity(8 + NONCE_RANDOM_BYTES);
    nonce.extend_from_slice(&secs.to_be_bytes());
    while nonce.len() < 8 + NONCE_RANDOM_BYTES {
        // uuid's v4 draws from the operating system's CSPRNG.
        let random = uuid::Uuid::new_v4();
        let need = 8 + NONCE_RANDOM_BYTES - nonce.len();
        nonce.extend_from_slice(&random.as_bytes()[..need.min(16)]);
    }
    nonce
}

/// The `Authorization` value for Basic credentials.
pub(crate) fn basic_header(username: &str, password: &Secret) -> Secret {
    Secret::new(format!(
        "Basic {}",
        BASE64.encode(format!("{username}:{}", password.expose()))
    ))
}

/// What the auth service answers (`authenticate` and `refresh`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthAnswer {
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub token_info: Option<TokenInfo>,
}

/// The token part of an auth answer. Fields beyond these (`refreshToken`, inside or outside)
/// are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenInfo {
    #[serde(default, deserialize_with = "secret_opt")]
    pub token_value: Option<Secret>,
    #[serde(default)]
    pub expires_at: Option<serde_json::Value>,
}

fn secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl AuthAnswer {
    /// The token and its lifetime from now, or why there is none.
    pub(crate) fn into_token(
        self,
        now: SystemTime,
    ) -> std::result::Result<(Secret, Duration), String> {
        if let Some(serde_json::Value::String(s)) = &self.status
            && s.starts_with("FAILURE")
        {
            return Err(match self.status_message {
                Some(m) if !m.is_empty() => format!("{s}: {m}"),
                _ => s.clone(),
            });
        }
        let info = self.token_info.ok_or("the answer has no tokenInfo")?;
        let value = info
            .token_value
            .filter(|v| !v.is_empty())
            .ok_or("the answer has no tokenValue")?;
        let lifetime = lifetime(info.expires_at.as_ref(), now);
        Ok((value, lifetime))
    }
}

/// The token lifetime used when `expiresAt` is missing or implausible (Anaplan documents 30
/// minutes and gives 35).
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_mins(30);

/// Lifetime from `expiresAt` (epoch milliseconds; seconds are accepted too).
fn lifetime(expires_at: Option<&serde_json::Value>, now: SystemTime) -> Duration {
    let raw = match expires_at {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let Some(raw) = raw.filter(|v| v.is_finite() && *v > 0.0) else {
        return DEFAULT_TOKEN_LIFETIME;
    };
    // Milliseconds since 1970 are above 1e11 from 1973 on; smaller values are seconds.
    let at_ms = if raw < 1e11 { raw * 1000.0 } else { raw };
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as f64;
    let left = at_ms - now_ms;
    if left <= 0.0 || left > 7.0 * 24.0 * 3600.0 * 1000.0 {
        // The clocks disagree badly; rely on the 401 path instead of the wrong expiry.
        tracing::debug!("token expiry is implausible ({left} ms from now); assuming 30 minutes");
        return DEFAULT_TOKEN_LIFETIME;
    }
    Duration::from_millis(left as u64)
}

/// When to refresh a token that lives `lifetime`: with 5 minutes left, or a fifth of its life
/// for short-lived tokens.
pub(crate) fn refresh_margin(lifetime: Duration) -> Duration {
    Duration::from_mins(5).min(lifetime / 5)
}

/// A token in use. `Debug` is derived: the value is a [`Secret`], which redacts itself.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub value: Secret,
    pub generation: u64,
    pub refresh_at: Instant,
    pub expires_at: Instant,
}

impl Token {
    pub(crate) fn new(value: Secret, lifetime: Duration, generation: u64) -> Self {
        let now = Instant::now();
        Token {
            value,
            generation,
            refresh_at: now + lifetime.saturating_sub(refresh_margin(lifetime)),
            expires_at: now + lifetime,
        }
    }
}

/// The state behind the single-flight lock.
#[derive(Debug, Default)]
pub(crate) struct TokenState {
    pub token: Option<Token>,
    pub generation: u64,
    /// Sign-ins so far (authenticate calls that succeeded).
    pub sign_ins: u64,
    /// OAuth: the refresh token Anaplan rotated an environment-given one to (this run only).
    pub oauth_refresh: Option<Secret>,
}

impl AnaplanClient {
    /// The current token: signs in on first use, refreshes it when little of its life is
    /// left, signs in again when it has expired. Concurrent callers wait for one sign-in.
    pub(crate) async fn token(&self) -> Result<Token> {
        let mut state = self.inner.tokens.lock().await;
        let now = Instant::now();
        if let Some(token) = state.token.clone() {
            if now < token.refresh_at {
                return Ok(token);
            }
            // OAuth access tokens are renewed with the refresh token (a sign-in), not here.
            let oauth = matches!(self.inner.credentials, Credentials::OAuth(_));
            if now < token.expires_at && !oauth {
                match Box::pin(self.refresh(&token)).await {
                    Ok((value, lifetime)) => {
                        tracing::debug!("token refreshed; valid for {}s", lifetime.as_secs());
                        let fresh = Token::new(value, lifetime, token.generation);
                        state.token = Some(fresh.clone());
                        return Ok(fresh);
                    }
                    Err(e) => tracing::info!("refreshing the token failed ({e}); signing in again"),
                }
            } else if !oauth {
                tracing::info!("the token has expired; signing in again");
            }
        }
        Box::pin(self.sign_in(&mut state)).await
    }

    /// After a 401 on a request made with token `generation`: signs in again, unless another
    /// request already did (then its new token is used).
    pub(crate) async fn reauthenticate(&self, generation: u64) -> Result<()> {
        let mut state = self.inner.tokens.lock().await;
        if state.token.is_none() || state.generation == generation {
            Box::pin(self.sign_in(&mut state)).await?;
        }
        Ok(())
    }

    /// Successful sign-ins so far (1 for a run whose token never had to be replaced).
    pub async fn sign_ins(&self) -> u64 {
        self.inner.tokens.lock().await.sign_ins
    }

    /// Signs in and checks the credentials now (v2.0), instead of on the first call.
    pub async fn sign_in_now(&self) -> Result<()> {
        if self.inner.basic.is_none() {
            self.token().await?;
        }
        Ok(())
    }

    async fn sign_in(&self, state: &mut TokenState) -> Result<Token> {
        let (value, lifetime) = match &self.inner.credentials {
            Credentials::OAuth(_) => self.oauth_access_token(&mut state.oauth_refresh).await?,
            _ => self.authenticate().await?,
        };
        state.generation += 1;
        state.sign_ins += 1;
        let token = Token::new(value, lifetime, state.generation);
        state.token = Some(token.clone());
        tracing::debug!("signed in; token valid for {}s", lifetime.as_secs());
        Ok(token)
    }

    /// `POST /token/authenticate`.
    async fn authenticate(&self) -> Result<(Secret, Duration)> {
        let url = self.auth_url(&["token", "authenticate"]);
        let what = format!("sign in at {}", host_of(&url));
        let (header, body) = match &self.inner.credentials {
            Credentials::Basic { username, password } => (basic_header(username, password), None),
            Credentials::Certificate(c) => {
                (Secret::new(c.header()), Some(c.body(SystemTime::now())?))
            }
            Credentials::OAuth(_) => {
                return Err(Error::Internal(
                    "OAuth credentials sign in with their refresh token".into(),
                ));
            }
        };
        let call = Call {
            method: reqwest::Method::POST,
            url,
            body,
            idempotent: true,
            what: what.clone(),
            auth: CallAuth::Header(header),
            interrupt: Interrupt::Anywhere,
        };
        let reply = match self.call_raw(&call).await {
            Ok(reply) => reply,
            Err(CallError::GaveUp {
                failure,
                why: GiveUp::Permanent,
                ..
            }) if matches!(failure.kind.status(), Some(400 | 401 | 403)) => {
                let reason = if failure.detail.is_empty() {
                    failure.to_string()
                } else {
                    failure.detail
                };
                return Err(sign_in_refused(what, reason));
            }
            Err(e) => return Err(call_error(&what, e)),
        };
        token_of(&reply.body, what)
    }

    /// `POST /token/refresh`: same token (usually), longer life.
    async fn refresh(&self, token: &Token) -> Result<(Secret, Duration)> {
        let url = self.auth_url(&["token", "refresh"]);
        let what = "refresh the token".to_owned();
        let call = Call {
            method: reqwest::Method::POST,
            url,
            body: None,
            idempotent: true,
            what: what.clone(),
            auth: CallAuth::Header(Secret::new(format!(
                "AnaplanAuthToken {}",
                token.value.expose()
            ))),
            interrupt: Interrupt::Anywhere,
        };
        let reply = self
            .call_raw(&call)
            .await
            .map_err(|e| call_error(&what, e))?;
        token_of(&reply.body, what)
    }

    /// Ends the session (`POST /token/logout`). Best effort: a failure is logged, not returned.
    /// A later call signs in again.
    pub async fn logout(&self) {
        let token = self.inner.tokens.lock().await.token.take();
        // An OAuth access token simply expires; the refresh token must outlive the run.
        if matches!(self.inner.credentials, Credentials::OAuth(_)) {
            return;
        }
        let Some(token) = token else { return };
        let call = Call {
            method: reqwest::Method::POST,
            url: self.auth_url(&["token", "logout"]),
            body: None,
            idempotent: false,
            what: "log out".to_owned(),
            auth: CallAuth::Header(Secret::new(format!(
                "AnaplanAuthToken {}",
                token.value.expose()
            ))),
            interrupt: Interrupt::Never,
        };
        // Best effort, and bounded: a run that already failed (Anaplan unreachable, say) must
        // not then spend a whole retry budget on saying goodbye.
        match tokio::time::timeout(LOGOUT_TIMEOUT, self.call_raw(&call)).await {
            Ok(Ok(_)) => tracing::debug!("logged out"),
            Ok(Err(e)) => tracing::debug!("logging out failed: {}", call_error("log out", e)),
            Err(_) => tracing::debug!(
                "logging out failed: no answer in {}s",
                LOGOUT_TIMEOUT.as_secs()
            ),
        }
    }
}

/// The token and its lifetime from an auth service answer to `call`.
fn token_of(body: &[u8], call: String) -> Result<(Secret, Duration)> {
    let answer: AuthAnswer = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(e) => return Err(bad_answer(call, format!("unexpected answer: {e}"))),
    };
    answer
        .into_token(SystemTime::now())
        .map_err(|reason| sign_in_refused(call, reason))
}

/// `host[:port]` of a URL, for messages.
pub(crate) fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url.scheme().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "certificate")]
    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/client/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[cfg(feature = "certificate")]
    #[test]
    fn nonce_is_v2() {
        let now = UNIX_EPOCH + Duration::from_secs(1_750_736_826);
        let a = v2_nonce(now);
        let b = v2_nonce(now);
        assert_eq!(a.len(), 108);
        assert_eq!(&a[..8], &[0, 0, 0, 0, 0x68, 0x5a, 0x1f, 0xba]);
        assert_eq!(&a[..8], &b[..8]);
        assert_ne!(a[8..], b[8..], "the random part must differ");
    }

    #[cfg(feature = "certificate")]
    #[test]
    fn certificate_signs_a_nonce_the_public_key_verifies() {
        use rsa::pkcs1v15::{Signature, VerifyingKey};
        use rsa::signature::Verifier;

        let creds = CertificateCredentials::from_pem(
            &fixture("cert.pem"),
            &Secret::new(fixture("key-pkcs8.pem")),
            None,
        )
        .unwrap();
        assert!(
            creds.subject().contains("demo@example.com"),
            "{}",
            creds.subject()
        );
        let header = creds.header();
        let pem = BASE64
            .decode(header.strip_prefix("CACertificate ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(pem).unwrap(), fixture("cert.pem"));

        let body = creds.body(SystemTime::now()).unwrap();
        assert_eq!(body["encodedDataFormat"], "v2");
        let data = BASE64
            .decode(body["encodedData"].as_str().unwrap())
            .unwrap();
        let sig = BASE64
            .decode(body["encodedSignedData"].as_str().unwrap())
            .unwrap();
        let verifier = VerifyingKey::<Sha512>::new(creds.key.as_ref().to_public_key());
        let sig = Signature::try_from(sig.as_slice()).unwrap();
        verifier.verify(&data, &sig).unwrap();
        let mut tampered = data.clone();
        tampered[20] ^= 1;
        assert!(verifier.verify(&tampered, &sig).is_err());
        let debug = format!("{:?}", Credentials::Certificate(Box::new(creds)));
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }

    #[cfg(feature = "certificate")]
    #[test]
    fn private_key_forms() {
        let cert = fixture("cert.pem");
        let pass = Secret::new("correct-horse");
        for (key, passphrase, ok) in [
            ("key-pkcs8.pem", None, true),
            ("key-pkcs1.pem", None, true),
            ("key-encrypted.pem", Some(&pass), true),
        ] {
            let r = CertificateCredentials::from_pem(&cert, &Secret::new(fixture(key)), passphrase);
            assert_eq!(r.is_ok(), ok, "{key}: {r:?}");
        }
        let err = |key: &str, pass: Option<&Secret>| {
            CertificateCredentials::from_pem(&cert, &Secret::new(key), pass)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(&fixture("key-encrypted.pem"), None).contains("ANAPLAN_PRIVATE_KEY_PASSPHRASE")
        );
        assert!(
            err(&fixture("key-encrypted.pem"), Some(&Secret::new("wrong")))
                .contains("wrong passphrase")
        );
        assert!(err(&fixture("other-key.pem"), None).contains("does not belong"));
        assert!(err("not a key", None).contains("not a PEM RSA key"));
        let bad_cert =
            CertificateCredentials::from_pem("junk", &Secret::new(fixture("key-pkcs8.pem")), None);
        assert!(bad_cert.unwrap_err().to_string().contains("certificate"));
    }

    #[test]
    fn basic_header_and_debug_hide_the_password() {
        let h = basic_header("user@example.com", &Secret::new("p4ss"));
        assert_eq!(h.expose(), "Basic dXNlckBleGFtcGxlLmNvbTpwNHNz");
        let c = Credentials::Basic {
            username: "user@example.com".into(),
            password: Secret::new("p4ss"),
        };
        let debug = format!("{c:?}");
        assert!(
            debug.contains("user@example.com") && !debug.contains("p4ss"),
            "{debug}"
        );
    }

    #[test]
    fn auth_answers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_505_176_000);
        // AC's fixture, with refreshToken both inside and outside tokenInfo.
        let ok = r#"{"meta":{"validationUrl":"https://auth-qa1.anaplan.com/token/validate"},"status":"SUCCESS",
            "statusMessage":"Login successful","refreshToken":"jwt-outside",
            "tokenInfo":{"tokenId":"4ed1","tokenValue":"authentication-token","expiresAt":1505177912858,
            "refreshTokenId":"4ed2","refreshToken":"jwt-inside"}}"#;
        let a: AuthAnswer = serde_json::from_str(ok).unwrap();
        let (token, life) = a.into_token(now).unwrap();
        assert_eq!(token.expose(), "authentication-token");
        assert_eq!(life, Duration::from_millis(1_912_858));

        let bad = r#"{"status":"FAILURE_BAD_CREDENTIAL","statusMessage":"Invalid credentials"}"#;
        let a: AuthAnswer = serde_json::from_str(bad).unwrap();
        assert_eq!(
            a.into_token(now).unwrap_err(),
            "FAILURE_BAD_CREDENTIAL: Invalid credentials"
        );
        let a: AuthAnswer = serde_json::from_str(r#"{"status":"SUCCESS"}"#).unwrap();
        assert!(a.into_token(now).is_err());
    }

    #[test]
    fn lifetimes() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let ms = |v: u64| Some(serde_json::json!(v));
        for (expires, expected) in [
            (ms(1_000_000_000_000 + 2_100_000), Duration::from_mins(35)),
            (ms(1_000_000_000 + 20), Duration::from_secs(20)), // seconds
            (
                Some(serde_json::json!("1000000060000")),
                Duration::from_mins(1),
            ),
            (None, DEFAULT_TOKEN_LIFETIME),
            (ms(999_999_000_000), DEFAULT_TOKEN_LIFETIME), // already past: clocks disagree
        ] {
            assert_eq!(lifetime(expires.as_ref(), now), expected, "{expires:?}");
        }
    }

    #[test]
    fn refresh_margins() {
        assert_eq!(
            refresh_margin(Duration::from_mins(35)),
            Duration::from_mins(5)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(20)),
            Duration::from_secs(4)
        );
    }
}
