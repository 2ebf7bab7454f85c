//! A `view =` or `list =` dataset of a round: the view or list read through a large-volume
//! read request ([`crate::read::run_read`], which deletes the request whatever the ending),
//! then its manifest, naming the view or list and the request.
//!
//! Unlike an export it takes no model turn (a read request is not a model task) and its pages
//! are not counted in the round's shared download budget (each dataset's `concurrency` still
//! bounds them); it records no content hash, so `--skip-unchanged` always writes it.

use std::time::SystemTime;

use bytes::Bytes;

use super::Dataset;
use super::catalog::ReadResolved;
use super::manifest::Manifest;
use super::report::{DatasetReport, Status, named};
use crate::anaplan::AnaplanClient;
use crate::convert::RunContext;
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};
use crate::read::{ReadJob, ReadObject, run_read};
use crate::sink::Destination;

/// Reads the dataset's view or list into `destination` and writes its manifest; on success
/// sets the report's status.
pub(super) async fn attempt(
    client: &AnaplanClient,
    run_id: &str,
    d: &Dataset,
    names: ReadResolved,
    destination: &Destination,
    run: &RunContext,
    report: &mut DatasetReport,
) -> Result<()> {
    let read: &ReadJob = d
        .read
        .as_ref()
        .ok_or_else(|| Error::Internal("a view or list dataset without its read".into()))?;
    // The names were resolved once for the round: read by id.
    let mut job = read.clone();
    job.workspace.clone_from(&names.workspace.id);
    job.model.clone_from(&names.model.id);
    job.object = match job.object {
        ReadObject::View(_) => ReadObject::View(names.object.id.clone()),
        ReadObject::List(_) => ReadObject::List(names.object.id.clone()),
    };
    let read_at = SystemTime::now();
    let r = run_read(client, &job, destination, d.engine.clone(), run).await?;
    if let Some(f) = &r.fallback {
        tracing::info!("dataset {:?}: {f}", d.name);
    }
    let summary = &r.summary;
    report.rows = summary.rows;
    report.bytes = summary.bytes_out;
    report.input_bytes = summary.bytes_in;
    report.location = Some(summary.output.clone());
    report.read_request_id.clone_from(&r.request_id);
    let object = crate::jobs::NamedRef {
        id: r.object_id.clone(),
        name: r.object_name.clone(),
    };
    let (view, list) = match r.kind {
        "view" => (Some(object), None),
        _ => (None, Some(object)),
    };
    let manifest = Manifest {
        view,
        list,
        read_request_id: r.request_id.clone(),
        ..Manifest::written(
            run_id,
            d,
            &report.output,
            summary,
            read_at,
            named(&r.workspace),
            named(&r.model),
        )
    };
    let at = destination
        .write_manifest(Bytes::from(manifest.to_json()))
        .await
        .map_err(|e| {
            Error::from(DestinationError::new(
                DestinationErrorKind::Store,
                summary.output.clone(),
                format!(
                    "the data was written to {}, but its manifest could not be: {e}",
                    summary.output
                ),
            ))
        })?;
    report.manifest = Some(at);
    report.status = Status::Ok;
    Ok(())
}
