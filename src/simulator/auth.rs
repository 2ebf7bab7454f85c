//! The authentication service: `/token/authenticate` (Basic and CA certificate, v1 and v2
//! nonces), `/token/refresh`, `/token/validate`, `/token/logout`, and the token check of the
//! Integration API.
//!
//! Shapes follow the reference (`anaplan-api.md` §1): 201 with `tokenInfo` on success (the live
//! API, where the docs say 200), `status` as a string (`FAILURE_BAD_CREDENTIAL`,
//! `FAILURE_BAD_HEADER`) on failure, the token value unchanged by a refresh, 204 on logout,
//! `Bearer` refused by refresh/validate (400) and logout (401) but accepted by the API.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::faults::hash;
use super::http::{Ctx, json_response};
use super::state::{Inner, Token, epoch_ms, hex128};

/// Smallest accepted certificate nonce, in bytes (Anaplan Connect's minimum).
const MIN_NONCE_BYTES: usize = 100;

/// Routes `/token/...`.
pub(crate) async fn handle(ctx: &Ctx, body: Body) -> Response {
    let sub = ctx.path.trim_start_matches("/token").trim_matches('/');
    match (sub, &ctx.method) {
        ("authenticate", &Method::POST) => {
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            authenticate(ctx, &body)
        }
        ("refresh", &Method::POST) => refresh(ctx),
        ("validate", &Method::GET) => validate(ctx),
        ("logout", &Method::POST) => logout(ctx),
        ("authenticate" | "refresh" | "validate" | "logout", _) => failure(
            ctx,
            StatusCode::METHOD_NOT_ALLOWED,
            "FAILURE_METHOD_NOT_ALLOWED",
            "Method not allowed.",
        ),
        _ => failure(
            ctx,
            StatusCode::NOT_FOUND,
            "FAILURE_NOT_FOUND",
            "Not found.",
        ),
    }
}

/// The auth service's failure body: `status` is a string here.
fn failure(ctx: &Ctx, status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        ctx,
        status,
        &json!({"status": code, "statusMessage": message}),
    )
}

fn bad_header(ctx: &Ctx) -> Response {
    failure(
        ctx,
        StatusCode::UNAUTHORIZED,
        "FAILURE_BAD_HEADER",
        "Invalid header. Verify the header.",
    )
}

fn bad_credential(ctx: &Ctx) -> Response {
    ctx.shared.lock().counters.authentication_failures += 1;
    failure(
        ctx,
        StatusCode::UNAUTHORIZED,
        "FAILURE_BAD_CREDENTIAL",
        "Invalid credentials. Verify the credentials.",
    )
}

/// The `Authorization` header split into scheme and value.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    Some((scheme.to_owned(), rest.trim().to_owned()))
}

/// Checks Basic credentials, returning the username.
pub(crate) fn check_basic(inner: &Inner, encoded: &str) -> Option<String> {
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    let u = inner.user(user)?;
    let stored = u.password.as_ref()?;
    constant_time_eq(stored.expose().as_bytes(), pass.as_bytes()).then(|| u.username.clone())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authenticate(ctx: &Ctx, body: &[u8]) -> Response {
    let Some((scheme, value)) = authorization(&ctx.headers) else {
        return bad_header(ctx);
    };
    let user = if scheme.eq_ignore_ascii_case("Basic") {
        let inner = ctx.shared.lock();
        check_basic(&inner, &value)
    } else if scheme == "CACertificate" {
        match certificate_user(ctx, &value, body) {
            Ok(user) => {
                if user.is_some() {
                    ctx.shared.lock().counters.certificate_authentications += 1;
                }
                user
            }
            Err(()) => return bad_header(ctx),
        }
    } else {
        return bad_header(ctx);
    };
    let Some(username) = user else {
        return bad_credential(ctx);
    };
    let (token_value, token) = {
        let mut inner = ctx.shared.lock();
        inner.counters.authentications += 1;
        let ttl = inner.token_ttl();
        let token = Token {
            username,
            token_id: uuid::Uuid::new_v4().to_string(),
            refresh_token_id: uuid::Uuid::new_v4().to_string(),
            expires_at: SystemTime::now() + ttl,
            logged_out: false,
        };
        let value = new_token_value();
        inner.tokens.insert(value.clone(), token.clone());
        (value, token)
    };
    json_response(
        ctx,
        StatusCode::CREATED,
        &token_body(ctx, &token_value, &token, "Login successful"),
    )
}

/// An opaque token value shaped like the real ones: base64 segments joined by dots.
fn new_token_value() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let c = uuid::Uuid::new_v4();
    format!(
        "{}.{}{}",
        URL_SAFE_NO_PAD.encode(a.as_bytes()),
        URL_SAFE_NO_PAD.encode(b.as_bytes()),
        URL_SAFE_NO_PAD.encode(c.as_bytes())
    )
}

fn token_body(ctx: &Ctx, value: &str, token: &Token, message: &str) -> Value {
    json!({
        "meta": {"validationUrl": format!("{}/token/validate", ctx.shared.base_url())},
        "status": "SUCCESS",
        "statusMessage": message,
        "tokenInfo": {
            "tokenId": token.token_id,
            "tokenValue": value,
            "expiresAt": epoch_ms(token.expires_at),
            "refreshTokenId": token.refresh_token_id,
        },
    })
}

/// Why a token was refused.
pub(crate) enum TokenProblem {
    /// No `Authorization`, or not a token scheme.
    Missing,
    /// `Bearer` where only `AnaplanAuthToken` is accepted.
    Bearer,
    /// Unknown, expired or logged out.
    Invalid,
}

/// Finds a live token from the `Authorization` header; `Bearer` counts only when `bearer_ok`.
pub(crate) fn live_token(
    inner: &Inner,
    headers: &HeaderMap,
    bearer_ok: bool,
) -> Result<(String, Token), TokenProblem> {
    let Some((scheme, value)) = authorization(headers) else {
        return Err(TokenProblem::Missing);
    };
    if scheme.eq_ignore_ascii_case("Bearer") {
        if !bearer_ok {
            return Err(TokenProblem::Bearer);
        }
    } else if scheme != "AnaplanAuthToken" {
        return Err(TokenProblem::Missing);
    }
    match inner.tokens.get(&value) {
        Some(t) if !t.logged_out && t.expires_at > SystemTime::now() => Ok((value, t.clone())),
        _ => Err(TokenProblem::Invalid),
    }
}

fn refresh(ctx: &Ctx) -> Response {
    let result = {
        let mut inner = ctx.shared.lock();
        match live_token(&inner, &ctx.headers, false) {
            Ok((value, _)) => {
                let ttl = inner.token_ttl();
                inner.counters.refreshes += 1;
                let t = inner.tokens.get_mut(&value).expect("token just found");
                t.expires_at = SystemTime::now() + ttl;
                Ok((value, t.clone()))
            }
            Err(p) => Err(p),
        }
    };
    match result {
        Ok((value, token)) => json_response(
            ctx,
            StatusCode::OK,
            &token_body(ctx, &value, &token, "Token refreshed"),
        ),
        Err(TokenProblem::Bearer) => failure(
            ctx,
            StatusCode::BAD_REQUEST,
            "FAILURE_BAD_HEADER",
            "Invalid header. Verify the header.",
        ),
        Err(TokenProblem::Missing) => bad_header(ctx),
        // [UNCONFIRMED] the status string of an expired-token refresh; clients read the code.
        Err(TokenProblem::Invalid) => failure(
            ctx,
            StatusCode::UNAUTHORIZED,
            "FAILURE_BAD_CREDENTIAL",
            "Invalid or expired token.",
        ),
    }
}

fn validate(ctx: &Ctx) -> Response {
    let result = {
        let mut inner = ctx.shared.lock();
        let r = live_token(&inner, &ctx.headers, false);
        if r.is_ok() {
            inner.counters.validations += 1;
        }
        r.map(|(_, t)| (t, inner.config.seed))
    };
    match result {
        Ok((token, seed)) => json_response(
            ctx,
            StatusCode::OK,
            &json!({
                "meta": {"validationUrl": format!("{}/token/validate", ctx.shared.base_url())},
                "status": "SUCCESS",
                "statusMessage": "Token validated",
                "tokenInfo": {"expiresAt": epoch_ms(token.expires_at), "tokenId": token.token_id},
                // [UNCONFIRMED] whether userId is the login name or another GUID.
                "userInfo": {
                    "userGuid": hex128(seed, "user", &token.username, false),
                    "userId": token.username,
                    "customerGuid": hex128(seed, "customer", "tenant", false),
                },
            }),
        ),
        Err(TokenProblem::Bearer) => failure(
            ctx,
            StatusCode::BAD_REQUEST,
            "FAILURE_BAD_HEADER",
            "Invalid header. Verify the header.",
        ),
        Err(TokenProblem::Missing) => bad_header(ctx),
        Err(TokenProblem::Invalid) => failure(
            ctx,
            StatusCode::UNAUTHORIZED,
            "FAILURE_BAD_CREDENTIAL",
            "Invalid or expired token.",
        ),
    }
}

fn logout(ctx: &Ctx) -> Response {
    let ok = {
        let mut inner = ctx.shared.lock();
        match live_token(&inner, &ctx.headers, false) {
            Ok((value, _)) => {
                inner.counters.logouts += 1;
                if let Some(t) = inner.tokens.get_mut(&value) {
                    t.logged_out = true;
                }
                true
            }
            Err(_) => false,
        }
    };
    if ok {
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty())
            .unwrap_or_default()
    } else {
        failure(
            ctx,
            StatusCode::UNAUTHORIZED,
            "FAILURE_BAD_CREDENTIAL",
            "Invalid or expired token.",
        )
    }
}

/// The certificate request body.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_field_names)]
struct CertBody {
    encoded_data: String,
    encoded_signed_data: String,
    encoded_data_format: Option<String>,
}

/// Verifies a CA-certificate authentication. `Err` for a malformed header or body, `Ok(None)`
/// for a well-formed request that does not authenticate anyone.
fn certificate_user(ctx: &Ctx, header_value: &str, body: &[u8]) -> Result<Option<String>, ()> {
    let der = certificate_der(header_value).ok_or(())?;
    let body: CertBody = serde_json::from_slice(body).map_err(|_| ())?;
    let nonce = STANDARD
        .decode(strip_ws(&body.encoded_data))
        .map_err(|_| ())?;
    let signature = STANDARD
        .decode(strip_ws(&body.encoded_signed_data))
        .map_err(|_| ())?;
    let (username, freshness, seed) = {
        let inner = ctx.shared.lock();
        let user = inner
            .config
            .users
            .iter()
            .find(|u| u.certificates.contains(&der))
            .map(|u| u.username.clone());
        (user, inner.config.cert_freshness, inner.config.seed)
    };
    let Some(username) = username else {
        return Ok(None);
    };
    if nonce.len() < MIN_NONCE_BYTES {
        return Ok(None);
    }
    if !certificate_valid_now(&der) || !verify_signature(&der, &nonce, &signature) {
        return Ok(None);
    }
    match body.encoded_data_format.as_deref() {
        None | Some("v1") => {}
        Some("v2") => {
            // The first 8 bytes are a big-endian timestamp. The official example holds Unix
            // seconds, one client sends milliseconds: accept both within the window.
            let stamp = u64::from_be_bytes(nonce[..8].try_into().map_err(|_| ())?);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let then = if stamp > 100_000_000_000 {
                Duration::from_millis(stamp)
            } else {
                Duration::from_secs(stamp)
            };
            let skew = now.abs_diff(then);
            if skew > freshness {
                return Ok(None);
            }
            // A v2 nonce is good once.
            let mut inner = ctx.shared.lock();
            let key = hash(seed, "nonce", &STANDARD.encode(&nonce), 0)
                .to_le_bytes()
                .to_vec();
            if !inner.seen_nonces.insert(key) {
                return Ok(None);
            }
        }
        Some(_) => return Err(()),
    }
    Ok(Some(username))
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The DER certificate in a `CACertificate` header value: base64 of PEM text (Anaplan Connect),
/// of the certificate file's bytes (PEM or DER), or of the DER itself.
pub(crate) fn certificate_der(value: &str) -> Option<Vec<u8>> {
    let decoded = STANDARD.decode(strip_ws(value)).ok()?;
    if decoded.starts_with(b"-----BEGIN") || decoded.windows(10).any(|w| w == b"-----BEGIN") {
        super::config::certificates_from_pem(&decoded)
            .ok()?
            .into_iter()
            .next()
    } else if decoded.first() == Some(&0x30) {
        Some(decoded)
    } else {
        None
    }
}

fn certificate_valid_now(der: &[u8]) -> bool {
    use x509_cert::der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let validity = cert.tbs_certificate().validity();
    let now = SystemTime::now();
    validity.not_before.to_system_time() <= now && now <= validity.not_after.to_system_time()
}

/// RSA-SHA512 PKCS#1 v1.5 signature check of `message` with the certificate's public key.
fn verify_signature(der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::sha2::Sha512;
    use rsa::signature::Verifier;
    use x509_cert::der::{Decode, Encode};
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let Ok(spki) = cert.tbs_certificate().subject_public_key_info().to_der() else {
        return false;
    };
    let Ok(key) = VerifyingKey::<Sha512>::from_public_key_der(&spki) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(signature) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}
