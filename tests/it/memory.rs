//! "Memory stays flat however large the export" (README), through the real binary: a few
//! hundred megabytes converted with the peak RSS of the child measured from `/proc` (its
//! `VmHWM`, with how much input it had read, from `/proc/<pid>/io`, at each sample).
//!
//! The bounds are generous (a third more than a run needs here, twice its growth) but below
//! what holding the input or the output in memory would take. The benchmark `benches/memory.rs` measures the
//! same in release over gigabytes.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

use crate::support::tempdir;

const MIB: u64 = 1 << 20;

/// Rows of `Line Items,Value` with a 2 KiB value each, `bytes` in all: values are unique (no
/// dictionary) and compress about 2:1 (hex digits), so the Parquet file is about half the
/// input. Wide rows convert fastest per byte, which keeps the test to seconds.
fn write_wide_input(path: &Path, bytes: u64) -> u64 {
    // A block of random hex digits; each row takes a different window of it.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let block: Vec<u8> = (0..(1 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"0123456789abcdef"[(x & 15) as usize]
        })
        .collect();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(b"Line Items,Value\n").unwrap();
    let (mut written, mut rows) = (0u64, 0u64);
    while written < bytes {
        let at = (rows as usize * 4099) % (block.len() - 2048);
        let head = format!("Units,{rows:09}-");
        out.write_all(head.as_bytes()).unwrap();
        out.write_all(&block[at..at + 2048 - head.len()]).unwrap();
        out.write_all(b"\n").unwrap();
        written += 2048 + 1;
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

/// A `/proc/<pid>/...` field in KiB or bytes, when the process still runs.
fn proc_field(pid: u32, file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Peak RSS over the run, and the peak once the child had read `input_mark` bytes of input.
struct Peaks {
    peak: u64,
    peak_at_mark: Option<u64>,
    wall: Duration,
}

/// Runs `cmd` to its end, sampling its peak RSS (`VmHWM`, which only grows) every 5 ms.
fn run_measured(cmd: &mut Command, input_mark: u64) -> Peaks {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();
    let (mut peak, mut peak_at_mark) = (0u64, None);
    loop {
        if let Some(kib) = proc_field(pid, "status", "VmHWM:") {
            peak = peak.max(kib * 1024);
            let read = proc_field(pid, "io", "rchar:").unwrap_or(0);
            if read >= input_mark && peak_at_mark.is_none() {
                peak_at_mark = Some(peak);
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_mins(5),
            "still running after 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("the binary ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Peaks {
        peak,
        peak_at_mark,
        wall: started.elapsed(),
    }
}

#[test]
#[allow(clippy::print_stderr)]
fn memory_stays_flat_over_a_few_hundred_megabytes() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak memory cannot be measured here");
        return;
    }
    let dir = tempdir();
    let input = dir.path().join("wide.csv");
    let size = 320 * MIB;
    let rows = write_wide_input(&input, size);
    let out = dir.path().join("wide.parquet");
    // Row groups of 16 MiB: the largest buffer is then the 32 MiB batch of 16,384 wide rows.
    let peaks = run_measured(
        Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
            .arg("-q")
            .arg("convert")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(["--row-group-bytes", "16MiB"]),
        size / 3,
    );
    let written = std::fs::metadata(&out).unwrap().len();
    eprintln!(
        "{} MiB in, {} MiB out, {rows} rows: peak RSS {} MiB ({} MiB after a third of the \
         input), {:.1} s",
        size / MIB,
        written / MIB,
        peaks.peak / MIB,
        peaks.peak_at_mark.unwrap_or(0) / MIB,
        peaks.wall.as_secs_f64()
    );
    assert!(
        written > size / 3,
        "the output ({written} bytes) must be big enough that holding it would show"
    );
    // About 220 MiB here: far below the input (320 MiB), or what holding the output (160 MiB)
    // would add.
    assert!(
        peaks.peak < 288 * MIB,
        "peak RSS {} MiB for {} MiB of input",
        peaks.peak / MIB,
        size / MIB
    );
    // Flat: the last two thirds of the input (213 MiB in, 100 MiB out) add little.
    let at_third = peaks
        .peak_at_mark
        .expect("sampled after a third of the input");
    assert!(
        peaks.peak < at_third + 96 * MIB,
        "peak RSS grew from {} MiB after a third of the input to {} MiB",
        at_third / MIB,
        peaks.peak / MIB
    );
    let parquet = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(parquet.metadata().file_metadata().num_rows(), rows as i64);
}
