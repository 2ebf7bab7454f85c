//! What a local output path names decides how it is written, through the binary: a regular
//! file is replaced atomically, a symlink's target is replaced and the link kept, a character
//! device or FIFO is written through, anything else is refused; an output is never the input
//! nor another output of the same run; temporary files a killed run left are swept; append
//! mode leaves no new folder behind on failure.
//!
//! Device nodes are made with `mknod` in temporary directories (the tests run as root), never
//! the machine's own `/dev/null`.

#![cfg(unix)]

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE};
use crate::support::sim::{self, PASSWORD, USER};
use crate::support::{Table, bin, dir_entries, run, sample, stderr, tempdir};

/// Runs a shell tool (mknod, mkfifo) that must succeed.
fn sh(program: &str, args: &[&str]) {
    let o = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(o.status.success(), "{program} {args:?}: {}", stderr(&o));
}

/// A character device node with the numbers of /dev/null, made in `dir`.
fn null_device(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    sh("mknod", &[p.to_str().unwrap(), "c", "1", "3"]);
    p
}

fn convert(input: &Path, output: &Path, extra: &[&str]) -> Output {
    run(bin()
        .arg("convert")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(extra))
}

fn file_type(p: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(p).unwrap().file_type()
}

/// The bytes a FIFO's reader sees while `write` runs. The reader is a thread; if the writer
/// never opened the FIFO, the reader is released by opening it for writing here. A reader
/// that cannot be released (the FIFO was replaced under it) is left behind: no bytes.
fn read_fifo_while<T>(fifo: &Path, write: impl FnOnce() -> T) -> (T, Vec<u8>) {
    let path = fifo.to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut data = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        data
    });
    let result = write();
    let wait = |reader: &std::thread::JoinHandle<Vec<u8>>| {
        for _ in 0..40 {
            if reader.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(&reader);
    if !reader.is_finished() && file_type(fifo).is_fifo() {
        drop(std::fs::OpenOptions::new().write(true).open(fifo));
        wait(&reader);
    }
    if !reader.is_finished() {
        return (result, Vec::new());
    }
    (result, reader.join().unwrap())
}

// ---- what is replaced, followed, written through or refused ----------------------------------

/// Issue 12, item 1: `-o` a character device wrote a Parquet file in the device's place.
#[test]
fn a_character_device_is_written_through_and_stays_a_device() {
    let dir = tempdir();
    let null = null_device(dir.path(), "null");
    let o = convert(&sample("tsc_sales.csv"), &null, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&null).is_char_device(), "the device was replaced");
    assert_eq!(dir_entries(dir.path()), ["null"], "no temporary file left");
}

/// Issue 12, item 1: a FIFO was replaced by a regular file; its reader now gets the Parquet
/// file itself.
#[test]
fn a_fifo_is_written_through_to_its_reader() {
    let dir = tempdir();
    let fifo = dir.path().join("pipe");
    sh("mkfifo", &[fifo.to_str().unwrap()]);
    let (o, bytes) = read_fifo_while(&fifo, || convert(&sample("tsc_sales.csv"), &fifo, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&fifo).is_fifo(), "the FIFO was replaced");
    let t = Table::from_bytes(bytes.into());
    assert_eq!(t.num_rows(), 12);
    assert_eq!(dir_entries(dir.path()), ["pipe"]);
}

/// A FIFO cannot take bytes back: when a late value widens a column, the abandoned first
/// attempt already reached the reader, so the run stops (exit 6, naming the FIFO and the way
/// out) instead of writing a second file after it or waiting for a reader that is gone.
#[test]
fn a_late_widening_into_a_fifo_is_refused_not_hung() {
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("Line Items,Value\n");
    for i in 0..30_000 {
        csv.push_str(&format!("Units,{i}\n"));
    }
    csv.push_str("Price,6.5\n");
    std::fs::write(&input, csv).unwrap();
    let fifo = dir.path().join("pipe");
    sh("mkfifo", &[fifo.to_str().unwrap()]);
    let (o, _) = read_fifo_while(&fifo, || convert(&input, &fifo, &["--infer-rows", "1000"]));
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(fifo.to_str().unwrap()) && err.contains("--infer-rows all"),
        "{err}"
    );
    assert!(file_type(&fifo).is_fifo());
    // The way out works.
    let (o, bytes) = read_fifo_while(&fifo, || convert(&input, &fifo, &["--infer-rows", "all"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(Table::from_bytes(bytes.into()).num_rows(), 30_001);
}

/// Issue 12, item 1: a symlink was replaced by a file and its target left alone. The target is
/// replaced now (atomically, through a chain of relative links) and the links stay.
#[test]
fn a_symlink_is_followed_its_target_replaced_and_the_link_kept() {
    let dir = tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let real = data.join("real.parquet");
    std::fs::write(&real, b"old").unwrap();
    let inner = dir.path().join("inner.parquet");
    std::os::unix::fs::symlink("data/real.parquet", &inner).unwrap();
    let link = dir.path().join("out.parquet");
    std::os::unix::fs::symlink("inner.parquet", &link).unwrap();

    let o = convert(&sample("tsc_sales.csv"), &link, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&link).is_symlink() && file_type(&inner).is_symlink());
    assert_eq!(Table::read(&real).num_rows(), 12);
    assert_eq!(
        dir_entries(&data),
        ["real.parquet"],
        "no temporary file left"
    );

    // A link to nothing yet: its target is created.
    let dangling = dir.path().join("new.parquet");
    std::os::unix::fs::symlink("data/created.parquet", &dangling).unwrap();
    let o = convert(&sample("tsc_sales.csv"), &dangling, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&dangling).is_symlink());
    assert_eq!(Table::read(&data.join("created.parquet")).num_rows(), 12);
}

/// Anything else is refused before a byte is written, with a destination error (exit 6)
/// naming the path, and left as it was: a socket, a block device, a directory, a link to one.
#[test]
fn sockets_block_devices_and_directories_are_refused() {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let block = dir.path().join("blk");
    sh("mknod", &[block.to_str().unwrap(), "b", "7", "200"]);
    let subdir = dir.path().join("sub");
    std::fs::create_dir(&subdir).unwrap();
    let to_socket = dir.path().join("to-sock");
    std::os::unix::fs::symlink("sock", &to_socket).unwrap();
    for (path, words) in [
        (&socket, "it is a socket"),
        (&block, "it is a block device"),
        (&subdir, "it is a directory"),
        (&to_socket, "a symlink to a socket"),
    ] {
        let o = convert(&sample("tsc_sales.csv"), path, &[]);
        assert_eq!(
            o.status.code(),
            Some(6),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        let err = stderr(&o);
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(words),
            "{err}"
        );
    }
    assert!(file_type(&socket).is_socket());
    assert!(file_type(&block).is_block_device());
    assert!(file_type(&to_socket).is_symlink());
    assert_eq!(dir_entries(dir.path()), ["blk", "sock", "sub", "to-sock"]);
    assert!(dir_entries(&subdir).is_empty());
}

/// Siblings of item 1: `generate --output` follows the same rule.
#[test]
fn generate_follows_the_same_rule() {
    let dir = tempdir();
    let null = null_device(dir.path(), "null");
    let o = run(bin().args(["generate", "--rows", "100", "-o"]).arg(&null));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&null).is_char_device());
    let real = dir.path().join("real.csv");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let o = run(bin().args(["generate", "--rows", "100", "-o"]).arg(&link));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file_type(&link).is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().lines().count() > 100);
}

// ---- an output is never the input, nor another output -----------------------------------------

/// Issue 12, item 2: `convert d.csv -o d.csv` replaced the source with Parquet. Refused now as
/// a usage error (exit 2), however the same file is spelled or reached.
#[test]
fn the_output_may_not_be_the_input() {
    let dir = tempdir();
    let input = dir.path().join("d.csv");
    let original = std::fs::read(sample("tsc_sales.csv")).unwrap();
    std::fs::write(&input, &original).unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("d.csv", &link).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).unwrap();
    let cases: [(&str, &str, PathBuf); 4] = [
        ("same path", "d.csv", input.clone()),
        ("./ against absolute", "./d.csv", input.clone()),
        ("through a symlink", "d.csv", link.clone()),
        ("a hard link", "d.csv", hard.clone()),
    ];
    for (case, input_arg, output) in cases {
        let o = run(bin()
            .current_dir(dir.path())
            .args(["convert", input_arg, "-o"])
            .arg(&output));
        assert_eq!(o.status.code(), Some(2), "{case}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("is the input"), "{case}: {err}");
        assert_eq!(std::fs::read(&input).unwrap(), original, "{case}");
    }
    assert!(file_type(&link).is_symlink());
    assert_eq!(dir_entries(dir.path()), ["d.csv", "hard.csv", "link.csv"]);
}

fn export_cli(sim: &anaplan_parquet::simulator::SimulatorHandle) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("anaplan-parquet").unwrap();
    cmd.env_clear()
        .env("ANAPLAN_API_URL", sim.base_url())
        .env("ANAPLAN_AUTH_URL", sim.base_url())
        .env("ANAPLAN_USERNAME", USER)
        .env("ANAPLAN_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .args([
            "export",
            "-w",
            WORKSPACE,
            "-m",
            MODEL,
            "-e",
            MAIN_EXPORT,
            "--poll-interval",
            "50ms",
        ]);
    cmd
}

/// Issue 12, item 3: `--keep-csv X -o X` exited 0, said Parquet was written, and left the CSV.
/// Refused now (exit 2) before the export task starts, also through a symlink. A kept copy
/// written through to a device still lets the run read the export twice.
#[tokio::test]
async fn keep_csv_may_not_be_the_output() {
    let sim = Arc::new(sim::start(sim::tenant(2_000, 8 << 10, 31)).await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("x.parquet", &link).unwrap();
    let null = null_device(dir.path(), "null");
    let s = Arc::clone(&sim);
    let (out2, link2, null2) = (out.clone(), link.clone(), null.clone());
    tokio::task::spawn_blocking(move || {
        for keep in [&out2, &link2] {
            let o = export_cli(&s)
                .arg("-o")
                .arg(&out2)
                .arg("--keep-csv")
                .arg(keep)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(stderr(&o).contains("are the same file"), "{}", stderr(&o));
            assert!(!out2.exists());
        }
        let o = export_cli(&s)
            .arg("-o")
            .arg(&out2)
            .arg("--keep-csv")
            .arg(&null2)
            .args(["--infer-rows", "all"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(file_type(&null2).is_char_device());
    })
    .await
    .unwrap();
    assert_eq!(Table::read(&out).num_rows(), 2_000);
    let mut entries = dir_entries(dir.path());
    entries.sort();
    assert_eq!(entries, ["link", "null", "x.parquet"]);
    // The refused runs started no task: only the last one did.
    let posts = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/tasks"))
        .count();
    assert_eq!(posts, 1);
}

// ---- what a killed run leaves behind ----------------------------------------------------------

/// Makes a file that looks `age` old.
fn aged(path: &Path, age: Duration) -> std::fs::File {
    let f = std::fs::File::create(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
    f
}

/// A SIGKILLed run left `.X.parquet.*.partial` beside the output and a spool in the temporary
/// directory forever. The next run removes them, and only them: our names, older than a
/// minute, not held by a live run (locked); another program's file with a similar name stays.
#[test]
fn the_next_run_sweeps_what_a_killed_run_left_and_nothing_else() {
    let dir = tempdir();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let hour = Duration::from_hours(1);
    let stale_partial = dir
        .path()
        .join(".out.parquet.anaplan-parquet-Ab12Cd.partial");
    let stale_spool = tmp.join("anaplan-parquet-spool.Zx98Yw");
    let recent = dir
        .path()
        .join(".out.parquet.anaplan-parquet-Qq11Rr.partial");
    let foreign = dir.path().join(".out.parquet.Ab12Cd.partial");
    let foreign_spool = tmp.join("anaplan-parquet-spool.Zx98Yw.keep");
    let held = dir
        .path()
        .join(".other.parquet.anaplan-parquet-Hh22Jj.partial");
    for p in [&stale_partial, &stale_spool, &foreign, &foreign_spool] {
        aged(p, hour);
    }
    aged(&recent, Duration::from_secs(5));
    // A live run's file: old, but locked.
    let holder = aged(&held, hour);
    holder.lock().unwrap();

    // stdin is spooled (a temporary file in TMPDIR) and the output gets a temporary file.
    let mut child = bin()
        .args(["convert", "-", "-o"])
        .arg(dir.path().join("out.parquet"))
        .env("TMPDIR", &tmp)
        .stdin(std::fs::File::open(sample("tsc_sales.csv")).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!stale_partial.exists(), "stale partial file left");
    assert!(!stale_spool.exists(), "stale spool left");
    for kept in [&recent, &foreign, &foreign_spool, &held] {
        assert!(kept.exists(), "{} removed", kept.display());
    }
    assert_eq!(Table::read(&dir.path().join("out.parquet")).num_rows(), 12);
}

// ---- append mode and new folders ---------------------------------------------------------------

/// Append mode created its dataset folder (and partition folder) even when the run then
/// failed; replace mode creates none. Now append creates them only when the part is
/// published: a failed run leaves no new, empty folder behind.
#[test]
fn a_failed_append_leaves_no_new_folder_behind() {
    let dir = tempdir();
    // Past the inference sample, after the output was begun, a row is short.
    let bad = dir.path().join("bad.csv");
    let mut csv = String::from("Line Items,Value\n");
    for i in 0..30_000 {
        csv.push_str(&format!("Units,{i}\n"));
    }
    csv.push_str("Units\n");
    std::fs::write(&bad, csv).unwrap();
    let append = |input: &Path, dataset: &Path, extra: &[&str]| {
        run(bin()
            .arg("convert")
            .arg(input)
            .arg("-o")
            .arg(dataset)
            .args(["--mode", "append", "--infer-rows", "1000"])
            .args(extra))
    };
    let dataset = dir.path().join("ds");
    let o = append(&bad, &dataset, &[]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        !dataset.exists(),
        "a failed append created the dataset folder"
    );
    let o = append(&sample("tsc_sales.csv"), &dataset, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dir_entries(&dataset).len(), 1);

    // The partition folder in an existing dataset folder, and both at once.
    let partitioned = dir.path().join("by-date");
    std::fs::create_dir(&partitioned).unwrap();
    let o = append(&bad, &partitioned, &["--partition-by-date"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        dir_entries(&partitioned).is_empty(),
        "{:?}",
        dir_entries(&partitioned)
    );
    let nested = dir.path().join("new").join("ds");
    let o = append(&bad, &nested, &["--partition-by-date"]);
    assert_eq!(
        o.status.code(),
        Some(6),
        "the parent must exist: {}",
        stderr(&o)
    );
    let o = append(
        &sample("tsc_sales.csv"),
        &partitioned,
        &["--partition-by-date"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let days = dir_entries(&partitioned);
    assert!(
        days.len() == 1 && days[0].starts_with("export_date="),
        "{days:?}"
    );
    assert_eq!(dir_entries(&partitioned.join(&days[0])).len(), 1);
}
