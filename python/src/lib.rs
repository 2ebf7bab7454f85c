//! The native part of the `anaplan_parquet` Python package: a thin layer over the library's
//! embedding front end (`anaplan_parquet::embed`). Keyword arguments are turned into the
//! command line's arguments in Python (`__init__.py`), so every option keeps the CLI's name,
//! default and validation; this module runs the work on a shared Tokio runtime with the GIL
//! released, turns errors into the package's exceptions by exit class, hands record batches
//! out through the Arrow C stream interface, and forwards log records to Python's `logging`.

mod errors;
mod logs;
mod reader;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::convert::RunContext;
use anaplan_parquet::embed::{self, Secrets};
use anaplan_parquet::error::Signal;
use pyo3::prelude::*;

/// How often a waiting call wakes up to check for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime every call runs on (multi-threaded: the stream's backpressure blocks a worker).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("anaplan-parquet")
            .build()
            .expect("cannot start the Tokio runtime")
    })
}

/// Runs `work` on the runtime with the GIL released, checking for Ctrl-C every 100 ms: a
/// KeyboardInterrupt stops the run the way SIGINT stops the command line (its cleanup runs:
/// nothing partial is left, a read request is deleted), then propagates.
fn run_blocking<T, F>(py: Python<'_>, run: &RunContext, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = anaplan_parquet::Result<T>> + Send + 'static,
{
    logs::sync_level(py);
    let mut handle = runtime().spawn(work);
    let mut interrupted: Option<PyErr> = None;
    let joined = loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut handle).await })
        });
        logs::drain(py);
        match step {
            Ok(joined) => break joined,
            Err(_) => {
                if interrupted.is_none()
                    && let Err(e) = py.check_signals()
                {
                    run.shutdown.trigger(Signal::Interrupt);
                    interrupted = Some(e);
                }
            }
        }
    };
    logs::drain(py);
    if let Some(e) = interrupted {
        return Err(e);
    }
    match joined {
        Ok(result) => result.map_err(|e| errors::to_py(py, &e)),
        Err(e) => Err(errors::internal(format!("the run failed: {e}"))),
    }
}

/// The host's secrets as the environment variables the command line reads.
fn secrets(given: Option<std::collections::HashMap<String, String>>) -> Secrets {
    let mut s = Secrets::new();
    for (name, value) in given.unwrap_or_default() {
        s.set(&name, Secret::new(value));
    }
    s
}

pub(crate) fn json(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    let text = value.to_string();
    let loads = py.import("json")?.getattr("loads")?;
    Ok(loads.call1((text,))?.unbind())
}

/// Runs `work` (given the run's context) with the GIL released; its `--json` value as Python.
fn summary<W, F>(py: Python<'_>, work: W) -> PyResult<Py<PyAny>>
where
    W: FnOnce(RunContext) -> F,
    F: Future<Output = anaplan_parquet::Result<serde_json::Value>> + Send + 'static,
{
    let run = RunContext::default();
    let value = run_blocking(py, &run, work(run.clone()))?;
    json(py, &value)
}

/// `export` with the command's arguments; returns the `--json` summary.
#[pyfunction]
#[pyo3(signature = (args, secrets_env=None))]
fn export(
    py: Python<'_>,
    args: Vec<String>,
    secrets_env: Option<std::collections::HashMap<String, String>>,
) -> PyResult<Py<PyAny>> {
    let secrets = secrets(secrets_env);
    summary(py, |ctx| async move {
        embed::export(&args, &secrets, &ctx).await
    })
}

/// `convert` with the command's arguments; returns the `--json` summary.
#[pyfunction]
fn convert(py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
    summary(
        py,
        |ctx| async move { embed::convert_file(&args, &ctx).await },
    )
}

/// `run` with the command's arguments; returns the round's `--json` report.
#[pyfunction]
#[pyo3(signature = (args, secrets_env=None))]
fn run(
    py: Python<'_>,
    args: Vec<String>,
    secrets_env: Option<std::collections::HashMap<String, String>>,
) -> PyResult<Py<PyAny>> {
    let secrets = secrets(secrets_env);
    summary(py, |ctx| async move {
        embed::run_jobs(&args, &secrets, &ctx).await
    })
}

/// `export` streamed: a reader of record batches, returned once the schema is known.
#[pyfunction]
#[pyo3(signature = (args, secrets_env=None))]
fn read(
    py: Python<'_>,
    args: Vec<String>,
    secrets_env: Option<std::collections::HashMap<String, String>>,
) -> PyResult<reader::Reader> {
    let secrets = secrets(secrets_env);
    let run = RunContext::default();
    let ctx = run.clone();
    let stream = run_blocking(
        py,
        &run,
        async move { embed::read(&args, &secrets, ctx).await },
    )?;
    Ok(reader::Reader::new(stream))
}

/// A simulated Anaplan tenant on a free loopback port (`simulator` with its arguments).
#[pyclass(module = "anaplan_parquet._native")]
struct Simulator {
    handle: Option<anaplan_parquet::simulator::SimulatorHandle>,
    url: String,
}

#[pymethods]
impl Simulator {
    #[new]
    fn new(py: Python<'_>, args: Vec<String>) -> PyResult<Self> {
        let config = embed::simulator_config(&args).map_err(|e| errors::to_py(py, &e))?;
        let run = RunContext::default();
        let handle = run_blocking(py, &run, async move {
            anaplan_parquet::simulator::Simulator::start(
                config,
                "127.0.0.1:0".parse().expect("a loopback address"),
            )
            .await
        })?;
        let url = handle.base_url();
        Ok(Simulator {
            handle: Some(handle),
            url,
        })
    }

    /// `http://127.0.0.1:PORT`: the base of both the auth service and the API.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops serving (and waits up to 5 s for open connections).
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(handle) = self.handle.take() {
            let run = RunContext::default();
            run_blocking(py, &run, async move {
                handle.shutdown().await;
                Ok(())
            })?;
        }
        Ok(())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logs::install();
    m.add_function(wrap_pyfunction!(export, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_class::<Simulator>()?;
    m.add_class::<reader::Reader>()?;
    errors::register(m)?;
    Ok(())
}
