//! The manifest written after each dataset: what was exported, from where, when, and the
//! content hash of the raw export that `--skip-unchanged` compares.
//!
//! It is stored with the data ([`crate::sink::Destination::write_manifest`]):
//! `NAME.manifest.json` next to the file in replace mode, `_manifest.json` in the dataset
//! prefix in append mode. It is written after the data, so it never describes data that is not
//! there; it describes the last run that wrote the dataset.
//!
//! ```json
//! {
//!   "manifest_version": 1,
//!   "tool": "anaplan-parquet 0.1.0",
//!   "run_id": "20261124T053000Z-3f9a1c0d",
//!   "dataset": "revenue",
//!   "written_at": "2026-11-24T05:31:02Z",
//!   "exported_at": "2026-11-24T05:30:41Z",
//!   "workspace": {"id": "8a81b09d5e8c6f27015e8d0b5d3f0c1a", "name": "Financial Planning"},
//!   "model": {"id": "75A40874E6B64FA3AE0743278996850F", "name": "FP&A"},
//!   "export": {"id": "116000000001", "name": "Revenue - TSC.csv"},
//!   "task_id": "1C2B3A...",
//!   "mode": "replace",
//!   "output": "s3://lake/anaplan/revenue.parquet",
//!   "location": "s3://lake/anaplan/revenue.parquet",
//!   "rows": 5000, "columns": 5, "bytes": 61234, "input_bytes": 412345,
//!   "schema": [{"name": "Time", "type": "utf8"}, {"name": "Value", "type": "float64"}],
//!   "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! }
//! ```

use serde::Serialize;

use std::time::SystemTime;

use super::Dataset;
use super::schedule::rfc3339;
use crate::sink::WriteMode;
use crate::summary::{RunSummary, SummaryColumn};

/// The manifest format's version.
pub const MANIFEST_VERSION: u32 = 1;

/// An Anaplan object by id and name.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct NamedRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// One dataset's manifest.
#[derive(Clone, Debug, Serialize)]
#[allow(clippy::struct_field_names)] // `manifest_version` is the JSON key readers look for
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// `anaplan-parquet VERSION`.
    pub tool: String,
    /// The run (round) that wrote it.
    pub run_id: String,
    /// The dataset's name in the jobs file.
    pub dataset: String,
    /// When the data was published (RFC 3339, UTC).
    pub written_at: String,
    /// When the export task finished.
    pub exported_at: String,
    /// The source workspace.
    pub workspace: NamedRef,
    /// The source model.
    pub model: NamedRef,
    /// The export (absent for a view or list dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<NamedRef>,
    /// The view, for a `view =` dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<NamedRef>,
    /// The list, for a `list =` dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<NamedRef>,
    /// The export task whose file was converted (absent for a view or list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The large-volume read request (deleted by now), for a view or list read through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_request_id: Option<String>,
    /// `replace` or `append`.
    pub mode: String,
    /// The destination (a file, or a dataset prefix).
    pub output: String,
    /// The file written by this run (in append mode, the new part).
    pub location: String,
    /// Data rows.
    pub rows: u64,
    /// Columns.
    pub columns: usize,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Raw export bytes read.
    pub input_bytes: u64,
    /// The schema written.
    pub schema: Vec<SummaryColumn>,
    /// SHA-256 of the raw export bytes, as downloaded (lower-case hex); absent for a view or
    /// list (never skipped by `--skip-unchanged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

impl Manifest {
    /// The manifest of dataset `d` in run `run_id`, with what its summary says it wrote to
    /// `output`; the caller names the source (export, view or list).
    pub(crate) fn written(
        run_id: &str,
        d: &Dataset,
        output: &str,
        summary: &RunSummary,
        source_at: SystemTime,
        workspace: NamedRef,
        model: NamedRef,
    ) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            tool: concat!("anaplan-parquet ", env!("CARGO_PKG_VERSION")).to_owned(),
            run_id: run_id.to_owned(),
            dataset: d.name.clone(),
            written_at: rfc3339(SystemTime::now()),
            exported_at: rfc3339(source_at),
            workspace,
            model,
            export: None,
            view: None,
            list: None,
            task_id: None,
            read_request_id: None,
            mode: match d.output.mode {
                WriteMode::Replace => "replace",
                WriteMode::Append => "append",
            }
            .to_owned(),
            output: output.to_owned(),
            location: summary.output.clone(),
            rows: summary.rows,
            columns: summary.columns,
            bytes: summary.bytes_out,
            input_bytes: summary.bytes_in,
            schema: summary.schema.clone(),
            content_sha256: None,
        }
    }

    /// Pretty JSON, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// The content hash a manifest records, read leniently: `None` when the bytes are not a JSON
/// object with a `content_sha256` string (a damaged or foreign file never causes a skip).
pub fn recorded_hash(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let hash = value.get("content_sha256")?.as_str()?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hash.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            tool: "anaplan-parquet 0.1.0".into(),
            run_id: "20261124T053000Z-3f9a1c0d".into(),
            dataset: "revenue".into(),
            written_at: "2026-11-24T05:31:02Z".into(),
            exported_at: "2026-11-24T05:30:41Z".into(),
            workspace: NamedRef {
                id: "8a81".into(),
                name: "Financial Planning".into(),
            },
            model: NamedRef {
                id: "75A4".into(),
                name: "FP&A".into(),
            },
            export: Some(NamedRef {
                id: "116000000001".into(),
                name: "Revenue - TSC.csv".into(),
            }),
            view: None,
            list: None,
            task_id: Some("T1".into()),
            read_request_id: None,
            mode: "replace".into(),
            output: "out/revenue.parquet".into(),
            location: "out/revenue.parquet".into(),
            rows: 5000,
            columns: 2,
            bytes: 100,
            input_bytes: 1000,
            schema: vec![SummaryColumn {
                name: "Value".into(),
                data_type: "float64".into(),
            }],
            content_sha256: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn a_manifest_round_trips_its_hash() {
        let m = manifest();
        let json = m.to_json();
        assert!(json.ends_with(b"}\n"));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["workspace"]["name"], "Financial Planning");
        assert_eq!(v["schema"][0]["type"], "float64");
        assert_eq!(v["manifest_version"], 1);
        assert_eq!(recorded_hash(&json), Some("ab".repeat(32)));
    }

    #[test]
    fn damaged_manifests_record_no_hash() {
        for bad in [
            &b""[..],
            b"not json",
            b"[]",
            b"{\"content_sha256\": 5}",
            b"{\"content_sha256\": \"abc\"}",
            b"{\"rows\": 1}",
        ] {
            assert_eq!(recorded_hash(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
