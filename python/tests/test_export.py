"""export(), convert() and run(): files written, read back and compared; summaries."""

import pathlib
import textwrap

import polars as pl
import pyarrow.parquet as pq
import pytest

import anaplan_parquet as ap
from conftest import REVENUE


def test_export_writes_the_parquet_file_and_returns_the_json_summary(conn, scope, tmp_path):
    out = tmp_path / "revenue.parquet"
    summary = ap.export(conn, export=REVENUE, output=out, **scope)
    assert summary["rows"] == 20_000
    assert summary["anaplan"]["export"]["name"] == REVENUE
    assert summary["anaplan"]["chunks"] > 1
    table = pq.read_table(out)
    assert table.num_rows == 20_000
    assert table.column_names[:5] == ["Versions", "Time", "Region", "Product", "Line Items"]
    # The file's metadata names where the data came from, as for the command line.
    meta = pq.read_metadata(out).metadata
    assert meta[b"anaplan.export.name"] == REVENUE.encode()


def test_keyword_arguments_are_the_command_lines_options(conn, scope, tmp_path):
    out = tmp_path / "typed.parquet"
    ap.export(
        conn,
        export=REVENUE,
        output=str(out),
        types={"Value": "utf8"},
        value_number=True,
        compression="snappy",
        row_group_rows=5_000,
        concurrency=2,
        **scope,
    )
    meta = pq.read_metadata(out)
    assert meta.num_row_groups == 4
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    # value_number=False is --no-value-number.
    out2 = tmp_path / "plain.parquet"
    ap.export(conn, export=REVENUE, output=out2, value_number=False, **scope)
    assert "Value_number" not in pq.read_schema(out2).names


def test_a_bad_option_is_a_usage_error_naming_it(conn, scope, tmp_path):
    with pytest.raises(ap.UsageError) as e:
        ap.export(conn, export=REVENUE, output=tmp_path / "x.parquet", row_group_bytes="ten", **scope)
    assert "row_group_bytes=" in str(e.value) and "ten" in str(e.value), str(e.value)
    assert "--" not in str(e.value), str(e.value)
    assert e.value.exit_code == 2
    with pytest.raises(ap.UsageError) as e:
        ap.export(conn, export=REVENUE, output=tmp_path / "x.parquet", no_such_option=1, **scope)
    assert "no_such_option=" in str(e.value), str(e.value)
    with pytest.raises(ap.UsageError):
        ap.export(conn, export=REVENUE, view="V", output=tmp_path / "x.parquet", **scope)
    assert not (tmp_path / "x.parquet").exists()


def test_errors_are_exceptions_by_exit_class(sim, conn, scope, tmp_path):
    out = tmp_path / "x.parquet"
    with pytest.raises(ap.NotFoundError) as e:
        ap.export(conn, export="Nope", output=out, **scope)
    assert e.value.exit_code == 4 and '"Nope"' in str(e.value)
    with pytest.raises(ap.AuthenticationError) as e:
        ap.export(sim.connection(password="not-the-password"), export=REVENUE, output=out, **scope)
    assert e.value.exit_code == 3
    assert "not-the-password" not in str(e.value)
    assert isinstance(e.value, ap.Error)
    with pytest.raises(ap.DestinationError) as e:
        ap.export(conn, export=REVENUE, output=tmp_path, **scope)  # a directory
    assert e.value.exit_code == 6
    assert not out.exists()


def test_secrets_never_show_in_repr():
    c = ap.Connection(username="u@example.com", password="hunter2", refresh_token="r3fresh")
    shown = repr(c)
    assert "hunter2" not in shown and "r3fresh" not in shown
    assert "password=<hidden>" in shown and "u@example.com" in shown


def test_convert_a_local_file_and_its_data_errors(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("Region,Value\nNorth,1\nSouth,2.5\n")
    out = tmp_path / "out.parquet"
    summary = ap.convert(csv, out, layout="generic")
    assert summary["rows"] == 2
    df = pl.read_parquet(out)
    assert df["Region"].to_list() == ["North", "South"]
    assert df["Value"].to_list() == [1.0, 2.5]

    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n3,"unterminated\n')
    with pytest.raises(ap.DataError) as e:
        ap.convert(bad, tmp_path / "bad.parquet")
    assert e.value.exit_code == 5
    assert e.value.line is not None
    assert not (tmp_path / "bad.parquet").exists()


def test_run_a_jobs_file(sim, tmp_path):
    out_dir = tmp_path / "lake"
    out_dir.mkdir()
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        textwrap.dedent(
            f"""
            [connection]
            api_url = "{sim.url}"
            auth_url = "{sim.url}"
            username = "demo@example.com"

            [defaults]
            workspace = "Financial Planning"
            model = "FP&A"

            [[dataset]]
            name = "revenue"
            export = "{REVENUE}"
            output = "{out_dir / 'revenue.parquet'}"

            [[dataset]]
            name = "headcount"
            export = "Headcount - TSC.csv"
            output = "{out_dir / 'headcount.parquet'}"
            """
        )
    )
    # The password is given as the command line reads it (never in the file).
    report = ap.run(jobs, only=["revenue"], connection=ap.Connection(password="demo-password"))
    assert report["exit_code"] == 0
    names = [d["name"] for d in report["datasets"]]
    assert names == ["revenue"]
    assert pq.read_table(out_dir / "revenue.parquet").num_rows == 20_000
    assert not (out_dir / "headcount.parquet").exists()
