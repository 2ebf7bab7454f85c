//! The destination layer's error ([`super::Error::Destination`]): where the write failed, what
//! kind of failure it was, and a message that says so in words.
//!
//! The kind decides the exit class: [`DestinationErrorKind::Transient`] (failures that outlasted
//! the retry budget) exits 7, every other kind 6. The message never holds a secret: URLs in it
//! have lost their password and query string.

use std::fmt;
use std::sync::Arc;

/// What kind of failure stopped a write. Decided from the failure's types (an
/// `object_store::Error` variant, an HTTP error kind, an `io::ErrorKind`), never from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestinationErrorKind {
    /// Something is at the location and may not be replaced (`if_exists = fail`).
    AlreadyExists,
    /// The location, its directory, or its bucket does not exist.
    NotFound,
    /// The credentials lack permission, or the file system refuses access.
    PermissionDenied,
    /// The storage service does not accept the credentials.
    Unauthenticated,
    /// The storage service's TLS certificate cannot be verified (retrying will not help).
    Certificate,
    /// Transient failures (5xx, 429, timeouts, dropped connections) outlasted the retry budget;
    /// running again later may succeed.
    Transient,
    /// The local file system failed another way.
    Io,
    /// The storage service or its client failed another way, or what is already at the
    /// destination cannot be read (an existing part that is not Parquet).
    Store,
}

impl DestinationErrorKind {
    /// The kind of a local file-system error.
    pub fn of_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => DestinationErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => DestinationErrorKind::PermissionDenied,
            std::io::ErrorKind::AlreadyExists => DestinationErrorKind::AlreadyExists,
            _ => DestinationErrorKind::Io,
        }
    }
}

/// Writing to the destination failed: where, what kind of failure, and what happened in words.
#[derive(Debug, Clone)]
pub struct DestinationError {
    kind: DestinationErrorKind,
    location: String,
    message: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl DestinationError {
    /// A failure at `location` (a path, or a URL without password or query string); `message`
    /// is the whole line shown to the user.
    pub fn new(
        kind: DestinationErrorKind,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DestinationError {
            kind,
            location: location.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// A local file-system failure; its kind follows the `io::ErrorKind`.
    pub fn io(location: impl Into<String>, message: impl Into<String>, e: std::io::Error) -> Self {
        Self::new(DestinationErrorKind::of_io(&e), location, message).with_cause(e)
    }

    /// Keeps the underlying error, for programs that want to look at it ([`Self::cause`]).
    #[must_use]
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> DestinationErrorKind {
        self.kind
    }

    /// Where the write failed: a path, or a URL without password or query string.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The message, as displayed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying error, when there is one. It is not this error's
    /// [`source`](std::error::Error::source): an object store's error text may hold a signed
    /// URL, so only the redacted message is ever printed.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    /// True when running again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == DestinationErrorKind::Transient
    }
}

impl fmt::Display for DestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DestinationError {}

impl From<DestinationError> for super::Error {
    fn from(e: DestinationError) -> Self {
        super::Error::Destination(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ExitClass};

    #[test]
    fn the_kind_decides_the_exit_class_and_the_message_is_kept() {
        let e: Error = DestinationError::new(
            DestinationErrorKind::Transient,
            "s3://b/k",
            "upload to s3://b/k failed: HTTP 503",
        )
        .into();
        assert_eq!(e.exit_class(), ExitClass::Transient);
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "upload to s3://b/k failed: HTTP 503");

        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e: Error = DestinationError::io("/x", "cannot write /x: denied", io).into();
        assert_eq!(e.exit_class(), ExitClass::Destination);
        let Error::Destination(d) = &e else { panic!() };
        assert_eq!(d.kind(), DestinationErrorKind::PermissionDenied);
        assert_eq!(d.location(), "/x");
        assert!(d.cause().is_some());
        // The cause is kept, not chained: only the message is printed.
        assert!(std::error::Error::source(&e).is_none());
    }
}
