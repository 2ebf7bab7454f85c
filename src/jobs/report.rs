//! What a round and a check report: per-dataset status, rows, bytes and errors, as the end
//! table and `--json` show them.

use std::time::Duration;

use serde::Serialize;

use super::Dataset;
use super::manifest::NamedRef;
use crate::anaplan::discovery::Named;
use crate::error::{Error, ExitClass, Result, Signal};
use crate::sink::Destination;

/// How a dataset's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written, manifest included.
    Ok,
    /// Not written: the export's content equals the last run's (`--skip-unchanged`).
    Unchanged,
    /// Failed; nothing partial was published.
    Failed,
    /// Stopped by a signal or by `--fail-fast`; nothing partial was published.
    Cancelled,
    /// Not started (the round was stopped first).
    NotRun,
}

impl Status {
    /// `ok`, `unchanged`, `failed`, `cancelled`, `not run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::NotRun => "not run",
        }
    }

    /// True for `ok` and `unchanged`.
    pub fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::Unchanged)
    }
}

/// What one dataset did in a round.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetReport {
    /// The dataset's name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Data rows written.
    pub rows: u64,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Raw export bytes read.
    pub input_bytes: u64,
    /// Wall time, waiting for its model's turn included (seconds in JSON).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// The destination (a file, or a dataset prefix).
    pub output: String,
    /// The file written (in append mode, the new part).
    pub location: Option<String>,
    /// The manifest written.
    pub manifest: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// The exit code its error alone would give (see `export --help`).
    pub exit_code: Option<u8>,
    /// The workspace, once resolved.
    pub workspace: Option<NamedRef>,
    /// The model, once resolved.
    pub model: Option<NamedRef>,
    /// The export, once resolved.
    pub export: Option<NamedRef>,
    /// The view, once resolved (a `view =` dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<NamedRef>,
    /// The list, once resolved (a `list =` dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<NamedRef>,
    /// The large-volume read request of a view or list (deleted by the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_request_id: Option<String>,
    /// The export task, once started.
    pub task_id: Option<String>,
    /// SHA-256 of the raw export, once read whole.
    pub content_sha256: Option<String>,
}

impl DatasetReport {
    pub(super) fn new(d: &Dataset) -> Self {
        DatasetReport {
            name: d.name.clone(),
            status: Status::NotRun,
            rows: 0,
            bytes: 0,
            input_bytes: 0,
            duration: Duration::ZERO,
            output: shown_output(&d.output.output),
            location: None,
            manifest: None,
            error: None,
            exit_code: None,
            workspace: None,
            model: None,
            export: None,
            view: None,
            list: None,
            read_request_id: None,
            task_id: None,
            content_sha256: None,
        }
    }

    pub(super) fn fail(&mut self, status: Status, e: &Error) {
        self.status = status;
        self.error = Some(e.to_string());
        self.exit_code = Some(e.exit_class().code());
    }
}

/// What a round did.
#[derive(Clone, Debug, Serialize)]
pub struct RoundReport {
    /// The round's id (also in every manifest it wrote).
    pub run_id: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time (seconds in JSON).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Every selected dataset, in jobs-file order.
    pub datasets: Vec<DatasetReport>,
    /// Retried Anaplan requests during the round, by reason.
    pub retries: Vec<(String, u64)>,
    /// The signal that stopped the round, if one did (`SIGINT`, `SIGTERM`).
    #[serde(serialize_with = "signal_name")]
    pub interrupted: Option<Signal>,
}

impl RoundReport {
    /// Datasets that ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.datasets.iter().filter(|d| d.status == status).count()
    }

    /// The round's exit class: interrupted by a signal (130/143), else a failure (1) when any
    /// dataset did not succeed, else success (0).
    pub fn exit_class(&self) -> ExitClass {
        match self.interrupted {
            Some(Signal::Interrupt) => ExitClass::Interrupted,
            Some(Signal::Terminate) => ExitClass::Terminated,
            None if self.datasets.iter().all(|d| d.status.is_success()) => ExitClass::Success,
            None => ExitClass::Failure,
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)] // the shape `serialize_with` wants
fn signal_name<S: serde::Serializer>(sig: &Option<Signal>, s: S) -> Result<S::Ok, S::Error> {
    match sig {
        Some(sig) => s.serialize_str(&sig.to_string()),
        None => s.serialize_none(),
    }
}

/// An output as given, for reports: a URL loses any password and query string (a SAS token).
/// One with neither is shown as written (a parsed URL would show `ü` as `%C3%BC`).
pub(super) fn shown_output(output: &str) -> String {
    match url::Url::parse(output) {
        Ok(u) if u.password().is_none() && u.query().is_none() && u.fragment().is_none() => {
            output.to_owned()
        }
        Ok(mut u) if output.contains("://") => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        _ => output.to_owned(),
    }
}

/// A destination for reports: its file or dataset prefix, without the mode.
pub(super) fn where_to(d: &Destination) -> String {
    let text = d.describe();
    match text.strip_suffix(" (append)") {
        Some(t) => t.to_owned(),
        None => text,
    }
}

pub(super) fn named<T: Named>(item: &T) -> NamedRef {
    NamedRef {
        id: item.id().to_owned(),
        name: item.name().to_owned(),
    }
}

/// A problem found by [`check`](super::check()) (or in the jobs file).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The dataset it concerns; `None` for the file as a whole.
    pub dataset: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// One dataset as [`check`](super::check()) found it.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedDataset {
    /// Its name.
    pub name: String,
    /// True when its names resolved and its destination can be written.
    pub ok: bool,
    /// The workspace, when resolved.
    pub workspace: Option<NamedRef>,
    /// The model, when resolved.
    pub model: Option<NamedRef>,
    /// The export, when resolved.
    pub export: Option<NamedRef>,
    /// The view, when resolved (a `view =` dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<NamedRef>,
    /// The list, when resolved (a `list =` dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<NamedRef>,
    /// The destination.
    pub output: String,
}

/// What [`check`](super::check()) found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Every dataset checked, in order.
    pub datasets: Vec<CheckedDataset>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::EngineOptions;
    use crate::export::ExportJob;
    use crate::sink::DestinationOptions;

    #[test]
    fn outputs_are_shown_without_secrets() {
        for (given, shown) in [
            ("out/x.parquet", "out/x.parquet"),
            ("s3://bucket/x.parquet", "s3://bucket/x.parquet"),
            ("az://c/x.parquet?sig=s3cr3t&se=2030", "az://c/x.parquet"),
            (
                "s3://user:s3cr3t@bucket/x.parquet",
                "s3://user@bucket/x.parquet",
            ),
            ("C:/data/x.parquet", "C:/data/x.parquet"),
        ] {
            assert_eq!(shown_output(given), shown, "{given}");
        }
    }

    #[test]
    fn round_exit_classes() {
        let d = |status| DatasetReport {
            status,
            ..DatasetReport::new(&Dataset {
                name: "x".into(),
                job: ExportJob::new("W", "M", "E"),
                engine: EngineOptions::default(),
                output: DestinationOptions::new("x.parquet"),
                read: None,
            })
        };
        let round = |statuses: &[Status], interrupted| RoundReport {
            run_id: String::new(),
            started_at: String::new(),
            duration: Duration::ZERO,
            datasets: statuses.iter().map(|s| d(*s)).collect(),
            retries: Vec::new(),
            interrupted,
        };
        assert_eq!(round(&[], None).exit_class(), ExitClass::Success);
        assert_eq!(
            round(&[Status::Ok, Status::Unchanged], None).exit_class(),
            ExitClass::Success
        );
        for bad in [Status::Failed, Status::Cancelled, Status::NotRun] {
            assert_eq!(
                round(&[Status::Ok, bad], None).exit_class(),
                ExitClass::Failure
            );
        }
        assert_eq!(
            round(&[Status::Ok], Some(Signal::Terminate)).exit_class(),
            ExitClass::Terminated
        );
        let r = round(&[Status::Ok, Status::Failed, Status::Ok], None);
        assert_eq!((r.count(Status::Ok), r.count(Status::Failed)), (2, 1));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["datasets"][1]["status"], "failed");
        assert_eq!(json["interrupted"], serde_json::Value::Null);
    }
}
