//! One view or list end to end: find the workspace, model and view (or list), read its axes
//! (or properties), start a large-volume read request, convert its pages to Parquet through
//! the engine as they become available, and delete the request, whatever the ending.
//!
//! # Layout and types
//!
//! A view is read in Tabular Multiple Column by default: the dimension columns first (every
//! dimension on any axis but Line Items, the count taken from the view's metadata; they stay
//! text), then one column per line item, each inferred on its own (an integer line item
//! becomes int64, a boolean one boolean, a text one utf8). `--layout single-column` asks for
//! `TABULAR_SINGLE_COLUMN` and reads it like a Tabular Single Column export. A list is read
//! in the large-read list layout (name under an empty header, `Parent`, `Write`/`Read` with
//! Selective Access, `Code`, one boolean per subset, one column per property): the leading
//! text columns stay text, the subsets and properties are inferred. Late values widen as for
//! exports.
//!
//! # Read modes
//!
//! - `large`: a read request only. A refusal (404 or 403 on the POST for a view or list that
//!   exists: the user's role) fails with [`ExportFailed::ReadRefused`], which names the cause.
//! - `direct`: the transactional call (`GET /models/{m}/views/{v}/data`, at most 1,000,000
//!   cells; for a list `GET …/lists/{l}/items?includeAll=true` as CSV, at most 1,000,000
//!   items, whose `id,name,code,parent,parentId,listId,listName` columns stay text).
//! - `auto` (default): a read request; when it is refused, the transactional call, and the
//!   summary says so.
//!
//! # Cleanup
//!
//! The request is deleted after the run, on success, failure, timeout and interruption
//! (`DELETE` is never cut short by a stop request); a failed delete is logged, not fatal. If
//! the run is dropped before it ends, the delete is sent from a spawned task.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::anaplan::AnaplanClient;
use crate::anaplan::model::{Model, Workspace};
use crate::anaplan::reads::{ReadRef, ReadTarget, is_refusal};
use crate::anaplan::views::{ListMetadata, ViewMetadata};
use crate::convert::{self, EngineOptions, Layout, RunContext};
use crate::error::{Error, ExportFailed, Result};
use crate::sink::{Destination, Sink};
use crate::source::MemorySource;
use crate::source::meter::DownloadMeter;
use crate::source::pages::{PageOptions, PageSource};
use crate::summary::RunSummary;

/// What to read: a view or a list, by name or id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadObject {
    /// A view: a module's default view (the module's name or id) or a saved view.
    View(String),
    /// A list.
    List(String),
}

/// How a view is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// A read request, falling back to the transactional call when it is refused.
    #[default]
    Auto,
    /// A large-volume read request only.
    Large,
    /// The transactional call only (views of at most 1,000,000 cells, lists of at most
    /// 1,000,000 items).
    Direct,
}

impl std::str::FromStr for ReadMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ReadMode::Auto),
            "large" => Ok(ReadMode::Large),
            "direct" => Ok(ReadMode::Direct),
            other => Err(format!("{other:?} is not large, direct or auto")),
        }
    }
}

/// The layout a view is read in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ViewLayout {
    /// `TABULAR_MULTI_COLUMN`: dimensions, then one column per line item.
    #[default]
    MultiColumn,
    /// `TABULAR_SINGLE_COLUMN`: dimensions, line item, value.
    SingleColumn,
}

impl ViewLayout {
    /// The `exportType` sent.
    pub fn export_type(self) -> &'static str {
        match self {
            ViewLayout::MultiColumn => "TABULAR_MULTI_COLUMN",
            ViewLayout::SingleColumn => "TABULAR_SINGLE_COLUMN",
        }
    }
}

/// What to read, and how.
#[derive(Clone, Debug)]
pub struct ReadJob {
    /// Workspace name or id.
    pub workspace: String,
    /// Model name or id.
    pub model: String,
    /// The view or list.
    pub object: ReadObject,
    /// Layout of a view read.
    pub layout: ViewLayout,
    /// Read mode.
    pub mode: ReadMode,
    /// Page downloads, polling, timeout, keep-alive.
    pub pages: PageOptions,
}

impl ReadJob {
    /// A job with the defaults.
    pub fn new(workspace: impl Into<String>, model: impl Into<String>, object: ReadObject) -> Self {
        ReadJob {
            workspace: workspace.into(),
            model: model.into(),
            object,
            layout: ViewLayout::default(),
            mode: ReadMode::default(),
            pages: PageOptions::default(),
        }
    }
}

impl ReadJob {
    /// The read of `object` with an export's settings: its workspace and model, its chunk
    /// concurrency, polling and timeout for the pages, and `--layout single-column` (the
    /// engine's layout) for a view's `TABULAR_SINGLE_COLUMN`. Shared by `export --view` and the
    /// jobs file's `view =` and `list =` keys.
    pub fn like_export(
        object: ReadObject,
        mode: ReadMode,
        job: &crate::export::ExportJob,
        options: &EngineOptions,
    ) -> Self {
        let mut read = ReadJob::new(job.workspace.clone(), job.model.clone(), object);
        read.mode = mode;
        read.layout = if options.schema.layout == Layout::SingleColumn {
            ViewLayout::SingleColumn
        } else {
            ViewLayout::MultiColumn
        };
        read.pages = PageOptions {
            concurrency: job.concurrency,
            poll_interval: job.poll.interval,
            timeout: job.poll.timeout,
            ..PageOptions::default()
        };
        read
    }
}

/// What a read did.
#[derive(Clone, Debug)]
pub struct ReadReport {
    /// The engine's summary (a fallback is among its decisions).
    pub summary: RunSummary,
    /// The workspace.
    pub workspace: Workspace,
    /// The model.
    pub model: Model,
    /// `view` or `list`.
    pub kind: &'static str,
    /// The view's or list's id.
    pub object_id: String,
    /// Its name.
    pub object_name: String,
    /// The read request, when one was used (deleted by now).
    pub request_id: Option<String>,
    /// Pages read.
    pub pages: u64,
    /// Why the transactional call was used instead of a read request, when it was.
    pub fallback: Option<String>,
}

/// What is known before the data is read.
#[derive(Clone)]
struct Resolved {
    workspace: Workspace,
    model: Model,
    kind: &'static str,
    id: String,
    name: String,
    module_id: Option<String>,
    /// Leading text columns.
    text_columns: usize,
}

async fn resolve(client: &AnaplanClient, job: &ReadJob) -> Result<Resolved> {
    let workspace = client.find_workspace(&job.workspace).await?;
    let model = client.find_model(&workspace, &job.model).await?;
    match &job.object {
        ReadObject::View(wanted) => {
            let view = client.find_view(&workspace, &model, wanted).await?;
            let md: ViewMetadata = client
                .view_metadata(&workspace.id, &model.id, &view.id)
                .await?;
            let dims = md.tabular_dimensions();
            Ok(Resolved {
                kind: "view",
                module_id: view.module_id.clone(),
                text_columns: match job.layout {
                    ViewLayout::MultiColumn => dims,
                    ViewLayout::SingleColumn => dims + 1,
                },
                id: view.id,
                name: view.name,
                workspace,
                model,
            })
        }
        ReadObject::List(wanted) => {
            let list = client.find_list(&workspace, &model, wanted).await?;
            let md: ListMetadata = client
                .list_metadata(&workspace.id, &model.id, &list.id)
                .await?;
            Ok(Resolved {
                kind: "list",
                module_id: None,
                text_columns: md.text_columns(),
                id: list.id,
                name: list.name,
                workspace,
                model,
            })
        }
    }
}

/// The engine options for a read: the layout (unless the user chose one) and the Parquet
/// key-value metadata.
fn engine_options(
    r: &Resolved,
    job: &ReadJob,
    mut options: EngineOptions,
    request_id: Option<&str>,
    mode: &str,
) -> EngineOptions {
    if options.schema.layout == Layout::Auto {
        options.schema.layout = match (r.kind, job.layout) {
            ("view", ViewLayout::SingleColumn) => Layout::SingleColumn,
            _ => Layout::MultiColumn {
                dimensions: r.text_columns,
            },
        };
    }
    let at = chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let kind = r.kind;
    let mut kv = vec![
        ("anaplan.workspace.id".to_owned(), r.workspace.id.clone()),
        (
            "anaplan.workspace.name".to_owned(),
            r.workspace.name.clone(),
        ),
        ("anaplan.model.id".to_owned(), r.model.id.clone()),
        ("anaplan.model.name".to_owned(), r.model.name.clone()),
        (format!("anaplan.{kind}.id"), r.id.clone()),
        (format!("anaplan.{kind}.name"), r.name.clone()),
        ("anaplan.read.mode".to_owned(), mode.to_owned()),
        ("anaplan.read.time".to_owned(), at),
    ];
    if kind == "view" {
        kv.push((
            "anaplan.read.layout".to_owned(),
            job.layout.export_type().to_owned(),
        ));
    }
    if let Some(id) = request_id {
        kv.push(("anaplan.read.request_id".to_owned(), id.to_owned()));
    }
    options.parquet.metadata.extend(kv);
    options
}

/// Deletes the request when dropped without [`Cleanup::run`] (a run dropped mid-way).
struct Cleanup {
    client: AnaplanClient,
    read: ReadRef,
    id: String,
    done: bool,
}

impl Cleanup {
    async fn run(mut self) {
        self.done = true;
        delete_logged(&self.client, &self.read, &self.id).await;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (client, read, id) = (self.client.clone(), self.read.clone(), self.id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { delete_logged(&client, &read, &id).await });
        } else {
            tracing::warn!("read request {id} was not deleted (no runtime left to delete it)");
        }
    }
}

async fn delete_logged(client: &AnaplanClient, read: &ReadRef, id: &str) {
    let delete = client.delete_read_request(read, id);
    match tokio::time::timeout(Duration::from_secs(30), delete).await {
        Ok(Ok(())) => tracing::info!("deleted read request {id}"),
        Ok(Err(e)) => tracing::warn!(
            "could not delete read request {id} (Anaplan reclaims it after 30 minutes): {e}"
        ),
        Err(_) => tracing::warn!(
            "could not delete read request {id}: no answer in 30s (Anaplan reclaims it after 30 minutes)"
        ),
    }
}

/// The whole read: resolve, read (a request, or the transactional call), convert, clean up.
pub async fn run_read(
    client: &AnaplanClient,
    job: &ReadJob,
    destination: &Destination,
    options: EngineOptions,
    run: &RunContext,
) -> Result<ReadReport> {
    tokio::select! {
        biased;
        () = run.shutdown.triggered() => return Err(run.shutdown.error()),
        checked = destination.check() => checked?,
    }
    read_into(client, job, destination, options, run).await
}

/// [`run_read`] into any [`Sink`] (the destination is not checked first): the Python
/// package's record-batch stream.
pub async fn read_into(
    client: &AnaplanClient,
    job: &ReadJob,
    destination: &dyn Sink,
    options: EngineOptions,
    run: &RunContext,
) -> Result<ReadReport> {
    let started = Instant::now();
    client.retry_stats().attach(&run.progress);
    client.stop_on(&run.shutdown);
    let r = resolve(client, job).await?;
    let object = format!("{} {:?}", r.kind, r.name);
    tracing::info!(
        "{object} ({}) of model {:?} ({}) in workspace {:?} ({})",
        r.id,
        r.model.name,
        r.model.id,
        r.workspace.name,
        r.workspace.id
    );
    if job.mode == ReadMode::Direct {
        return read_direct(client, job, &r, destination, options, run, None).await;
    }
    let read = ReadRef {
        workspace_id: r.workspace.id.clone(),
        model_id: r.model.id.clone(),
        target: match r.kind {
            "view" => ReadTarget::View(r.id.clone()),
            _ => ReadTarget::List(r.id.clone()),
        },
    };
    if run.shutdown.is_triggered() {
        return Err(run.shutdown.error());
    }
    let export_type = (r.kind == "view").then(|| job.layout.export_type());
    let request = match client.create_read_request(&read, export_type).await {
        Ok(request) => request,
        Err(e) => {
            let Some((status, message)) = is_refusal(&e) else {
                return Err(e);
            };
            let refused: Error = ExportFailed::ReadRefused {
                object: object.clone(),
                status,
                message,
            }
            .into();
            if job.mode == ReadMode::Auto {
                tracing::warn!("{refused}; reading with the transactional call instead");
                return read_direct(
                    client,
                    job,
                    &r,
                    destination,
                    options,
                    run,
                    Some((status, refused)),
                )
                .await;
            }
            return Err(refused);
        }
    };
    let id = request.request_id.clone();
    tracing::info!("started read request {id}");
    let cleanup = Cleanup {
        client: client.clone(),
        read: read.clone(),
        id: id.clone(),
        done: false,
    };
    let options = engine_options(&r, job, options, Some(&id), "large");
    let source = PageSource::new(
        client.clone(),
        read,
        &id,
        job.pages,
        run.progress.clone(),
        run.shutdown.clone(),
    )
    .with_name(format!("Anaplan {object} of model {:?}", r.model.name));
    let downloads = DownloadMeter::new();
    let source = source.with_meter(downloads.clone());
    // Signing in counts in the wait for the read request: it happens on the first call.
    let before = (Duration::ZERO, started.elapsed());
    let result = crate::export::convert_measured(
        client,
        &source,
        &downloads,
        destination,
        &options,
        run,
        before,
    )
    .await;
    cleanup.run().await;
    let mut summary = result?;
    crate::export::merge_retries(&mut summary.retries, client.retry_stats().counts());
    let pages = run.progress.snapshot().chunks_done;
    Ok(ReadReport {
        summary,
        kind: r.kind,
        object_id: r.id,
        object_name: r.name,
        workspace: r.workspace,
        model: r.model,
        request_id: Some(id),
        pages,
        fallback: None,
    })
}

/// The transactional call; `refused` is the large read's refusal when this is the fallback.
async fn read_direct(
    client: &AnaplanClient,
    job: &ReadJob,
    r: &Resolved,
    destination: &dyn Sink,
    options: EngineOptions,
    run: &RunContext,
    refused: Option<(u16, Error)>,
) -> Result<ReadReport> {
    let object = format!("{} {:?}", r.kind, r.name);
    let module = r.module_id.clone().unwrap_or_else(|| r.id.clone());
    let fetched = if r.kind == "list" {
        client
            .list_items_csv(&r.workspace.id, &r.model.id, &r.id)
            .await
    } else {
        client
            .view_data(
                &r.model.id,
                &r.id,
                Some((job.layout.export_type(), &module)),
            )
            .await
    };
    let data: Bytes = match fetched {
        Ok(data) => data,
        Err(e) => {
            if let (Error::Api(a), Some((_, refused))) = (&e, &refused)
                && let crate::error::ApiError::Status {
                    status: 400,
                    message,
                    ..
                } = &**a
            {
                return Err(ExportFailed::DirectReadRefused {
                    object,
                    status: 400,
                    message: message.clone(),
                    why: format!("it was the fallback after this: {refused}"),
                }
                .into());
            }
            return Err(e);
        }
    };
    // The transactional list read's CSV leads with `id,name,code,parent,parentId,listId,
    // listName`, all text; subsets and properties follow.
    let listed;
    let r = if r.kind == "list" {
        listed = Resolved {
            text_columns: 7,
            ..r.clone()
        };
        &listed
    } else {
        r
    };
    let data_len = data.len();
    let mut options = engine_options(r, job, options, None, "direct");
    let source = MemorySource::new(
        format!(
            "Anaplan {object} of model {:?} (transactional read)",
            r.model.name
        ),
        vec![data],
    );
    tracing::info!("read {} bytes with the transactional call", data_len);
    let fallback = refused.map(|(status, _)| {
        format!(
            "the large-volume read was refused (HTTP {status}): read with the transactional call \
             (at most 1,000,000 {}) instead",
            if r.kind == "list" { "items" } else { "cells" }
        )
    });
    if let Some(f) = &fallback {
        options
            .parquet
            .metadata
            .push(("anaplan.read.fallback".to_owned(), f.clone()));
    }
    let mut summary = convert::convert(&source, destination, &options, run).await?;
    if let Some(f) = &fallback {
        summary.decisions.insert(0, f.clone());
    }
    crate::export::merge_retries(&mut summary.retries, client.retry_stats().counts());
    Ok(ReadReport {
        summary,
        workspace: r.workspace.clone(),
        model: r.model.clone(),
        kind: r.kind,
        object_id: r.id.clone(),
        object_name: r.name.clone(),
        request_id: None,
        pages: 0,
        fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_modes_parse() {
        assert_eq!("auto".parse::<ReadMode>(), Ok(ReadMode::Auto));
        assert_eq!("LARGE".parse::<ReadMode>(), Ok(ReadMode::Large));
        assert_eq!("direct".parse::<ReadMode>(), Ok(ReadMode::Direct));
        assert!("fast".parse::<ReadMode>().is_err());
    }
}
