//! Conformance of the simulator to the API reference (`anaplan-api.md`): real HTTP with
//! reqwest, expectations written from the reference's shapes and status codes, not from the
//! simulator's own types.

use std::time::{Duration, SystemTime};

use anaplan_parquet::generate::Generator;
use anaplan_parquet::simulator::{FaultKind, FaultSpec, ModelAccess, SimulatorHandle};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::sim::{self, ADMIN, PASSWORD, USER};

// ---- helpers ----

/// A client that neither asks for nor decodes gzip unless a test says so.
fn client() -> Client {
    Client::builder().no_gzip().build().unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

async fn login_as(sim: &SimulatorHandle, user: &str) -> String {
    let r = client()
        .post(format!("{}/token/authenticate", sim.base_url()))
        .header("Authorization", basic(user, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["tokenInfo"]["tokenValue"].as_str().unwrap().to_owned()
}

async fn login(sim: &SimulatorHandle) -> String {
    login_as(sim, USER).await
}

async fn call(
    sim: &SimulatorHandle,
    method: Method,
    path: &str,
    auth: Option<String>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client().request(method, format!("{}{path}", sim.base_url()));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    (status, headers, v)
}

async fn get(sim: &SimulatorHandle, path: &str, token: &str) -> (StatusCode, Value) {
    let (s, _, v) = call(
        sim,
        Method::GET,
        path,
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    (s, v)
}

fn is_hex(s: &str, upper: bool) -> bool {
    s.len() == 32
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || if upper {
                    (b'A'..=b'F').contains(&b)
                } else {
                    (b'a'..=b'f').contains(&b)
                }
        })
}

fn assert_error_envelope(v: &Value, code: u16, path: &str) {
    assert_eq!(v["status"]["code"], json!(code), "{v}");
    assert!(
        v["status"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert_eq!(v["path"], json!(path), "{v}");
    let ts = v["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

fn assert_success(v: &Value) {
    assert_eq!(
        v["status"],
        json!({"code": 200, "message": "Success"}),
        "{v}"
    );
    assert!(v["meta"]["schema"].is_string(), "{v}");
}

fn ids(sim: &SimulatorHandle) -> (String, String) {
    (
        sim.workspace_id("Financial Planning").unwrap(),
        sim.model_id("FP&A").unwrap(),
    )
}

fn export_id(sim: &SimulatorHandle, name: &str) -> String {
    sim.export(name).unwrap().export_id
}

/// Starts an export task and polls it to a terminal state; returns (task id, final task).
async fn run_export(
    sim: &SimulatorHandle,
    token: &str,
    model: &str,
    export: &str,
) -> (String, Value) {
    let path = format!("/2/0/models/{model}/exports/{export}/tasks");
    let (s, _, v) = call(
        sim,
        Method::POST,
        &path,
        Some(format!("AnaplanAuthToken {token}")),
        Some(json!({"localeName": "en_US"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["task"]["taskId"].as_str().unwrap().to_owned();
    let task = poll_until_done(sim, token, &format!("{path}/{id}")).await;
    (id, task)
}

async fn poll_until_done(sim: &SimulatorHandle, token: &str, path: &str) -> Value {
    for _ in 0..3000 {
        let (s, v) = get(sim, path, token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let state = v["task"]["taskState"].as_str().unwrap();
        if state == "COMPLETE" || state == "CANCELLED" {
            return v["task"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {path} never finished");
}

async fn bytes_of(
    sim: &SimulatorHandle,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = client()
        .get(format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await
        .unwrap();
    let s = r.status();
    let h = r.headers().clone();
    (s, h, r.bytes().await.unwrap().to_vec())
}

// ---- authentication ----

#[tokio::test]
async fn basic_authentication_answers_201_with_token_info() {
    let sim = sim::start_default().await;
    let before = SystemTime::now();
    let (s, _, v) = call(
        &sim,
        Method::POST,
        "/token/authenticate",
        Some(basic(USER, PASSWORD)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["statusMessage"], "Login successful");
    assert!(
        v["meta"]["validationUrl"]
            .as_str()
            .unwrap()
            .ends_with("/token/validate")
    );
    let info = &v["tokenInfo"];
    for key in ["tokenId", "refreshTokenId"] {
        let id = info[key].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{key}: {id}");
    }
    assert!(info["tokenValue"].as_str().unwrap().contains('.'));
    // 35 minutes, in epoch milliseconds.
    let expires = info["expiresAt"].as_u64().unwrap();
    let now_ms = before
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ttl = expires - now_ms;
    assert!(
        (35 * 60_000 - 5_000..=35 * 60_000 + 5_000).contains(&ttl),
        "{ttl}"
    );
    assert_eq!(sim.counters().authentications, 1);
}

#[tokio::test]
async fn bad_credentials_and_bad_headers_answer_401_with_a_string_status() {
    let sim = sim::start_default().await;
    let (s, _, v) = call(
        &sim,
        Method::POST,
        "/token/authenticate",
        Some(basic(USER, "wrong")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["status"], "FAILURE_BAD_CREDENTIAL");
    assert!(v["statusMessage"].is_string());
    let (s, _, v) = call(
        &sim,
        Method::POST,
        "/token/authenticate",
        Some(basic("nobody@example.com", PASSWORD)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["status"], "FAILURE_BAD_CREDENTIAL");
    for header in [
        None,
        Some("Basic !!!".to_owned()),
        Some("Token abc".to_owned()),
    ] {
        let (s, _, v) = call(
            &sim,
            Method::POST,
            "/token/authenticate",
            header.clone(),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{header:?}");
        assert!(v["status"].as_str().unwrap().starts_with("FAILURE"), "{v}");
    }
    assert_eq!(sim.counters().authentications, 0);
}

#[tokio::test]
async fn refresh_keeps_the_token_and_extends_its_expiry() {
    let sim = sim::start_default().await;
    sim.set_token_ttl(Duration::from_mins(1));
    let token = login(&sim).await;
    let (_, v) = get(&sim, "/token/validate", &token).await;
    let first = v["tokenInfo"]["expiresAt"].as_u64().unwrap();
    sim.set_token_ttl(Duration::from_hours(1));
    let (s, _, v) = call(
        &sim,
        Method::POST,
        "/token/refresh",
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["statusMessage"], "Token refreshed");
    assert_eq!(v["tokenInfo"]["tokenValue"], json!(token));
    assert!(v["tokenInfo"]["expiresAt"].as_u64().unwrap() > first + 3_000_000);
    // Bearer is refused by refresh and validate (400) and logout (401).
    let bearer = Some(format!("Bearer {token}"));
    let (s, _, _) = call(&sim, Method::POST, "/token/refresh", bearer.clone(), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = call(&sim, Method::GET, "/token/validate", bearer.clone(), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = call(&sim, Method::POST, "/token/logout", bearer, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(sim.counters().refreshes, 1);
}

#[tokio::test]
async fn validate_describes_token_and_user() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (s, v) = get(&sim, "/token/validate", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["statusMessage"], "Token validated");
    assert!(v["tokenInfo"]["expiresAt"].is_u64());
    assert!(v["tokenInfo"]["tokenId"].is_string());
    assert!(is_hex(v["userInfo"]["userGuid"].as_str().unwrap(), false));
    assert!(is_hex(
        v["userInfo"]["customerGuid"].as_str().unwrap(),
        false
    ));
    assert!(v["userInfo"]["userId"].is_string());
    assert!(v["meta"]["validationUrl"].is_string());
}

#[tokio::test]
async fn logout_answers_204_then_the_token_is_dead_everywhere() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (s, _) = get(&sim, "/2/0/workspaces", &token).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, body) = call(
        &sim,
        Method::POST,
        "/token/logout",
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (s, _) = get(&sim, "/2/0/workspaces", &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = get(&sim, "/token/validate", &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call(
        &sim,
        Method::POST,
        "/token/refresh",
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_accepts_anaplan_auth_token_and_bearer_and_refuses_the_rest() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    for scheme in ["AnaplanAuthToken", "Bearer"] {
        let (s, _, v) = call(
            &sim,
            Method::GET,
            "/2/0/workspaces",
            Some(format!("{scheme} {token}")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{scheme}");
        assert_success(&v);
    }
    for auth in [
        None,
        Some("AnaplanAuthToken nope".to_owned()),
        Some(basic(USER, PASSWORD)),
    ] {
        let (s, _, _) = call(&sim, Method::GET, "/2/0/workspaces", auth.clone(), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    // Expiry in the middle of a run.
    sim.expire_tokens();
    let (s, _) = get(&sim, "/2/0/workspaces", &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(sim.counters().unauthorized >= 4);
}

#[tokio::test]
async fn token_ttl_fault_shortens_the_lifetime() {
    let sim = sim::start_default().await;
    sim.set_faults("token-ttl=20s".parse().unwrap());
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (_, _, v) = call(
        &sim,
        Method::POST,
        "/token/authenticate",
        Some(basic(USER, PASSWORD)),
        None,
    )
    .await;
    let ttl = v["tokenInfo"]["expiresAt"].as_u64().unwrap() - now_ms;
    assert!((15_000..=25_000).contains(&ttl), "{ttl}");
}

// ---- CA certificates ----

const CERT_PEM: &str = include_str!("../fixtures/cert/user.pem");
const KEY_PEM: &str = include_str!("../fixtures/cert/user.key");
const OTHER_CERT_PEM: &str = include_str!("../fixtures/cert/other.pem");
const OTHER_KEY_PEM: &str = include_str!("../fixtures/cert/other.key");
const CERT_DER: &[u8] = include_bytes!("../fixtures/cert/user.der");

fn sign(key_pem: &str, message: &[u8]) -> Vec<u8> {
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::sha2::Sha512;
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa::PrivateKey::from_pkcs8_pem(key_pem).unwrap();
    SigningKey::<Sha512>::new(key).sign(message).to_vec()
}

fn nonce(prefix: Option<u64>) -> Vec<u8> {
    let mut n: Vec<u8> = prefix.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default();
    n.extend(uuid::Uuid::new_v4().as_bytes().iter().cycle().take(150));
    n
}

async fn cert_auth(
    sim: &SimulatorHandle,
    header_cert: &str,
    key_pem: &str,
    data: &[u8],
    format: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({
        "encodedData": STANDARD.encode(data),
        "encodedSignedData": STANDARD.encode(sign(key_pem, data)),
    });
    if let Some(f) = format {
        body["encodedDataFormat"] = json!(f);
    }
    let (s, _, v) = call(
        sim,
        Method::POST,
        "/token/authenticate",
        Some(format!("CACertificate {header_cert}")),
        Some(body),
    )
    .await;
    (s, v)
}

async fn cert_sim() -> SimulatorHandle {
    let mut config = sim::tenant(100, 1 << 20, 1);
    config.users[0].certificates =
        anaplan_parquet::simulator::config::certificates_from_pem(CERT_PEM.as_bytes()).unwrap();
    sim::start(config).await
}

#[tokio::test]
async fn certificate_authentication_v1_and_v2_in_every_header_form() {
    let sim = cert_sim().await;
    let pem_b64 = STANDARD.encode(CERT_PEM);
    let der_b64 = STANDARD.encode(CERT_DER);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    for header in [&pem_b64, &der_b64] {
        let (s, v) = cert_auth(&sim, header, KEY_PEM, &nonce(None), None).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert!(v["tokenInfo"]["tokenValue"].is_string());
        // v2: timestamp prefix in seconds (official example) or milliseconds (one client).
        for stamp in [now.as_secs(), now.as_millis() as u64] {
            let (s, v) = cert_auth(&sim, header, KEY_PEM, &nonce(Some(stamp)), Some("v2")).await;
            assert_eq!(s, StatusCode::CREATED, "{stamp}: {v}");
        }
    }
    assert_eq!(sim.counters().certificate_authentications, 6);
    // The token works on the API.
    let (_, v) = cert_auth(&sim, &pem_b64, KEY_PEM, &nonce(None), None).await;
    let token = v["tokenInfo"]["tokenValue"].as_str().unwrap();
    let (s, _) = get(&sim, "/2/0/workspaces", token).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn certificate_authentication_refusals() {
    let sim = cert_sim().await;
    let pem_b64 = STANDARD.encode(CERT_PEM);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A certificate nobody has.
    let (s, v) = cert_auth(
        &sim,
        &STANDARD.encode(OTHER_CERT_PEM),
        OTHER_KEY_PEM,
        &nonce(None),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["status"], "FAILURE_BAD_CREDENTIAL");
    // Signed with the wrong key.
    let (s, _) = cert_auth(&sim, &pem_b64, OTHER_KEY_PEM, &nonce(None), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A stale v2 timestamp.
    let (s, _) = cert_auth(
        &sim,
        &pem_b64,
        KEY_PEM,
        &nonce(Some(now - 3600)),
        Some("v2"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A replayed v2 nonce.
    let data = nonce(Some(now));
    let (s, _) = cert_auth(&sim, &pem_b64, KEY_PEM, &data, Some("v2")).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = cert_auth(&sim, &pem_b64, KEY_PEM, &data, Some("v2")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A nonce too short.
    let (s, _) = cert_auth(&sim, &pem_b64, KEY_PEM, &[1, 2, 3], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Not a certificate at all.
    let (s, v) = cert_auth(&sim, "bm90IGEgY2VydA==", KEY_PEM, &nonce(None), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["status"], "FAILURE_BAD_HEADER");
    assert_eq!(sim.counters().certificate_authentications, 1);
}

// ---- discovery ----

#[tokio::test]
async fn workspaces_envelope_paging_and_tenant_details() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (s, v) = get(&sim, "/2/0/workspaces", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_success(&v);
    let paging = &v["meta"]["paging"];
    // The demo user sees only the workspace holding models it can open.
    assert_eq!(paging["currentPageSize"], 1);
    assert_eq!(paging["offset"], 0);
    assert_eq!(paging["totalSize"], 1);
    // Quirk: `next` even though everything was returned.
    assert!(paging["next"].as_str().unwrap().contains("offset="));
    let ws = v["workspaces"].as_array().unwrap();
    assert!(is_hex(ws[0]["id"].as_str().unwrap(), false));
    assert_eq!(ws[0]["name"], "Financial Planning");
    assert_eq!(ws[0]["active"], true);
    assert!(ws[0]["sizeAllowance"].is_u64());
    assert!(ws[0].get("currentSize").is_none());
    let (_, v) = get(&sim, "/2/0/workspaces?tenantDetails=true", &token).await;
    assert!(v["workspaces"][0]["currentSize"].is_u64());
    // GET /workspaces/{id}: 404 for non-admins, the object for admins.
    let wid = ws[0]["id"].as_str().unwrap();
    let (s, v) = get(&sim, &format!("/2/0/workspaces/{wid}"), &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_envelope(&v, 404, &format!("/2/0/workspaces/{wid}"));
    let admin = login_as(&sim, ADMIN).await;
    let (s, v) = get(&sim, &format!("/2/0/workspaces/{wid}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["workspace"]["id"], json!(wid));
    let (_, v) = get(&sim, "/2/0/workspaces", &admin).await;
    assert_eq!(v["meta"]["paging"]["totalSize"], 2);
}

#[tokio::test]
async fn models_lists_single_get_405_and_no_access_404() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (wid, mid) = ids(&sim);
    let (s, v) = get(&sim, "/2/0/models", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_success(&v);
    let models = v["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["FP&A", "Sales Forecast"]);
    for m in models {
        assert!(is_hex(m["id"].as_str().unwrap(), true), "{m}");
        assert_eq!(m["activeState"], "UNLOCKED");
        assert_eq!(m["currentWorkspaceId"], json!(wid));
        assert_eq!(m["currentWorkspaceName"], "Financial Planning");
        assert!(m["modelUrl"].is_string());
        assert!(m["categoryValues"].is_array());
        assert!(m.get("memoryUsage").is_none());
    }
    let (_, by_workspace) = get(&sim, &format!("/2/0/workspaces/{wid}/models"), &token).await;
    assert_eq!(by_workspace["models"], v["models"]);
    let (_, details) = get(&sim, "/2/0/models?modelDetails=true", &token).await;
    assert!(details["models"][0]["memoryUsage"].is_u64());
    assert!(details["models"][0]["lastModified"].is_string());

    // The single-model GET works without the workspace, answers 405 with it.
    let (s, v) = get(&sim, &format!("/2/0/models/{mid}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["model"]["id"], json!(mid));
    let path = format!("/2/0/workspaces/{wid}/models/{mid}");
    let (s, v) = get(&sim, &path, &token).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_envelope(&v, 405, &path);

    // No access: not listed, single GET still 200, model-scoped calls 404.
    let hidden = sim.model_id("Supply Chain").unwrap();
    assert!(!names.contains(&"Supply Chain"));
    let (s, _) = get(&sim, &format!("/2/0/models/{hidden}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    for tail in ["exports", "files"] {
        let path = format!("/2/0/models/{hidden}/{tail}");
        let (s, v) = get(&sim, &path, &token).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_error_envelope(&v, 404, &path);
    }
    // Revoking access at run time.
    sim.revoke_model_access(USER, "FP&A").unwrap();
    let (s, _) = get(&sim, &format!("/2/0/models/{mid}/exports"), &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    sim.set_model_access(USER, ModelAccess::All).unwrap();
    let (s, _) = get(&sim, &format!("/2/0/models/{hidden}/exports"), &token).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_methods_use_the_error_envelope() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    for path in [
        "/2/0/nothing",
        // (modules, views and lists are served now: see view_conformance.rs)
        &format!("/2/0/models/{mid}/no-such-collection"),
        "/2/0/models/0123456789ABCDEF0123456789ABCDEF/exports",
    ] {
        let (s, v) = get(&sim, path, &token).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_error_envelope(&v, 404, path);
    }
    let path = format!("/2/0/models/{mid}/exports");
    let (s, _, v) = call(
        &sim,
        Method::DELETE,
        &path,
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_envelope(&v, 405, &path);
}

#[tokio::test]
async fn paging_honours_limit_and_offset_and_omits_empty_keys() {
    let mut config = sim::tenant(100, 1 << 20, 3);
    config.page_size = 3;
    let sim = sim::start(config).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let base = format!("/2/0/models/{mid}/exports");
    // FP&A has 4 exports; the largest page is 3 here (5000 by default), and asking for more
    // is capped without a word.
    let (_, v) = get(&sim, &base, &token).await;
    assert_eq!(v["exports"].as_array().unwrap().len(), 3);
    assert_eq!(v["meta"]["paging"]["totalSize"], 4);
    assert_eq!(v["meta"]["paging"]["currentPageSize"], 3);
    let (_, v) = get(&sim, &format!("{base}?limit=100"), &token).await;
    assert_eq!(v["exports"].as_array().unwrap().len(), 3);
    let (_, v) = get(&sim, &format!("{base}?limit=1&offset=2"), &token).await;
    let p = &v["meta"]["paging"];
    assert_eq!(
        (
            p["currentPageSize"].clone(),
            p["offset"].clone(),
            p["totalSize"].clone()
        ),
        (json!(1), json!(2), json!(4))
    );
    assert!(p["next"].as_str().unwrap().contains("offset=3"));
    assert!(p["previous"].is_string());
    // The last page still carries a `next`.
    let (_, v) = get(&sim, &format!("{base}?limit=2&offset=2"), &token).await;
    assert_eq!(v["exports"].as_array().unwrap().len(), 2);
    assert!(v["meta"]["paging"]["next"].is_string());
    // Past the end: 200, no `exports` key at all.
    let (s, v) = get(&sim, &format!("{base}?offset=10"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("exports").is_none(), "{v}");
    assert_eq!(v["meta"]["paging"]["currentPageSize"], 0);
    for bad in ["limit=0", "limit=x", "offset=-1"] {
        let (s, v) = get(&sim, &format!("{base}?{bad}"), &token).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_error_envelope(&v, 400, &base);
    }
}

#[tokio::test]
async fn default_page_size_is_5000() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, v) = get(&sim, "/2/0/models?limit=9999", &token).await;
    assert!(
        v["meta"]["paging"]["next"]
            .as_str()
            .unwrap()
            .contains("limit=5000")
    );
}

#[tokio::test]
async fn exports_in_both_path_forms_and_their_metadata() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (wid, mid) = ids(&sim);
    let (s, short) = get(&sim, &format!("/2/0/models/{mid}/exports"), &token).await;
    assert_eq!(s, StatusCode::OK);
    let (_, long) = get(
        &sim,
        &format!("/2/0/workspaces/{wid}/models/{mid}/exports"),
        &token,
    )
    .await;
    assert_eq!(short["exports"], long["exports"]);
    assert!(
        short["meta"]["schema"]
            .as_str()
            .unwrap()
            .ends_with("/objects/export")
    );
    let exports = short["exports"].as_array().unwrap();
    for e in exports {
        let id = e["id"].as_str().unwrap();
        assert!(
            id.len() == 12 && id.starts_with("116") && id.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        for key in ["name", "exportType", "exportFormat", "encoding", "layout"] {
            assert!(e[key].is_string(), "{key} in {e}");
        }
    }
    let tsc = exports
        .iter()
        .find(|e| e["name"] == "Revenue - TSC.csv")
        .unwrap();
    assert_eq!(tsc["exportType"], "TABULAR_ALL_LINE_ITEMS");
    assert_eq!(tsc["layout"], "TABULAR_SINGLE_COLUMN");
    assert_eq!(tsc["exportFormat"], "text/csv");
    assert_eq!(tsc["encoding"], "UTF-8");

    let id = tsc["id"].as_str().unwrap();
    let (s, v) = get(&sim, &format!("/2/0/models/{mid}/exports/{id}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_success(&v);
    let m = &v["exportMetadata"];
    let header = [
        "Versions",
        "Time",
        "Region",
        "Product",
        "Line Items",
        "Value",
    ];
    assert_eq!(m["headerNames"], json!(header));
    assert_eq!(m["columnCount"], 6);
    assert_eq!(m["dataTypes"].as_array().unwrap().len(), 6);
    // The value column of a single-column export mixes line-item formats.
    assert_eq!(m["dataTypes"][5], "MIXED");
    assert_eq!(m["rowCount"], 5000);
    assert_eq!(m["delimiter"], "\"");
    assert_eq!(m["separator"], ",");
    assert_eq!(m["encoding"], "UTF-8");
    assert_eq!(m["exportFormat"], "text/csv");
    assert_eq!(m["layout"], "TABULAR_SINGLE_COLUMN");
    assert!(m["listNames"].is_array());

    let (s, v) = get(
        &sim,
        &format!("/2/0/models/{mid}/exports/116999999999"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_envelope(&v, 404, &format!("/2/0/models/{mid}/exports/116999999999"));
}

// ---- tasks ----

#[tokio::test]
async fn task_lifecycle_from_post_to_complete() {
    let sim = sim::start_default().await;
    sim.update_export("Revenue - TSC.csv", |e| {
        e.task_duration = Some(Duration::from_millis(400));
    })
    .unwrap();
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    let path = format!("/2/0/models/{mid}/exports/{eid}/tasks");
    let auth = Some(format!("AnaplanAuthToken {token}"));
    // The body {"localeName": "en_US"} is required.
    let (s, _, v) = call(&sim, Method::POST, &path, auth.clone(), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_envelope(&v, 400, &path);
    let (s, _, v) = call(
        &sim,
        Method::POST,
        &path,
        auth.clone(),
        Some(json!({"localeName": "en_US"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_success(&v);
    let id = v["task"]["taskId"].as_str().unwrap().to_owned();
    assert!(is_hex(&id, true), "{id}");
    let mut states = Vec::new();
    let mut task = Value::Null;
    for _ in 0..2000 {
        let (s, v) = get(&sim, &format!("{path}/{id}"), &token).await;
        assert_eq!(s, StatusCode::OK);
        task = v["task"].clone();
        let state = task["taskState"].as_str().unwrap().to_owned();
        let progress = task["progress"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&progress));
        assert!(task["currentStep"].is_string());
        if state != "COMPLETE" {
            assert!(task.get("result").is_none(), "{task}");
        }
        if states.last() != Some(&state) {
            states.push(state.clone());
        }
        if state == "COMPLETE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(states.contains(&"IN_PROGRESS".to_owned()), "{states:?}");
    assert_eq!(states.last().unwrap(), "COMPLETE");
    assert_eq!(task["type"], "taskInformation");
    assert_eq!(task["progress"], 1.0);
    assert_eq!(task["result"]["successful"], true);
    assert_eq!(task["result"]["failureDumpAvailable"], false);
    assert_eq!(task["result"]["objectId"], json!(eid));

    let (s, v) = get(&sim, &path, &token).await;
    assert_eq!(s, StatusCode::OK);
    let tasks = v["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["taskId"], json!(id));
    assert_eq!(tasks[0]["taskState"], "COMPLETE");
    assert!(tasks[0]["creationTime"].is_u64());
    // Task lists answer 200 with no key even for an unknown export.
    let (s, v) = get(
        &sim,
        &format!("/2/0/models/{mid}/exports/116999999999/tasks"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("tasks").is_none());
    let (s, _) = get(
        &sim,
        &format!("{path}/0123456789ABCDEF0123456789ABCDEF"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tasks_on_one_model_run_one_at_a_time() {
    let sim = sim::start_default().await;
    // Long enough that the first task is still running when the fourth is created, even on a
    // loaded machine.
    sim.set_task_duration(Duration::from_millis(500));
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let mut started = Vec::new();
    for name in [
        "Revenue - TSC.csv",
        "Headcount - TSC.csv",
        "Margin Summary - TMC.csv",
        "Revenue - TSC.csv",
    ] {
        let eid = export_id(&sim, name);
        let path = format!("/2/0/models/{mid}/exports/{eid}/tasks");
        let (s, _, v) = call(
            &sim,
            Method::POST,
            &path,
            Some(format!("AnaplanAuthToken {token}")),
            Some(json!({"localeName": "en_US"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        started.push((path, v["task"]["taskId"].as_str().unwrap().to_owned()));
    }
    // While the first runs, the others wait as NOT_STARTED.
    let (_, v) = get(&sim, &format!("{}/{}", started[3].0, started[3].1), &token).await;
    assert_eq!(v["task"]["taskState"], "NOT_STARTED");
    // A task on another model is not held up by them.
    let other = sim.model_id("Sales Forecast").unwrap();
    let pipeline = export_id(&sim, "Pipeline - TSC (Excel).csv");
    let (_, other_task) = run_export(&sim, &token, &other, &pipeline).await;
    assert_eq!(other_task["result"]["successful"], true);
    for (path, id) in &started {
        let t = poll_until_done(&sim, &token, &format!("{path}/{id}")).await;
        assert_eq!(t["taskState"], "COMPLETE");
    }
    // From the log: on FP&A, every IN_PROGRESS starts after the previous task ended.
    let log: Vec<_> = sim
        .task_log()
        .into_iter()
        .filter(|e| e.model_id == mid)
        .collect();
    let mut running: Option<String> = None;
    let mut runs = 0;
    for e in &log {
        match e.state.as_str() {
            "IN_PROGRESS" => {
                assert!(
                    running.is_none(),
                    "{} started while {running:?} ran",
                    e.task_id
                );
                running = Some(e.task_id.clone());
                runs += 1;
            }
            "COMPLETE" | "CANCELLED" if running.as_deref() == Some(e.task_id.as_str()) => {
                running = None;
            }
            _ => {}
        }
    }
    assert_eq!(runs, 4);
    // The client here did not wait: four tasks were open at once on FP&A, one on the other.
    let concurrency = sim.task_concurrency();
    assert_eq!(concurrency[&mid], 4);
    assert_eq!(concurrency[&other], 1);
}

#[tokio::test]
async fn a_busy_model_can_answer_409_instead_of_queueing() {
    let mut config = sim::tenant(100, 1 << 20, 2);
    config.reject_when_busy = true;
    config.task_duration = Duration::from_millis(300);
    let sim = sim::start(config).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let first = export_id(&sim, "Revenue - TSC.csv");
    let second = export_id(&sim, "Headcount - TSC.csv");
    let post = |eid: String| {
        let token = token.clone();
        let sim = &sim;
        let mid = mid.clone();
        async move {
            call(
                sim,
                Method::POST,
                &format!("/2/0/models/{mid}/exports/{eid}/tasks"),
                Some(format!("AnaplanAuthToken {token}")),
                Some(json!({"localeName": "en_US"})),
            )
            .await
        }
    };
    let (s, _, v) = post(first.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let id = v["task"]["taskId"].as_str().unwrap().to_owned();
    let (s, _, v) = post(second.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_envelope(
        &v,
        409,
        &format!("/2/0/models/{mid}/exports/{second}/tasks"),
    );
    poll_until_done(
        &sim,
        &token,
        &format!("/2/0/models/{mid}/exports/{first}/tasks/{id}"),
    )
    .await;
    let (s, _, _) = post(second).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn delete_cancels_running_and_queued_tasks() {
    let sim = sim::start_default().await;
    sim.set_task_duration(Duration::from_secs(30));
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Headcount - TSC.csv");
    let path = format!("/2/0/models/{mid}/exports/{eid}/tasks");
    let auth = || Some(format!("AnaplanAuthToken {token}"));
    let body = || Some(json!({"localeName": "en_US"}));
    let (_, _, first) = call(&sim, Method::POST, &path, auth(), body()).await;
    let (_, _, second) = call(&sim, Method::POST, &path, auth(), body()).await;
    let running = first["task"]["taskId"].as_str().unwrap().to_owned();
    let queued = second["task"]["taskId"].as_str().unwrap().to_owned();
    // Wait for the first to run.
    for _ in 0..500 {
        let (_, v) = get(&sim, &format!("{path}/{running}"), &token).await;
        if v["task"]["taskState"] == "IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The queued one is cancelled at once.
    let (s, _, v) = call(
        &sim,
        Method::DELETE,
        &format!("{path}/{queued}"),
        auth(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["task"]["taskState"], "CANCELLED");
    // The running one goes through CANCELLING.
    let (s, _, v) = call(
        &sim,
        Method::DELETE,
        &format!("{path}/{running}"),
        auth(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["task"]["taskState"], "CANCELLING");
    let t = poll_until_done(&sim, &token, &format!("{path}/{running}")).await;
    assert_eq!(t["taskState"], "CANCELLED");
    // No file came out of it.
    let (s, _, _) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// ---- files and chunks ----

#[tokio::test]
async fn files_before_any_run_have_no_chunks() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (wid, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    let (s, v) = get(
        &sim,
        &format!("/2/0/workspaces/{wid}/models/{mid}/files"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_success(&v);
    let files = v["files"].as_array().unwrap();
    // The export's file id is the export id.
    let f = files.iter().find(|f| f["id"] == json!(eid)).unwrap();
    assert_eq!(f["chunkCount"], 0);
    assert_eq!(f["name"], "Revenue - TSC.csv");
    let upload = files
        .iter()
        .find(|f| f["id"].as_str().unwrap().starts_with("113"))
        .unwrap();
    for key in [
        "delimiter",
        "encoding",
        "firstDataRow",
        "format",
        "headerRow",
        "separator",
    ] {
        assert!(upload.get(key).is_some(), "{key} in {upload}");
    }
    // 0 chunks: the chunk list has no `chunks` key and the whole-file GET answers 404.
    let (s, v) = get(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("chunks").is_none(), "{v}");
    let (s, _, body) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_error_envelope(&v, 404, &format!("/2/0/models/{mid}/files/{eid}"));
    let (s, _, _) = bytes_of(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks/0"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn chunks_concatenate_to_the_whole_file_and_the_generator_output() {
    // Small chunks so that boundaries land everywhere.
    let sim = sim::start(sim::tenant(4000, 997, 42)).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let info = sim.export("Revenue - TSC.csv").unwrap();
    let eid = info.export_id.clone();
    run_export(&sim, &token, &mid, &eid).await;

    let mut expected = Vec::new();
    Generator::new(info.config.generator.clone())
        .write_all(&mut expected)
        .unwrap();

    let (_, v) = get(&sim, &format!("/2/0/models/{mid}/files"), &token).await;
    let f = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == json!(eid))
        .unwrap()
        .clone();
    let count = f["chunkCount"].as_u64().unwrap();
    assert_eq!(count, (expected.len() as u64).div_ceil(997));

    let (_, v) = get(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks?limit=5000"),
        &token,
    )
    .await;
    let chunks = v["chunks"].as_array().unwrap();
    assert_eq!(chunks.len() as u64, count);
    for (k, c) in chunks.iter().enumerate() {
        assert_eq!(c["id"], json!(k.to_string()));
        assert_eq!(c["name"], json!(format!("Chunk {k}")));
    }
    // Quirk of the published samples.
    assert_eq!(v["meta"]["paging"]["currentPageSize"], 1);
    assert_eq!(v["meta"]["paging"]["totalSize"], count);

    let mut joined = Vec::new();
    let mut pieces = Vec::new();
    for k in 0..count {
        let r = client()
            .get(format!(
                "{}/2/0/models/{mid}/files/{eid}/chunks/{k}",
                sim.base_url()
            ))
            .header("Authorization", format!("AnaplanAuthToken {token}"))
            .header("Accept", "application/json") // no particular Accept header is required
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        let body = r.bytes().await.unwrap().to_vec();
        if k + 1 < count {
            assert_eq!(body.len(), 997);
        }
        joined.extend_from_slice(&body);
        pieces.push(body);
    }
    let (s, h, whole) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["content-length"], whole.len().to_string().as_str());
    assert_eq!(joined, whole);
    assert_eq!(whole, expected);
    // Only chunk 0 has the header; chunks split records and UTF-8 characters.
    assert!(pieces[0].starts_with(b"Versions,Time,Region,Product,Line Items,Value\n"));
    assert!(pieces[1..].iter().all(|p| !p.starts_with(b"Versions,")));
    let splits_a_row = pieces[..pieces.len() - 1]
        .iter()
        .any(|p| p.last() != Some(&b'\n'));
    let splits_a_char = pieces[1..].iter().any(|p| (0x80..0xC0).contains(&p[0]));
    assert!(splits_a_row && splits_a_char);
    // Inside a quoted field when an odd number of quotes came before.
    let mut quotes = 0usize;
    let mut splits_quoted = false;
    for (i, &b) in joined.iter().enumerate() {
        if i > 0 && i % 997 == 0 && quotes % 2 == 1 {
            splits_quoted = true;
        }
        quotes += usize::from(b == b'"');
    }
    assert!(splits_quoted, "no chunk boundary inside a quoted field");
    let (s, _, _) = bytes_of(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks/{count}"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(sim.counters().download_bytes >= 2 * expected.len() as u64);
}

#[tokio::test]
async fn the_file_is_the_last_successful_run() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Headcount - TSC.csv");
    run_export(&sim, &token, &mid, &eid).await;
    let (_, _, first) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    // New settings: the file changes only once a run with them succeeds.
    sim.update_export("Headcount - TSC.csv", |e| e.generator.rows = 10)
        .unwrap();
    let (_, _, same) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(first, same);
    sim.set_export_faults("Headcount - TSC.csv", "task-fail".parse().unwrap())
        .unwrap();
    let (_, task) = run_export(&sim, &token, &mid, &eid).await;
    assert_eq!(task["result"]["successful"], false);
    let (_, _, still) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(first, still);
    sim.set_export_faults("Headcount - TSC.csv", FaultSpec::default())
        .unwrap();
    run_export(&sim, &token, &mid, &eid).await;
    let (_, _, new) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(String::from_utf8(new).unwrap().matches("\r\n").count(), 11);
    assert_eq!(
        sim.file_content("Headcount - TSC.csv")
            .unwrap()
            .0
            .row_count(),
        10
    );
}

#[tokio::test]
async fn gzip_when_asked_and_enabled() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    run_export(&sim, &token, &mid, &eid).await;
    let url = format!("{}/2/0/models/{mid}/files/{eid}/chunks/0", sim.base_url());
    let plain = client()
        .get(&url)
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let zipped = client()
        .get(&url)
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let raw = zipped.bytes().await.unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(raw.as_ref()), &mut out).unwrap();
    assert_eq!(out, plain);
    assert!(raw.len() < plain.len());
    // A client that decodes gzip itself sees the same bytes.
    let auto = Client::new()
        .get(&url)
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(auto.bytes().await.unwrap(), plain);
    sim.set_gzip(false);
    let off = client()
        .get(&url)
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(off.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn utf16_and_multi_column_exports_are_served_as_configured() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let model = sim.model_id("Sales Forecast").unwrap();
    let eid = export_id(&sim, "Pipeline - TSC (Excel).csv");
    let (_, v) = get(&sim, &format!("/2/0/models/{model}/exports/{eid}"), &token).await;
    assert_eq!(v["exportMetadata"]["encoding"], "UTF-16LE");
    assert_eq!(v["exportMetadata"]["columnCount"], 10);
    run_export(&sim, &token, &model, &eid).await;
    let (_, _, body) = bytes_of(&sim, &format!("/2/0/models/{model}/files/{eid}"), &token).await;
    assert_eq!(&body[..2], &[0xFF, 0xFE]);
    let units: Vec<u16> = body[2..]
        .chunks(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    assert!(
        String::from_utf16(&units)
            .unwrap()
            .starts_with("Versions,Time,Region,Product,Channel,")
    );

    let (_, mid) = ids(&sim);
    let tmc = export_id(&sim, "Margin Summary - TMC.csv");
    let (_, v) = get(&sim, &format!("/2/0/models/{mid}/exports/{tmc}"), &token).await;
    let m = &v["exportMetadata"];
    assert_eq!(m["layout"], "TABULAR_MULTI_COLUMN");
    assert!(
        m["dataTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("NUMBER"))
    );
    assert!(!m["dataTypes"].as_array().unwrap().contains(&json!("MIXED")));
}

// ---- v1.3 ----

#[tokio::test]
async fn v13_uses_basic_on_every_request_and_bare_json() {
    let sim = sim::start_default().await;
    let (wid, mid) = ids(&sim);
    let eid = export_id(&sim, "Headcount - TSC.csv");
    let auth = || Some(basic(USER, PASSWORD));
    let (s, _, v) = call(&sim, Method::GET, "/1/3/workspaces", auth(), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.is_array(), "{v}");
    assert_eq!(v[0]["id"], json!(wid));
    let (_, _, v) = call(
        &sim,
        Method::GET,
        &format!("/1/3/workspaces/{wid}/models"),
        auth(),
        None,
    )
    .await;
    assert!(v.is_array());
    let base = format!("/1/3/workspaces/{wid}/models/{mid}");
    let (_, _, v) = call(&sim, Method::GET, &format!("{base}/exports"), auth(), None).await;
    assert!(v.as_array().unwrap().iter().any(|e| e["id"] == json!(eid)));
    // A token is not a v1.3 credential; neither is nothing.
    let token = login(&sim).await;
    let (s, _, _) = call(
        &sim,
        Method::GET,
        "/1/3/workspaces",
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call(&sim, Method::GET, "/1/3/workspaces", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Run the export: the task objects are bare too.
    let tasks = format!("{base}/exports/{eid}/tasks");
    let (s, _, v) = call(
        &sim,
        Method::POST,
        &tasks,
        auth(),
        Some(json!({"localeName": "en_US"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let id = v["taskId"].as_str().unwrap().to_owned();
    loop {
        let (_, _, v) = call(&sim, Method::GET, &format!("{tasks}/{id}"), auth(), None).await;
        assert!(v.get("meta").is_none());
        if v["taskState"] == "COMPLETE" {
            assert_eq!(v["result"]["failureDumpAvailable"], false);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _, list) = call(&sim, Method::GET, &tasks, auth(), None).await;
    assert_eq!(list[0]["taskId"], json!(id));
    let (_, _, chunks) = call(
        &sim,
        Method::GET,
        &format!("{base}/files/{eid}/chunks"),
        auth(),
        None,
    )
    .await;
    let chunks = chunks.as_array().unwrap();
    assert_eq!(chunks[0], json!({"id": "0", "name": "Chunk 0"}));
    let mut joined = Vec::new();
    for c in chunks {
        let r = client()
            .get(format!(
                "{}{base}/files/{eid}/chunks/{}",
                sim.base_url(),
                c["id"].as_str().unwrap()
            ))
            .header("Authorization", basic(USER, PASSWORD))
            .send()
            .await
            .unwrap();
        joined.extend_from_slice(&r.bytes().await.unwrap());
    }
    let content = sim.file_content("Headcount - TSC.csv").unwrap().0;
    assert_eq!(joined, content.bytes(0..content.len()));
    // Files with no chunks: a bare empty array.
    let other = export_id(&sim, "Empty - TSC.csv");
    let (_, _, v) = call(
        &sim,
        Method::GET,
        &format!("{base}/files/{other}/chunks"),
        auth(),
        None,
    )
    .await;
    assert_eq!(v, json!([]));
}

// ---- faults ----

/// The statuses of a fixed request sequence against a fresh simulator.
async fn status_sequence(seed: u64, faults: &str) -> Vec<(u16, Option<String>)> {
    let mut config = sim::tenant(100, 1 << 20, seed);
    config.faults = faults.parse().unwrap();
    let sim = sim::start(config).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let mut out = Vec::new();
    for i in 0..40 {
        let path = match i % 4 {
            0 => "/2/0/workspaces".to_owned(),
            1 => "/2/0/models".to_owned(),
            2 => format!("/2/0/models/{mid}/exports"),
            _ => format!("/2/0/models/{mid}/files"),
        };
        let (s, h, _) = call(
            &sim,
            Method::GET,
            &path,
            Some(format!("AnaplanAuthToken {token}")),
            None,
        )
        .await;
        let retry_after = h.get("retry-after").map(|v| {
            // Keep the form, not the date itself.
            let v = v.to_str().unwrap();
            if v.parse::<u64>().is_ok() {
                v.to_owned()
            } else {
                "date".to_owned()
            }
        });
        out.push((s.as_u16(), retry_after));
    }
    out
}

#[tokio::test]
async fn status_faults_replay_under_a_seed() {
    let spec = "rate-limit=0.3,server-error=0.3";
    let a = status_sequence(7, spec).await;
    let b = status_sequence(7, spec).await;
    assert_eq!(a, b);
    let c = status_sequence(8, spec).await;
    assert_ne!(a, c);
    let statuses: Vec<u16> = a.iter().map(|(s, _)| *s).collect();
    for want in [200, 429, 500, 503] {
        assert!(statuses.contains(&want), "{want} missing from {statuses:?}");
    }
    // Retry-After comes as seconds and as an HTTP date.
    let forms: Vec<&str> = a.iter().filter_map(|(_, r)| r.as_deref()).collect();
    assert!(
        forms.contains(&"date") && forms.iter().any(|f| f.parse::<u64>().is_ok()),
        "{forms:?}"
    );
}

#[tokio::test]
async fn rate_limit_and_server_error_shapes() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    sim.set_faults("rate-limit=1,retry-after=3s".parse().unwrap());
    let mut seen_date = false;
    let mut seen_seconds = false;
    for i in 0..20 {
        let (s, h, v) = call(
            &sim,
            Method::GET,
            &format!("/2/0/workspaces?i={i}"),
            Some(format!("AnaplanAuthToken {token}")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(v["status"]["code"], 429);
        let ra = h["retry-after"].to_str().unwrap();
        if let Ok(secs) = ra.parse::<u64>() {
            assert_eq!(secs, 3);
            seen_seconds = true;
        } else {
            let at = httpdate::parse_http_date(ra).unwrap();
            assert!(at > SystemTime::now());
            seen_date = true;
        }
    }
    assert!(seen_date && seen_seconds);
    sim.set_faults("server-error=1".parse().unwrap());
    let (s, v) = get(&sim, "/2/0/workspaces", &token).await;
    assert!(s == StatusCode::INTERNAL_SERVER_ERROR || s == StatusCode::SERVICE_UNAVAILABLE);
    assert_error_envelope(&v, s.as_u16(), "/2/0/workspaces");
    // Auth is not subject to them.
    let (s, _, _) = call(
        &sim,
        Method::POST,
        "/token/authenticate",
        Some(basic(USER, PASSWORD)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let c = sim.counters();
    assert_eq!(
        c.faults[&FaultKind::RateLimitSeconds] + c.faults[&FaultKind::RateLimitDate],
        20
    );
    assert_eq!(
        c.faults.get(&FaultKind::ServerError500).unwrap_or(&0)
            + c.faults.get(&FaultKind::ServerError503).unwrap_or(&0),
        1
    );
}

/// A raw HTTP/1.1 GET: (head, body received, error ending the read if any).
async fn raw_get(
    sim: &SimulatorHandle,
    path: &str,
    token: &str,
) -> (String, Vec<u8>, Option<std::io::ErrorKind>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: sim\r\nAuthorization: AnaplanAuthToken {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut data = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut err = None;
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => {
                err = Some(e.kind());
                break;
            }
        }
    }
    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(data.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&data[..split]).into_owned();
    (head, data[split..].to_vec(), err)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length")
}

#[tokio::test]
async fn truncate_and_reset_spoil_download_bodies() {
    let sim = sim::start(sim::tenant(20_000, 256 * 1024, 5)).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    run_export(&sim, &token, &mid, &eid).await;
    let chunk = format!("/2/0/models/{mid}/files/{eid}/chunks/0");

    sim.set_export_faults("Revenue - TSC.csv", "truncate=1".parse().unwrap())
        .unwrap();
    let (head, body, _) = raw_get(&sim, &chunk, &token).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.len() < content_length(&head),
        "{} of {}",
        body.len(),
        content_length(&head)
    );
    // reqwest sees a body error.
    let r = client()
        .get(format!("{}{chunk}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.is_err());

    sim.set_export_faults("Revenue - TSC.csv", "reset=1".parse().unwrap())
        .unwrap();
    let (head, body, err) = raw_get(&sim, &chunk, &token).await;
    if head.starts_with("HTTP/1.1 200") {
        assert!(body.len() < content_length(&head));
    }
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset), "{head}");
    let r = client()
        .get(format!("{}{chunk}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().bytes().await.is_err());

    // Other exports are untouched; the spoiled one recovers when the fault goes.
    sim.set_export_faults("Revenue - TSC.csv", FaultSpec::default())
        .unwrap();
    let (s, _, body) = bytes_of(&sim, &chunk, &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body.len(), 256 * 1024);
    let c = sim.counters();
    assert_eq!(c.faults[&FaultKind::Truncate], 2);
    assert_eq!(c.faults[&FaultKind::Reset], 2);
}

#[tokio::test]
async fn slow_bandwidth_and_latency_still_deliver_the_right_bytes() {
    let sim = sim::start(sim::tenant(3000, 64 * 1024, 6)).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    run_export(&sim, &token, &mid, &eid).await;
    let (_, _, want) = bytes_of(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks/0"),
        &token,
    )
    .await;
    sim.set_faults(
        "slow=1,trickle=4MiB,bandwidth=8MiB,latency=5ms"
            .parse()
            .unwrap(),
    );
    let (s, _, got) = bytes_of(
        &sim,
        &format!("/2/0/models/{mid}/files/{eid}/chunks/0"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, want);
    assert_eq!(sim.counters().faults[&FaultKind::Slow], 1);
}

#[tokio::test]
async fn task_fail_gives_a_failure_dump() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    sim.set_export_faults("Revenue - TSC.csv", "task-fail".parse().unwrap())
        .unwrap();
    let (id, task) = run_export(&sim, &token, &mid, &eid).await;
    assert_eq!(task["taskState"], "COMPLETE");
    assert_eq!(task["result"]["successful"], false);
    assert_eq!(task["result"]["failureDumpAvailable"], true);
    let dump = format!("/2/0/models/{mid}/exports/{eid}/tasks/{id}/dump");
    let (s, h, body) = bytes_of(&sim, &dump, &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/csv");
    assert!(!body.is_empty());
    let (_, v) = get(&sim, &format!("{dump}/chunks"), &token).await;
    assert_eq!(v["chunks"][0]["id"], "0");
    let (_, _, chunk) = bytes_of(&sim, &format!("{dump}/chunks/0"), &token).await;
    assert_eq!(chunk, body);
    // Never succeeded: no file.
    let (s, _, _) = bytes_of(&sim, &format!("/2/0/models/{mid}/files/{eid}"), &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Other exports are not affected.
    let other = export_id(&sim, "Headcount - TSC.csv");
    let (_, task) = run_export(&sim, &token, &mid, &other).await;
    assert_eq!(task["result"]["successful"], true);
    assert_eq!(sim.counters().faults[&FaultKind::TaskFail], 1);
}

#[tokio::test]
async fn task_stuck_and_task_cancel() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Headcount - TSC.csv");
    sim.set_faults("task-stuck=30s".parse().unwrap());
    let path = format!("/2/0/models/{mid}/exports/{eid}/tasks");
    let (_, _, v) = call(
        &sim,
        Method::POST,
        &path,
        Some(format!("AnaplanAuthToken {token}")),
        Some(json!({"localeName": "en_US"})),
    )
    .await;
    let id = v["task"]["taskId"].as_str().unwrap().to_owned();
    // Well past its 100 ms run, it is still IN_PROGRESS with its progress frozen at one half.
    let mut frozen = false;
    for _ in 0..300 {
        let (_, v) = get(&sim, &format!("{path}/{id}"), &token).await;
        assert_eq!(v["task"]["taskState"], "IN_PROGRESS");
        if v["task"]["progress"] == 0.5 {
            frozen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(frozen);
    call(
        &sim,
        Method::DELETE,
        &format!("{path}/{id}"),
        Some(format!("AnaplanAuthToken {token}")),
        None,
    )
    .await;
    assert_eq!(
        poll_until_done(&sim, &token, &format!("{path}/{id}")).await["taskState"],
        "CANCELLED"
    );

    sim.set_faults("task-cancel".parse().unwrap());
    let (_, task) = run_export(&sim, &token, &mid, &eid).await;
    assert_eq!(task["taskState"], "CANCELLED");
    let states: Vec<String> = sim
        .task_log()
        .into_iter()
        .filter(|e| e.task_id == task["taskId"].as_str().unwrap())
        .map(|e| e.state)
        .collect();
    assert_eq!(
        states,
        ["NOT_STARTED", "IN_PROGRESS", "CANCELLING", "CANCELLED"]
    );
    let c = sim.counters();
    assert_eq!(c.faults[&FaultKind::TaskStuck], 1);
    assert_eq!(c.faults[&FaultKind::TaskCancel], 1);
}

#[tokio::test]
async fn unknown_enums_on_demand() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    sim.set_faults("unknown-enums".parse().unwrap());
    let (_, v) = get(&sim, "/2/0/models", &token).await;
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["activeState"] == "LOCKED")
    );
    let (_, v) = get(&sim, &format!("/2/0/models/{mid}/exports"), &token).await;
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["exportType"] == "GRID_ALL_PAGES")
    );
    // Config can set them too.
    sim.set_faults(FaultSpec::default());
    sim.set_model_state("FP&A", "ARCHIVED").unwrap();
    let (_, v) = get(&sim, &format!("/2/0/models/{mid}"), &token).await;
    assert_eq!(v["model"]["activeState"], "ARCHIVED");
}

#[tokio::test]
async fn requests_are_recorded_without_credentials() {
    let sim = sim::start_default().await;
    let token = login(&sim).await;
    get(&sim, "/2/0/workspaces?tenantDetails=true", &token).await;
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].path, "/token/authenticate");
    assert_eq!(log[0].status, 201);
    assert_eq!(log[1].path, "/2/0/workspaces?tenantDetails=true");
    assert!(log[1].bytes > 0);
    let text = format!("{log:?}");
    assert!(!text.contains(&token) && !text.contains(PASSWORD));
}

// ---- the command ----

#[tokio::test]
async fn the_command_announces_its_address_serves_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .args([
            "simulator",
            "--listen",
            "127.0.0.1:0",
            "--rows",
            "100",
            "--seed",
            "3",
        ])
        .env("ANAPLAN_SIM_PASSWORD", "s3cret-pw")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let base = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let r = client()
        .post(format!("{base}/token/authenticate"))
        .header("Authorization", basic(USER, "s3cret-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the simulator stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("Revenue - TSC.csv"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

#[test]
fn the_command_documents_the_fault_syntax() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .args(["simulator", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for item in [
        "rate-limit=P",
        "token-ttl=DURATION",
        "task-fail",
        "unknown-enums",
        "--faults",
    ] {
        assert!(help.contains(item), "{item} missing from --help");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .args(["simulator", "--faults", "explode=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

// ---- memory ----

/// Peak and current resident memory of this process, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Serves a multi-gigabyte export (`SIM_MEMORY_GB`, default 2) and downloads every chunk,
/// 4 at a time, checking that memory does not grow with the export. Run it in release:
/// `cargo test --release --test it -- --ignored simulator::memory --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "generates gigabytes: run on demand, in release"]
#[allow(clippy::print_stderr)]
async fn memory_stays_flat_while_serving_a_multi_gigabyte_export() {
    use futures::StreamExt;
    let gb: f64 = std::env::var("SIM_MEMORY_GB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    // About 52.7 bytes per row with the default settings.
    let rows = (gb * 1e9 / 52.7) as u64;
    let mut config = sim::tenant(rows, 10 << 20, 11);
    config.gzip = false;
    let sim = sim::start(config).await;
    let token = login(&sim).await;
    let (_, mid) = ids(&sim);
    let eid = export_id(&sim, "Revenue - TSC.csv");
    let started = std::time::Instant::now();
    run_export(&sim, &token, &mid, &eid).await;
    let indexed = started.elapsed();
    let (_, v) = get(&sim, &format!("/2/0/models/{mid}/files"), &token).await;
    let count = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == json!(eid))
        .unwrap()["chunkCount"]
        .as_u64()
        .unwrap();
    let (peak_before, rss_before) = rss_kib();
    let started = std::time::Instant::now();
    let http = client();
    let total: u64 = futures::stream::iter(0..count)
        .map(|k| {
            let http = http.clone();
            let url = format!("{}/2/0/models/{mid}/files/{eid}/chunks/{k}", sim.base_url());
            let token = token.clone();
            async move {
                let r = http
                    .get(url)
                    .header("Authorization", format!("AnaplanAuthToken {token}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let mut n = 0u64;
                let mut body = r.bytes_stream();
                while let Some(piece) = body.next().await {
                    n += piece.unwrap().len() as u64;
                }
                n
            }
        })
        .buffer_unordered(4)
        .fold(0u64, |a, n| async move { a + n })
        .await;
    let served = started.elapsed();
    let (peak_after, rss_after) = rss_kib();
    let size = sim.file_content("Revenue - TSC.csv").unwrap().0.len();
    assert_eq!(total, size);
    eprintln!(
        "served {:.2} GB in {count} chunks: index {:.1} s, download {:.1} s ({:.0} MB/s, 4 at a time); \
         RSS {} -> {} MiB, peak {} -> {} MiB",
        size as f64 / 1e9,
        indexed.as_secs_f64(),
        served.as_secs_f64(),
        size as f64 / 1e6 / served.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024,
        peak_before / 1024,
        peak_after / 1024,
    );
    // 4 chunks in flight cost a few blocks each, not the 10 MB chunks, nor the file.
    assert!(
        peak_after < peak_before + 64 * 1024,
        "peak grew from {peak_before} to {peak_after} KiB"
    );
}
