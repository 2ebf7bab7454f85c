//! The object `read` returns: an Arrow PyCapsule stream (`__arrow_c_stream__`), so pyarrow,
//! polars and DuckDB read its record batches with no copy and without pyarrow being a
//! dependency of this package.
//!
//! Text columns are handed out as Arrow string views (`Utf8View`), the layout polars keeps
//! strings in: polars then adopts each batch as it is instead of converting it, which would
//! hold two copies of the data at the peak. A consumer that wants plain `Utf8` asks for it
//! through the interface's `requested_schema`, e.g.
//! `pyarrow.RecordBatchReader.from_stream(reader, schema=...)`.
//!
//! Batches arrive while the export's chunks are still downloading; the engine waits while the
//! consumer is a few batches behind (bounded memory). Dropping the reader, or the stream a
//! consumer took from it, before the end cancels the run (downloads stop, a read request is
//! deleted).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anaplan_parquet::embed::{BatchStream, Next};
use arrow::array::{Array, ArrayRef, AsArray, StringViewBuilder};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ffi::FFI_ArrowSchema;
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
            schema: with_string_views(&stream.schema()),
            stream: Mutex::new(Some(stream)),
            summary: Arc::default(),
        }
    }
}

#[pymethods]
impl Reader {
    /// The Arrow PyCapsule stream interface: a capsule named `arrow_array_stream`. The stream
    /// can be taken once. Text columns are string views unless `requested_schema` (a capsule
    /// named `arrow_schema`, with the same columns) asks for other types it can be cast to.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let target = match requested_schema.filter(|s| !s.is_none()) {
            None => Arc::clone(&self.schema),
            Some(capsule) => requested(&self.schema, &capsule)?,
        };
        let stream =
            self.stream.lock().expect("reader").take().ok_or_else(|| {
                PyValueError::new_err("this reader was already consumed or closed")
            })?;
        let batches = Batches {
            stream,
            schema: target,
            summary: Arc::clone(&self.summary),
        };
        let ffi = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new_with_value(py, ffi, c"arrow_array_stream")
    }

    /// The Arrow PyCapsule schema interface: the stream's schema as a capsule named
    /// `arrow_schema`, without taking the stream (DuckDB asks for it before it scans).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| PyValueError::new_err(format!("the schema: {e}")))?;
        PyCapsule::new_with_value(py, ffi, c"arrow_schema")
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

/// The Arrow reader behind the capsule: the engine's batches in the schema handed out.
struct Batches {
    stream: BatchStream,
    schema: SchemaRef,
    summary: Summary,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The consumer may hold the GIL while it waits here; nothing below needs it (log
        // records are queued), so there is no deadlock. A stop comes from dropping the stream.
        loop {
            match self.stream.next_blocking(Duration::from_millis(200)) {
                Next::Batch(b) => return Some(recast(&b, &self.schema)),
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
        Arc::clone(&self.schema)
    }
}

/// The engine's schema with every `Utf8` column as `Utf8View`.
fn with_string_views(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The schema a consumer asked for, checked against ours: the same column names in the same
/// order, each type one ours casts to.
fn requested(ours: &Schema, capsule: &Bound<'_, PyAny>) -> PyResult<SchemaRef> {
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyValueError::new_err("requested_schema must be an `arrow_schema` PyCapsule")
    })?;
    let pointer = capsule.pointer_checked(Some(c"arrow_schema"))?;
    // SAFETY: a capsule named `arrow_schema` holds an `ArrowSchema` (the Arrow PyCapsule
    // interface), owned by the capsule, which outlives this borrow.
    let ffi = unsafe { pointer.cast::<FFI_ArrowSchema>().as_ref() };
    let asked = Schema::try_from(ffi)
        .map_err(|e| PyValueError::new_err(format!("requested_schema: {e}")))?;
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if names(&asked) != names(ours) {
        return Err(PyValueError::new_err(format!(
            "requested_schema has the columns {:?}; this read has {:?}",
            names(&asked),
            names(ours)
        )));
    }
    for (a, o) in asked.fields().iter().zip(ours.fields()) {
        if !can_cast_types(o.data_type(), a.data_type()) {
            return Err(PyValueError::new_err(format!(
                "requested_schema: column `{}` is {} and cannot be read as {}; \
                 give types= to read() to choose its type",
                o.name(),
                o.data_type(),
                a.data_type()
            )));
        }
    }
    Ok(Arc::new(asked))
}

/// A batch in the schema handed out: string views for text, or the requested types.
fn recast(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match (column.data_type(), field.data_type()) {
                (from, to) if from == to => Ok(Arc::clone(column)),
                (DataType::Utf8, DataType::Utf8View) => Ok(string_view(column)),
                (_, to) => cast(column, to),
            },
        )
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// A text column as string views. A view of a string up to 12 bytes holds the bytes itself;
/// longer strings are copied into one buffer of exactly their size, so the batch no longer
/// keeps the engine's whole buffer (short strings included) alive: a DataFrame built from the
/// stream is as small as one polars builds itself.
fn string_view(column: &ArrayRef) -> ArrayRef {
    const INLINE: usize = 12;
    let strings = column.as_string::<i32>();
    let long: usize = strings
        .offsets()
        .windows(2)
        .map(|w| (w[1] - w[0]) as usize)
        .filter(|&n| n > INLINE)
        .sum();
    let mut views = StringViewBuilder::with_capacity(strings.len());
    if let Ok(block @ 1..) = u32::try_from(long) {
        views = views.with_fixed_block_size(block);
    }
    for value in strings.iter() {
        views.append_option(value);
    }
    Arc::new(views.finish())
}
