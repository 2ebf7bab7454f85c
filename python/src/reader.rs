//! The object `read` returns: an Arrow PyCapsule stream (`__arrow_c_stream__`), so pyarrow,
//! polars and DuckDB read its record batches with no copy and without pyarrow being a
//! dependency of this package.
//!
//! Batches arrive while the export's chunks are still downloading; the engine waits while the
//! consumer is a few batches behind (bounded memory). Dropping the reader, or the stream a
//! consumer took from it, before the end cancels the run (downloads stop, a read request is
//! deleted).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anaplan_parquet::embed::{BatchStream, Next};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// The run's summary, once the stream ended.
type Summary = Arc<Mutex<Option<serde_json::Value>>>;

/// Record batches of an export, view or list (see `anaplan_parquet.read`).
#[pyclass(module = "anaplan_parquet._native")]
pub struct Reader {
    stream: Mutex<Option<BatchStream>>,
    summary: Summary,
    schema: SchemaRef,
}

impl Reader {
    pub fn new(stream: BatchStream) -> Self {
        Reader {
            schema: stream.schema(),
            stream: Mutex::new(Some(stream)),
            summary: Arc::default(),
        }
    }
}

#[pymethods]
impl Reader {
    /// The Arrow PyCapsule stream interface: a capsule named `arrow_array_stream`. The stream
    /// can be taken once. `requested_schema` is not supported (the schema is the inferred one).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        if requested_schema.is_some_and(|s| !s.is_none()) {
            return Err(PyValueError::new_err(
                "a requested schema is not supported: cast after reading, or give types= to read()",
            ));
        }
        let stream =
            self.stream.lock().expect("reader").take().ok_or_else(|| {
                PyValueError::new_err("this reader was already consumed or closed")
            })?;
        let batches = Batches {
            stream,
            summary: Arc::clone(&self.summary),
        };
        let ffi = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new_with_value(py, ffi, c"arrow_array_stream")
    }

    /// The column names, in order.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The Arrow type of each column, as text (`int64`, `utf8`, ...).
    #[getter]
    fn column_types(&self) -> Vec<(String, String)> {
        self.schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect()
    }

    /// The run's summary (the `--json` fields), once the stream was read to the end; else None.
    #[getter]
    fn summary(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let value = self.summary.lock().expect("summary").clone();
        value.map(|v| super::json(py, &v)).transpose()
    }

    /// Cancels the run if the stream was not taken (a taken stream is cancelled when its
    /// consumer releases it early).
    fn close(&self) {
        self.stream.lock().expect("reader").take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }

    fn __repr__(&self) -> String {
        format!("<anaplan_parquet.Reader columns={:?}>", self.column_names())
    }
}

/// The Arrow reader behind the capsule.
struct Batches {
    stream: BatchStream,
    summary: Summary,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The consumer may hold the GIL while it waits here; nothing below needs it (log
        // records are queued), so there is no deadlock. A stop comes from dropping the stream.
        loop {
            match self.stream.next_blocking(Duration::from_millis(200)) {
                Next::Batch(b) => return Some(Ok(b)),
                Next::Pending => {}
                Next::End => {
                    *self.summary.lock().expect("summary") = self.stream.summary().cloned();
                    return None;
                }
                Next::Failed(e) => {
                    return Some(Err(ArrowError::ExternalError(Box::new(e))));
                }
            }
        }
    }
}

impl RecordBatchReader for Batches {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}
