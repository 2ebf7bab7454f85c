//! The package's exceptions, one per exit class of the library's error
//! (`anaplan_parquet::error::ExitClass`), all under `anaplan_parquet.Error`. Each carries
//! `exit_code` (the command line's code for the same failure); `DataError` also carries
//! `line`, `column` and `chunk` when the input position is known. Messages are the library's,
//! which never hold a secret.

use anaplan_parquet::error::{Error, ExitClass};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    anaplan_parquet,
    AnaplanParquetError,
    PyException,
    "Every failure of anaplan_parquet."
);
create_exception!(
    anaplan_parquet,
    UsageError,
    AnaplanParquetError,
    "A bad argument or configuration (exit 2)."
);
create_exception!(
    anaplan_parquet,
    AuthenticationError,
    AnaplanParquetError,
    "Anaplan refused the credentials (exit 3)."
);
create_exception!(
    anaplan_parquet,
    NotFoundError,
    AnaplanParquetError,
    "Anaplan refused: not found, no access, ambiguous name, task failed, cancelled or timed out (exit 4)."
);
create_exception!(
    anaplan_parquet,
    DataError,
    AnaplanParquetError,
    "Bad input data or a schema mismatch (exit 5); `line`, `column`, `chunk` say where when known."
);
create_exception!(
    anaplan_parquet,
    DestinationError,
    AnaplanParquetError,
    "The destination could not be written (exit 6)."
);
create_exception!(
    anaplan_parquet,
    TransientError,
    AnaplanParquetError,
    "Transient failures (network, 429, 5xx) outlasted the retry budget (exit 7); running again later may succeed."
);
create_exception!(
    anaplan_parquet,
    LocalIoError,
    AnaplanParquetError,
    "A local temporary file could not be written or read (exit 8)."
);
create_exception!(
    anaplan_parquet,
    InterruptedError,
    AnaplanParquetError,
    "The run was stopped (exit 130)."
);

/// Adds the exceptions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<AnaplanParquetError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("DestinationError", py.get_type::<DestinationError>())?;
    m.add("TransientError", py.get_type::<TransientError>())?;
    m.add("LocalIoError", py.get_type::<LocalIoError>())?;
    m.add("InterruptedError", py.get_type::<InterruptedError>())?;
    Ok(())
}

/// The exception for `e`, by its exit class.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let message = anaplan_parquet::error::error_chain(e);
    let class = e.exit_class();
    let err = match class {
        ExitClass::Usage => UsageError::new_err(message),
        ExitClass::Authentication => AuthenticationError::new_err(message),
        ExitClass::Anaplan => NotFoundError::new_err(message),
        ExitClass::Data => DataError::new_err(message),
        ExitClass::Destination => DestinationError::new_err(message),
        ExitClass::Transient => TransientError::new_err(message),
        ExitClass::LocalIo => LocalIoError::new_err(message),
        ExitClass::Interrupted | ExitClass::Terminated => InterruptedError::new_err(message),
        ExitClass::Success | ExitClass::Failure => AnaplanParquetError::new_err(message),
    };
    let value = err.value(py);
    let _ = value.setattr("exit_code", class.code());
    if class == ExitClass::Data {
        let position = e.as_data().map(|d| d.position.clone()).unwrap_or_default();
        let _ = value.setattr("line", position.line);
        let _ = value.setattr("column", position.column);
        let _ = value.setattr("column_name", position.column_name);
        let _ = value.setattr("chunk", position.chunk);
    }
    err
}

/// A failure of the bindings themselves.
pub fn internal(message: String) -> PyErr {
    AnaplanParquetError::new_err(message)
}
