//! The Integration API's JSON, read leniently.
//!
//! Anaplan adds enum values and fields without notice (clients with closed enums broke on
//! `MAINTENANCE`, `LOCKED`, `GRID_ALL_PAGES`), sends ids as strings but sometimes numbers, and
//! leaves out empty collections. So: every enum here is open (unknown values are kept as
//! [`Other`](TaskState::Other)), unknown fields are ignored, almost every field is optional,
//! and every other field is read through one lenient reader (`lenient.rs`) that takes a
//! string or a number alike and leaves a field it cannot read at its default. v2.0 wraps
//! objects in an envelope (`{"meta", "status", "task": {...}}`) while v1.3 sends them bare;
//! `unwrap_object` and `unwrap_list` accept both.

use std::fmt;
use std::fmt::Write as _;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient::{ListItem, lenient};
use crate::error::{ApiError, Error, Result};
use crate::units::shorten;

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this client does not know (kept as sent).
            Other(String),
        }

        impl $name {
            /// The value as Anaplan spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)*
                    _ => $name::Other(s),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Ok($name::from(lenient::<D, String>(d)?))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// A model's state (`activeState`).
    ModelState {
        /// Open for use.
        Unlocked = "UNLOCKED",
        /// Locked.
        Locked = "LOCKED",
        /// A production model.
        Production = "PRODUCTION",
        /// Archived.
        Archived = "ARCHIVED",
        /// Under maintenance.
        Maintenance = "MAINTENANCE",
        /// A production model under maintenance.
        ProductionMaintenance = "PRODUCTION_MAINTENANCE",
        /// Active (seen in some clients' lists).
        Active = "ACTIVE",
    }
}

open_enum! {
    /// An export's type or layout (`exportType`, `layout`).
    ExportType {
        /// Tabular Single Column, all line items.
        TabularAllLineItems = "TABULAR_ALL_LINE_ITEMS",
        /// Tabular Single Column, current line item.
        TabularCurrentLineItem = "TABULAR_CURRENT_LINE_ITEM",
        /// Tabular Single Column (as a layout).
        TabularSingleColumn = "TABULAR_SINGLE_COLUMN",
        /// Tabular Multiple Column.
        TabularMultiColumn = "TABULAR_MULTI_COLUMN",
        /// Grid, current page.
        GridCurrentPage = "GRID_CURRENT_PAGE",
        /// Grid, all pages.
        GridAllPages = "GRID_ALL_PAGES",
        /// Audit log.
        AuditLog = "AUDIT_LOG",
    }
}

impl ExportType {
    /// True for the Tabular Single Column family (dimensions, then one value column).
    pub fn is_single_column(&self) -> bool {
        matches!(
            self,
            ExportType::TabularAllLineItems
                | ExportType::TabularCurrentLineItem
                | ExportType::TabularSingleColumn
        )
    }

    /// True for Tabular Multiple Column (dimensions, then one column per line item), however
    /// it is spelled: `TABULAR_MULTI_COLUMN` as documented, and the plausible variants
    /// (`TABULAR_MULTIPLE_COLUMNS`, `tabular-multi-column`, `Tabular Multi Column`).
    pub fn is_multi_column(&self) -> bool {
        let letters: String = self
            .as_str()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        matches!(
            letters.as_str(),
            "TABULARMULTICOLUMN"
                | "TABULARMULTICOLUMNS"
                | "TABULARMULTIPLECOLUMN"
                | "TABULARMULTIPLECOLUMNS"
        )
    }
}

open_enum! {
    /// The state of a task (`taskState`).
    TaskState {
        /// Queued.
        NotStarted = "NOT_STARTED",
        /// Running.
        InProgress = "IN_PROGRESS",
        /// Finished, successfully or not: see the result.
        Complete = "COMPLETE",
        /// Being cancelled.
        Cancelling = "CANCELLING",
        /// Cancelled.
        Cancelled = "CANCELLED",
    }
}

impl TaskState {
    /// True once the task will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, TaskState::Complete | TaskState::Cancelled)
    }
}

// The API's shapes. Every field but the open enums and `Task::result` is read with
// `deserialize_with = "lenient"`; `skip_serializing_if` keeps absent fields out of `--json`.

/// A workspace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Workspace {
    /// Id (32 lower-case hex digits).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Active or not.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Size allowance in bytes.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub size_allowance: Option<u64>,
    /// Current size in bytes (only with `tenantDetails=true`).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub current_size: Option<u64>,
}

/// A model.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Model {
    /// Id (32 upper-case hex digits).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_state: Option<ModelState>,
    /// Workspace id.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub current_workspace_id: Option<String>,
    /// Workspace name.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub current_workspace_name: Option<String>,
}

/// An export action.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Export {
    /// Id (`116…`); also the id of the file it writes.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Type (layout and scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_type: Option<ExportType>,
    /// MIME type of the output (`text/csv`, ...).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub export_format: Option<String>,
    /// Text encoding of the output.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<ExportType>,
}

/// What an export writes (`GET .../exports/{id}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportMetadata {
    /// Number of columns.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub column_count: Option<u64>,
    /// Column types (`MIXED` when Anaplan does not know).
    #[serde(deserialize_with = "lenient")]
    pub data_types: Vec<String>,
    /// Quote character.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Text encoding.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// MIME type.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub export_format: Option<String>,
    /// Column names, as in the file's header row.
    #[serde(deserialize_with = "lenient")]
    pub header_names: Vec<String>,
    /// List names per column.
    #[serde(deserialize_with = "lenient")]
    pub list_names: Vec<String>,
    /// Rows (not always exact).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    /// Field separator.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<ExportType>,
}

/// A file of a model (uploads, and the outputs of exports).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FileInfo {
    /// Id (`113…` for uploads, the export id for export outputs).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Chunks currently stored (0 when there is no content).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub chunk_count: Option<u64>,
    /// Quote character.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Text encoding.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// 1-based first data row.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub first_data_row: Option<u64>,
    /// Format (`txt`).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// 1-based header row (0: none).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub header_row: Option<u64>,
    /// Field separator.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
}

/// One chunk of a file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Chunk {
    /// Id (`"0"`, `"1"`, ...; sometimes sent as a number).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name (`Chunk 0`).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A task (an export run). Unlike the other shapes, a task without an id is refused.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Id (32 upper-case hex digits).
    #[serde(deserialize_with = "lenient")]
    pub task_id: String,
    /// State; absent in the answer to the POST that starts a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_state: Option<TaskState>,
    /// Progress, 0.0 to 1.0.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<f64>,
    /// What the task is doing now.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_step: Option<String>,
    /// When it was created, epoch milliseconds.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<i64>,
    /// The outcome, once terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskResult>,
}

/// The outcome of a task.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskResult {
    /// False when the task failed (a COMPLETE task may have failed).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub successful: Option<bool>,
    /// A failure dump can be downloaded.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub failure_dump_available: Option<bool>,
    /// The object the task worked on (for an export: its file).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// The object's name.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// Messages.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<TaskDetail>,
}

/// One message of a task result.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDetail {
    /// The message.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub local_message_text: Option<String>,
    /// How often it happened.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u64>,
    /// Its type.
    #[serde(
        rename = "type",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Values.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl TaskDetail {
    /// One line: the message, its values and count.
    pub fn to_line(&self) -> String {
        let mut s = self
            .local_message_text
            .clone()
            .or_else(|| self.kind.clone())
            .unwrap_or_else(|| "(no message)".to_owned());
        if !self.values.is_empty() {
            let _ = write!(s, " [{}]", self.values.join(", "));
        }
        if let Some(n) = self.occurrences.filter(|n| *n > 1) {
            let _ = write!(s, " (x{n})");
        }
        s
    }
}

/// Task messages: an item that is not a message is left out.
impl ListItem for TaskDetail {
    fn item(v: Value) -> Option<Self> {
        serde_json::from_value(v).ok()
    }
}

/// `meta.paging`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Paging {
    /// Items in this page (not always right).
    #[serde(deserialize_with = "lenient")]
    pub current_page_size: Option<u64>,
    /// Items in all pages: the one number to trust.
    #[serde(deserialize_with = "lenient")]
    pub total_size: Option<u64>,
    /// Offset of this page.
    #[serde(deserialize_with = "lenient")]
    pub offset: Option<u64>,
}

/// The paging of a v2.0 list answer, if it has one.
pub(crate) fn paging(body: &Value) -> Option<Paging> {
    let p = body.get("meta")?.get("paging")?;
    serde_json::from_value(p.clone()).ok()
}

/// The items of `call`'s list answer: the array under `key` (v2.0), or the whole body when it
/// is an array (v1.3). A missing key is an empty list (Anaplan leaves out empty collections).
pub(crate) fn unwrap_list<T: DeserializeOwned>(
    body: &Value,
    key: &str,
    call: &str,
) -> Result<Vec<T>> {
    let items = match body {
        Value::Array(_) => body,
        Value::Object(map) => match map.get(key) {
            Some(v) if !v.is_null() => v,
            _ => return Ok(Vec::new()),
        },
        _ => return Err(unexpected(call, &format!("expected a list of {key}"))),
    };
    let Value::Array(items) = items else {
        return Err(unexpected(call, &format!("{key} is not a list")));
    };
    items
        .iter()
        .map(|item| {
            serde_json::from_value(item.clone())
                .map_err(|e| unexpected(call, &format!("an item of {key}: {e}")))
        })
        .collect()
}

/// The object under `key` of `call`'s answer (v2.0), or the whole body (v1.3).
pub(crate) fn unwrap_object<T: DeserializeOwned>(body: &Value, key: &str, call: &str) -> Result<T> {
    let inner = match body.get(key) {
        Some(v) if v.is_object() => v,
        _ => body,
    };
    serde_json::from_value(inner.clone()).map_err(|e| unexpected(call, &format!("{key}: {e}")))
}

fn unexpected(call: &str, problem: &str) -> Error {
    ApiError::Answer {
        call: call.to_owned(),
        problem: format!("unexpected answer from Anaplan: {problem}"),
    }
    .into()
}

/// The message of an error answer: `{"status":{"code","message"}}` (Integration API) or
/// `{"status":"FAILURE_...","statusMessage":"..."}` (auth service). Shortened; never the body
/// itself.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = match v.get("status") {
        Some(Value::Object(s)) => s.get("message").and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(code)) => {
            let text = v
                .get("statusMessage")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(if text.is_empty() {
                code.clone()
            } else {
                format!("{code}: {text}")
            })
        }
        _ => v
            .get("statusMessage")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }?;
    let msg = msg.trim();
    if msg.is_empty() {
        return None;
    }
    Some(shorten(msg, 300))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn open_enums_keep_unknown_values() {
        let m: Model = serde_json::from_value(json!({
            "id": "FC12", "name": "FP&A", "activeState": "SOMETHING_NEW"
        }))
        .unwrap();
        assert_eq!(
            m.active_state,
            Some(ModelState::Other("SOMETHING_NEW".into()))
        );
        assert_eq!(m.active_state.unwrap().to_string(), "SOMETHING_NEW");
        let e: Export = serde_json::from_value(json!({
            "id": 116_000_000_001_u64, "name": "E", "exportType": "GRID_ALL_PAGES", "layout": "FANCY_NEW"
        }))
        .unwrap();
        assert_eq!(e.id, "116000000001");
        assert_eq!(e.export_type, Some(ExportType::GridAllPages));
        assert_eq!(e.layout, Some(ExportType::Other("FANCY_NEW".into())));
        for (text, state) in [
            ("NOT_STARTED", TaskState::NotStarted),
            ("IN_PROGRESS", TaskState::InProgress),
            ("COMPLETE", TaskState::Complete),
            ("CANCELLING", TaskState::Cancelling),
            ("CANCELLED", TaskState::Cancelled),
            ("PAUSED", TaskState::Other("PAUSED".into())),
        ] {
            assert_eq!(TaskState::from(text.to_owned()), state);
            assert_eq!(state.as_str(), text);
        }
        assert!(!TaskState::Other("DONE?".into()).is_terminal());
    }

    #[test]
    fn task_shapes_from_the_reference() {
        // PM's GET task example, verbatim.
        let body = json!({"meta":{"schema":"https://api.anaplan.com//2/0/models/7363/objects/task"},
            "status":{"code":200,"message":"Success"},
            "task":{"type":"taskInformation","taskId":"BFEC582EBD4146068FE4061831C8F0F0","currentStep":"Complete.","progress":1,
                "result":{"failureDumpAvailable":false,"objectId":"116000000002","successful":true},"taskState":"COMPLETE"}});
        let t: Task = unwrap_object(&body, "task", "get").unwrap();
        assert_eq!(t.task_id, "BFEC582EBD4146068FE4061831C8F0F0");
        assert_eq!(t.task_state, Some(TaskState::Complete));
        assert_eq!(t.progress, Some(1.0));
        let r = t.result.unwrap();
        assert_eq!(r.successful, Some(true));
        assert_eq!(r.object_id.as_deref(), Some("116000000002"));
        // The POST answer: only an id. And v1.3: the bare object.
        let t: Task = unwrap_object(&json!({"task":{"taskId":"F362"}}), "task", "get").unwrap();
        assert_eq!((t.task_id.as_str(), t.task_state), ("F362", None));
        let t: Task = unwrap_object(
            &json!({"taskId":"AB","taskState":"IN_PROGRESS","progress":"0.5"}),
            "task",
            "get",
        )
        .unwrap();
        assert_eq!(t.progress, Some(0.5));
        // A failed result with details.
        let t: Task = unwrap_object(
            &json!({"task":{"taskId":"X","taskState":"COMPLETE","result":{"successful":"false",
                "failureDumpAvailable":true,"details":[{"localMessageText":"Line item missing","occurrences":3,"type":"error","values":["a",1]}]}}}),
            "task",
            "get",
        )
        .unwrap();
        let r = t.result.unwrap();
        assert_eq!(r.successful, Some(false));
        assert_eq!(r.details[0].to_line(), "Line item missing [a, 1] (x3)");
        let r: TaskResult =
            serde_json::from_value(json!({"details": [{"type": "warning"}, "junk"]})).unwrap();
        assert_eq!(r.details.len(), 1);
    }

    #[test]
    fn lists_in_every_shape() {
        let v2 = json!({"meta":{"paging":{"currentPageSize":1,"offset":0,"totalSize":2}},
            "status":{"code":200,"message":"Success"},
            "chunks":[{"id":"0","name":"Chunk 0"},{"id":1,"name":"Chunk 1"}]});
        let chunks: Vec<Chunk> = unwrap_list(&v2, "chunks", "list").unwrap();
        assert_eq!(
            chunks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["0", "1"]
        );
        assert_eq!(
            paging(&v2),
            Some(Paging {
                current_page_size: Some(1),
                total_size: Some(2),
                offset: Some(0)
            })
        );
        // Empty collections leave out their key.
        let empty = json!({"meta":{"paging":{"currentPageSize":0,"offset":0,"totalSize":0}},"status":{"code":200}});
        assert!(
            unwrap_list::<Chunk>(&empty, "chunks", "list")
                .unwrap()
                .is_empty()
        );
        // v1.3: a bare array.
        let v13 = json!([{"id":"0","name":"Chunk 0"}]);
        assert_eq!(
            unwrap_list::<Chunk>(&v13, "chunks", "list").unwrap().len(),
            1
        );
        assert_eq!(paging(&v13), None);
        assert!(unwrap_list::<Chunk>(&json!("nope"), "chunks", "list").is_err());
        assert!(unwrap_list::<Chunk>(&json!({"chunks": 3}), "chunks", "list").is_err());
    }

    #[test]
    fn files_and_metadata_from_the_reference() {
        let body = json!({"files":[{"id":"113000000000","name":"#T & #R.csv","chunkCount":0,"delimiter":"\"","encoding":"ISO-8859-1","firstDataRow":2,"format":"txt","headerRow":1,"separator":","},
            {"id":"116000000001","name":"ExportGrid - ORG2Test.xls","chunkCount":1,"firstDataRow":0,"headerRow":0}]});
        let files: Vec<FileInfo> = unwrap_list(&body, "files", "list").unwrap();
        assert_eq!(files[0].chunk_count, Some(0));
        assert_eq!(files[1].encoding, None);
        let md: ExportMetadata = unwrap_object(
            &json!({"exportMetadata":{"columnCount":16,"dataTypes":["ENTITY","MIXED"],"delimiter":"\"","encoding":"UTF-8",
                "exportFormat":"text/csv","headerNames":["A","Value"],"listNames":["",""],"rowCount":20432,"separator":",","layout":"TABULAR_SINGLE_COLUMN"}}),
            "exportMetadata",
            "get",
        )
        .unwrap();
        assert_eq!(md.header_names, ["A", "Value"]);
        assert_eq!(md.row_count, Some(20432));
        assert!(md.layout.unwrap().is_single_column());
        for multi in [
            "TABULAR_MULTI_COLUMN",
            "TABULAR_MULTIPLE_COLUMNS",
            "tabular-multi-column",
            "Tabular Multi Column",
        ] {
            assert!(
                ExportType::from(multi.to_owned()).is_multi_column(),
                "{multi}"
            );
        }
        assert!(!ExportType::TabularSingleColumn.is_multi_column());
        assert!(!ExportType::GridAllPages.is_multi_column());
    }

    #[test]
    fn error_messages() {
        for (body, expected) in [
            (
                r#"{"status":{"code":404,"message":"Not Found"},"path":"/2/0/x","timestamp":"t"}"#,
                Some("Not Found"),
            ),
            (
                r#"{"status":"FAILURE_BAD_CREDENTIAL","statusMessage":"Bad credentials"}"#,
                Some("FAILURE_BAD_CREDENTIAL: Bad credentials"),
            ),
            (
                r#"{"status":"FAILURE_BAD_HEADER"}"#,
                Some("FAILURE_BAD_HEADER"),
            ),
            ("<html>oops</html>", None),
            ("", None),
        ] {
            assert_eq!(
                error_message(body.as_bytes()).as_deref(),
                expected,
                "{body}"
            );
        }
    }
}
