//! What went wrong talking to Anaplan (or, for [`RetriesExhausted`], to any remote service),
//! as data.
//!
//! Each type is the payload of one [`Error`](super::Error) variant; the variant gives the exit
//! class and retryability, the fields say what happened, and `Display` words it for people.
//! The fields name objects and calls, never URLs with secrets.

use std::fmt;
use std::time::Duration;

/// The kinds of Anaplan object found by name or id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A workspace.
    Workspace,
    /// A model.
    Model,
    /// An export action.
    Export,
    /// A file of a model.
    File,
    /// A module of a model.
    Module,
    /// A view of a module (its default view or a saved one).
    View,
    /// A list of a model.
    List,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Workspace => "workspace",
            ObjectKind::Model => "model",
            ObjectKind::Export => "export",
            ObjectKind::File => "file",
            ObjectKind::Module => "module",
            ObjectKind::View => "view",
            ObjectKind::List => "list",
        })
    }
}

/// One object a name could have meant: its name and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: String,
}

/// The object a name was looked up in (`in model "FP&A"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// What the enclosing object is.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
}

/// The payload of [`Error::NotFound`](super::Error::NotFound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotFound {
    /// No object of a list has the name or id asked for.
    Name {
        /// What was looked for.
        kind: ObjectKind,
        /// The name or id asked for.
        name: String,
        /// Where it was looked for (none for workspaces).
        scope: Option<Scope>,
        /// Every object there was to choose from.
        candidates: Vec<Candidate>,
    },
    /// Anaplan answered 404 to a call: the object does not exist, or the user cannot see it.
    Call {
        /// What the call did (`list the exports of model X`).
        call: String,
        /// Anaplan's message, or the status's reason phrase.
        message: String,
    },
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFound::Name {
                kind,
                name,
                scope,
                candidates,
            } => {
                write!(
                    f,
                    "no {kind} named {name:?} (or with that id){}; ",
                    InScope(scope.as_ref())
                )?;
                if candidates.is_empty() {
                    write!(
                        f,
                        "there is no {kind} to choose from (check the user's access)"
                    )
                } else {
                    write!(f, "available: {}", CandidateList(candidates))
                }
            }
            NotFound::Call { call, message } => write!(
                f,
                "{call}: not found, or no access (HTTP 404{})",
                Detail(message)
            ),
        }
    }
}

/// The payload of [`Error::Ambiguous`](super::Error::Ambiguous): a name matched several
/// objects (names differing only in case count as the same name when no exact match exists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous {
    /// What was looked for.
    pub kind: ObjectKind,
    /// The name asked for.
    pub name: String,
    /// Where it was looked for (none for workspaces).
    pub scope: Option<Scope>,
    /// The objects it matched.
    pub matches: Vec<Candidate>,
}

impl fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}s are named {:?}{}; give the id instead: {}",
            self.matches.len(),
            self.kind,
            self.name,
            InScope(self.scope.as_ref()),
            CandidateList(&self.matches)
        )
    }
}

/// The payload of [`Error::Unauthenticated`](super::Error::Unauthenticated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Signing in (or refreshing the token) was refused, or its answer held no token.
    SignIn {
        /// The call (`sign in at auth.anaplan.com`, `refresh the token`).
        call: String,
        /// Why, in Anaplan's words where it gave any.
        reason: String,
    },
    /// A call made with the run's credentials got a 401 that signing in again did not cure.
    Rejected {
        /// What the call did.
        call: String,
        /// Anaplan's message, or the status's reason phrase.
        message: String,
    },
}

impl fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unauthenticated::SignIn { call, reason } => write!(f, "{call}: {reason}"),
            Unauthenticated::Rejected { call, message } => write!(
                f,
                "{call}: Anaplan rejected the credentials (HTTP 401{})",
                Detail(message)
            ),
        }
    }
}

/// The payload of [`Error::Api`](super::Error::Api): Anaplan answered, but not with what was
/// asked for, and trying again will not change that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// An error status that is not transient (400, 403, 409, ...; 404 is [`NotFound`]).
    Status {
        /// What the call did.
        call: String,
        /// The HTTP status.
        status: u16,
        /// Anaplan's message, or the status's reason phrase.
        message: String,
    },
    /// A successful answer that cannot be read (not JSON, a missing field, a wrong shape).
    Answer {
        /// What the call did.
        call: String,
        /// What is wrong with the answer.
        problem: String,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status {
                call,
                status: 403,
                message,
            } => write!(f, "{call}: permission denied (HTTP 403{})", Detail(message)),
            ApiError::Status {
                call,
                status,
                message,
            } if message.is_empty() => write!(f, "{call}: HTTP {status}"),
            ApiError::Status {
                call,
                status,
                message,
            } => write!(f, "{call}: HTTP {status}: {message}"),
            ApiError::Answer { call, problem } => write!(f, "{call}: {problem}"),
        }
    }
}

/// The payload of [`Error::ExportFailed`](super::Error::ExportFailed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportFailed {
    /// The task ran past the time allowed (`--task-timeout`) and was cancelled.
    TimedOut {
        /// The task.
        task_id: String,
        /// The time it was allowed.
        limit: Duration,
    },
    /// The task was cancelled in Anaplan (by a user, or by Anaplan itself).
    CancelledInAnaplan {
        /// The task.
        task_id: String,
    },
    /// The task completed without success.
    Failed {
        /// The task.
        task_id: String,
        /// Anaplan's messages, one line each.
        details: Vec<String>,
        /// The beginning of the failure dump, when Anaplan has one.
        dump: Option<FailureDump>,
    },
    /// The export wrote no chunks and its metadata names no columns: nothing to convert.
    EmptyFile {
        /// The export's name.
        export: String,
    },
    /// Anaplan refused to start a large-volume read request (404 or 403 for a view or list
    /// that exists: the user's role, by the docs a workspace administrator's right).
    ReadRefused {
        /// What was to be read (`view "REV01 Revenue"`).
        object: String,
        /// The HTTP status.
        status: u16,
        /// Anaplan's message.
        message: String,
    },
    /// A read request ended COMPLETE with `successful: false`, or CANCELLED in Anaplan.
    ReadFailed {
        /// What was read.
        object: String,
        /// The request.
        request_id: String,
        /// The state it ended in.
        state: String,
    },
    /// A read request did not finish within `--task-timeout`; it was deleted.
    ReadTimedOut {
        /// What was read.
        object: String,
        /// The request.
        request_id: String,
        /// The time it was allowed.
        limit: Duration,
    },
    /// The transactional read refused the view (above 1,000,000 cells) and no large read
    /// was allowed (`--read-mode direct`), or both were refused.
    DirectReadRefused {
        /// What was read.
        object: String,
        /// The HTTP status.
        status: u16,
        /// Anaplan's message.
        message: String,
        /// Why the large read was not used.
        why: String,
    },
}

/// What could be read of a failed task's dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureDump {
    /// Its first lines, joined with a newline and an indent, shortened.
    Lines(String),
    /// Why it could not be read.
    Unreadable(String),
}

impl fmt::Display for ExportFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportFailed::TimedOut { task_id, limit } => write!(
                f,
                "export task {task_id} did not finish within {}; it was cancelled",
                humantime::format_duration(*limit)
            ),
            ExportFailed::CancelledInAnaplan { task_id } => {
                write!(f, "export task {task_id} was cancelled in Anaplan")
            }
            ExportFailed::Failed {
                task_id,
                details,
                dump,
            } => {
                write!(f, "export task {task_id} failed in Anaplan")?;
                if !details.is_empty() {
                    write!(f, ": {}", details.join("; "))?;
                }
                match dump {
                    Some(FailureDump::Lines(lines)) => {
                        write!(f, "\nfailure dump (first lines):\n  {lines}")
                    }
                    Some(FailureDump::Unreadable(why)) => {
                        write!(f, " (the failure dump could not be read: {why})")
                    }
                    None => Ok(()),
                }
            }
            ExportFailed::EmptyFile { export } => write!(
                f,
                "export {export:?} produced an empty file (no chunks) and its metadata names no \
                 columns: there is nothing to write"
            ),
            ExportFailed::ReadRefused {
                object,
                status,
                message,
            } => write!(
                f,
                "Anaplan refused a large-volume read of {object} (HTTP {status}{}): the \
                 user's role may not use read requests (Anaplan's documentation asks for a \
                 workspace administrator, and a call a role may not make answers 404); ask a \
                 workspace administrator to run it, or read a view of at most 1,000,000 cells \
                 with --read-mode direct",
                Detail(message)
            ),
            ExportFailed::ReadFailed {
                object,
                request_id,
                state,
            } => write!(
                f,
                "the large-volume read of {object} failed in Anaplan (request {request_id} \
                 ended {state}); it was deleted, run again"
            ),
            ExportFailed::ReadTimedOut {
                object,
                request_id,
                limit,
            } => write!(
                f,
                "the large-volume read of {object} (request {request_id}) did not finish \
                 within {}; it was deleted",
                humantime::format_duration(*limit)
            ),
            ExportFailed::DirectReadRefused {
                object,
                status,
                message,
                why,
            } => write!(
                f,
                "Anaplan refused the direct (transactional) read of {object} (HTTP \
                 {status}{}), which returns at most 1,000,000 cells; {why}",
                Detail(message)
            ),
        }
    }
}

/// The payload of [`Error::RetriesExhausted`](super::Error::RetriesExhausted): a transient
/// failure (network, 429, 5xx, timeout) that retrying did not get past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetriesExhausted {
    /// What was being done (`download chunk 3 of file 116000000001`).
    pub call: String,
    /// The retries this crate made, when it did the retrying. `None` when the request was
    /// not retried (a request that must not be sent twice) or a library retried it.
    pub spent: Option<Spent>,
    /// The last failure.
    pub last: String,
}

/// Retries made and time spent on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spent {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Time from the first attempt to giving up.
    pub elapsed: Duration,
}

impl RetriesExhausted {
    /// A failure of `call` that was not (or not by this crate) retried.
    pub fn new(call: impl Into<String>, last: impl Into<String>) -> Self {
        RetriesExhausted {
            call: call.into(),
            spent: None,
            last: last.into(),
        }
    }
}

impl fmt::Display for RetriesExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RetriesExhausted { call, spent, last } = self;
        match spent {
            Some(Spent { retries, elapsed }) => write!(
                f,
                "{call}: gave up after {retries} {} in {:.1}s; last error: {last}",
                if *retries == 1 { "retry" } else { "retries" },
                elapsed.as_secs_f64()
            ),
            None => write!(f, "{call}: {last}"),
        }
    }
}

/// ` in model "FP&A"`, or nothing.
struct InScope<'a>(Option<&'a Scope>);

impl fmt::Display for InScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(Scope { kind, name }) => write!(f, " in {kind} {name:?}"),
            None => Ok(()),
        }
    }
}

/// `"name" (id), ...`: at most 20, then how many more.
struct CandidateList<'a>(&'a [Candidate]);

impl fmt::Display for CandidateList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for (i, c) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{:?} ({})", c.name, c.id)?;
        }
        if self.0.len() > SHOWN {
            write!(f, ", and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// `: message` after an HTTP status, unless the message is only the status's own reason
/// phrase (which would say the same thing twice).
struct Detail<'a>(&'a str);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            "" | "Not Found" | "Unauthorized" => Ok(()),
            detail => write!(f, ": {detail}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                name: format!("W{i}"),
                id: format!("id{i}"),
            })
            .collect()
    }

    #[test]
    fn messages() {
        let model = Some(Scope {
            kind: ObjectKind::Workspace,
            name: "W".into(),
        });
        let table: [(String, &str); 9] = [
            (
                NotFound::Name {
                    kind: ObjectKind::Model,
                    name: "x".into(),
                    scope: model.clone(),
                    candidates: Vec::new(),
                }
                .to_string(),
                "no model named \"x\" (or with that id) in workspace \"W\"; there is no model to \
                 choose from (check the user's access)",
            ),
            (
                NotFound::Call {
                    call: "list the exports of model M".into(),
                    message: "Not Found".into(),
                }
                .to_string(),
                "list the exports of model M: not found, or no access (HTTP 404)",
            ),
            (
                Ambiguous {
                    kind: ObjectKind::Workspace,
                    name: "Sales".into(),
                    scope: None,
                    matches: candidates(2),
                }
                .to_string(),
                "2 workspaces are named \"Sales\"; give the id instead: \"W0\" (id0), \"W1\" (id1)",
            ),
            (
                ApiError::Status {
                    call: "do".into(),
                    status: 403,
                    message: "Forbidden".into(),
                }
                .to_string(),
                "do: permission denied (HTTP 403: Forbidden)",
            ),
            (
                ApiError::Status {
                    call: "do".into(),
                    status: 400,
                    message: String::new(),
                }
                .to_string(),
                "do: HTTP 400",
            ),
            (
                ExportFailed::TimedOut {
                    task_id: "T".into(),
                    limit: Duration::from_secs(90),
                }
                .to_string(),
                "export task T did not finish within 1m 30s; it was cancelled",
            ),
            (
                ExportFailed::Failed {
                    task_id: "T".into(),
                    details: vec!["a".into(), "b".into()],
                    dump: Some(FailureDump::Unreadable("HTTP 500".into())),
                }
                .to_string(),
                "export task T failed in Anaplan: a; b (the failure dump could not be read: HTTP 500)",
            ),
            (
                RetriesExhausted {
                    call: "get chunk 3".into(),
                    spent: Some(Spent {
                        retries: 1,
                        elapsed: Duration::from_millis(2500),
                    }),
                    last: "HTTP 503".into(),
                }
                .to_string(),
                "get chunk 3: gave up after 1 retry in 2.5s; last error: HTTP 503",
            ),
            (
                RetriesExhausted::new("start export 116", "operation timed out").to_string(),
                "start export 116: operation timed out",
            ),
        ];
        for (got, expected) in table {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn long_candidate_lists_are_cut() {
        let text = CandidateList(&candidates(25)).to_string();
        assert!(text.starts_with("\"W0\" (id0), "), "{text}");
        assert!(text.ends_with("\"W19\" (id19), and 5 more"), "{text}");
    }
}
