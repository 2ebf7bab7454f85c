//! Conformance of the simulator's users, imports, processes and actions endpoints, and of the
//! two forms of a finished export task's `result`: real HTTP, expectations written from the
//! public shapes (OAS, Postman, help pages, the clients that read them), not from the
//! simulator's types. Our own client keeps exporting whichever result form is served.

use std::path::Path;

use anaplan_parquet::Shutdown;
use anaplan_parquet::anaplan::ApiVersion;
use anaplan_parquet::convert::{EngineOptions, RunContext};
use anaplan_parquet::error::Error;
use anaplan_parquet::export::{ExportJob, run_export};
use anaplan_parquet::simulator::{
    ExportResultForm, LOGIN_DATE_FORMAT, ModelAccess, SimulatorConfig, SimulatorHandle,
};
use anaplan_parquet::sink::Destination;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE, connect, export_ref, quick_poll};
use crate::support::sim::{self, ADMIN, PASSWORD, USER};

// ---- helpers ----

async fn login_as(sim: &SimulatorHandle, user: &str, password: &str) -> String {
    let r = Client::new()
        .post(format!("{}/token/authenticate", sim.base_url()))
        .header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["tokenInfo"]["tokenValue"].as_str().unwrap().to_owned()
}

async fn call(
    sim: &SimulatorHandle,
    method: Method,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let r = Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    (status, v)
}

async fn get(sim: &SimulatorHandle, path: &str, token: &str) -> (StatusCode, Value) {
    call(sim, Method::GET, path, token).await
}

fn assert_success(v: &Value) {
    assert_eq!(
        v["status"],
        json!({"code": 200, "message": "Success"}),
        "{v}"
    );
    assert!(v["meta"]["schema"].is_string(), "{v}");
}

/// A list answer: success, paging with `totalSize`, and the items under `key` (none: no key).
fn items(v: &Value, key: &str, total: u64) -> Vec<Value> {
    assert_success(v);
    let paging = &v["meta"]["paging"];
    assert_eq!(paging["totalSize"], json!(total), "{v}");
    assert!(paging["next"].is_string(), "{v}");
    match v.get(key) {
        Some(list) => list.as_array().expect("an array").clone(),
        None => Vec::new(),
    }
}

fn assert_not_found(status: StatusCode, v: &Value, path: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
    assert_eq!(v["status"]["code"], json!(404), "{v}");
    assert_eq!(v["path"], json!(path), "{v}");
}

fn is_hex(s: &str, lower: bool) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (lower && (b'a'..=b'f').contains(&b)))
}

fn is_object_id(s: &str, prefix: &str) -> bool {
    s.len() == 12 && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_digit())
}

fn names(list: &[Value]) -> Vec<&str> {
    list.iter().map(|v| v["name"].as_str().unwrap()).collect()
}

/// `/2/0/models/{m}` and `/2/0/workspaces/{w}/models/{m}` for a model of the default tenant.
fn both_forms(sim: &SimulatorHandle, workspace: &str, model: &str) -> [String; 2] {
    let w = sim.workspace_id(workspace).unwrap();
    let m = sim.model_id(model).unwrap();
    [
        format!("/2/0/models/{m}"),
        format!("/2/0/workspaces/{w}/models/{m}"),
    ]
}

// ---- users ----

#[tokio::test]
async fn users_me_and_by_id_have_the_user_shape() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    let (s, me) = get(&sim, "/2/0/users/me", &token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_success(&me);
    let u = &me["user"];
    let id = u["id"].as_str().unwrap();
    assert!(is_hex(id, true), "{id}");
    assert_eq!(u["email"], json!(USER));
    assert_eq!(u["active"], json!(true));
    assert_eq!(u["emailOptIn"], json!(false));
    assert_eq!(
        (u["firstName"].as_str(), u["lastName"].as_str()),
        (Some("Demo"), Some("User"))
    );
    // The form `anaplan-api` parses: `%Y-%m-%dT%H:%M:%S.%f%z`.
    let login = u["lastLoginDate"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_str(login, "%Y-%m-%dT%H:%M:%S%.f%z").is_ok(),
        "{login}"
    );
    let (s, by_id) = get(&sim, &format!("/2/0/users/{id}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_id["user"], *u);
    // The administrator is another user, with another id; the same seed gives the same ids.
    let (_, admin) = get(
        &sim,
        "/2/0/users/me",
        &login_as(&sim, ADMIN, PASSWORD).await,
    )
    .await;
    assert_ne!(admin["user"]["id"], u["id"]);
    let again = sim::start_default().await;
    let (_, me_again) = get(
        &again,
        "/2/0/users/me",
        &login_as(&again, USER, PASSWORD).await,
    )
    .await;
    assert_eq!(me_again["user"], *u);

    let path = "/2/0/users/0123456789abcdef0123456789abcdef";
    let (s, v) = get(&sim, path, &token).await;
    assert_not_found(s, &v, path);
    let (s, _) = call(&sim, Method::POST, "/2/0/users/me", &token).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = call(
        &sim,
        Method::DELETE,
        &format!("/2/0/users/{id}/models"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let path = format!("/2/0/users/{id}/friends");
    let (s, v) = call(&sim, Method::POST, &path, &token).await;
    assert_not_found(s, &v, &path);
    // Without a token: 401, as everywhere.
    let r = Client::new()
        .get(format!("{}/2/0/users/me", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_list_pages_and_sorts_like_the_live_api() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    let (s, v) = get(&sim, "/2/0/users", &token).await;
    assert_eq!(s, StatusCode::OK);
    let all = items(&v, "users", 2);
    assert_eq!(all.len(), 2);
    for u in &all {
        for field in [
            "id",
            "active",
            "email",
            "emailOptIn",
            "firstName",
            "lastName",
            "lastLoginDate",
        ] {
            assert!(u.get(field).is_some(), "{field} missing: {u}");
        }
    }
    let (_, v) = get(&sim, "/2/0/users?limit=1&offset=1", &token).await;
    let page = items(&v, "users", 2);
    assert_eq!(page, all[1..]);
    assert_eq!(v["meta"]["paging"]["currentPageSize"], json!(1));
    assert!(v["meta"]["paging"]["previous"].is_string(), "{v}");

    let emails = |v: &Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, up) = get(&sim, "/2/0/users?sort=%2Bemail", &token).await;
    assert_eq!(emails(&up), [ADMIN, USER]);
    let (_, down) = get(&sim, "/2/0/users?sort=-email", &token).await;
    assert_eq!(emails(&down), [USER, ADMIN]);
    // Live: the sign is required and the field is checked.
    let (s, v) = get(&sim, "/2/0/users?sort=email", &token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Bad sort order format"),
        "{v}"
    );
    let (s, v) = get(&sim, "/2/0/users?sort=-shoeSize", &token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["status"]["message"],
        json!("Failed to parse sort parameter")
    );
}

#[tokio::test]
async fn a_users_workspaces_and_models_follow_their_access() {
    let sim = sim::start_default().await;
    let demo = login_as(&sim, USER, PASSWORD).await;
    let admin = login_as(&sim, ADMIN, PASSWORD).await;
    let demo_id = get(&sim, "/2/0/users/me", &demo).await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_id = get(&sim, "/2/0/users/me", &admin).await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (s, v) = get(&sim, &format!("/2/0/users/{demo_id}/workspaces"), &demo).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ws = items(&v, "workspaces", 1);
    assert_eq!(names(&ws), [WORKSPACE]);
    assert_eq!(ws[0]["id"], json!(sim.workspace_id(WORKSPACE).unwrap()));
    assert_eq!(ws[0]["active"], json!(true));
    assert!(ws[0]["sizeAllowance"].as_u64().unwrap() >= ws[0]["currentSize"].as_u64().unwrap());

    let (s, v) = get(&sim, &format!("/2/0/users/{demo_id}/models"), &demo).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let models = items(&v, "models", 2);
    assert_eq!(names(&models), [MODEL, "Sales Forecast"]);
    for m in &models {
        assert_eq!(m["activeState"], json!("UNLOCKED"));
        assert_eq!(m["currentWorkspaceName"], json!(WORKSPACE));
        assert_eq!(
            m["currentWorkspaceId"],
            json!(sim.workspace_id(WORKSPACE).unwrap())
        );
        assert_eq!(
            m["id"],
            json!(sim.model_id(m["name"].as_str().unwrap()).unwrap())
        );
    }

    // Another user's lists: 404 for a non-administrator, the other user's for an administrator.
    for tail in ["workspaces", "models"] {
        let path = format!("/2/0/users/{admin_id}/{tail}");
        let (s, v) = get(&sim, &path, &demo).await;
        assert_not_found(s, &v, &path);
    }
    let (_, v) = get(&sim, &format!("/2/0/users/{demo_id}/models"), &admin).await;
    assert_eq!(names(&items(&v, "models", 2)), [MODEL, "Sales Forecast"]);
    let (_, v) = get(&sim, &format!("/2/0/users/{admin_id}/models"), &admin).await;
    assert_eq!(items(&v, "models", 3).len(), 3);
    let (_, v) = get(&sim, &format!("/2/0/users/{admin_id}/workspaces"), &admin).await;
    assert_eq!(
        names(&items(&v, "workspaces", 2)),
        [WORKSPACE, "Operations"]
    );

    // Access changes show at once.
    sim.set_model_access(USER, ModelAccess::Only(vec!["Sales Forecast".into()]))
        .unwrap();
    let (_, v) = get(&sim, &format!("/2/0/users/{demo_id}/models"), &demo).await;
    assert_eq!(names(&items(&v, "models", 1)), ["Sales Forecast"]);
    sim.set_model_access(USER, ModelAccess::Only(Vec::new()))
        .unwrap();
    let (_, v) = get(&sim, &format!("/2/0/users/{demo_id}/workspaces"), &demo).await;
    assert!(items(&v, "workspaces", 0).is_empty());
    assert!(
        v.get("workspaces").is_none(),
        "an empty list leaves out its key: {v}"
    );
}

// ---- imports, processes, actions ----

#[tokio::test]
async fn imports_processes_and_actions_in_both_path_forms() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    let [model_form, workspace_form] = both_forms(&sim, WORKSPACE, MODEL);
    let (_, files) = get(&sim, &format!("{model_form}/files"), &token).await;
    let upload_id = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == json!("Sales Upload.csv"))
        .map(|f| f["id"].clone())
        .unwrap();
    for kind in ["imports", "processes", "actions"] {
        let (s, a) = get(&sim, &format!("{model_form}/{kind}"), &token).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let (s, b) = get(&sim, &format!("{workspace_form}/{kind}"), &token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(a[kind], b[kind], "both forms answer alike");
        let schema = a["meta"]["schema"].as_str().unwrap();
        assert!(
            schema.ends_with(&format!(
                "/objects/{}",
                &kind[..kind.len() - if kind == "processes" { 2 } else { 1 }]
            )),
            "{schema}"
        );
    }
    let (_, v) = get(&sim, &format!("{model_form}/imports"), &token).await;
    let imports = items(&v, "imports", 2);
    assert_eq!(
        imports[0],
        json!({"id": "112000000000", "name": "Sales from Sales Upload.csv",
               "importDataSourceId": upload_id, "importType": "MODULE_DATA"})
    );
    assert_eq!(imports[1]["importType"], json!("HIERARCHY_DATA"));
    assert!(
        imports[1].get("importDataSourceId").is_none(),
        "{}",
        imports[1]
    );
    let (_, v) = get(&sim, &format!("{workspace_form}/processes"), &token).await;
    assert_eq!(
        items(&v, "processes", 1),
        [json!({"id": "118000000000", "name": "Nightly Load"})]
    );
    let (_, v) = get(&sim, &format!("{workspace_form}/actions"), &token).await;
    let actions = items(&v, "actions", 1);
    assert_eq!(actions[0]["actionType"], json!("DELETE_BY_SELECTION"));
    assert!(
        is_object_id(actions[0]["id"].as_str().unwrap(), "117"),
        "{}",
        actions[0]
    );

    // A model without any: 200 and no key.
    let [other, _] = both_forms(&sim, WORKSPACE, "Sales Forecast");
    for kind in ["imports", "processes", "actions"] {
        let (s, v) = get(&sim, &format!("{other}/{kind}"), &token).await;
        assert_eq!(s, StatusCode::OK);
        assert!(items(&v, kind, 0).is_empty());
        assert!(v.get(kind).is_none(), "{v}");
    }
}

#[tokio::test]
async fn import_and_process_metadata() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    for base in both_forms(&sim, WORKSPACE, MODEL) {
        let (s, v) = get(&sim, &format!("{base}/imports/112000000000"), &token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_success(&v);
        assert!(
            v["meta"]["schema"]
                .as_str()
                .unwrap()
                .ends_with("/objects/importMetadata")
        );
        let meta = &v["importMetadata"];
        assert_eq!(meta["name"], json!("Sales from Sales Upload.csv"));
        assert_eq!(meta["type"], json!("FILE"));
        let source = &meta["source"];
        assert_eq!(source["headerNames"], json!(["Region", "Month", "Sales"]));
        assert_eq!(source["columnCount"], json!(3));
        assert_eq!(
            (
                source["headerRow"].as_u64(),
                source["firstDataRow"].as_u64()
            ),
            (Some(1), Some(2))
        );
        for field in [
            "textEncoding",
            "columnSeparator",
            "textDelimiter",
            "decimalSeparator",
        ] {
            assert!(source[field].is_string(), "{field}: {source}");
        }
        let (_, v) = get(&sim, &format!("{base}/imports/112000000001"), &token).await;
        assert_eq!(v["importMetadata"]["type"], json!("MODEL"));

        let (s, v) = get(&sim, &format!("{base}/processes/118000000000"), &token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(
            v["meta"]["schema"]
                .as_str()
                .unwrap()
                .ends_with("/2/0/objects/process"),
            "{v}"
        );
        let meta = &v["processMetadata"];
        assert_eq!(meta["name"], json!("Nightly Load"));
        let steps = meta["actions"].as_array().unwrap();
        let types: Vec<&str> = steps
            .iter()
            .map(|s| s["actionType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["IMPORT", "DELETE_BY_SELECTION", "EXPORT"]);
        assert_eq!(steps[0]["importDataSource"]["type"], json!("FILE"));
        assert_eq!(
            steps[0]["importDataSource"]["importDataSourceId"],
            steps[0]["importDataSourceId"]
        );
        let export = sim.export(MAIN_EXPORT).unwrap();
        assert_eq!(steps[2]["id"], json!(export.export_id));
        assert_eq!(steps[2]["name"], json!(MAIN_EXPORT));
        for field in ["exportType", "exportFormat", "layout"] {
            assert!(steps[2][field].is_string(), "{field}: {}", steps[2]);
        }

        for path in [
            format!("{base}/imports/112000000099"),
            format!("{base}/processes/118000000099"),
            format!("{base}/actions/117000000000"),
        ] {
            let (s, v) = get(&sim, &path, &token).await;
            assert_not_found(s, &v, &path);
        }
    }
}

#[tokio::test]
async fn action_lists_page_and_sort() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    let [base, _] = both_forms(&sim, WORKSPACE, MODEL);
    let (_, v) = get(&sim, &format!("{base}/imports?limit=1&offset=1"), &token).await;
    let page = items(&v, "imports", 2);
    assert_eq!(names(&page), ["Regions from Sales Forecast"]);
    assert_eq!(v["meta"]["paging"]["offset"], json!(1));
    let (_, v) = get(&sim, &format!("{base}/imports?limit=1"), &token).await;
    assert_eq!(
        names(&items(&v, "imports", 2)),
        ["Sales from Sales Upload.csv"]
    );
    let next = v["meta"]["paging"]["next"].as_str().unwrap();
    assert!(
        next.contains("limit=1") && next.contains("offset=1"),
        "{next}"
    );
    let (_, v) = get(&sim, &format!("{base}/imports?sort=name"), &token).await;
    assert_eq!(
        names(&items(&v, "imports", 2)),
        ["Regions from Sales Forecast", "Sales from Sales Upload.csv"]
    );
    let (_, v) = get(&sim, &format!("{base}/imports?sort=-id"), &token).await;
    assert_eq!(
        names(&items(&v, "imports", 2)),
        ["Regions from Sales Forecast", "Sales from Sales Upload.csv"]
    );
    // Live: an unknown field is not refused; the order stays.
    let (s, v) = get(
        &sim,
        &format!("{base}/imports?sort=%2BzzzNoSuchField"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        names(&items(&v, "imports", 2)),
        ["Sales from Sales Upload.csv", "Regions from Sales Forecast"]
    );
    let (s, _) = get(&sim, &format!("{base}/processes?limit=0"), &token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn task_lists_are_empty_and_running_is_not_simulated() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    for base in both_forms(&sim, WORKSPACE, MODEL) {
        for parent in [
            "imports/112000000000",
            "processes/118000000000",
            "actions/117000000000",
            "imports/112999999999",
        ] {
            let (s, v) = get(&sim, &format!("{base}/{parent}/tasks"), &token).await;
            assert_eq!(s, StatusCode::OK, "{parent}: {v}");
            assert!(items(&v, "tasks", 0).is_empty());
            assert!(v.get("tasks").is_none(), "{v}");
            let (s, v) = call(
                &sim,
                Method::POST,
                &format!("{base}/{parent}/tasks"),
                &token,
            )
            .await;
            assert_eq!(s, StatusCode::NOT_IMPLEMENTED, "{v}");
            assert_eq!(v["status"]["code"], json!(501), "{v}");
        }
        for kind in ["imports", "processes", "actions"] {
            let (s, _) = call(&sim, Method::DELETE, &format!("{base}/{kind}"), &token).await;
            assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{kind}");
        }
    }
}

#[tokio::test]
async fn a_model_the_user_cannot_open_answers_404_on_every_new_endpoint() {
    let sim = sim::start_default().await;
    let token = login_as(&sim, USER, PASSWORD).await;
    let hidden = both_forms(&sim, "Operations", "Supply Chain");
    // The right model under the wrong workspace is not found either.
    let m = sim.model_id(MODEL).unwrap();
    let w = sim.workspace_id("Operations").unwrap();
    let wrong = format!("/2/0/workspaces/{w}/models/{m}");
    for base in hidden.iter().chain([&wrong]) {
        for tail in [
            "imports",
            "processes",
            "actions",
            "imports/112000000000",
            "processes/118000000000",
        ] {
            let path = format!("{base}/{tail}");
            let (s, v) = get(&sim, &path, &token).await;
            assert_not_found(s, &v, &path);
        }
    }
    // Revoking access hides what was visible a moment ago.
    let [base, _] = both_forms(&sim, WORKSPACE, MODEL);
    assert_eq!(
        get(&sim, &format!("{base}/processes"), &token).await.0,
        StatusCode::OK
    );
    sim.revoke_model_access(USER, MODEL).unwrap();
    let path = format!("{base}/processes");
    let (s, v) = get(&sim, &path, &token).await;
    assert_not_found(s, &v, &path);
    // The administrator sees the hidden model's (empty) lists.
    let admin = login_as(&sim, ADMIN, PASSWORD).await;
    let (s, _) = get(&sim, &format!("{}/imports", hidden[0]), &admin).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn v1_3_lists_actions_bare_and_has_no_users() {
    let sim = sim::start_default().await;
    let w = sim.workspace_id(WORKSPACE).unwrap();
    let m = sim.model_id(MODEL).unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
    let r = Client::new()
        .get(format!(
            "{}/1/3/workspaces/{w}/models/{m}/processes",
            sim.base_url()
        ))
        .header("Authorization", &basic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!([{"id": "118000000000", "name": "Nightly Load"}]));
    let r = Client::new()
        .get(format!("{}/1/3/users/me", sim.base_url()))
        .header("Authorization", &basic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

// ---- the tenant config ----

const TOML: &str = r#"
seed = 7
export_result = "details"

[[users]]
username = "jane.doe@example.com"
password = "pw"
profile = { id = "00000000000000000000000000000abc", first_name = "Janet", active = false, email_opt_in = true, last_login = "2026-11-30T08:15:42.123+0000" }

[[users]]
username = "ops_bot@example.com"
password = "pw"

[[workspaces]]
name = "W"

[[workspaces.models]]
name = "M"
import_files = ["in.csv"]

[[workspaces.models.exports]]
name = "E.csv"
rows = 10

[[workspaces.models.imports]]
id = "112000000005"
name = "Load in"
source_file = "in.csv"
header_names = ["a", "b"]

[[workspaces.models.imports]]
name = "Users"
import_type = "USERS"

[[workspaces.models.actions]]
name = "Optimize"
action_type = "OPTIMIZER"

[[workspaces.models.processes]]
name = "P"
actions = ["112000000005", "E.csv", "Optimize"]
"#;

#[tokio::test]
async fn the_toml_config_gives_profiles_actions_and_the_result_form() {
    let config = SimulatorConfig::from_toml_str(TOML, Path::new(".")).unwrap();
    assert_eq!(config.export_result, ExportResultForm::Details);
    let sim = sim::start(config).await;
    let token = login_as(&sim, "jane.doe@example.com", "pw").await;
    let (_, v) = get(&sim, "/2/0/users/me", &token).await;
    let u = &v["user"];
    assert_eq!(u["id"], json!("00000000000000000000000000000abc"));
    assert_eq!(
        (u["firstName"].as_str(), u["lastName"].as_str()),
        (Some("Janet"), Some("Doe"))
    );
    assert_eq!(
        (u["active"].as_bool(), u["emailOptIn"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(u["lastLoginDate"], json!("2026-11-30T08:15:42.123+0000"));
    assert!(
        chrono::DateTime::parse_from_str(u["lastLoginDate"].as_str().unwrap(), LOGIN_DATE_FORMAT)
            .is_ok()
    );
    let (_, v) = get(&sim, "/2/0/users?sort=%2BfirstName", &token).await;
    let firsts: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["firstName"].as_str().unwrap())
        .collect();
    assert_eq!(firsts, ["Janet", "Ops"]);

    let [base, _] = both_forms(&sim, "W", "M");
    let (_, v) = get(&sim, &format!("{base}/imports"), &token).await;
    let imports = items(&v, "imports", 2);
    assert_eq!(imports[0]["id"], json!("112000000005"));
    assert_eq!(imports[0]["importDataSourceId"], json!("113000000000"));
    assert_eq!(imports[1]["id"], json!("112000000000"));
    assert_eq!(imports[1]["importType"], json!("USERS"));
    let (_, v) = get(&sim, &format!("{base}/actions"), &token).await;
    assert_eq!(items(&v, "actions", 1)[0]["actionType"], json!("OPTIMIZER"));
    let (_, v) = get(&sim, &format!("{base}/processes/118000000000"), &token).await;
    let steps: Vec<&str> = v["processMetadata"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["Load in", "E.csv", "Optimize"]);

    // Mistakes are usage errors that name the culprit.
    for (bad, culprit) in [
        (TOML.replace("\"Optimize\"]", "\"Nothing\"]"), "Nothing"),
        (
            TOML.replace("source_file = \"in.csv\"", "source_file = \"out.csv\""),
            "out.csv",
        ),
        (
            TOML.replace("id = \"112000000005\"", "id = \"117000000005\""),
            "117000000005",
        ),
        (
            TOML.replace(
                "last_login = \"2026-11-30T08:15:42.123+0000\"",
                "last_login = \"yesterday\"",
            ),
            "yesterday",
        ),
        (
            TOML.replace("export_result = \"details\"", "export_result = \"verbose\""),
            "verbose",
        ),
        (
            TOML.replace("first_name = \"Janet\"", "nickname = \"J\""),
            "nickname",
        ),
    ] {
        let err = SimulatorConfig::from_toml_str(&bad, Path::new(".")).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert!(err.to_string().contains(culprit), "{culprit}: {err}");
    }
}

// ---- a finished export task's result ----

/// Runs the main export through HTTP and returns its finished task object.
async fn finished_task(sim: &SimulatorHandle) -> Value {
    let token = login_as(sim, USER, PASSWORD).await;
    let info = sim.export(MAIN_EXPORT).unwrap();
    let base = format!(
        "/2/0/workspaces/{}/models/{}/exports/{}/tasks",
        info.workspace_id, info.model_id, info.export_id
    );
    let r = Client::new()
        .post(format!("{}{base}", sim.base_url()))
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .json(&json!({"localeName": "en_US"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.json::<Value>().await.unwrap()["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..400 {
        let (_, v) = get(sim, &format!("{base}/{id}"), &token).await;
        if v["task"]["taskState"] == json!("COMPLETE") {
            return v["task"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the task did not finish");
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn the_export_result_is_the_help_pages_form_unless_configured() {
    let sim = sim::start(sim::tenant(500, 4 << 10, 3)).await;
    let task = finished_task(&sim).await;
    assert_eq!(
        keys(&task["result"]),
        ["failureDumpAvailable", "objectId", "successful"]
    );

    let mut config = sim::tenant(500, 4 << 10, 3);
    config.export_result = ExportResultForm::Details;
    let sim = sim::start(config).await;
    let task = finished_task(&sim).await;
    let result = &task["result"];
    let export_id = json!(sim.export(MAIN_EXPORT).unwrap().export_id);
    assert_eq!(result["successful"], json!(true));
    assert_eq!(result["objectId"], export_id);
    assert_eq!(result["details"][0]["type"], json!("exportSucceeded"));
    assert!(result["details"][0]["values"].is_array());
    let nested = &result["nestedResults"][0];
    assert_eq!(nested["objectId"], export_id);
    assert_eq!(nested["successful"], json!(true));
    assert_eq!(nested["details"], result["details"]);
}

#[tokio::test]
async fn our_client_exports_with_either_result_form() {
    for form in [ExportResultForm::Help, ExportResultForm::Details] {
        let mut config = sim::tenant(2_000, 8 << 10, 9);
        config.export_result = form;
        let sim = sim::start(config).await;
        let client = connect(&sim, ApiVersion::V2);
        // The task, as our client reads it: the details are kept when served.
        let eref = export_ref(&sim, MAIN_EXPORT);
        let id = client.start_export_task(&eref, "en_US").await.unwrap();
        let task = client
            .wait_for_export_task(&eref, &id, &quick_poll(), &Shutdown::new(), &|_| {})
            .await
            .unwrap();
        client.check_export_outcome(&eref, &task).await.unwrap();
        let result = task.result.expect("a result");
        assert_eq!(result.successful, Some(true));
        let kinds: Vec<Option<&str>> = result.details.iter().map(|d| d.kind.as_deref()).collect();
        match form {
            ExportResultForm::Help => assert!(kinds.is_empty(), "{kinds:?}"),
            ExportResultForm::Details => assert_eq!(kinds, [Some("exportSucceeded")]),
        }
        // And the whole export, end to end.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.parquet");
        let mut job = ExportJob::new(WORKSPACE, MODEL, MAIN_EXPORT);
        job.poll = quick_poll();
        let report = run_export(
            &client,
            &job,
            &Destination::parse(out.to_str().unwrap()).unwrap(),
            EngineOptions::default(),
            &RunContext::default(),
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(report.summary.rows, 2_000, "{form:?}");
        assert!(out.is_file());
        client.logout().await;
    }
}
