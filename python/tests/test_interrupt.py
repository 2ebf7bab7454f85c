"""Ctrl-C: a KeyboardInterrupt stops the run the way SIGINT stops the command line."""

import os
import signal
import threading

import pytest

import anaplan_parquet as ap


@pytest.fixture
def python_sigint():
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started;
    # a test runner started in the background (as `cmd &` in a script) inherits it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_stops_an_export_and_leaves_nothing(tmp_path, python_sigint):
    # A task that runs for a minute: the interrupt arrives while it is polled.
    with ap.Simulator(rows=1000, task_duration="60s") as sim:
        out = tmp_path / "never.parquet"
        timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                ap.export(
                    sim.connection(),
                    workspace="Financial Planning",
                    model="FP&A",
                    export="Revenue - TSC.csv",
                    output=out,
                )
        finally:
            timer.cancel()
        assert not out.exists()
        assert list(tmp_path.iterdir()) == []
        # The package still works after an interrupt.
        summary = ap.convert(_csv(tmp_path), tmp_path / "after.parquet")
        assert summary["rows"] == 1


def _csv(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("a,b\nx,1\n")
    return p
