//! Inputs that cannot be read twice, files that may hold secrets, and the run's own temporary
//! files (issue 12, items 6, 9 and 10), through the real binary.
//!
//! - A FIFO, `/dev/stdin` and a shell's `<(cmd)` are streams: with a late widening or
//!   `--infer-rows all` they are spooled like stdin (the second pass never re-opens them) and
//!   the output holds the right values. A regular file is still read twice, not spooled.
//! - A signal ends a run blocked opening a FIFO that no one writes.
//! - A TOML error in a jobs file or a `--config` file (or the simulator's config) names its
//!   line and column and never echoes a secret, at any verbosity, for every kind of error.
//! - A temporary directory that is missing, unwritable or full is a local I/O failure (exit 8)
//!   naming the directory and `TMPDIR`.

#![allow(clippy::print_stderr)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Table, bin, dir_entries, run, stderr, tempdir};

/// How long a conversion of these small inputs may take on a loaded machine before it is
/// taken for hung.
const HANG: Duration = Duration::from_mins(1);
/// How long a run may take to stop after a signal.
const STOP_BOUND: Duration = Duration::from_secs(10);
/// Integer rows before the late values: well past the sample (`--infer-rows 1000`) and more
/// than the engine holds while deciding, so a late value forces a second pass.
const ROWS: usize = 30_000;

/// Integers, then a decimal and a text after the sample: `Value` widens from int64 to text.
fn late_widening_csv() -> String {
    crate::convert::drift_input(ROWS)
}

/// The output of [`late_widening_csv`] holds every value exactly, with `Value_number`.
fn check_late_widening(out: &Path) {
    crate::convert::check_drift_output(&Table::read(out), ROWS);
}

/// A FIFO at `path`.
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Writes `text` into the FIFO on a thread of its own (opening it waits for the reader). The
/// thread is left behind if the binary never opens the FIFO.
fn feed(fifo: &Path, text: String) {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let _ = f.write_all(text.as_bytes());
        }
    });
}

/// Waits for `child` for at most `limit`; kills it and panics when it takes longer. Its
/// stdout and stderr were sent to the files `out` and `err`.
fn finish(mut child: Child, limit: Duration, what: &str, err: &Path) -> (Output, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let output = Output {
                status,
                stdout: Vec::new(),
                stderr: std::fs::read(err).unwrap_or_default(),
            };
            return (output, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {limit:?} (hung); stderr: {}",
                String::from_utf8_lossy(&std::fs::read(err).unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `anaplan-parquet convert INPUT -o OUT ARGS`, stdout and stderr to files in `dir`, no stdin.
fn convert(dir: &Path, input: &str, out: &Path, args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(["convert", input, "-o"])
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("stdout")).unwrap())
        .stderr(File::create(dir.join("stderr")).unwrap());
    cmd
}

/// The passes of a run, from its `--json` summary in `dir/stdout`.
fn passes(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).expect("a JSON summary");
    summary["passes"].as_u64().expect("passes")
}

#[test]
fn a_fifo_input_is_spooled_for_a_late_widening_and_for_infer_rows_all() {
    for args in [&["--infer-rows", "1000"][..], &["--infer-rows", "all"][..]] {
        let dir = tempdir();
        let fifo = dir.path().join("input.csv");
        mkfifo(&fifo);
        feed(&fifo, late_widening_csv());
        let out = dir.path().join("out.parquet");
        let child = convert(dir.path(), fifo.to_str().unwrap(), &out, args)
            .arg("--json")
            .spawn()
            .unwrap();
        let (o, _) = finish(
            child,
            HANG,
            &format!("{args:?}"),
            &dir.path().join("stderr"),
        );
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        check_late_widening(&out);
        // The second pass read the spool: the FIFO was opened once.
        assert_eq!(passes(dir.path()), 2, "{args:?}");
    }
}

#[test]
fn dev_stdin_and_process_substitution_are_spooled() {
    for args in [&["--infer-rows", "1000"][..], &["--infer-rows", "all"][..]] {
        // `/dev/stdin` of a pipe.
        let dir = tempdir();
        let out = dir.path().join("out.parquet");
        let mut cmd = convert(dir.path(), "/dev/stdin", &out, args);
        let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(late_widening_csv().as_bytes());
        });
        let (o, _) = finish(child, HANG, "/dev/stdin", &dir.path().join("stderr"));
        assert_eq!(
            o.status.code(),
            Some(0),
            "/dev/stdin {args:?}: {}",
            stderr(&o)
        );
        check_late_widening(&out);

        // `<(cat file)`: a /dev/fd/N path to a pipe.
        let csv = dir.path().join("in.csv");
        std::fs::write(&csv, late_widening_csv()).unwrap();
        let out = dir.path().join("sub.parquet");
        let script = format!(
            "exec \"$0\" convert <(cat \"$1\") -o \"$2\" {}",
            args.join(" ")
        );
        let o = run(Command::new("bash")
            .args(["-c", &script])
            .arg(env!("CARGO_BIN_EXE_anaplan-parquet"))
            .arg(&csv)
            .arg(&out)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null()));
        assert_eq!(o.status.code(), Some(0), "<(cmd) {args:?}: {}", stderr(&o));
        check_late_widening(&out);
    }
}

#[test]
fn print_schema_reads_a_fifo_once() {
    let dir = tempdir();
    let fifo = dir.path().join("input.csv");
    mkfifo(&fifo);
    feed(&fifo, late_widening_csv());
    let child = bin()
        .args([
            "convert",
            fifo.to_str().unwrap(),
            "--print-schema",
            "--json",
        ])
        .args(["--infer-rows", "all"])
        .stdin(Stdio::null())
        .stdout(File::create(dir.path().join("stdout")).unwrap())
        .stderr(File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let (o, _) = finish(child, HANG, "--print-schema", &dir.path().join("stderr"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let schema = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    assert!(
        schema.contains(r#"{"name":"Value","type":"utf8"}"#)
            && schema.contains(r#"{"name":"Value_number","type":"float64"}"#),
        "{schema}"
    );
}

/// The choice comes from what the path is: a regular file is read again (no spool, so a
/// missing temporary directory does not matter), a FIFO is spooled (so it does).
#[test]
fn a_regular_file_is_read_twice_and_a_fifo_is_spooled() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-tmp");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, late_widening_csv()).unwrap();
    let out = dir.path().join("file.parquet");
    let o = run(convert(
        dir.path(),
        csv.to_str().unwrap(),
        &out,
        &["--infer-rows", "1000"],
    )
    .stderr(Stdio::piped())
    .env("TMPDIR", &missing));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_late_widening(&out);

    let fifo = dir.path().join("input.fifo");
    mkfifo(&fifo);
    feed(&fifo, late_widening_csv());
    let out = dir.path().join("fifo.parquet");
    let child = convert(dir.path(), fifo.to_str().unwrap(), &out, &[])
        .env("TMPDIR", &missing)
        .spawn()
        .unwrap();
    let (o, _) = finish(child, HANG, "fifo", &dir.path().join("stderr"));
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("TMPDIR"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_signal_ends_a_run_blocked_opening_a_fifo() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        for print_schema in [false, true] {
            let dir = tempdir();
            let fifo = dir.path().join("nobody-writes");
            mkfifo(&fifo);
            let out = dir.path().join("out.parquet");
            let mut cmd = convert(dir.path(), fifo.to_str().unwrap(), &out, &[]);
            if print_schema {
                cmd.arg("--print-schema");
            }
            let child = cmd.spawn().unwrap();
            // Time to start and block in open(): nothing is written, so it stays there.
            std::thread::sleep(Duration::from_millis(500));
            let sent = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let what = format!("SIG{signal}, print_schema {print_schema}");
            let (o, took) = finish(child, STOP_BOUND, &what, &dir.path().join("stderr"));
            assert_eq!(o.status.code(), Some(code), "{what}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("SIG{signal}")),
                "{}",
                stderr(&o)
            );
            eprintln!("{what}: stopped {took:?} after the signal");
            assert_eq!(
                dir_entries(dir.path()),
                ["nobody-writes", "stderr", "stdout"]
            );
        }
    }
}

/// One file that may hold secrets, with a TOML error.
struct Case {
    name: &'static str,
    text: String,
    /// The secret that must not show.
    secret: &'static str,
    /// The line the error must name.
    line: usize,
}

/// A jobs file's valid dataset, after whatever each case puts before it.
const DATASET: &str = "\n[[dataset]]\nname = \"a\"\nexport = \"x\"\noutput = \"/tmp/unused.parquet\"\n\
                       workspace = \"w\"\nmodel = \"m\"\n";

fn jobs_cases() -> Vec<Case> {
    let conn = |body: &str| format!("[connection]\nusername = \"u\"\n{body}\n{DATASET}");
    let defaults = |body: &str| format!("[defaults]\n{body}\n{DATASET}");
    let own = |body: &str| format!("{DATASET}{body}\n");
    let case = |name, text, secret, line| Case {
        name,
        text,
        secret,
        line,
    };
    vec![
        case(
            "password, bad escape",
            conn(r#"password = "hun\qter2""#),
            r"hun\qter2",
            3,
        ),
        case(
            "password, unclosed",
            conn(r#"password = "hunter2"#),
            "hunter2",
            3,
        ),
        case(
            "password, wrong type",
            conn("password = 7654321987"),
            "7654321987",
            3,
        ),
        case(
            "password, in an array",
            conn(r#"password = ["hunter2"]"#),
            "hunter2",
            3,
        ),
        case(
            "password, duplicate",
            conn("password = \"hunter1\"\npassword = \"hunter2\""),
            "hunter",
            4,
        ),
        case(
            "password, unknown key",
            conn(r#"pasword = "hunter2""#),
            "hunter2",
            3,
        ),
        case(
            "passphrase, bad escape",
            conn(r#"private_key_passphrase = "pass\qphrase""#),
            r"pass\qphrase",
            3,
        ),
        case(
            "passphrase, wrong type",
            conn("private_key_passphrase = 1.41421356"),
            "1.41421356",
            3,
        ),
        case(
            "secret key, bad escape",
            defaults(r#"storage_options = { aws_secret_access_key = "wJalr\qXUtnFEMI" }"#),
            r"wJalr\qXUtnFEMI",
            2,
        ),
        case(
            "secret key, wrong type",
            defaults("storage_options = { aws_secret_access_key = 98765432123 }"),
            "98765432123",
            2,
        ),
        case(
            "token, wrong type",
            own("storage_options = { region = \"eu\", sas_token = 31415926535 }"),
            "31415926535",
            8,
        ),
        case(
            "token, boolean",
            own("storage_options = { token = true }"),
            "true",
            8,
        ),
        case(
            "token, duplicate",
            own("storage_options = { token = \"tok-one\", token = \"tok-two\" }"),
            "tok-",
            8,
        ),
        case(
            "token, unknown key",
            own(r#"storage_optoins = { token = "tok-secret" }"#),
            "tok-secret",
            8,
        ),
    ]
}

fn config_cases() -> Vec<Case> {
    let file = |body: &str| format!("api_url = \"http://127.0.0.1:9\"\nusername = \"u\"\n{body}\n");
    let case = |name, text, secret, line| Case {
        name,
        text,
        secret,
        line,
    };
    vec![
        case(
            "password, bad escape",
            file(r#"password = "hun\qter2""#),
            r"hun\qter2",
            3,
        ),
        case(
            "password, unclosed",
            file(r#"password = "hunter2"#),
            "hunter2",
            3,
        ),
        case(
            "password, duplicate",
            file("password = \"hunter1\"\npassword = \"hunter2\""),
            "hunter",
            4,
        ),
        case(
            "password, unknown key",
            file(r#"pasword = "hunter2""#),
            "hunter2",
            3,
        ),
        case(
            "passphrase, bad escape",
            file(r#"private_key_passphrase = "pass\qphrase""#),
            r"pass\qphrase",
            3,
        ),
        case(
            "passphrase variable, wrong type",
            file("private_key_passphrase_env = 1.41421356"),
            "1.41421356",
            3,
        ),
        case(
            "password file, wrong type",
            file("password_file = 7654321987"),
            "7654321987",
            3,
        ),
    ]
}

/// Runs `args` with the file of `case` at each verbosity: exit 2, the error names the line
/// and a column, and the secret shows nowhere.
fn assert_redacted(kind: &str, case: &Case, dir: &Path, args: &dyn Fn(&Path) -> Vec<String>) {
    let path = dir.join(format!("{}.toml", case.name.replace([' ', ','], "_")));
    std::fs::write(&path, &case.text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for verbosity in [None, Some("-v"), Some("-vv")] {
        let o = run(bin()
            .args(verbosity)
            .args(args(&path))
            .env("ANAPLAN_USERNAME", "u")
            .env("ANAPLAN_PASSWORD", "env-password")
            .env("ANAPLAN_API_URL", "http://127.0.0.1:9")
            .env("ANAPLAN_AUTH_URL", "http://127.0.0.1:9")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null()));
        let what = format!("{kind}, {} ({verbosity:?})", case.name);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(
            !out.contains(case.secret) && !err.contains(case.secret),
            "{what} shows the secret {:?}:\n{out}{err}",
            case.secret
        );
        let at = format!("line {}, column ", case.line);
        assert!(err.contains(&at), "{what}: no {at:?} in:\n{err}");
    }
}

#[test]
fn toml_errors_in_a_jobs_file_name_their_place_and_never_a_secret() {
    let dir = tempdir();
    for case in jobs_cases() {
        assert_redacted("jobs file", &case, dir.path(), &|p| {
            vec!["run".into(), p.display().to_string()]
        });
    }
}

#[test]
fn toml_errors_in_a_config_file_name_their_place_and_never_a_secret() {
    let dir = tempdir();
    for case in config_cases() {
        assert_redacted("--config", &case, dir.path(), &|p| {
            vec![
                "workspaces".into(),
                "--config".into(),
                p.display().to_string(),
            ]
        });
        assert_redacted("ANAPLAN_PARQUET_CONFIG", &case, dir.path(), &|p| {
            vec![
                "exports".into(),
                "--config".into(),
                p.display().to_string(),
                "--workspace".into(),
                "w".into(),
                "--model".into(),
                "m".into(),
            ]
        });
    }
}

#[cfg(feature = "simulator")]
#[test]
fn toml_errors_in_the_simulator_config_never_show_a_password() {
    let dir = tempdir();
    for (text, secret) in [
        (
            "[[users]]\nusername = \"u\"\npassword = \"sim-\\qpass\"\n",
            r"sim-\qpass",
        ),
        (
            "[[users]]\nusername = \"u\"\npassword = 8675309123\n",
            "8675309123",
        ),
    ] {
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, text).unwrap();
        let o = run(bin()
            .args(["-vv", "simulator", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .stdin(Stdio::null()));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(!err.contains(secret), "{err}");
        assert!(err.contains("line 3, column "), "{err}");
    }
}

/// A tmpfs mounted for one test (root only), unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `options` at a new directory under `under`; `None` when mounting is
    /// not allowed here (not root, or no mount capability).
    fn tmpfs(under: &Path, name: &str, options: &str) -> Option<Mount> {
        let at = under.join(name);
        std::fs::create_dir(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Mount(at))
        } else {
            eprintln!("cannot mount a tmpfs ({options}) here: that case is not checked");
            None
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `convert -` of more than 64 KiB on stdin with a late widening, `TMPDIR` set to `tmp`.
fn convert_stdin_with_tmpdir(tmp: &Path, out: &Path) -> Output {
    let mut child = bin()
        .args(["convert", "-", "--infer-rows", "1000", "-o"])
        .arg(out)
        .env("TMPDIR", tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = late_widening_csv();
    while input.len() < 256 << 10 {
        input.push_str("Actual,Comment,padding to fill a small temporary directory\n");
    }
    // The run may fail before it reads everything: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// The spool's directory missing, not a directory, read-only or full: exit 8 (not 5, bad
/// input), naming the directory and `TMPDIR`; an existing destination is untouched.
#[test]
fn an_unusable_temporary_directory_is_a_local_io_failure() {
    let dir = tempdir();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let read_only = Mount::tmpfs(dir.path(), "read-only", "ro,size=64k");
    let full = Mount::tmpfs(dir.path(), "full", "size=64k");
    let mut cases = vec![
        ("missing", dir.path().join("no-such-tmp")),
        ("not a directory", not_a_dir),
    ];
    cases.extend(read_only.as_ref().map(|m| ("read-only", m.0.clone())));
    cases.extend(full.as_ref().map(|m| ("full", m.0.clone())));
    for (what, tmp) in cases {
        let out = dir.path().join("o.parquet");
        std::fs::write(&out, b"keep me").unwrap();
        let o = convert_stdin_with_tmpdir(&tmp, &out);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(8), "{what}: {err}");
        assert!(
            err.contains(&tmp.display().to_string()) && err.contains("TMPDIR"),
            "{what}: {err}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"keep me", "{what}");
    }
    if let Some(full) = &full {
        assert!(dir_entries(&full.0).is_empty(), "spool left behind");
    }
}
