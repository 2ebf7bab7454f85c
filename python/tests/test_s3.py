"""export() to S3: a local S3-compatible server (moto's, on loopback), the file read back
through pyarrow and compared with a local export of the same data."""

import io

import pyarrow.parquet as pq
import pytest

import anaplan_parquet as ap
from conftest import REVENUE

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="lake")
    yield endpoint, client
    server.stop()


def s3_options(endpoint):
    return {
        "s3_endpoint": endpoint,
        "s3_region": "us-east-1",
        "s3_path_style": True,
        "allow_http": True,
        "storage_options": {"aws_access_key_id": "test", "aws_secret_access_key": "test"},
    }


def test_export_to_s3_matches_the_local_file(s3, conn, scope, tmp_path):
    endpoint, client = s3
    local = tmp_path / "revenue.parquet"
    ap.export(conn, export=REVENUE, output=local, **scope)
    summary = ap.export(
        conn,
        export=REVENUE,
        output="s3://lake/anaplan/revenue.parquet",
        upload_part_size="5MiB",
        **scope,
        **s3_options(endpoint),
    )
    assert summary["rows"] == 20_000
    body = client.get_object(Bucket="lake", Key="anaplan/revenue.parquet")["Body"].read()
    remote = pq.read_table(io.BytesIO(body))
    expected = pq.read_table(local)
    assert remote.num_rows == 20_000
    assert remote.equals(expected)  # values and schema; file metadata (task id, time) differs


def test_a_failed_export_leaves_nothing_in_the_bucket(s3, conn, scope):
    endpoint, client = s3
    with pytest.raises(ap.NotFoundError):
        ap.export(conn, export="Nope", output="s3://lake/never.parquet", **scope, **s3_options(endpoint))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="lake").get("Contents", [])]
    assert "never.parquet" not in keys


def test_a_missing_bucket_is_a_destination_error(s3, conn, scope):
    endpoint, _ = s3
    with pytest.raises(ap.DestinationError) as e:
        ap.export(conn, export=REVENUE, output="s3://no-such-bucket/x.parquet", **scope, **s3_options(endpoint))
    assert e.value.exit_code == 6
