//! OAuth 2.0 through the real binary against the in-process simulator: the device grant
//! (`login`: pending, `slow_down`, denied, expired, unknown client), unattended runs with a
//! refresh token (token file, `ANAPLAN_REFRESH_TOKEN`, a jobs file's `[connection]`), rotation
//! with two processes on one token file, a kill between the server's rotation and the save,
//! an access token expiring mid-export, and secret hygiene for every OAuth secret.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::simulator::{
    Approval, OAuthClientConfig, RefreshHold, SimulatorConfig, SimulatorHandle,
};

use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE};
use crate::faults::{Run, expire_tokens_during_download, export_args, files_under, run};
use crate::support::sim::{self, PASSWORD, USER};
use crate::support::{Table, tempdir};

/// The client id registered in the test tenants (32 lowercase hex, like Anaplan's).
const CLIENT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// Time allowed for one run of the binary.
const LIMIT: Duration = Duration::from_mins(2);

/// The test tenant with one OAuth client, polling every 100 ms.
fn tenant(client: OAuthClientConfig) -> SimulatorConfig {
    let mut config = sim::tenant(3_000, 8 << 10, 14);
    config.oauth.interval = Duration::from_millis(100);
    config.oauth.clients = vec![client];
    config
}

async fn start(client: OAuthClientConfig) -> Arc<SimulatorHandle> {
    Arc::new(sim::start(tenant(client)).await)
}

/// The binary with a clean environment: the simulator's hosts, the client id, and `home` as
/// HOME and XDG_CONFIG_HOME (so the default token file lands in it).
fn command(sim: &SimulatorHandle, home: &Path) -> tokio::process::Command {
    let url = sim.base_url();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    cmd.env_clear()
        .env("ANAPLAN_API_URL", &url)
        .env("ANAPLAN_AUTH_URL", &url)
        .env("ANAPLAN_OAUTH_URL", &url)
        .env("ANAPLAN_OAUTH_CLIENT_ID", CLIENT)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("TMPDIR", home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Where `login` puts the token by default under `home`.
fn default_token_file(home: &Path) -> PathBuf {
    home.join("config")
        .join("anaplan-parquet")
        .join(format!("oauth-{CLIENT}.json"))
}

/// The refresh token in a token file.
fn stored_token(path: &Path) -> Secret {
    let text = std::fs::read_to_string(path).expect("the token file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    Secret::new(v["refresh_token"].as_str().expect("refresh_token"))
}

async fn login(sim: &SimulatorHandle, home: &Path) -> Run {
    run(command(sim, home).arg("login"), LIMIT).await
}

/// Exports the main export to `out` with `cmd`'s credentials; the summary's rows.
async fn export(cmd: &mut tokio::process::Command, out: &Path) -> Run {
    run(
        cmd.args(export_args(MAIN_EXPORT, out.to_str().unwrap())),
        LIMIT,
    )
    .await
}

/// The main export read with a password: what every OAuth run must produce.
async fn baseline(sim: &SimulatorHandle, dir: &Path) -> Table {
    let out = dir.join("baseline.parquet");
    let mut cmd = crate::faults::command(&sim.base_url(), PASSWORD, dir);
    let r = export(&mut cmd, &out).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    Table::read(&out)
}

fn assert_exported(r: &Run, out: &Path, want: &Table, case: &str) {
    assert_eq!(r.code, Some(0), "{case}: {}", r.stderr);
    crate::faults::assert_same_data(&Table::read(out), want, case);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn login_waits_while_pending_then_saves_a_private_token_that_exports_use() {
    let sim = start(OAuthClientConfig::device(CLIENT)).await;
    let home = tempdir();
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let c = sim.oauth_counters();
    // Approved after the second poll: two authorization_pending answers, then the tokens.
    assert_eq!(
        (c.device_codes, c.polls, c.device_grants),
        (1, 3, 1),
        "{c:?}"
    );
    assert_eq!(c.polls_too_fast, 0, "the client polled faster than asked");
    let codes = sim.user_codes();
    assert_eq!(codes.len(), 1);
    assert!(r.stderr.contains(&codes[0]), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}/activate?user_code={}",
            sim.base_url(),
            codes[0]
        )),
        "the copyable address: {}",
        r.stderr
    );
    let file = default_token_file(home.path());
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    assert!(sim.refresh_token_usable(&stored_token(&file)));

    let want = baseline(&sim, home.path()).await;
    let out = home.path().join("oauth.parquet");
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_exported(&r, &out, &want, "export after login");
    // The rotated token was saved, and it is the one that works now.
    let after = stored_token(&file);
    assert!(sim.refresh_token_usable(&after));
    assert!(sim.oauth_counters().rotations >= 1);

    // logout revokes it and deletes the file; the next run says to log in.
    let r = run(command(&sim, home.path()).arg("logout"), LIMIT).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!file.exists());
    assert!(!sim.refresh_token_usable(&after), "logout must revoke");
    assert_eq!(sim.oauth_counters().revocations, 1);
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("login --oauth-client-id"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_honours_slow_down() {
    let mut client = OAuthClientConfig::device(CLIENT);
    client.approve = Approval::AfterPolls(1);
    let mut config = tenant(client);
    config.oauth.slow_down_polls = 1;
    config.oauth.enforce_interval = true;
    let sim = sim::start(config).await;
    let home = tempdir();
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let c = sim.oauth_counters();
    assert_eq!(c.slow_downs, 1, "{c:?}");
    // After slow_down the interval is 5 s longer; polling sooner would have drawn another
    // slow_down (enforced) and been counted.
    assert_eq!(c.polls_too_fast, 0, "{c:?}");
    assert_eq!(c.device_grants, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_denied_expired_or_unknown_client_exits_3_and_saves_nothing() {
    let home = tempdir();
    let file = default_token_file(home.path());

    let mut denied = OAuthClientConfig::device(CLIENT);
    denied.approve = Approval::Deny;
    let sim = start(denied).await;
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains("denied") && r.stderr.contains("SSO"),
        "{}",
        r.stderr
    );
    assert!(!file.exists());

    let mut never = OAuthClientConfig::device(CLIENT);
    never.approve = Approval::Manual;
    let mut config = tenant(never);
    config.oauth.device_code_ttl = Duration::from_secs(1);
    let sim = sim::start(config).await;
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains("expired") && r.stderr.contains("login"),
        "{}",
        r.stderr
    );
    assert!(sim.oauth_counters().polls >= 2, "pending polls came first");
    assert!(!file.exists());

    let sim = start(OAuthClientConfig::device("someone-else")).await;
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("does not accept OAuth client id {CLIENT}")),
        "{}",
        r.stderr
    );
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_approval_through_the_handle() {
    let mut client = OAuthClientConfig::device(CLIENT);
    client.approve = Approval::Manual;
    let sim = start(client).await;
    let home = tempdir();
    let child = command(&sim, home.path())
        .arg("login")
        .spawn()
        .expect("spawn");
    loop {
        if let Some(code) = sim.user_codes().first()
            && sim.oauth_counters().polls >= 3
        {
            assert!(sim.approve_device_code(code));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(default_token_file(home.path()).exists());
}

/// Logs in with a client approved at the first poll; the token file's path.
async fn logged_in(sim: &SimulatorHandle, home: &Path) -> PathBuf {
    let r = login(sim, home).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    default_token_file(home)
}

fn quick(client: OAuthClientConfig) -> OAuthClientConfig {
    OAuthClientConfig {
        approve: Approval::AfterPolls(0),
        ..client
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unattended_export_and_jobs_run_with_a_token_file_and_with_the_environment() {
    let sim = start(quick(OAuthClientConfig::device(CLIENT))).await;
    let home = tempdir();
    let want = baseline(&sim, home.path()).await;
    let token = logged_in(&sim, home.path()).await;
    let moved = home.path().join("elsewhere.json");
    std::fs::rename(&token, &moved).unwrap();

    // A token file named by the environment.
    let out = home.path().join("a.parquet");
    let mut cmd = command(&sim, home.path());
    cmd.env("ANAPLAN_REFRESH_TOKEN_FILE", &moved);
    assert_exported(
        &export(&mut cmd, &out).await,
        &out,
        &want,
        "token file (env)",
    );

    // A jobs file's [connection], with a relative token_file.
    let jobs = home.path().join("jobs.toml");
    std::fs::write(
        &jobs,
        format!(
            "[connection]\noauth_client_id = \"{CLIENT}\"\ntoken_file = \"elsewhere.json\"\n\
             oauth_url = \"{url}\"\napi_url = \"{url}\"\nauth_url = \"{url}\"\n\n\
             [[dataset]]\nname = \"revenue\"\nworkspace = \"{WORKSPACE}\"\nmodel = \"{MODEL}\"\n\
             export = \"{MAIN_EXPORT}\"\noutput = \"{out}\"\n\
             poll_interval = \"50ms\"\n",
            url = sim.base_url(),
            out = home.path().join("jobs-out.parquet").display()
        ),
    )
    .unwrap();
    let mut cmd = command(&sim, home.path());
    cmd.env_remove("ANAPLAN_OAUTH_CLIENT_ID")
        .env_remove("ANAPLAN_OAUTH_URL")
        .env_remove("ANAPLAN_API_URL")
        .env_remove("ANAPLAN_AUTH_URL")
        .arg("run")
        .arg(&jobs);
    let r = run(&mut cmd, LIMIT).await;
    let out = home.path().join("jobs-out.parquet");
    assert_exported(&r, &out, &want, "jobs file [connection]");
    assert!(sim.refresh_token_usable(&stored_token(&moved)));

    // The token itself in the environment (containers): a non-rotatable client's token works
    // run after run, and no file is written anywhere.
    let sim = start(quick(OAuthClientConfig::device(CLIENT).non_rotatable())).await;
    let home = tempdir();
    let token = logged_in(&sim, home.path()).await;
    let value = stored_token(&token);
    std::fs::remove_file(&token).unwrap();
    for i in 0..2 {
        let out = home.path().join(format!("env-{i}.parquet"));
        let mut cmd = command(&sim, home.path());
        cmd.env("ANAPLAN_REFRESH_TOKEN", value.expose());
        let r = export(&mut cmd, &out).await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(!r.stderr.contains("rotated"), "{}", r.stderr);
    }
    assert_eq!(sim.oauth_counters().rotations, 0);
    assert!(!token.exists(), "nothing writes a token file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_rotatable_token_file_is_never_rewritten() {
    for echo in [true, false] {
        let mut config = tenant(quick(OAuthClientConfig::device(CLIENT).non_rotatable()));
        config.oauth.echo_non_rotatable = echo;
        let sim = sim::start(config).await;
        let home = tempdir();
        let token = logged_in(&sim, home.path()).await;
        let before = std::fs::read(&token).unwrap();
        let modified = std::fs::metadata(&token).unwrap().modified().unwrap();
        let out = home.path().join("x.parquet");
        let r = export(&mut command(&sim, home.path()), &out).await;
        assert_eq!(r.code, Some(0), "echo {echo}: {}", r.stderr);
        assert!(sim.oauth_counters().refreshes >= 1);
        assert_eq!(std::fs::read(&token).unwrap(), before, "echo {echo}");
        assert_eq!(
            std::fs::metadata(&token).unwrap().modified().unwrap(),
            modified
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_sharing_a_rotating_token_file_both_succeed() {
    let mut config = tenant(quick(OAuthClientConfig::device(CLIENT)));
    // Short access tokens and slow answers: each run refreshes several times, at the same
    // moments as the other.
    config.oauth.access_token_ttl = Some(Duration::from_secs(2));
    config.faults = "latency=10ms".parse().unwrap();
    let sim = sim::start(config).await;
    let home = tempdir();
    let want = baseline(&sim, home.path()).await;
    let token = logged_in(&sim, home.path()).await;
    for round in 0..3 {
        let outs = [
            home.path().join(format!("p1-{round}.parquet")),
            home.path().join(format!("p2-{round}.parquet")),
        ];
        let mut a = command(&sim, home.path());
        let mut b = command(&sim, home.path());
        let (ra, rb) = tokio::join!(export(&mut a, &outs[0]), export(&mut b, &outs[1]));
        assert_exported(&ra, &outs[0], &want, &format!("round {round}, process 1"));
        assert_exported(&rb, &outs[1], &want, &format!("round {round}, process 2"));
    }
    let c = sim.oauth_counters();
    assert!(c.rotations >= 6, "every run refreshed: {c:?}");
    assert_eq!(
        c.refused_refreshes, 0,
        "a run used a token the other had rotated: {c:?}"
    );
    assert!(sim.refresh_token_usable(&stored_token(&token)));
    // No temporary file is left beside the token.
    let names: Vec<_> = std::fs::read_dir(token.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("oauth-")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_between_rotation_and_save_leaves_the_old_token_whole() {
    let sim = start(quick(OAuthClientConfig::device(CLIENT))).await;
    let home = tempdir();
    let token = logged_in(&sim, home.path()).await;
    let before = std::fs::read(&token).unwrap();

    // The server rotates, then parks its answer; the client is killed while waiting for it.
    let kill_one = async || {
        sim.hold_refreshes(Some(RefreshHold::AfterRotation));
        let held = sim.oauth_counters().held;
        let out = home.path().join("killed.parquet");
        let mut child = command(&sim, home.path())
            .args(export_args(MAIN_EXPORT, out.to_str().unwrap()))
            .spawn()
            .expect("spawn");
        while sim.oauth_counters().held == held {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.start_kill().unwrap(); // SIGKILL
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        sim.hold_refreshes(None);
        sim.release_refreshes();
        assert!(!out.exists(), "no output from a killed run");
    };

    kill_one().await;
    // The file is whole and unchanged: the old token, as the kill found it.
    assert_eq!(std::fs::read(&token).unwrap(), before);
    // With strict rotation (the simulator's default) the server has already invalidated it,
    // and no client can have saved what it never received: the next run says to log in.
    let out = home.path().join("after.parquet");
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains("login --oauth-client-id") && r.stderr.contains("refused"),
        "{}",
        r.stderr
    );

    // Where the service lets a rotated token be used for a while, the old token carries on.
    let mut oauth = sim.config().oauth;
    oauth.rotation_grace = Duration::from_mins(1);
    sim.set_oauth(oauth);
    let token = logged_in(&sim, home.path()).await;
    kill_one().await;
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(sim.refresh_token_usable(&stored_token(&token)));
}

#[tokio::test(flavor = "multi_thread")]
async fn access_token_expiring_mid_export_is_refreshed() {
    let mut config = tenant(quick(OAuthClientConfig::device(CLIENT)));
    config.faults = "latency=20ms".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    let home = tempdir();
    let want = baseline(&sim, home.path()).await;
    let token = logged_in(&sim, home.path()).await;
    let refreshes = sim.oauth_counters().refreshes;
    let expirer = expire_tokens_during_download(&sim, 3, false);
    let out = home.path().join("mid.parquet");
    let r = export(&mut command(&sim, home.path()), &out).await;
    expirer.abort();
    assert_exported(&r, &out, &want, "expiry mid-export");
    assert!(sim.counters().unauthorized >= 1, "a token expired mid-run");
    assert!(
        sim.oauth_counters().refreshes >= refreshes + 2,
        "signed in and refreshed again after the 401"
    );
    assert!(sim.refresh_token_usable(&stored_token(&token)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_readable_token_file_is_refused_and_a_revoked_token_says_login() {
    let sim = start(quick(OAuthClientConfig::device(CLIENT))).await;
    let home = tempdir();
    let token = logged_in(&sim, home.path()).await;
    let out = home.path().join("x.parquet");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = export(&mut command(&sim, home.path()), &out).await;
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    sim.expire_refresh_tokens();
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "run `anaplan-parquet login --oauth-client-id {CLIENT}` again"
        )),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

/// Every OAuth secret the simulator issued, plus the tenant's tokens.
fn secrets(sim: &SimulatorHandle) -> Vec<Secret> {
    let mut all = sim.oauth_secrets();
    all.extend(sim.issued_tokens());
    all
}

fn assert_clean(haystack: &[u8], place: &str, secrets: &[Secret]) {
    for s in secrets {
        assert!(
            memchr::memmem::find(haystack, s.expose().as_bytes()).is_none(),
            "an OAuth secret appears in {place}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_secrets_never_show_at_any_verbosity() {
    let mut config = tenant(OAuthClientConfig::device(CLIENT));
    config.faults = "latency=20ms".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    let home = tempdir();
    let mut runs = Vec::new();
    runs.push((
        "login -vv",
        run(command(&sim, home.path()).args(["login", "-vv"]), LIMIT).await,
    ));
    let token = default_token_file(home.path());
    let expirer = expire_tokens_during_download(&sim, 3, false);
    std::fs::create_dir_all(home.path().join("out")).unwrap();
    let out = home.path().join("out").join("x.parquet");
    let mut cmd = command(&sim, home.path());
    cmd.arg("-vv");
    runs.push(("export -vv, tokens expiring", export(&mut cmd, &out).await));
    expirer.abort();
    let value = stored_token(&token);
    let mut cmd = command(&sim, home.path());
    cmd.arg("-vv").env("ANAPLAN_REFRESH_TOKEN", value.expose());
    runs.push((
        "export -vv, env token rotated",
        export(&mut cmd, &home.path().join("out").join("y.parquet")).await,
    ));
    sim.expire_refresh_tokens();
    let mut cmd = command(&sim, home.path());
    cmd.arg("-vv");
    runs.push((
        "export -vv, refused refresh",
        export(&mut cmd, &home.path().join("out").join("z.parquet")).await,
    ));
    runs.push((
        "logout -vv",
        run(command(&sim, home.path()).args(["logout", "-vv"]), LIMIT).await,
    ));
    let all = secrets(&sim);
    for (case, r) in &runs {
        assert!(!r.stderr.contains("panicked"), "{case}: {}", r.stderr);
        assert_clean(r.stdout.as_bytes(), &format!("{case}: stdout"), &all);
        assert_clean(r.stderr.as_bytes(), &format!("{case}: stderr"), &all);
    }
    assert_eq!(runs[0].1.code, Some(0), "{}", runs[0].1.stderr);
    assert_eq!(runs[1].1.code, Some(0), "{}", runs[1].1.stderr);
    assert_eq!(runs[2].1.code, Some(0), "{}", runs[2].1.stderr);
    assert!(
        runs[2].1.stderr.contains("ANAPLAN_REFRESH_TOKEN_FILE"),
        "the rotation warning"
    );
    assert_eq!(runs[3].1.code, Some(3));
    // A device code, refresh tokens (login's, and rotated ones), access tokens.
    assert!(
        all.len() >= 6,
        "the simulator issued secrets: {}",
        all.len()
    );
    for file in files_under(&home.path().join("out")) {
        let bytes = std::fs::read(home.path().join("out").join(&file)).unwrap();
        assert_clean(&bytes, &file.display().to_string(), &all);
    }
    // Debug of OAuth credentials holding a token.
    let creds = anaplan_parquet::anaplan::OAuthCredentials {
        client_id: CLIENT.into(),
        oauth_url: sim.base_url(),
        source: anaplan_parquet::anaplan::RefreshSource::Value(value.clone()),
    };
    let debug = format!("{creds:?}");
    assert!(
        debug.contains(CLIENT) && !debug.contains(value.expose()),
        "{debug}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simulator_command_serves_the_oauth_client_of_its_flags() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let home = tempdir();
    let config = home.path().join("tenant.toml");
    std::fs::write(
        &config,
        format!(
            "[[users]]\nusername = \"{USER}\"\npassword = \"pw\"\n\n[oauth]\ninterval = \"100ms\"\n"
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .args(["simulator", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .args([
            "--oauth-client-id",
            CLIENT,
            "--oauth-approve",
            "deny",
            "--oauth-non-rotatable",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next_line().await.unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .expect("the address")
        .to_owned();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut described = false;
    while let Ok(Some(line)) = stderr.next_line().await {
        if line.contains(&format!("oauth client {CLIENT}")) {
            assert!(
                line.contains("denied") && line.contains("non-rotatable"),
                "{line}"
            );
            described = true;
            break;
        }
    }
    assert!(described);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    cmd.env_clear()
        .env("HOME", home.path())
        .args(["login", "--oauth-client-id", CLIENT, "--oauth-url", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let r = run(&mut cmd, LIMIT).await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.contains("denied"), "{}", r.stderr);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_apply_to_the_oauth_service_and_are_retried() {
    let mut config = tenant(OAuthClientConfig::device(CLIENT));
    config.faults = "rate-limit=0.3,server-error=0.1,retry-after=50ms,retry-after-form=seconds"
        .parse()
        .unwrap();
    config.oauth.access_token_ttl = Some(Duration::from_secs(2));
    let sim = sim::start(config).await;
    let home = tempdir();
    let r = login(&sim, home.path()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = home.path().join("x.parquet");
    let r = export(&mut command(&sim, home.path()), &out).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let faulted = sim
        .requests()
        .iter()
        .filter(|q| q.path.starts_with("/oauth/") && matches!(q.status, 429 | 500 | 503))
        .count();
    assert!(faulted >= 1, "no fault reached the OAuth service");
    assert_eq!(sim.oauth_counters().refused_refreshes, 0);
}
