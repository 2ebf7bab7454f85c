//! Conformance of the simulator's module, view and list endpoints with the API notes
//! (`anaplan-api-views-oauth.md` §1–3), over raw HTTP: shapes, ids, the read-request life
//! cycle, the switches for the open questions, limits and refusals.

use std::time::Duration;

use anaplan_parquet::simulator::SimulatorHandle;
use anaplan_parquet::simulator::reads::ViewLayout;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::sim::{self, ADMIN, PASSWORD, USER};

async fn login_as(sim: &SimulatorHandle, user: &str) -> String {
    let r = Client::new()
        .post(format!("{}/token/authenticate", sim.base_url()))
        .header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{user}:{PASSWORD}"))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["tokenInfo"]["tokenValue"].as_str().unwrap().to_owned()
}

/// A call: status, headers, body text.
async fn call(
    sim: &SimulatorHandle,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = Client::new()
        .request(method, format!("{}/2/0{path}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

async fn json_call(
    sim: &SimulatorHandle,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (s, _, text) = call(sim, token, method, path, body).await;
    (
        s,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
    )
}

struct Tenant {
    sim: SimulatorHandle,
    token: String,
    /// `/workspaces/{w}/models/{m}`.
    base: String,
    model_id: String,
}

async fn model() -> Tenant {
    let sim = sim::start_default().await;
    sim.set_reads(|r| {
        r.rows_per_page = 50;
        r.start_delay = Duration::from_millis(100);
        r.page_interval = Duration::from_millis(20);
    })
    .unwrap();
    let token = login_as(&sim, USER).await;
    let w = sim.workspace_id("Financial Planning").unwrap();
    let m = sim.model_id("FP&A").unwrap();
    Tenant {
        base: format!("/workspaces/{w}/models/{m}"),
        model_id: m,
        sim,
        token,
    }
}

impl Tenant {
    async fn get(&self, tail: &str) -> (StatusCode, Value) {
        json_call(
            &self.sim,
            &self.token,
            Method::GET,
            &format!("{}{tail}", self.base),
            None,
        )
        .await
    }
}

#[tokio::test]
async fn modules_views_and_lists_have_the_documented_shapes() {
    let m = model().await;
    let (s, v) = m.get("/modules").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["modules"][0],
        json!({"id": "102000000000", "name": "REV01 Revenue"})
    );
    assert_eq!(v["meta"]["paging"]["totalSize"], 2);

    // Model level: the default view is named after its module, saved views `<module>.<view>`.
    let (_, v) = m.get("/views").await;
    let views = v["views"].as_array().unwrap();
    assert_eq!(
        views[0],
        json!({"code": "", "id": "102000000000", "name": "REV01 Revenue", "moduleId": "102000000000"})
    );
    assert_eq!(views[1]["name"], "REV01 Revenue.Units and price");
    assert_eq!(
        views[1]["id"].as_str().unwrap().len(),
        13,
        "saved views: 13 digits"
    );
    // Module level: the default view is named `default`.
    let (_, v) = m.get("/modules/102000000000/views").await;
    assert_eq!(v["views"][0]["name"], "default");
    assert_eq!(v["views"].as_array().unwrap().len(), 2);
    // The model-direct prefix answers the same.
    let (_, direct) = json_call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("/models/{}/views", m.model_id),
        None,
    )
    .await;
    assert_eq!(direct["views"], json!(views));

    // View metadata: flat, Line Items as the column axis, empty axes left out.
    let (_, v) = m.get("/views/102000000001").await;
    assert_eq!(v["viewName"], "REV02 Price Book");
    assert_eq!(v["viewId"], "102000000001");
    assert_eq!(
        v["columns"],
        json!([{"id": "20000000012", "name": "Line Items"}])
    );
    assert_eq!(
        v["rows"][0],
        json!({"id": "101000000000", "name": "Regions"})
    );
    assert_eq!(v["rows"][1]["id"], "20000000003");
    assert!(v.get("pages").is_none(), "{v}");
    assert!(v.get("viewMetadata").is_none(), "not wrapped: {v}");
    assert_eq!(m.get("/views/999").await.0, StatusCode::NOT_FOUND);

    // Lists and list metadata.
    let (_, v) = m.get("/lists").await;
    assert_eq!(
        v["lists"][2],
        json!({"id": "101000000002", "name": "Products"})
    );
    let (_, v) = m.get("/lists/101000000002").await;
    let md = &v["metadata"];
    assert_eq!(md["itemCount"], 1001, "counts the top-level item");
    assert_eq!(
        md["parent"],
        json!({"id": "101000000001", "name": "Product Families"})
    );
    assert_eq!(md["properties"][0]["format"], "NUMBER");
    assert!(
        m.get("/lists/101000000000").await.1["metadata"]
            .get("parent")
            .is_none()
    );
}

#[tokio::test]
async fn a_read_request_lives_and_dies_as_documented() {
    let m = model().await;
    let path = format!("{}/views/102000000001/readRequests", m.base);
    // No or an unknown exportType: 400.
    for body in [None, Some(json!({"exportType": "FANCY"}))] {
        let (s, _) = json_call(&m.sim, &m.token, Method::POST, &path, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    // A request that has not started (an hour's delay): the POST's shape, a status with no
    // pages, a page that is not available yet (404), and DELETE of an unfinished request.
    m.sim
        .set_reads(|r| r.start_delay = Duration::from_hours(1))
        .unwrap();
    let (s, v) = json_call(
        &m.sim,
        &m.token,
        Method::POST,
        &format!("{path}/"),
        Some(json!({"exportType": "TABULAR_MULTI_COLUMN"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let r = &v["viewReadRequest"];
    let waiting = r["requestId"].as_str().unwrap().to_owned();
    assert!(
        waiting.len() == 32
            && waiting
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
    assert_eq!(r["requestState"], "NOT_STARTED");
    assert!(
        r["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/readRequests/{waiting}"))
    );
    assert!(r.get("availablePages").is_none() && r.get("viewId").is_none());
    let (_, v) = json_call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("{path}/{waiting}"),
        None,
    )
    .await;
    assert_eq!(v["viewReadRequest"]["requestState"], "NOT_STARTED");
    assert_eq!(v["viewReadRequest"]["availablePages"], 0);
    let (s, _, _) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("{path}/{waiting}/pages/0"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not available yet");
    let (_, v) = json_call(
        &m.sim,
        &m.token,
        Method::DELETE,
        &format!("{path}/{waiting}"),
        None,
    )
    .await;
    assert_eq!(v["viewReadRequest"]["requestState"], "CANCELLED");

    // A request that runs: viewId a number in its status, pages over time, then COMPLETE.
    m.sim
        .set_reads(|r| r.start_delay = Duration::from_millis(100))
        .unwrap();
    let (_, v) = json_call(
        &m.sim,
        &m.token,
        Method::POST,
        &path,
        Some(json!({"exportType": "TABULAR_MULTI_COLUMN"})),
    )
    .await;
    let id = v["viewReadRequest"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = format!("{path}/{id}");
    let (_, v) = json_call(&m.sim, &m.token, Method::GET, &status, None).await;
    assert_eq!(v["viewReadRequest"]["viewId"], json!(102_000_000_001_u64));
    let done = loop {
        let (_, v) = json_call(&m.sim, &m.token, Method::GET, &status, None).await;
        if v["viewReadRequest"]["requestState"] == "COMPLETE" {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        done["viewReadRequest"]["availablePages"], 5,
        "240 rows, 50 a page"
    );
    assert_eq!(done["viewReadRequest"]["successful"], true);

    // Pages: text/csv; page 0 has the header, the others not (the default switch).
    let truth = m
        .sim
        .view_table("REV02 Price Book", ViewLayout::MultiColumn)
        .unwrap();
    let mut joined = String::new();
    for k in 0..5 {
        let (s, h, text) = call(
            &m.sim,
            &m.token,
            Method::GET,
            &format!("{status}/pages/{k}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["content-type"], "text/csv");
        joined.push_str(&text);
    }
    assert!(joined.starts_with("Regions,Time,List Price,Discount %,Active,Owner\n"));
    assert_eq!(
        joined.as_bytes(),
        truth.csv(&truth.header()),
        "the pages join into the view"
    );
    let (s, _, _) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("{status}/pages/5"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "past the last page");

    // DELETE: 200 with the request; then 404 everywhere.
    let (s, v) = json_call(&m.sim, &m.token, Method::DELETE, &status, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["viewReadRequest"]["requestState"], "COMPLETE");
    assert_eq!(v["viewReadRequest"]["successful"], true);
    for p in [status.clone(), format!("{status}/pages/0")] {
        let (s, _, _) = call(&m.sim, &m.token, Method::GET, &p, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    }
    let info = m.sim.read_requests();
    assert!(info[0].deleted && info[0].pages_served == 0, "{info:?}");
    assert!(info[1].deleted && info[1].pages_served == 5, "{info:?}");
}

#[tokio::test]
async fn the_switches_answer_each_open_question_both_ways() {
    let m = model().await;
    let path = format!("{}/views/102000000001/readRequests", m.base);
    let header = "Regions,Time,List Price,Discount %,Active,Owner\n";
    for (repeat, split) in [(true, false), (false, true)] {
        m.sim
            .set_reads(|r| {
                r.repeat_header = repeat;
                r.split_records = split;
                r.start_delay = Duration::ZERO;
                r.page_interval = Duration::ZERO;
                r.delete_finished_as_cancelled = true;
            })
            .unwrap();
        let (_, v) = json_call(
            &m.sim,
            &m.token,
            Method::POST,
            &path,
            Some(json!({"exportType": "TABULAR_SINGLE_ITEMS"})),
        )
        .await;
        assert_eq!(v["viewReadRequest"]["requestState"], "IN_PROGRESS");
        let id = v["viewReadRequest"]["requestId"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, _, page1) = call(
            &m.sim,
            &m.token,
            Method::GET,
            &format!("{path}/{id}/pages/1"),
            None,
        )
        .await;
        if repeat {
            assert!(
                page1.starts_with("Regions,Time,Line Items,Value\n"),
                "{page1}"
            );
        } else {
            assert!(!page1.starts_with(header));
            // A split record: page 1 opens with the rest of page 0's last record.
            let (_, _, page0) = call(
                &m.sim,
                &m.token,
                Method::GET,
                &format!("{path}/{id}/pages/0"),
                None,
            )
            .await;
            assert!(!page0.ends_with('\n'), "page 0 ends inside a record");
        }
        let (_, v) = json_call(
            &m.sim,
            &m.token,
            Method::DELETE,
            &format!("{path}/{id}"),
            None,
        )
        .await;
        assert_eq!(v["viewReadRequest"]["requestState"], "CANCELLED");
    }
}

#[tokio::test]
async fn lists_are_read_with_no_body_in_the_list_layout() {
    let m = model().await;
    let path = format!("{}/lists/101000000003/readRequests", m.base);
    let (s, v) = json_call(&m.sim, &m.token, Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    let id = v["listReadRequest"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, v) = json_call(&m.sim, &m.token, Method::GET, &format!("{path}/{id}"), None).await;
    assert_eq!(v["listReadRequest"]["listId"], json!(101_000_000_003_u64));
    let (_, _, page) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("{path}/{id}/pages/0"),
        None,
    )
    .await;
    assert!(
        page.starts_with(",Parent,Write,Read,Code,Grade,Salary,Remote,Title,Start Date\n"),
        "{page}"
    );
    // A view id is not a list.
    let (s, _, _) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("{}/lists/102000000000/readRequests/{id}", m.base),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn limits_and_refusals() {
    let m = model().await;
    let path = format!("{}/views/102000000001/readRequests", m.base);
    let body = Some(json!({"exportType": "TABULAR_MULTI_COLUMN"}));
    // The concurrency cap: the fourth live request of the workspace gets 429 + Retry-After.
    for _ in 0..3 {
        let (s, _) = json_call(&m.sim, &m.token, Method::POST, &path, body.clone()).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, h, _) = call(&m.sim, &m.token, Method::POST, &path, body.clone()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");

    // Inactivity: an idle request is reclaimed (404) and frees its place.
    m.sim
        .set_reads(|r| r.expiry = Duration::from_millis(50))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let id = m.sim.read_requests()[0].id.clone();
    let (s, _, _) = call(&m.sim, &m.token, Method::GET, &format!("{path}/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(m.sim.read_requests().iter().all(|r| r.expired));
    m.sim
        .set_reads(|r| r.expiry = Duration::from_mins(30))
        .unwrap();

    // admin_only: 404 (never 403) for a user who is not a workspace administrator.
    m.sim.set_reads(|r| r.admin_only = true).unwrap();
    let (s, _, _) = call(&m.sim, &m.token, Method::POST, &path, body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let admin = login_as(&m.sim, ADMIN).await;
    let (s, _, _) = call(&m.sim, &admin, Method::POST, &path, body.clone()).await;
    assert_eq!(s, StatusCode::OK);

    // The transactional read: CSV up to the cell limit, 400 above it.
    let (s, h, text) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("/models/{}/views/102000000001/data?exportType=TABULAR_MULTI_COLUMN&moduleId=102000000001", m.model_id),
        None,
    )
    .await;
    assert_eq!(
        (s, h["content-type"].to_str().unwrap()),
        (StatusCode::OK, "text/csv")
    );
    let truth = m
        .sim
        .view_table("REV02 Price Book", ViewLayout::MultiColumn)
        .unwrap();
    assert_eq!(text.as_bytes(), truth.csv(&truth.header()));
    let (s, _, grid) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("/models/{}/views/102000000001/data", m.model_id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        grid.starts_with(",,List Price,"),
        "grid: dimension header cells empty: {grid}"
    );
    let (s, _, text) = call(
        &m.sim,
        &m.token,
        Method::GET,
        &format!("/models/{}/views/102000000000/data", m.model_id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "1.44 million cells: {text}");

    // The transactional list read: JSON and CSV.
    let (s, v) = m.get("/lists/101000000002/items?includeAll=true").await;
    assert_eq!(s, StatusCode::OK);
    let item = &v["listItems"][0];
    assert_eq!(item["name"], "Products 0001");
    assert!(item["properties"]["Pack Size"].is_string());
    assert!(item["subsets"]["Favourites"].is_boolean());
}
