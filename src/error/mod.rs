//! The library's one error type.
//!
//! Variants are named for what happened, not for the crate that failed, and each maps to an
//! exit class ([`ExitClass`]) so the binary turns any failure into a documented exit code.
//! No variant ever carries a secret: messages are built from redacted URLs and names only.
//!
//! Errors are `Clone` (their sources are shared, not copied), so an error that crosses from a
//! pipeline thread to the caller keeps its variant, and with it its exit class.

use std::fmt;
use std::sync::Arc;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a run.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line, a config file or a jobs file is invalid.
    #[error("{0}")]
    Usage(String),

    /// A setting has a value that cannot be used. `setting` is its canonical name (the jobs
    /// file's key, in snake_case); each front end shows it in its own words
    /// ([`Error::naming_setting`]): `--upload-part-size` on the command line,
    /// `upload_part_size` in a jobs file, a keyword argument in Python.
    #[error("{setting}: {problem}")]
    InvalidSetting {
        /// The setting's canonical (snake_case) name.
        setting: &'static str,
        /// What is wrong with its value, naming the value where that helps.
        problem: String,
    },

    /// The input data is malformed: the message names what and where.
    #[error("{0}")]
    Data(Box<DataError>),

    /// The data does not fit the schema that was asked for (overrides, append-mode datasets).
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),

    /// Anaplan refused the credentials (bad password, bad certificate, expired account).
    #[error("authentication failed: {0}")]
    Unauthenticated(String),

    /// A workspace, model, export, file or task does not exist, or the user has no access to it.
    #[error("{0}")]
    NotFound(String),

    /// A name matched more than one object.
    #[error("{0}")]
    Ambiguous(String),

    /// The export task ran and failed, was cancelled, or timed out.
    #[error("{0}")]
    ExportFailed(String),

    /// Anaplan answered with an error that is not transient.
    #[error("{0}")]
    Api(String),

    /// A transient failure outlasted the retry budget (network, 429, 5xx, timeouts).
    #[error("{0}")]
    RetriesExhausted(String),

    /// Writing to the destination failed (local file system or object store).
    #[error("{0}")]
    Destination(String),

    /// Reading the input failed (a local file, stdin).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// One of the run's own local files (a spool, a temporary file) could not be created,
    /// written or read: a full or missing temporary directory, not bad input.
    #[error("{context}: {source}")]
    LocalIo {
        /// What was being done, with the path (and `TMPDIR` where it applies).
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The run was interrupted by a signal.
    #[error("interrupted by {0}")]
    Cancelled(Signal),

    /// A bug or an unexpected condition.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The signal that interrupted a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// `kill`, a scheduler stopping the job.
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Classes of failure, each with its own documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 0: success.
    Success,
    /// 1: some other failure (a bug, or some datasets of a `run` failed).
    Failure,
    /// 2: bad command line or configuration.
    Usage,
    /// 3: authentication failed.
    Authentication,
    /// 4: Anaplan-side failure: not found, no access, ambiguous name, task failed.
    Anaplan,
    /// 5: bad input data or a schema mismatch.
    Data,
    /// 6: the destination could not be written.
    Destination,
    /// 7: transient failures outlasted the retry budget; running again later may succeed.
    Transient,
    /// 8: a local file of the run's own (spool, temporary file) could not be written or read.
    LocalIo,
    /// 130: interrupted by SIGINT.
    Interrupted,
    /// 143: terminated by SIGTERM.
    Terminated,
}

impl ExitClass {
    /// The process exit code for this class.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Success => 0,
            ExitClass::Failure => 1,
            ExitClass::Usage => 2,
            ExitClass::Authentication => 3,
            ExitClass::Anaplan => 4,
            ExitClass::Data => 5,
            ExitClass::Destination => 6,
            ExitClass::Transient => 7,
            ExitClass::LocalIo => 8,
            ExitClass::Interrupted => 130,
            ExitClass::Terminated => 143,
        }
    }
}

impl Error {
    /// Builds a [`Error::Usage`].
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// Builds a [`Error::InvalidSetting`].
    pub fn invalid_setting(setting: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidSetting {
            setting,
            problem: problem.into(),
        }
    }

    /// Names the setting of an [`Error::InvalidSetting`] the way the user gave it (`name`
    /// gets the canonical name and returns, say, `--flag-name`); other errors pass unchanged.
    #[must_use]
    pub fn naming_setting(self, name: impl FnOnce(&str) -> String) -> Self {
        match self {
            Error::InvalidSetting { setting, problem } => {
                Error::Usage(format!("{}: {problem}", name(setting)))
            }
            other => other,
        }
    }

    /// Builds a [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// Builds a [`Error::LocalIo`] with context.
    pub fn local_io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::LocalIo {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// The exit class of this error.
    pub fn exit_class(&self) -> ExitClass {
        match self {
            Error::Usage(_) | Error::InvalidSetting { .. } => ExitClass::Usage,
            Error::Data(_) | Error::SchemaMismatch(_) | Error::Io { .. } => ExitClass::Data,
            Error::Unauthenticated(_) => ExitClass::Authentication,
            Error::NotFound(_) | Error::Ambiguous(_) | Error::ExportFailed(_) | Error::Api(_) => {
                ExitClass::Anaplan
            }
            Error::RetriesExhausted(_) => ExitClass::Transient,
            Error::Destination(_) => ExitClass::Destination,
            Error::LocalIo { .. } => ExitClass::LocalIo,
            Error::Cancelled(Signal::Interrupt) => ExitClass::Interrupted,
            Error::Cancelled(Signal::Terminate) => ExitClass::Terminated,
            Error::Internal(_) => ExitClass::Failure,
        }
    }

    /// True when the failure came from a broken pipe on stdout (the reader went away).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// True when running again later may succeed (transient failures that outlasted the
    /// retry budget).
    pub fn is_transient(&self) -> bool {
        self.exit_class() == ExitClass::Transient
    }

    /// The data error inside, if this is one.
    pub fn as_data(&self) -> Option<&DataError> {
        match self {
            Error::Data(d) => Some(d),
            _ => None,
        }
    }
}

/// An error and its sources on one line, each cause once (`a: b: c`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        Error::Data(Box::new(e))
    }
}

/// Where in the input something happened. Every field is optional: a position names what is
/// known. Lines are 1-based physical lines (a quoted field with line breaks spans several);
/// columns are 1-based; bytes are 0-based offsets in the input as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Index of the Anaplan chunk the byte falls in (exports only).
    pub chunk: Option<u64>,
    /// 1-based physical line.
    pub line: Option<u64>,
    /// 1-based column index.
    pub column: Option<usize>,
    /// The column's name, when the header is known.
    pub column_name: Option<String>,
    /// 0-based byte offset in the input.
    pub byte: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(c) = self.chunk {
            parts.push(format!("chunk {c}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        match (&self.column, &self.column_name) {
            (Some(c), Some(n)) => parts.push(format!("column {c} ({n:?})")),
            (Some(c), None) => parts.push(format!("column {c}")),
            (None, Some(n)) => parts.push(format!("column {n:?}")),
            (None, None) => {}
        }
        if let Some(b) = self.byte {
            parts.push(format!("byte {b}"));
        }
        if parts.is_empty() {
            f.write_str("unknown position")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Malformed input: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// What is wrong, in a few words.
    pub message: String,
    /// Where it is.
    pub position: Position,
}

impl DataError {
    /// A data error at a position.
    pub fn new(message: impl Into<String>, position: Position) -> Self {
        DataError {
            message: message.into(),
            position,
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position == Position::default() {
            write!(f, "bad input: {}", self.message)
        } else {
            write!(f, "bad input at {}: {}", self.position, self.message)
        }
    }
}

impl std::error::Error for DataError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_display_names_only_what_is_known() {
        let p = Position {
            chunk: Some(2),
            line: Some(17),
            column: Some(3),
            column_name: Some("Value".into()),
            byte: Some(1024),
        };
        assert_eq!(
            p.to_string(),
            "chunk 2, line 17, column 3 (\"Value\"), byte 1024"
        );
        let p = Position {
            line: Some(4),
            ..Position::default()
        };
        assert_eq!(p.to_string(), "line 4");
    }

    #[test]
    fn data_error_is_one_line() {
        let e: Error = DataError::new(
            "unterminated quoted field",
            Position {
                line: Some(9),
                column: Some(2),
                ..Position::default()
            },
        )
        .into();
        let s = e.to_string();
        assert_eq!(
            s,
            "bad input at line 9, column 2: unterminated quoted field"
        );
        assert_eq!(e.exit_class().code(), 5);
    }

    #[test]
    fn a_setting_is_named_in_the_words_of_whoever_gave_it() {
        let e = Error::invalid_setting("upload_part_size", "must be at least 5 MiB");
        assert_eq!(e.to_string(), "upload_part_size: must be at least 5 MiB");
        assert_eq!(e.exit_class(), ExitClass::Usage);
        let flag = e.naming_setting(|s| format!("--{}", s.replace('_', "-")));
        assert_eq!(flag.to_string(), "--upload-part-size: must be at least 5 MiB");
        assert!(matches!(flag, Error::Usage(_)));
        let other = Error::Internal("x".into()).naming_setting(|_| unreachable!());
        assert!(matches!(other, Error::Internal(_)));
    }

    #[test]
    fn exit_codes_are_distinct() {
        let classes = [
            ExitClass::Success,
            ExitClass::Failure,
            ExitClass::Usage,
            ExitClass::Authentication,
            ExitClass::Anaplan,
            ExitClass::Data,
            ExitClass::Destination,
            ExitClass::Transient,
            ExitClass::LocalIo,
            ExitClass::Interrupted,
            ExitClass::Terminated,
        ];
        let mut codes: Vec<u8> = classes.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), classes.len());
    }
}
