#!/usr/bin/env python3
"""Compare `anaplan-parquet convert` with polars and DuckDB on the same generated exports.

    python3 -m venv .venv && .venv/bin/pip install polars duckdb
    cargo build --release
    .venv/bin/python benches/compare.py                  # 1 GB mixed + 1 GB numeric-only
    .venv/bin/python benches/compare.py --size 4g        # 4 GB each
    .venv/bin/python benches/compare.py --size 1g,4g --kind mixed --runs 5

For each file (generated once, deterministically: `generate --seed 7`, with `--numeric-only`
for the numeric file), the tools run in turns (ours, ours without `Value_number`, polars,
DuckDB; then again), so a noisy neighbour on a shared machine slows them all alike. Each run
is its own process under /usr/bin/time, so the peak RSS is the tool's own. The table shows
the median wall time of the runs, the throughput, the peak RSS and the output size, and the
ratios against polars and DuckDB: speed as their time over ours (2.0 = we take half their
time), RSS and size as ours over theirs.

All write zstd Parquet from the same CSV file. `anaplan-parquet` by default adds the
`Value_number` column (each numeric `Value` as a float64); `--no-value-number` has the same
columns as polars and DuckDB.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "anaplan-parquet")

POLARS = """
import polars as pl, sys
pl.scan_csv(sys.argv[1], infer_schema_length=100000).sink_parquet(sys.argv[2], compression="zstd")
"""
DUCKDB = """
import duckdb, sys
duckdb.sql(f"COPY (FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd)")
"""


def parse_size(text):
    text = text.strip().lower()
    units = {"k": 1e3, "m": 1e6, "g": 1e9}
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def generate(path, rows, numeric):
    argv = [BIN, "generate", "--rows", str(rows), "--seed", "7", "-o", path]
    if numeric:
        argv.append("--numeric-only")
    subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)


def rows_for(size, numeric, tmp):
    """Rows that make a file of about `size` bytes (from a 200,000-row sample)."""
    sample = os.path.join(tmp, "sample.csv")
    generate(sample, 200_000, numeric)
    per_row = os.path.getsize(sample) / 200_000
    os.remove(sample)
    return max(1, int(size / per_row))


def timed(argv, output):
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M"] + argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds, kib = out.stderr.strip().splitlines()[-1].split()
    size = os.path.getsize(output)
    os.remove(output)
    return float(seconds), int(kib) / 1024, size


def tools(tmp):
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    return [
        ("anaplan-parquet", lambda csv: [BIN, "convert", "-q", csv, "-o", out("a.parquet")], out("a.parquet")),
        ("  --no-value-number",
         lambda csv: [BIN, "convert", "-q", "--no-value-number", csv, "-o", out("b.parquet")], out("b.parquet")),
        ("polars", lambda csv: [sys.executable, "-c", POLARS, csv, out("p.parquet")], out("p.parquet")),
        ("duckdb", lambda csv: [sys.executable, "-c", DUCKDB, csv, out("d.parquet")], out("d.parquet")),
    ]


def compare(kind, size, runs, tmp):
    numeric = kind == "numeric"
    rows = rows_for(size, numeric, tmp)
    csv = os.path.join(tmp, "export.csv")
    generate(csv, rows, numeric)
    nbytes = os.path.getsize(csv)
    print(f"\n{kind}: {nbytes / 1e6:.0f} MB, {rows} rows, median of {runs} runs")
    results = {name: [] for name, _, _ in tools(tmp)}
    for _ in range(runs):
        for name, argv, output in tools(tmp):
            results[name].append(timed(argv(csv), output))
    os.remove(csv)
    med = {
        name: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), rs[0][2])
        for name, rs in results.items()
    }
    print(f"{'tool':<22}{'time':>8}{'MB/s':>8}{'RSS MiB':>9}{'out MB':>8}"
          f"{'speed×pl':>10}{'speed×dd':>10}{'RSS/pl':>8}{'size/pl':>8}{'size/dd':>8}")
    pl, dd = med["polars"], med["duckdb"]
    for name, (t, rss, out) in med.items():
        print(f"{name:<22}{t:7.2f}s{nbytes / t / 1e6:8.0f}{rss:9.0f}{out / 1e6:8.1f}"
              f"{pl[0] / t:10.2f}{dd[0] / t:10.2f}{rss / pl[1]:8.2f}{out / pl[2]:8.2f}{out / dd[2]:8.2f}")
    print("runs (s): " + "; ".join(f"{n.strip()} " + " ".join(f"{r[0]:.2f}" for r in rs)
                                   for n, rs in results.items()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="1g", help="CSV sizes, comma-separated (1g, 4g, 500m)")
    p.add_argument("--kind", default="mixed,numeric", help="mixed, numeric, or both")
    p.add_argument("--runs", type=int, default=3, help="runs of each tool (the median is shown)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        for size in args.size.split(","):
            for kind in args.kind.split(","):
                compare(kind, parse_size(size), args.runs, tmp)


if __name__ == "__main__":
    main()
