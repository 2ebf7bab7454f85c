#!/usr/bin/env python3
"""Compare `anaplan-parquet convert` with polars and DuckDB on the same generated export.

    pip install polars duckdb
    cargo build --release
    python3 benches/compare.py [ROWS]        # default 20,000,000 rows (about 1 GB)

Each tool runs in its own process under /usr/bin/time, so the peak RSS is the tool's own.
All three write zstd Parquet (the second anaplan-parquet line without the extra
`Value_number` column, so it has the same columns as polars and DuckDB) from the same CSV file; the file is generated once, deterministically.
"""
import os
import subprocess
import sys
import tempfile

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "anaplan-parquet")

POLARS = """
import polars as pl, sys
pl.scan_csv(sys.argv[1], infer_schema_length=100000).sink_parquet(sys.argv[2], compression="zstd")
"""
DUCKDB = """
import duckdb, sys
duckdb.sql(f"COPY (FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd)")
"""


def timed(name, argv, size):
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M"] + argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds, kib = out.stderr.strip().splitlines()[-1].split()
    seconds = float(seconds)
    print(f"{name:<16} {seconds:7.2f} s {size / seconds / 1e6:8.1f} MB/s {int(kib) / 1024:8.0f} MiB peak RSS")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "export.csv")
        subprocess.run([BIN, "generate", "--rows", str(ROWS), "--seed", "7", "-o", csv], check=True,
                       stderr=subprocess.DEVNULL)
        size = os.path.getsize(csv)
        print(f"{size / 1e6:.0f} MB, {ROWS} rows")
        for _ in range(2):
            timed("anaplan-parquet", [BIN, "convert", "-q", csv, "-o", os.path.join(tmp, "a.parquet")], size)
            timed("  same columns", [BIN, "convert", "-q", "--no-value-number", csv, "-o",
                                  os.path.join(tmp, "b.parquet")], size)
            timed("polars", [sys.executable, "-c", POLARS, csv, os.path.join(tmp, "p.parquet")], size)
            timed("duckdb", [sys.executable, "-c", DUCKDB, csv, os.path.join(tmp, "d.parquet")], size)


if __name__ == "__main__":
    main()
