"""read(): the Arrow C stream, consumed by pyarrow and polars, compared with the file export()
writes for the same export."""

import gc
import logging

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import anaplan_parquet as ap
from conftest import REVENUE


@pytest.fixture(scope="module")
def expected(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("expected") / "revenue.parquet"
    ap.export(sim.connection(), workspace="Financial Planning", model="FP&A", export=REVENUE, output=out)
    return pq.read_table(out)


def test_polars_reads_the_stream_with_the_files_values(conn, scope, expected):
    reader = ap.read(conn, export=REVENUE, **scope)
    assert reader.column_names == expected.column_names
    df = pl.DataFrame(reader)
    assert df.shape == (20_000, len(expected.column_names))
    assert df.equals(pl.from_arrow(expected))
    # The summary is the --json one, once the stream ended.
    assert reader.summary["rows"] == 20_000
    assert reader.summary["anaplan"]["export"]["name"] == REVENUE
    # With the stage breakdown of a file export.
    assert reader.summary["stages"]["download"]["bytes"] == reader.summary["bytes_in"]


def test_pyarrow_reads_the_stream_in_batches(conn, scope, expected):
    reader = ap.read(conn, export=REVENUE, **scope)
    # The schema can be read without taking the stream (`__arrow_c_schema__`).
    schema = pa.schema(reader)
    stream = pa.RecordBatchReader.from_stream(reader)
    assert stream.schema == schema
    # Text columns are string views (polars' own layout); the values are the file's.
    for field, want in zip(stream.schema, expected.schema):
        assert field.name == want.name
        assert field.type == (pa.string_view() if want.type == pa.string() else want.type), field
    batches = list(stream)
    assert len(batches) > 1
    table = pa.Table.from_batches(batches)
    assert table.cast(expected.schema.remove_metadata()).equals(expected.replace_schema_metadata(None))


def test_a_requested_schema_gives_plain_strings(conn, scope, expected):
    reader = ap.read(conn, export=REVENUE, **scope)
    want = expected.schema.remove_metadata()
    table = pa.RecordBatchReader.from_stream(reader, schema=want).read_all()
    assert table.schema == want
    assert table.equals(expected.replace_schema_metadata(None))


def test_a_requested_schema_with_other_columns_is_refused(conn, scope):
    reader = ap.read(conn, export=REVENUE, **scope)
    with pytest.raises(ValueError, match="requested_schema has the columns"):
        pa.RecordBatchReader.from_stream(reader, schema=pa.schema([("Nope", pa.string())]))
    # Refused before the stream was taken: the reader can still be read.
    assert pl.DataFrame(reader).height == 20_000


def test_duckdb_reads_the_stream(conn, scope, expected):
    duckdb = pytest.importorskip("duckdb")
    reader = ap.read(conn, export=REVENUE, **scope)
    table = duckdb.from_arrow(reader).arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    assert table.num_rows == 20_000
    assert table.cast(expected.schema.remove_metadata()).equals(expected.replace_schema_metadata(None))


def test_the_stream_can_be_taken_once(conn, scope):
    reader = ap.read(conn, export=REVENUE, **scope)
    pa.RecordBatchReader.from_stream(reader).read_all()
    with pytest.raises(ValueError):
        pa.RecordBatchReader.from_stream(reader)


def test_dropping_a_reader_early_cancels_the_run(conn, scope):
    reader = ap.read(conn, export=REVENUE, **scope)
    stream = pa.RecordBatchReader.from_stream(reader)
    first = stream.read_next_batch()
    assert first.num_rows > 0
    del stream, reader
    gc.collect()
    # The connection and the runtime are free for the next call.
    df = pl.DataFrame(ap.read(conn, export=REVENUE, **scope))
    assert df.height == 20_000


def test_options_reach_the_stream(conn, scope):
    df = pl.DataFrame(ap.read(conn, export=REVENUE, value_number=False, types={"Value": "utf8"}, **scope))
    assert "Value_number" not in df.columns
    assert df.schema["Value"] == pl.String


def test_a_late_widening_fails_the_stream_naming_infer_rows(tmp_path):
    # Integers, then a decimal far after the sample: a file is rewritten with the
    # widened column; a stream already begun cannot be.
    rows = [f"Actual,M{i},{i}" for i in range(200_000)] + ["Actual,M200000,0.5"]
    (tmp_path / "late.csv").write_text("Versions,Time,Value\n" + "\n".join(rows) + "\n")
    (tmp_path / "tenant.toml").write_text(
        """
        task_duration = "100ms"
        [[users]]
        username = "u@example.com"
        password = "pw"
        [[workspaces]]
        name = "W"
        [[workspaces.models]]
        name = "M"
        [[workspaces.models.exports]]
        name = "Late.csv"
        content_file = "late.csv"
        chunk_size = "1MiB"
        """
    )
    with ap.Simulator(config=tmp_path / "tenant.toml") as sim:
        conn = sim.connection(username="u@example.com", password="pw")
        reader = ap.read(conn, workspace="W", model="M", export="Late.csv", infer_rows=1000)
        assert dict(reader.column_types)["Value"] == "Int64"
        with pytest.raises(Exception) as e:
            pa.RecordBatchReader.from_stream(reader).read_all()
        message = str(e.value)
        assert "infer_rows" in message and '"Value" from Int64 to Float64' in message, message
        # With the whole input scanned first, the same read works.
        df = pl.DataFrame(ap.read(conn, workspace="W", model="M", export="Late.csv", infer_rows="all"))
        assert df.height == 200_001
        assert df.schema["Value"] == pl.Float64
        assert df["Value"][-1] == 0.5
        # So does naming the type.
        df = pl.DataFrame(ap.read(conn, workspace="W", model="M", export="Late.csv", types={"Value": "float64"}))
        assert df.schema["Value"] == pl.Float64


def test_errors_before_the_schema_are_raised_by_read(conn, scope):
    with pytest.raises(ap.NotFoundError):
        ap.read(conn, export="Nope", **scope)


def test_views_and_lists_stream_too(conn, scope):
    df = pl.DataFrame(ap.read(conn, view="REV01 Revenue", **scope))
    assert df.height > 0
    lst = pl.DataFrame(ap.read(conn, list="Products", **scope))
    assert lst.height > 0


def test_log_records_go_to_python_logging(conn, scope, caplog):
    with caplog.at_level(logging.INFO, logger="anaplan_parquet"):
        pl.DataFrame(ap.read(conn, export=REVENUE, **scope))
    assert any("started export task" in r.getMessage() for r in caplog.records)
    assert all(r.name.startswith("anaplan_parquet") for r in caplog.records)
