//! The Anaplan client against the in-process simulator over loopback HTTP: sign-in (basic,
//! certificate, v2.0 and v1.3), tokens (refresh, single-flight re-authentication, logout),
//! discovery (paging, names and ids, ambiguity, unknown enums), export tasks (success,
//! failure, cancellation, timeout, unknown POST outcome) and the chunk source (order, bytes,
//! concurrency, retries, a 401 in the middle).

use std::time::Duration;

use anaplan_parquet::Progress;
use anaplan_parquet::RetryConfig;
use anaplan_parquet::Secret;
use anaplan_parquet::Shutdown;
use anaplan_parquet::anaplan::model::{ExportType, ModelState, TaskState};
use anaplan_parquet::anaplan::task::{ExportRef, PollOptions};
use anaplan_parquet::anaplan::{
    AnaplanClient, ApiVersion, CertificateCredentials, ConnectionConfig, Credentials,
};
use anaplan_parquet::error::{Error, ExitClass};
use anaplan_parquet::simulator::{ExportConfig, FaultSpec, SimulatorConfig, SimulatorHandle};
use anaplan_parquet::source::Source;
use anaplan_parquet::source::export::{ExportSource, FileRef};
use futures::TryStreamExt;

use crate::support::sim::{self, PASSWORD, USER};

/// The main export of the default tenant.
pub const MAIN_EXPORT: &str = "Revenue - TSC.csv";
/// Its workspace and model.
pub const WORKSPACE: &str = "Financial Planning";
/// The main export's model.
pub const MODEL: &str = "FP&A";

/// Retries fast enough for tests, with a generous budget.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 12,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
        retry_timeout: Duration::from_mins(1),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
    }
}

/// A connection to the simulator as `user`.
pub fn config(
    sim: &SimulatorHandle,
    version: ApiVersion,
    credentials: Credentials,
) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(credentials);
    c.api_url = sim.base_url();
    c.auth_url = sim.base_url();
    c.api_version = version;
    c.retry = fast_retry();
    c
}

/// The demo user's basic credentials.
pub fn basic() -> Credentials {
    Credentials::Basic {
        username: USER.to_owned(),
        password: Secret::new(PASSWORD),
    }
}

/// A client for the demo user.
pub fn connect(sim: &SimulatorHandle, version: ApiVersion) -> AnaplanClient {
    AnaplanClient::new(config(sim, version, basic())).expect("client")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/client/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// The test certificate's credentials.
pub fn certificate() -> Credentials {
    Credentials::Certificate(Box::new(
        CertificateCredentials::from_pem(
            &fixture("cert.pem"),
            &Secret::new(fixture("key-pkcs8.pem")),
            None,
        )
        .expect("fixture certificate"),
    ))
}

/// The default test tenant with the fixture certificate registered for the demo user.
pub fn tenant_with_certificate(rows: u64, chunk_size: u64) -> SimulatorConfig {
    let mut config = sim::tenant(rows, chunk_size, 42);
    let user = config
        .users
        .iter_mut()
        .find(|u| u.username == USER)
        .expect("demo user");
    user.certificates =
        anaplan_parquet::simulator::config::certificates_from_pem(fixture("cert.pem").as_bytes())
            .expect("certificate");
    config
}

/// The ids of an export of the simulator.
pub fn export_ref(sim: &SimulatorHandle, key: &str) -> ExportRef {
    let info = sim.export(key).expect("export");
    ExportRef {
        workspace_id: info.workspace_id,
        model_id: info.model_id,
        export_id: info.export_id,
    }
}

/// Quick polling for tests.
pub fn quick_poll() -> PollOptions {
    PollOptions {
        interval: Duration::from_millis(50),
        timeout: Some(Duration::from_secs(30)),
    }
}

/// Runs an export task to completion and returns its id.
pub async fn run_task(client: &AnaplanClient, eref: &ExportRef) -> String {
    let id = client
        .start_export_task(eref, "en_US")
        .await
        .expect("task starts");
    let task = client
        .wait_for_export_task(eref, &id, &quick_poll(), &Shutdown::new(), &|_| {})
        .await
        .expect("task ends");
    client
        .check_export_outcome(eref, &task)
        .await
        .expect("task succeeds");
    id
}

/// Downloads a file through [`ExportSource`] and returns the pieces' chunk indexes and bytes.
pub async fn download(
    client: &AnaplanClient,
    eref: &ExportRef,
    concurrency: usize,
) -> (Vec<u64>, Vec<u8>) {
    let file = FileRef {
        workspace_id: eref.workspace_id.clone(),
        model_id: eref.model_id.clone(),
        file_id: eref.export_id.clone(),
    };
    let source = ExportSource::list(client.clone(), file, concurrency, Progress::new())
        .await
        .expect("chunk list");
    assert!(source.replayable());
    let pieces: Vec<_> = source
        .open()
        .await
        .expect("open")
        .try_collect()
        .await
        .expect("download");
    let order = pieces
        .iter()
        .map(|p| p.chunk.expect("chunk index"))
        .collect();
    let bytes = pieces.iter().flat_map(|p| p.data.iter().copied()).collect();
    (order, bytes)
}

/// The bytes the simulator's export produces.
pub async fn expected_bytes(sim: &SimulatorHandle, key: &str) -> Vec<u8> {
    let content = sim.export_content(key).await.expect("export content");
    content.bytes(0..content.len())
}

#[tokio::test]
async fn discovery_by_name_and_id_on_v2_and_v1_3() {
    let sim = sim::start_default().await;
    for version in [ApiVersion::V2, ApiVersion::V1_3] {
        let client = connect(&sim, version);
        let workspaces = client.workspaces().await.unwrap();
        assert!(
            workspaces.iter().any(|w| w.name == WORKSPACE),
            "{version}: {workspaces:?}"
        );
        let ws = client.find_workspace(WORKSPACE).await.unwrap();
        assert_eq!(
            Some(ws.id.clone()),
            sim.workspace_id(WORKSPACE),
            "{version}"
        );
        assert_eq!(
            client.find_workspace(&ws.id).await.unwrap(),
            ws,
            "{version}: by id"
        );
        let model = client.find_model(&ws, MODEL).await.unwrap();
        assert_eq!(Some(model.id.clone()), sim.model_id(MODEL));
        let by_id = client.find_model(&ws, &model.id).await.unwrap();
        assert_eq!(by_id.id, model.id);
        let export = client.find_export(&ws, &model, MAIN_EXPORT).await.unwrap();
        assert_eq!(export.id, sim.export(MAIN_EXPORT).unwrap().export_id);
        assert!(export.id.starts_with("116"), "{}", export.id);
        let files = client.files(&ws.id, &model.id).await.unwrap();
        assert!(
            files.iter().any(|f| f.name == "Sales Upload.csv"),
            "{version}: {files:?}"
        );
        client.logout().await;
    }
    // v2.0 signed in once and logged out once; v1.3 never used a token.
    let c = sim.counters();
    assert_eq!((c.authentications, c.logouts), (1, 1));
}

#[tokio::test]
async fn unknown_and_ambiguous_names_list_the_candidates() {
    let mut config = sim::tenant(100, 64 << 10, 7);
    let twin_id = "0123456789ABCDEF0123456789ABCDEF";
    let mut twin = config.workspaces[0].models[0].clone();
    twin.id = Some(twin_id.to_owned());
    for e in &mut twin.exports {
        e.id = None;
    }
    config.workspaces[0].models.push(twin);
    let model = &mut config.workspaces[0].models[0];
    model.exports.push(ExportConfig::tsc("Twin", 10, 1));
    model.exports.push(ExportConfig::tsc("twin", 10, 2));
    let sim = sim::start(config).await;
    let client = connect(&sim, ApiVersion::V2);
    let ws = client.find_workspace(WORKSPACE).await.unwrap();

    // Two models named alike: the error lists both, and either id works.
    let e = client.find_model(&ws, MODEL).await.unwrap_err();
    let Error::Ambiguous(_) = &e else {
        panic!("{e:?}")
    };
    let msg = e.to_string();
    assert!(
        msg.contains("2 models are named \"FP&A\"") && msg.contains(twin_id),
        "{msg}"
    );
    assert_eq!(e.exit_class(), ExitClass::Anaplan);
    let first = sim.model_id(MODEL).unwrap();
    assert!(msg.contains(&first), "{msg}");
    assert_eq!(client.find_model(&ws, twin_id).await.unwrap().id, twin_id);
    let m = client.find_model(&ws, &first).await.unwrap();

    // Exact case wins; a case-insensitive match that is not unique is ambiguous.
    assert_eq!(
        client.find_export(&ws, &m, "Twin").await.unwrap().name,
        "Twin"
    );
    assert_eq!(
        client
            .find_export(&ws, &m, "revenue - tsc.csv")
            .await
            .unwrap()
            .name,
        MAIN_EXPORT
    );
    assert!(matches!(
        client.find_export(&ws, &m, "TWIN").await,
        Err(Error::Ambiguous(_))
    ));

    let e = client.find_export(&ws, &m, "Nope.csv").await.unwrap_err();
    let Error::NotFound(_) = &e else {
        panic!("{e:?}")
    };
    let msg = e.to_string();
    assert!(
        msg.contains("no export named \"Nope.csv\"") && msg.contains("Headcount - TSC.csv"),
        "{msg}"
    );
    assert_eq!(e.exit_class(), ExitClass::Anaplan);
    let e = client.find_workspace("Marketing").await.unwrap_err();
    assert!(e.to_string().contains("\"Financial Planning\""), "{e}");
}

#[tokio::test]
async fn paging_trusts_total_size_across_pages() {
    let mut config = sim::tenant(100, 64 << 10, 7);
    config.page_size = 2;
    for i in 0..5 {
        let mut w = config.workspaces[1].clone();
        w.id = None;
        w.name = format!("Extra {i}");
        for m in &mut w.models {
            m.id = None;
            m.name = format!("{} {i}", m.name);
            for e in &mut m.exports {
                e.id = None;
            }
        }
        config.workspaces.push(w);
    }
    let sim = sim::start(config).await;
    let admin = Credentials::Basic {
        username: sim::ADMIN.to_owned(),
        password: Secret::new(PASSWORD),
    };
    let client = AnaplanClient::new(self::config(&sim, ApiVersion::V2, admin.clone())).unwrap();
    let all = client.workspaces().await.unwrap();
    assert_eq!(all.len(), 7, "{all:?}");
    let mut ids: Vec<_> = all.iter().map(|w| w.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "no workspace twice");
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/2/0/workspaces?"))
        .count();
    assert_eq!(pages, 4, "7 items in pages of 2");
    // The client may also ask for small pages itself.
    let mut c = self::config(&sim, ApiVersion::V2, admin);
    c.page_size = Some(1);
    let client = AnaplanClient::new(c).unwrap();
    let ws = client.find_workspace(WORKSPACE).await.unwrap();
    let exports = client
        .exports(&ws.id, &sim.model_id(MODEL).unwrap())
        .await
        .unwrap();
    assert_eq!(exports.len(), 4, "{exports:?}");
}

#[tokio::test]
async fn unknown_enum_values_are_kept_not_errors() {
    let mut config = sim::tenant(100, 64 << 10, 7);
    config.faults = FaultSpec {
        unknown_enums: true,
        ..FaultSpec::default()
    };
    let sim = sim::start(config).await;
    let client = connect(&sim, ApiVersion::V2);
    let ws = client.find_workspace(WORKSPACE).await.unwrap();
    let models = client.models(&ws.id).await.unwrap();
    assert!(
        models
            .iter()
            .any(|m| m.active_state == Some(ModelState::Locked)),
        "{models:?}"
    );
    let m = client.find_model(&ws, MODEL).await.unwrap();
    let exports = client.exports(&ws.id, &m.id).await.unwrap();
    assert!(
        exports
            .iter()
            .any(|e| e.export_type == Some(ExportType::GridAllPages)),
        "{exports:?}"
    );
    sim.set_faults(FaultSpec::default());
    sim.set_model_state(MODEL, "SOMETHING_NEW").unwrap();
    let m = client.find_model(&ws, MODEL).await.unwrap();
    assert_eq!(
        m.active_state,
        Some(ModelState::Other("SOMETHING_NEW".into()))
    );
}

#[tokio::test]
async fn bad_credentials_are_an_authentication_error_without_the_password() {
    let sim = sim::start_default().await;
    for version in [ApiVersion::V2, ApiVersion::V1_3] {
        let creds = Credentials::Basic {
            username: USER.to_owned(),
            password: Secret::new("wrong-hunter2"),
        };
        let client = AnaplanClient::new(config(&sim, version, creds)).unwrap();
        let e = client.workspaces().await.unwrap_err();
        assert_eq!(
            e.exit_class(),
            ExitClass::Authentication,
            "{version}: {e:?}"
        );
        let text = format!("{e} {e:?}");
        assert!(!text.contains("wrong-hunter2"), "{text}");
    }
    assert_eq!(sim.counters().authentications, 0);
}

#[tokio::test]
async fn certificate_sign_in_uses_the_v2_nonce() {
    let sim = sim::start(tenant_with_certificate(100, 64 << 10)).await;
    let client = AnaplanClient::new(config(&sim, ApiVersion::V2, certificate())).unwrap();
    client.sign_in_now().await.unwrap();
    let ws = client.workspaces().await.unwrap();
    assert!(!ws.is_empty());
    let c = sim.counters();
    assert_eq!((c.authentications, c.certificate_authentications), (1, 1));
    // A certificate the tenant does not know is refused.
    let other = Credentials::Certificate(Box::new(
        CertificateCredentials::from_pem(
            &fixture("other-cert.pem"),
            &Secret::new(fixture("other-key.pem")),
            None,
        )
        .unwrap(),
    ));
    let client = AnaplanClient::new(config(&sim, ApiVersion::V2, other)).unwrap();
    let e = client.sign_in_now().await.unwrap_err();
    assert_eq!(e.exit_class(), ExitClass::Authentication, "{e:?}");
}

#[tokio::test]
async fn expired_tokens_are_replaced_once_for_many_concurrent_requests() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    client.sign_in_now().await.unwrap();
    sim.expire_tokens();
    let calls = (0..16).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.workspaces().await })
    });
    for r in futures::future::join_all(calls).await {
        assert!(!r.unwrap().unwrap().is_empty());
    }
    let c = sim.counters();
    assert_eq!(
        c.authentications, 2,
        "one sign-in, then exactly one more: {c:?}"
    );
    assert!(c.unauthorized >= 1, "{c:?}");
    assert_eq!(client.sign_ins().await, 2);
}

/// Moves the client's clock (Tokio's) ahead by `by` at once. The simulator judges tokens by
/// the wall clock, which does not move: the client sees a token as old as it likes while the
/// simulator still honours it, so no margin of real time decides the outcome.
async fn skip_client_clock(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let sim = sim::start_default().await;
    // A short-lived token (under 25 minutes): refreshed with a fifth of its life left, at 8
    // minutes of 10.
    sim.set_token_ttl(Duration::from_mins(10));
    let client = connect(&sim, ApiVersion::V2);
    client.workspaces().await.unwrap();
    // Before the refresh point: the token is used as it is.
    skip_client_clock(Duration::from_mins(7)).await;
    client.workspaces().await.unwrap();
    let c = sim.counters();
    assert_eq!(
        (c.authentications, c.refreshes, c.unauthorized),
        (1, 0, 0),
        "{c:?}"
    );
    // Past the refresh point, before the expiry: refreshed, not signed in again, no 401.
    skip_client_clock(Duration::from_secs(90)).await;
    client.workspaces().await.unwrap();
    let c = sim.counters();
    assert_eq!(
        (c.authentications, c.refreshes, c.unauthorized),
        (1, 1, 0),
        "{c:?}"
    );
    // The refreshed token lives 10 minutes from its refresh; past its expiry the client signs
    // in again rather than send a token it knows is dead (the simulator would still take it).
    skip_client_clock(Duration::from_mins(11)).await;
    client.workspaces().await.unwrap();
    let c = sim.counters();
    assert_eq!(
        (c.authentications, c.refreshes, c.unauthorized),
        (2, 1, 0),
        "{c:?}"
    );
    client.logout().await;
    assert_eq!(sim.counters().logouts, 1);
}

#[tokio::test]
async fn chunks_arrive_in_order_and_equal_the_export_for_any_concurrency() {
    let sim = sim::start(sim::tenant(20_000, 16 << 10, 11)).await;
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    run_task(&client, &eref).await;
    let expected = expected_bytes(&sim, MAIN_EXPORT).await;
    let chunks = expected.len().div_ceil(16 << 10) as u64;
    assert!(chunks > 20, "many chunks: {chunks}");
    for (concurrency, gzip) in [(1, true), (4, false), (16, true)] {
        sim.set_gzip(gzip);
        let (order, bytes) = download(&client, &eref, concurrency).await;
        assert_eq!(
            order,
            (0..chunks).collect::<Vec<_>>(),
            "concurrency {concurrency}"
        );
        assert!(
            bytes == expected,
            "concurrency {concurrency}, gzip {gzip}: bytes differ"
        );
    }
    // v1.3 runs the task and reads the same file.
    let v13 = connect(&sim, ApiVersion::V1_3);
    run_task(&v13, &eref).await;
    let (_, bytes) = download(&v13, &eref, 8).await;
    assert!(bytes == expected, "v1.3 bytes differ");
}

#[tokio::test]
async fn transient_faults_are_retried_without_changing_a_byte() {
    let sim = sim::start(sim::tenant(20_000, 16 << 10, 12)).await;
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    run_task(&client, &eref).await;
    let expected = expected_bytes(&sim, MAIN_EXPORT).await;
    sim.set_faults(
        "rate-limit=0.1,retry-after=0s,server-error=0.1,reset=0.1,truncate=0.1"
            .parse()
            .unwrap(),
    );
    for gzip in [false, true] {
        sim.set_gzip(gzip);
        let (_, bytes) = download(&client, &eref, 8).await;
        assert!(bytes == expected, "gzip {gzip}: bytes differ after retries");
    }
    let stats = client.retry_stats().counts();
    let total: u64 = stats.iter().map(|(_, n)| n).sum();
    assert!(total >= 4, "{stats:?}");
    assert!(
        stats.iter().any(|(r, _)| r == "rate limited (429)"),
        "{stats:?}"
    );
    assert!(
        stats
            .iter()
            .any(|(r, _)| r == "short body" || r == "connection broken"),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_chunk_that_keeps_failing_exhausts_the_budget() {
    let sim = sim::start(sim::tenant(2_000, 16 << 10, 13)).await;
    let mut c = config(&sim, ApiVersion::V2, basic());
    c.retry.max_retries = 3;
    let client = AnaplanClient::new(c).unwrap();
    let eref = export_ref(&sim, MAIN_EXPORT);
    run_task(&client, &eref).await;
    sim.set_faults("server-error=1".parse().unwrap());
    let e = client
        .chunk(&eref.workspace_id, &eref.model_id, &eref.export_id, "0")
        .await
        .unwrap_err();
    assert_eq!(e.exit_class(), ExitClass::Transient, "{e:?}");
    assert!(e.to_string().contains("gave up after 3 retries"), "{e}");
}

#[tokio::test]
async fn a_401_in_the_middle_of_the_download_signs_in_again() {
    let sim = sim::start(sim::tenant(20_000, 8 << 10, 14)).await;
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    run_task(&client, &eref).await;
    let expected = expected_bytes(&sim, MAIN_EXPORT).await;
    let file = FileRef {
        workspace_id: eref.workspace_id.clone(),
        model_id: eref.model_id.clone(),
        file_id: eref.export_id.clone(),
    };
    let source = ExportSource::list(client.clone(), file, 4, Progress::new())
        .await
        .unwrap();
    let mut stream = source.open().await.unwrap();
    let mut bytes = Vec::new();
    let mut pieces = 0;
    while let Some(piece) = stream.try_next().await.unwrap() {
        bytes.extend_from_slice(&piece.data);
        pieces += 1;
        if pieces == 3 {
            sim.expire_tokens();
        }
    }
    assert!(bytes == expected, "bytes differ");
    let c = sim.counters();
    assert_eq!(c.authentications, 2, "{c:?}");
    assert!(c.unauthorized >= 1, "{c:?}");
}

#[tokio::test]
async fn a_failed_task_reports_its_details_and_dump() {
    let sim = sim::start_default().await;
    sim.set_export_faults(MAIN_EXPORT, "task-fail".parse().unwrap())
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    let id = client.start_export_task(&eref, "en_US").await.unwrap();
    let task = client
        .wait_for_export_task(&eref, &id, &quick_poll(), &Shutdown::new(), &|_| {})
        .await
        .unwrap();
    assert_eq!(task.task_state, Some(TaskState::Complete));
    let e = client.check_export_outcome(&eref, &task).await.unwrap_err();
    let Error::ExportFailed(_) = &e else {
        panic!("{e:?}")
    };
    let msg = e.to_string();
    assert!(msg.contains(&format!("export task {id} failed")), "{msg}");
    assert!(msg.contains("failure dump"), "{msg}");
    assert_eq!(e.exit_class(), ExitClass::Anaplan);
}

#[tokio::test]
async fn a_task_cancelled_by_anaplan_is_an_error() {
    let sim = sim::start_default().await;
    sim.set_export_faults(MAIN_EXPORT, "task-cancel".parse().unwrap())
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    let id = client.start_export_task(&eref, "en_US").await.unwrap();
    let task = client
        .wait_for_export_task(&eref, &id, &quick_poll(), &Shutdown::new(), &|_| {})
        .await
        .unwrap();
    let e = client.check_export_outcome(&eref, &task).await.unwrap_err();
    assert!(e.to_string().contains("was cancelled"), "{e}");
}

#[tokio::test]
async fn a_task_past_its_timeout_is_cancelled() {
    let sim = sim::start_default().await;
    sim.set_export_faults(MAIN_EXPORT, "task-stuck=30s".parse().unwrap())
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    let id = client.start_export_task(&eref, "en_US").await.unwrap();
    let poll = PollOptions {
        interval: Duration::from_millis(50),
        timeout: Some(Duration::from_millis(400)),
    };
    let e = client
        .wait_for_export_task(&eref, &id, &poll, &Shutdown::new(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::ExportFailed(_)) && e.to_string().contains("cancelled"),
        "{e}"
    );
    let deletes = sim
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with(&id))
        .count();
    assert_eq!(deletes, 1);
    let states: Vec<String> = sim
        .task_log()
        .into_iter()
        .filter(|t| t.task_id == id)
        .map(|t| t.state)
        .collect();
    assert!(
        states.iter().any(|s| s == "CANCELLING" || s == "CANCELLED"),
        "{states:?}"
    );
}

#[tokio::test]
async fn a_shutdown_while_waiting_cancels_the_task() {
    let sim = sim::start_default().await;
    sim.set_export_faults(MAIN_EXPORT, "task-stuck=30s".parse().unwrap())
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    let id = client.start_export_task(&eref, "en_US").await.unwrap();
    let shutdown = Shutdown::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.trigger(anaplan_parquet::error::Signal::Interrupt);
    });
    let e = client
        .wait_for_export_task(&eref, &id, &quick_poll(), &shutdown, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(e.exit_class(), ExitClass::Interrupted);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.ends_with(&id))
    );
}

#[tokio::test]
async fn a_failing_post_is_looked_up_before_it_is_sent_again() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    let eref = export_ref(&sim, MAIN_EXPORT);
    client.sign_in_now().await.unwrap();
    // Every request fails now and then: the POST's 5xx outcome is unknown to the client.
    sim.set_faults("server-error=0.5".parse().unwrap());
    for _ in 0..3 {
        let id = client.start_export_task(&eref, "en_US").await.unwrap();
        assert_eq!(id.len(), 32, "{id}");
    }
    sim.set_faults(FaultSpec::default());
    let failed_posts = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/tasks") && r.status >= 500)
        .count();
    assert!(
        failed_posts >= 1,
        "the seed should make at least one POST fail"
    );
    let tasks = client.export_tasks(&eref).await.unwrap();
    // Exactly one task per start: no POST was repeated after it had started a task.
    assert_eq!(tasks.len(), 3, "{tasks:?}");
}
