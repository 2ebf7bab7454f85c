"""Fixtures: the embedded Anaplan simulator (real HTTP over loopback, nothing mocked)."""

import pytest

import anaplan_parquet as ap

WORKSPACE = "Financial Planning"
MODEL = "FP&A"
REVENUE = "Revenue - TSC.csv"


@pytest.fixture(scope="module")
def sim():
    # Small chunks so that an export has several; short tasks.
    with ap.Simulator(rows=20_000, chunk_size="64KiB", task_duration="100ms", seed=7) as s:
        yield s


@pytest.fixture
def conn(sim):
    return sim.connection()


@pytest.fixture
def scope():
    return {"workspace": WORKSPACE, "model": MODEL}
