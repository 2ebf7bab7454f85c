//! Secret hygiene: runs of the real binary at `-vv` with known secrets (the password, a wrong
//! password, the private key's passphrase and its key material, the storage secret key, a wrong
//! storage key, and every token the simulator issued), through successes and failures (bad
//! password, 401s mid-run, a failing upload, bad storage credentials, a failed task, a chunk
//! failing past its budget, a wrong passphrase). None of them may appear anywhere: stdout (the
//! `--json` summary), stderr (every log line), the Parquet written (its key-value metadata
//! included), any other file left in the destination or the temp directory, or the `Debug` of
//! the configuration. Also: no credential needs the command line, and TLS is verified.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::anaplan::{
    AnaplanClient, ApiVersion, CertificateCredentials, ConnectionConfig, Credentials,
};
use anaplan_parquet::simulator::{FaultSpec, SimulatorConfig, SimulatorHandle};
use anaplan_parquet::sink::Destination;
use base64::Engine as _;
use clap::Parser;

use crate::client::MAIN_EXPORT;
use crate::faults::{
    Run, command, expire_tokens_during_download, export_args, files_under, run, with_s3,
};
use crate::support::s3::{S3Server, SECRET_KEY};
use crate::support::sim::{self, USER};

/// The user's password in this tenant.
const PW: &str = "pw-Q7x!uniq-9f3e-hunter2";
/// A wrong password someone typed (still a secret).
const WRONG_PW: &str = "wrong-pw-Zk3-b81d-nope";
/// The passphrase of `key-encrypted.pem` (see the fixtures' README).
const PASSPHRASE: &str = "correct-horse";
/// A wrong storage secret key (still a secret).
const WRONG_SECRET: &str = "wrong-storage-secret-5c2a-XYZ";
/// A wrong passphrase.
const WRONG_PASSPHRASE: &str = "wrong-passphrase-77e1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/client")
        .join(name)
}

/// Every secret a run must never show, in the forms it could leak in: as is, the Basic header's
/// base64, every line of the private keys' PEM bodies, and the simulator's tokens so far.
fn secrets(sim: &SimulatorHandle) -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out: Vec<(String, String)> = vec![
        ("password".into(), PW.into()),
        (
            "password (Basic header)".into(),
            b64(&format!("{USER}:{PW}")),
        ),
        ("wrong password".into(), WRONG_PW.into()),
        (
            "wrong password (Basic header)".into(),
            b64(&format!("{USER}:{WRONG_PW}")),
        ),
        ("passphrase".into(), PASSPHRASE.into()),
        ("wrong passphrase".into(), WRONG_PASSPHRASE.into()),
        ("storage secret key".into(), SECRET_KEY.into()),
        ("wrong storage secret key".into(), WRONG_SECRET.into()),
    ];
    for key in ["key-encrypted.pem", "key-pkcs8.pem"] {
        let pem = std::fs::read_to_string(fixture(key)).unwrap();
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
        {
            out.push((format!("{key} material"), line.to_owned()));
        }
    }
    for (i, t) in sim.issued_tokens().iter().enumerate() {
        out.push((format!("token {i}"), t.expose().to_owned()));
    }
    out
}

/// Fails when any secret appears in `haystack`.
fn assert_clean(haystack: &[u8], place: &str, secrets: &[(String, String)]) {
    for (name, secret) in secrets {
        assert!(
            memchr::memmem::find(haystack, secret.as_bytes()).is_none(),
            "the {name} appears in {place}:\n{}",
            String::from_utf8_lossy(haystack)
        );
    }
}

/// Searches a run's output and every file under `dirs`.
fn assert_run_clean(r: &Run, case: &str, dirs: &[&Path], secrets: &[(String, String)]) {
    assert!(!r.stderr.contains("panicked"), "{case}: {}", r.stderr);
    assert_clean(r.stdout.as_bytes(), &format!("{case}: stdout"), secrets);
    assert_clean(r.stderr.as_bytes(), &format!("{case}: stderr"), secrets);
    for dir in dirs {
        for file in files_under(dir) {
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            assert_clean(&bytes, &format!("{case}: {}", file.display()), secrets);
        }
    }
}

/// The default tenant with the password [`PW`], the fixture certificate registered for the
/// user, and a little latency so downloads span token expiries.
async fn tenant() -> Arc<SimulatorHandle> {
    let mut config = SimulatorConfig::default_tenant(USER, Secret::new(PW), 3_000, 8 << 10, 81);
    config.task_duration = Duration::from_millis(100);
    config.faults = "latency=20ms".parse().unwrap();
    let user = config
        .users
        .iter_mut()
        .find(|u| u.username == USER)
        .unwrap();
    user.certificates = anaplan_parquet::simulator::config::certificates_from_pem(
        &std::fs::read(fixture("cert.pem")).unwrap(),
    )
    .unwrap();
    Arc::new(sim::start(config).await)
}

/// Certificate sign-in from the environment: no user, no password.
fn certificate_command(
    sim: &SimulatorHandle,
    tmp: &Path,
    passphrase: &str,
) -> tokio::process::Command {
    let mut cmd = command(&sim.base_url(), "", tmp);
    cmd.env_remove("ANAPLAN_USERNAME")
        .env_remove("ANAPLAN_PASSWORD")
        .env("ANAPLAN_CERTIFICATE", fixture("cert.pem"))
        .env("ANAPLAN_PRIVATE_KEY", fixture("key-encrypted.pem"))
        .env("ANAPLAN_PRIVATE_KEY_PASSPHRASE", passphrase);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_at_vv_through_successes_and_failures() {
    let sim = tenant().await;
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let url = sim.base_url();
    let limit = Duration::from_mins(2);
    let budget = [
        "--max-retries",
        "1",
        "--retry-timeout",
        "3s",
        "--upload-retries",
        "1",
    ];

    // (case, exit code, the command)
    let mut ran = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // 1. Basic sign-in, tokens expiring mid-download (401s), to S3, JSON summary.
    let watcher = expire_tokens_during_download(&sim, 3, true);
    let mut cmd = command(&url, PW, tmp.path());
    cmd.arg("-vv")
        .args(export_args(MAIN_EXPORT, "s3://lake/ok.parquet"));
    with_s3(&mut cmd, &s3);
    let r = run(&mut cmd, limit).await;
    watcher.abort();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        sim.counters().unauthorized >= 1,
        "no 401 mid-run: {:?}",
        sim.counters()
    );
    assert_eq!(r.summary()["rows"], 3_000);
    ran.push(("success with 401s mid-run, to S3", r));

    // 1b. The same with every crate at trace level (RUST_LOG beats -vv).
    let mut cmd = command(&url, PW, tmp.path());
    cmd.arg("-vv")
        .env("RUST_LOG", "trace")
        .args(export_args(MAIN_EXPORT, "s3://lake/ok.parquet"));
    with_s3(&mut cmd, &s3);
    ran.push(("success, RUST_LOG=trace", run(&mut cmd, limit).await));

    // 2. A wrong password.
    let mut cmd = command(&url, WRONG_PW, tmp.path());
    cmd.arg("-vv").args(export_args(
        MAIN_EXPORT,
        dir.path().join("a.parquet").to_str().unwrap(),
    ));
    ran.push(("wrong password", run(&mut cmd, limit).await));

    // 3. Every object PUT failing: the upload gives up.
    s3.fail_object_puts(usize::MAX);
    let mut cmd = command(&url, PW, tmp.path());
    cmd.arg("-vv")
        .args(export_args(MAIN_EXPORT, "s3://lake/failing.parquet"))
        .args(budget);
    with_s3(&mut cmd, &s3);
    ran.push(("failing upload", run(&mut cmd, limit).await));
    s3.fail_object_puts(0);

    // 4. A wrong storage secret key.
    let mut cmd = command(&url, PW, tmp.path());
    cmd.arg("-vv")
        .args(export_args(MAIN_EXPORT, "s3://lake/denied.parquet"));
    with_s3(&mut cmd, &s3);
    cmd.env("AWS_SECRET_ACCESS_KEY", WRONG_SECRET);
    ran.push(("wrong storage secret", run(&mut cmd, limit).await));

    // 5. Certificate sign-in with an encrypted key, keeping the raw CSV too.
    let mut cmd = certificate_command(&sim, tmp.path(), PASSPHRASE);
    cmd.arg("-vv")
        .args(export_args(
            MAIN_EXPORT,
            dir.path().join("cert.parquet").to_str().unwrap(),
        ))
        .args(["--keep-csv", dir.path().join("raw.csv").to_str().unwrap()]);
    ran.push(("certificate sign-in", run(&mut cmd, limit).await));

    // 6. A wrong passphrase.
    let mut cmd = certificate_command(&sim, tmp.path(), WRONG_PASSPHRASE);
    cmd.arg("-vv").args(export_args(
        MAIN_EXPORT,
        dir.path().join("b.parquet").to_str().unwrap(),
    ));
    ran.push(("wrong passphrase", run(&mut cmd, limit).await));

    // 7. The task fails in Anaplan; 8. a chunk fails past its budget.
    for (case, faults) in [
        ("failed task", "task-fail"),
        ("chunk past its budget", "reset=1"),
    ] {
        sim.set_export_faults(MAIN_EXPORT, faults.parse().unwrap())
            .unwrap();
        let mut cmd = command(&url, PW, tmp.path());
        cmd.arg("-vv")
            .args(export_args(
                MAIN_EXPORT,
                dir.path().join("c.parquet").to_str().unwrap(),
            ))
            .args(budget);
        ran.push((case, run(&mut cmd, limit).await));
    }
    sim.set_export_faults(MAIN_EXPORT, FaultSpec::default())
        .unwrap();

    let expected = [0, 0, 3, 7, 6, 0, 2, 4, 7];
    let secrets = secrets(&sim);
    assert!(
        secrets
            .iter()
            .filter(|(n, _)| n.starts_with("token"))
            .count()
            >= 4,
        "the runs signed in several times"
    );
    for ((case, r), code) in ran.iter().zip(expected) {
        assert_eq!(r.code, Some(code), "{case}: {}", r.stderr);
        // -vv really is verbose: debug lines (a bad passphrase stops before any log line).
        if code != 2 {
            assert!(r.stderr.contains("DEBUG"), "{case}: {}", r.stderr);
        }
        assert_run_clean(r, case, &[dir.path(), tmp.path(), s3.data_dir()], &secrets);
    }
    // The Parquet files were searched as bytes above; their key-value metadata holds names and
    // ids only.
    let table = crate::support::Table::read(&dir.path().join("cert.parquet"));
    for (k, v) in &table.metadata {
        assert_clean(
            format!("{k}={v}").as_bytes(),
            "the Parquet metadata",
            &secrets,
        );
    }
    assert!(table.meta("anaplan.task.id").is_some());
    assert_eq!(s3.keys("lake"), ["ok.parquet"]);
}

/// Every structure that holds a [`Secret`] shows it through `Secret`'s own `Debug` (derived, or
/// delegating to it), so this test fails when `Secret` itself stops redacting: the structures
/// below hold the password (credentials, the simulator's users), the v1.3 Basic header and the
/// token (the client, signed in), and the storage keys (destination options).
#[tokio::test]
async fn debug_output_of_the_configuration_holds_no_secret() {
    let sim = tenant().await;
    let s3 = S3Server::start().await;
    let key = std::fs::read_to_string(fixture("key-encrypted.pem")).unwrap();
    let certificate = CertificateCredentials::from_pem(
        &std::fs::read_to_string(fixture("cert.pem")).unwrap(),
        &Secret::new(key),
        Some(&Secret::new(PASSPHRASE)),
    )
    .unwrap();
    let basic = Credentials::Basic {
        username: USER.into(),
        password: Secret::new(PW),
    };
    let mut shown = Vec::new();
    for (version, credentials) in [
        (ApiVersion::V2, basic.clone()),
        (ApiVersion::V1_3, basic),
        (
            ApiVersion::V2,
            Credentials::Certificate(Box::new(certificate)),
        ),
    ] {
        let mut config = ConnectionConfig::new(credentials.clone());
        config.api_url = sim.base_url();
        config.auth_url = sim.base_url();
        config.api_version = version;
        let client = AnaplanClient::new(config.clone()).unwrap();
        client.sign_in_now().await.unwrap();
        shown.push(format!("{credentials:?} {config:?} {client:?}"));
    }
    let options = s3.options("s3://lake/x.parquet");
    let destination = Destination::from_options(&options).unwrap();
    shown.push(format!("{options:?} {destination:?}"));
    let wrong_options = s3.options_with_keys("s3://lake/x.parquet", "AKIAX", WRONG_SECRET);
    let wrong = Destination::from_options(&wrong_options).unwrap();
    shown.push(format!("{wrong_options:?} {wrong:?}"));
    // The command line's own structures, given a secret the discouraged way.
    let cli = anaplan_parquet::cli::Cli::try_parse_from([
        "anaplan-parquet",
        "export",
        "-e",
        MAIN_EXPORT,
        "-o",
        "s3://lake/x.parquet",
        "--storage-option",
        &format!("secret_access_key={SECRET_KEY}"),
    ])
    .unwrap();
    shown.push(format!("{cli:?}"));
    // The simulator's configuration holds its users' passwords.
    let sim_config = SimulatorConfig::default_tenant(USER, Secret::new(PW), 10, 1 << 10, 1);
    shown.push(format!("{sim_config:?}"));
    let secrets = secrets(&sim);
    for text in &shown {
        assert_clean(text.as_bytes(), "Debug output", &secrets);
    }
    // Where a secret was held, Debug says it is there without showing it.
    for i in [0, 1, 2, 3, 4, 5, 6] {
        assert!(shown[i].contains("REDACTED"), "{}", shown[i]);
    }
    // The client shows that it holds a token and (v1.3) a Basic header, redacted.
    assert!(
        shown[0].contains("token: Some(Token { value: [REDACTED]"),
        "{}",
        shown[0]
    );
    assert!(shown[1].contains("basic: Some([REDACTED])"), "{}", shown[1]);
}

#[test]
fn credentials_never_need_the_command_line() {
    let help = crate::support::run(crate::support::bin().args(["export", "--help"]));
    let text = crate::support::stdout(&help);
    assert!(help.status.success());
    assert!(!text.contains("--password "), "{text}");
    assert!(!text.contains("--secret"), "{text}");
    assert!(text.contains("ANAPLAN_PASSWORD"), "{text}");
    assert!(text.contains("ANAPLAN_PRIVATE_KEY_PASSPHRASE"), "{text}");
    assert!(text.contains("AWS_*"), "{text}");
    for flag in ["--password", "--insecure", "--no-verify"] {
        let o = crate::support::run(crate::support::bin().args([
            "export",
            "-e",
            "E",
            "-o",
            "x.parquet",
            flag,
            "x",
        ]));
        assert_eq!(o.status.code(), Some(2), "{flag} is not an option");
        assert!(!crate::support::stderr(&o).contains("x.parquet\" was written"));
    }
}

/// A TLS server with a certificate nobody trusts: handshakes, then answers nothing.
async fn untrusted_tls_server() -> (String, tokio::task::JoinHandle<()>) {
    use tokio_rustls::rustls;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let cert =
        rustls::pki_types::CertificateDer::from(std::fs::read(dir.join("server.der")).unwrap());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        std::fs::read(dir.join("server-key.der")).unwrap().into(),
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that verifies the certificate aborts the handshake.
                let _ = acceptor.accept(socket).await;
            });
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_certificates_are_verified() {
    let (url, server) = untrusted_tls_server().await;
    let tmp = tempfile::tempdir().unwrap();
    // Anaplan over TLS: the certificate is refused, at once and clearly.
    let mut cmd = command(&url, PW, tmp.path());
    cmd.args(["workspaces", "--max-retries", "2"]);
    let r = run(&mut cmd, Duration::from_mins(1)).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("TLS certificate cannot be verified"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retry"), "not retried: {}", r.stderr);
    eprintln!(
        "Anaplan with an untrusted certificate: exit {:?} in {:.1}s: {}",
        r.code,
        r.elapsed.as_secs_f64(),
        r.error_lines().join(" ")
    );

    // Object storage over TLS: the same.
    let mut cmd = command(&url, PW, tmp.path());
    cmd.args([
        "convert",
        crate::support::sample("tsc_sales.csv").to_str().unwrap(),
    ])
    .args([
        "-o",
        "s3://lake/x.parquet",
        "--s3-endpoint",
        &url,
        "--s3-path-style",
    ])
    .args(["--s3-region", "us-east-1", "--upload-retries", "1"])
    .env("AWS_ACCESS_KEY_ID", "AKIAX")
    .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    .env("AWS_EC2_METADATA_DISABLED", "true");
    let r = run(&mut cmd, Duration::from_mins(1)).await;
    assert_eq!(r.code, Some(6), "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid peer certificate"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET_KEY));
    eprintln!(
        "S3 with an untrusted certificate: exit {:?} in {:.1}s: {}",
        r.code,
        r.elapsed.as_secs_f64(),
        r.error_lines().join(" ")
    );

    // Turning verification off for storage is possible (an object_store option), and loud.
    let mut cmd = command(&url, PW, tmp.path());
    cmd.args([
        "convert",
        crate::support::sample("tsc_sales.csv").to_str().unwrap(),
    ])
    .args([
        "-o",
        "s3://lake/x.parquet",
        "--s3-endpoint",
        &url,
        "--s3-path-style",
    ])
    .args(["--s3-region", "us-east-1", "--upload-retries", "0"])
    .args(["--storage-option", "allow_invalid_certificates=true"])
    .env("AWS_ACCESS_KEY_ID", "AKIAX")
    .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    .env("AWS_EC2_METADATA_DISABLED", "true");
    let r = run(&mut cmd, Duration::from_mins(1)).await;
    assert!(
        r.stderr.contains("TLS certificate verification is OFF"),
        "{}",
        r.stderr
    );
    server.abort();
}
