#!/usr/bin/env python3
"""The Python package's measure: an export read into polars, against the command line writing
the same export to a file and against anaplan-sdk's download parsed by polars.

    python3 -m venv .venv && .venv/bin/pip install polars pyarrow anaplan-sdk maturin
    (cd python && VIRTUAL_ENV=$PWD/../.venv ../.venv/bin/maturin develop --release)
    cargo build --release
    .venv/bin/python benches/python_read.py                 # 19M rows: a 954 MiB export
    .venv/bin/python benches/python_read.py --rows 4000000 --runs 3

The simulator (`ap.Simulator`, 10 MiB chunks, no gzip) runs in a process of its own. Each
measured run is a fresh process, the tools in turns, and reports its wall time and peak RSS
(`ru_maxrss`), taken as soon as the DataFrame exists. For a DataFrame, "buffers" is the size
of its Arrow buffers (`get_total_buffer_size` of `to_arrow` at the newest compat level, which
keeps string views as they are); polars' own `estimated_size()` counts a string's bytes rather
than its 16-byte view, so it is shown too but reads low.

anaplan-sdk signs in at auth.anaplan.com with a client of its own: every request it makes is
sent to the simulator by patching its HTTP transport in the measured process.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "target", "release", "anaplan-parquet")
WORKSPACE, MODEL, EXPORT = "Financial Planning", "FP&A", "Revenue - TSC.csv"
USER, PASSWORD = "demo@example.com", "demo-password"


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame_sizes(df):
    import polars as pl

    buffers = df.to_arrow(compat_level=pl.CompatLevel.newest()).get_total_buffer_size()
    return {"df_buffers_mib": round(buffers / 2**20), "df_estimated_mib": round(df.estimated_size() / 2**20)}


def measure(mode, url):
    """One run, in this process; prints one JSON line."""
    t0 = time.time()
    if mode == "ap.read -> polars":
        import anaplan_parquet as ap
        import polars as pl

        conn = ap.Connection(username=USER, password=PASSWORD, api_url=url, auth_url=url)
        df = pl.DataFrame(ap.read(conn, workspace=WORKSPACE, model=MODEL, export=EXPORT, poll_interval="200ms"))
    elif mode == "anaplan-sdk + polars.read_csv":
        import io
        from urllib.parse import urlparse

        import anaplan_sdk
        import httpx2
        import polars as pl

        u = urlparse(url)
        send = httpx2.HTTPTransport.handle_request

        def to_simulator(self, request):
            request.url = request.url.copy_with(scheme="http", host=u.hostname, port=u.port)
            return send(self, request)

        httpx2.HTTPTransport.handle_request = to_simulator
        signin = dict(user_email=USER, password=PASSWORD, timeout=600, status_poll_delay=1)
        client = anaplan_sdk.Client(**signin)
        ws = next(w for w in client.get_workspaces() if w.name == WORKSPACE)
        md = next(m for m in client.get_models() if m.name == MODEL)
        client = anaplan_sdk.Client(workspace_id=ws.id, model_id=md.id, **signin)
        ex = next(e for e in client.get_exports() if e.name == EXPORT)
        df = pl.read_csv(io.BytesIO(client.export_and_download(ex.id)))
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds, rss = time.time() - t0, peak_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": rss, "rows": df.height, **frame_sizes(df)}))


def cli(url, out):
    argv = ["/usr/bin/time", "-f", "%e %M", BIN, "export", "-q", "-w", WORKSPACE, "-m", MODEL, "-e", EXPORT,
            "-u", USER, "--api-url", url, "--auth-url", url, "--poll-interval", "200ms", "-o", out]
    env = {**os.environ, "ANAPLAN_PASSWORD": PASSWORD}
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    os.remove(out)
    seconds, kib = r.stderr.strip().splitlines()[-1].split()
    return {"seconds": float(seconds), "peak_rss_mib": int(kib) / 1024}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=19_000_000, help="rows of the simulated export")
    p.add_argument("--runs", type=int, default=2, help="runs of each tool")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        return measure(args.measure, args.url)

    sim = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, anaplan_parquet as ap\n"
         f"s = ap.Simulator(rows={args.rows}, chunk_size='10MiB', task_duration='1s', no_gzip=True)\n"
         "print(s.url, flush=True)\ntime.sleep(86400)"],
        stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"python_read_{os.getpid()}.parquet")
        modes = ["anaplan-parquet export (CLI)", "ap.read -> polars", "anaplan-sdk + polars.read_csv"]
        results = {m: [] for m in modes}
        for _ in range(args.runs):
            results[modes[0]].append(cli(url, out))
            for m in modes[1:]:
                r = subprocess.run([sys.executable, __file__, "--measure", m, "--url", url],
                                   stdout=subprocess.PIPE, text=True, check=True)
                results[m].append(json.loads(r.stdout.strip().splitlines()[-1]))
    finally:
        sim.kill()
    print(f"{args.rows} rows, {args.runs} runs each")
    print(f"{'run':<32}{'seconds':>16}{'peak RSS MiB':>18}{'DataFrame buffers MiB':>23}{'estimated_size':>16}")
    for m, rs in results.items():
        secs = " / ".join(f"{r['seconds']:.2f}" for r in rs)
        rss = " / ".join(f"{r['peak_rss_mib']:.0f}" for r in rs)
        buf = str(rs[0].get("df_buffers_mib", ""))
        est = str(rs[0].get("df_estimated_mib", ""))
        print(f"{m:<32}{secs:>16}{rss:>18}{buf:>23}{est:>16}")


if __name__ == "__main__":
    main()
