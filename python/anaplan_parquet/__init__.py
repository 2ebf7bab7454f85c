"""Anaplan exports, views and lists as Parquet files or Arrow streams.

The engine of the ``anaplan-parquet`` command line, in process::

    import anaplan_parquet as ap

    conn = ap.Connection(username="etl@example.com", password=os.environ["ANAPLAN_PASSWORD"])
    summary = ap.export(conn, workspace="Financial Planning", model="FP&A",
                        export="Revenue - TSC.csv", output="s3://lake/revenue.parquet")
    df = polars.DataFrame(ap.read(conn, workspace="Financial Planning", model="FP&A",
                                  export="Revenue - TSC.csv"))

Every option of the command line is a keyword argument with the same name in snake_case,
the same default and the same validation (``infer_rows=500`` is ``--infer-rows 500``;
``types={"Value": "float64"}`` is ``--type Value=float64``; ``value_number=False`` is
``--no-value-number``). Messages name the keyword (``infer_rows=``), not the flag.

Errors are exceptions under :class:`Error`, one class per exit code of the command line.
Work runs with the GIL released; Ctrl-C (KeyboardInterrupt) stops a run the way SIGINT stops
the command line (nothing partial is written, a read request is deleted). Log records go to
the ``anaplan_parquet`` logger of :mod:`logging`.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._native import (
    AuthenticationError,
    DataError,
    DestinationError,
    Error,
    InterruptedError,
    LocalIoError,
    NotFoundError,
    Reader,
    TransientError,
    UsageError,
)

__all__ = [
    "Connection",
    "export",
    "read",
    "convert",
    "run",
    "Simulator",
    "Reader",
    "Error",
    "UsageError",
    "AuthenticationError",
    "NotFoundError",
    "DataError",
    "DestinationError",
    "TransientError",
    "LocalIoError",
    "InterruptedError",
]

PathLike = Union[str, "os.PathLike[str]"]

# Keyword arguments given as repeated flags, and the flag each repeats.
_TABLES = {"types": "--type", "storage_options": "--storage-option"}
_LISTS = {"only": "--only"}
# Command-line switches that make no sense in a call (output format, schedules, prompts).
_REFUSED = {"json", "print_schema", "check", "every", "quiet", "verbose", "listen", "config_file"}


def _flags(options: Mapping[str, Any]) -> List[str]:
    """Keyword arguments as the command line's flags."""
    args: List[str] = []
    for key, value in options.items():
        if key in _REFUSED:
            raise UsageError(f"{key}= is not an option of this call")
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "value_number":
            if value is False:
                args.append("--no-value-number")
            continue
        if key in _TABLES:
            if not isinstance(value, Mapping):
                raise UsageError(f"{key}= takes a dict, not {type(value).__name__}")
            for k, v in value.items():
                args += [_TABLES[key], f"{k}={v}"]
            continue
        if key in _LISTS:
            if isinstance(value, str):
                value = [value]
            for v in value:
                args += [_LISTS[key], str(v)]
            continue
        if isinstance(value, bool):
            if value:
                args.append(flag)
            continue
        args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


# A flag in a message (`--infer-rows`, `'--infer-rows <N>'`), with clap's value name if any.
_FLAG = re.compile(r"--([a-z][a-z0-9-]*)(?: <[A-Z_]+>)?")
_KEYWORD = {flag: key for key, flag in {**_TABLES, **_LISTS}.items()}


def _keyword(match: "re.Match[str]") -> str:
    flag = "--" + match.group(1)
    if flag == "--no-value-number":
        return "value_number=False"
    return _KEYWORD.get(flag, match.group(1).replace("-", "_")) + "="


def _keywords(call: Any) -> Any:
    """Runs a native call; the flags its error messages name become this API's keywords."""

    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except Error as e:
            if e.args and isinstance(e.args[0], str):
                e.args = (_FLAG.sub(_keyword, e.args[0]),) + e.args[1:]
            raise

    return run


class Connection:
    """How to reach Anaplan and who signs in.

    Anything not given comes from the same environment variables as the command line
    (``ANAPLAN_USERNAME``, ``ANAPLAN_PASSWORD``, ``ANAPLAN_CERTIFICATE``, ``ANAPLAN_API_URL``,
    ...), then from the config file (``config=`` or ``ANAPLAN_PARQUET_CONFIG``).

    - Basic: ``username`` and ``password`` (or ``password_file``).
    - Certificate: ``certificate`` and ``private_key`` (PEM files), with
      ``private_key_passphrase`` for an encrypted key.
    - OAuth: ``oauth_client_id`` with a refresh token saved by ``anaplan-parquet login``
      (``token_file``) or given as ``refresh_token``.

    Secrets (password, passphrase, refresh token) are handed to the engine as the
    environment variables the command line reads, never as arguments, and never appear in
    ``repr`` or in error messages.
    """

    _SECRETS = {
        "password": "ANAPLAN_PASSWORD",
        "private_key_passphrase": "ANAPLAN_PRIVATE_KEY_PASSPHRASE",
        "refresh_token": "ANAPLAN_REFRESH_TOKEN",
    }

    def __init__(
        self,
        username: Optional[str] = None,
        password: Optional[str] = None,
        *,
        password_file: Optional[PathLike] = None,
        certificate: Optional[PathLike] = None,
        private_key: Optional[PathLike] = None,
        private_key_passphrase: Optional[str] = None,
        oauth_client_id: Optional[str] = None,
        token_file: Optional[PathLike] = None,
        refresh_token: Optional[str] = None,
        api_url: Optional[str] = None,
        auth_url: Optional[str] = None,
        oauth_url: Optional[str] = None,
        api_version: Optional[str] = None,
        config: Optional[PathLike] = None,
        max_retries: Optional[int] = None,
        retry_timeout: Optional[str] = None,
        request_timeout: Optional[str] = None,
        read_timeout: Optional[str] = None,
    ) -> None:
        given = dict(locals())
        del given["self"]
        self._secrets: Dict[str, str] = {}
        for key, env in self._SECRETS.items():
            value = given.pop(key)
            if value is not None:
                self._secrets[env] = str(value)
        self._options = {k: v for k, v in given.items() if v is not None}

    def _args(self) -> List[str]:
        return _flags(self._options)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        hidden = ", ".join(f"{k}=<hidden>" for k, env in self._SECRETS.items() if env in self._secrets)
        return f"Connection({', '.join(p for p in (shown, hidden) if p)})"


def _source(export: Optional[str], view: Optional[str], list: Optional[str]) -> List[str]:
    given = [(f, v) for f, v in (("--export", export), ("--view", view), ("--list", list)) if v is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of export=, view= and list=")
    return [given[0][0], given[0][1]]


def export(
    connection: Connection,
    *,
    output: PathLike,
    workspace: Optional[str] = None,
    model: Optional[str] = None,
    export: Optional[str] = None,
    view: Optional[str] = None,
    list: Optional[str] = None,
    **options: Any,
) -> Dict[str, Any]:
    """Runs an export (or reads a view or list) and writes it as Parquet at ``output``.

    ``output`` is a local path or an object-store URL (``s3://``, ``gs://``, ``az://``).
    ``workspace`` and ``model`` are names or ids (default: the config file's). Give exactly
    one of ``export``, ``view`` and ``list``. Other keyword arguments are the
    ``anaplan-parquet export`` options in snake_case: ``concurrency``, ``task_id``,
    ``infer_rows``, ``types``, ``compression``, ``row_group_bytes``, ``mode``, ``format``,
    ``s3_endpoint``, ``storage_options``, ``keep_csv``, ``read_mode``, ...

    Returns the run summary: the fields of ``export --json`` (``rows``, ``bytes_out``,
    ``columns``, ``widenings``, ``anaplan`` with the workspace, model, export and task ids).
    """
    args = ["export"] + _source(export, view, list) + _flags(
        {"workspace": workspace, "model": model, "output": output, **options}
    )
    return _keywords(_native.export)(args + connection._args(), connection._secrets)


def read(
    connection: Connection,
    *,
    workspace: Optional[str] = None,
    model: Optional[str] = None,
    export: Optional[str] = None,
    view: Optional[str] = None,
    list: Optional[str] = None,
    **options: Any,
) -> Reader:
    """Runs an export (or reads a view or list) and streams it as Arrow record batches.

    Returns once the schema is known (after the inference sample). The reader implements the
    Arrow PyCapsule stream interface (``__arrow_c_stream__``)::

        df = polars.DataFrame(reader)                       # polars >= 1.3
        table = pyarrow.RecordBatchReader.from_stream(reader).read_all()   # pyarrow >= 15
        rel = duckdb.from_arrow(reader)

    (``polars.from_arrow(reader)`` gives a Series of structs on some polars versions: use
    ``polars.DataFrame``.) Text columns arrive as Arrow string views (``string_view``), the
    layout polars keeps strings in, so polars adopts the batches without converting them
    (which would hold the data twice). For plain ``string`` columns, ask for them:
    ``pyarrow.RecordBatchReader.from_stream(reader, schema=...)`` (the same columns; each
    type one the column can be cast to). Batches arrive while chunks are still downloading; the engine
    waits while the consumer is behind, so memory stays bounded. The stream can be taken once;
    dropping the reader (or ``close()``) before the end cancels the run.

    Types are inferred from the first ``infer_rows`` rows, as for a file. A later value that
    does not fit (a widening, which for a file rewrites it) cannot change a stream already
    begun: the stream fails with :class:`DataError` naming the column; pass
    ``infer_rows="all"`` (the whole input is scanned before the first batch) or
    ``types={column: type}``.

    Options are those of :func:`export` but for the destination's.
    """
    args = ["export"] + _source(export, view, list) + _flags(
        {"workspace": workspace, "model": model, **options}
    )
    return _keywords(_native.read)(args + connection._args(), connection._secrets)


def convert(input: PathLike, output: PathLike, **options: Any) -> Dict[str, Any]:
    """Converts a local CSV file to Parquet at ``output`` (a path or an object-store URL).

    Options are those of ``anaplan-parquet convert`` in snake_case (``delimiter``,
    ``encoding``, ``layout``, ``infer_rows``, ``types``, ``compression``, ``mode``, ...).
    Returns the ``--json`` summary.
    """
    args = ["convert", os.fspath(input)] + _flags({"output": output, **options})
    return _keywords(_native.convert)(args)


def run(
    jobs: PathLike,
    *,
    only: Optional[Sequence[str]] = None,
    connection: Optional[Connection] = None,
    **options: Any,
) -> Dict[str, Any]:
    """Runs one round of a jobs file (``anaplan-parquet run JOBS.toml``).

    ``only`` selects datasets by name; other options are ``parallel``, ``connections``,
    ``fail_fast``, ``skip_unchanged``, ``shard``. The jobs file's ``[connection]`` is used;
    ``connection`` overrides it (as the command line's flags do). Returns the round's
    ``--json`` report with ``exit_code``: a failed dataset is in the report (its ``status``
    and ``error``), not an exception.
    """
    args = ["run", os.fspath(jobs)] + _flags({"only": only, **options})
    secrets: Dict[str, str] = {}
    if connection is not None:
        args += connection._args()
        secrets = connection._secrets
    return _keywords(_native.run)(args, secrets)


class Simulator:
    """The embedded Anaplan simulator on a free loopback port, for offline tests::

        with ap.Simulator(rows=1_000_000, faults="rate-limit=0.05") as sim:
            df = polars.DataFrame(ap.read(sim.connection(), workspace="Financial Planning",
                                          model="FP&A", export="Revenue - TSC.csv"))

    Options are those of ``anaplan-parquet simulator`` (``rows``, ``chunk_size``, ``seed``,
    ``faults``, ``task_duration``, ``username``, ``password``, ``config``, ...).
    """

    def __init__(self, **options: Any) -> None:
        self._username = options.get("username") or "demo@example.com"
        self._password = options.get("password") or "demo-password"
        self._native = _keywords(_native.Simulator)(["simulator"] + _flags(options))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the auth service and the API."""
        return self._native.url

    def connection(self, **options: Any) -> Connection:
        """A connection to this simulator as its default user (options override)."""
        given: Dict[str, Any] = {
            "username": self._username,
            "password": self._password,
            "api_url": self.url,
            "auth_url": self.url,
        }
        given.update(options)
        return Connection(**given)

    def close(self) -> None:
        """Stops the simulator."""
        self._native.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r})"
