//! One export end to end: find the workspace, model and export, run the export task (or adopt
//! a finished one), list the file's chunks, and convert them to Parquet through the engine.

use std::time::{Duration, Instant, SystemTime};

use crate::anaplan::AnaplanClient;
use crate::anaplan::model::{Export, ExportMetadata, Model, Task, Workspace};
use crate::anaplan::task::{ExportRef, PollOptions};
use crate::convert::{self, EngineOptions, InputEncoding, Layout, RunContext};
use crate::error::{Error, ExportFailed, Result};
use crate::sink::timed::{TimedSink, UploadMeter};
use crate::sink::{Destination, Sink};
use crate::source::export::{DEFAULT_CONCURRENCY, ExportSource, FileRef};
use crate::source::meter::DownloadMeter;
use crate::stages::StageTimes;
use crate::summary::RunSummary;

/// What to export, and how.
#[derive(Clone, Debug)]
pub struct ExportJob {
    /// Workspace name or id.
    pub workspace: String,
    /// Model name or id.
    pub model: String,
    /// Export name or id.
    pub export: String,
    /// Download the file of this finished task instead of starting a new one.
    pub task_id: Option<String>,
    /// Polling of the task.
    pub poll: PollOptions,
    /// Chunks downloaded at once.
    pub concurrency: usize,
    /// `localeName` sent when starting the task.
    pub locale: String,
    /// Take the separator and encoding from the export's metadata where the engine options
    /// still hold the defaults (`,` and UTF-8).
    pub dialect_from_metadata: bool,
}

impl ExportJob {
    /// A job with default polling, concurrency and locale.
    pub fn new(
        workspace: impl Into<String>,
        model: impl Into<String>,
        export: impl Into<String>,
    ) -> Self {
        ExportJob {
            workspace: workspace.into(),
            model: model.into(),
            export: export.into(),
            task_id: None,
            poll: PollOptions::default(),
            concurrency: DEFAULT_CONCURRENCY,
            locale: "en_US".to_owned(),
            dialect_from_metadata: true,
        }
    }
}

/// What happens, for a progress display.
#[derive(Debug)]
pub enum ExportEvent<'a> {
    /// The names were resolved.
    Resolved {
        /// The workspace.
        workspace: &'a Workspace,
        /// The model.
        model: &'a Model,
        /// The export.
        export: &'a Export,
    },
    /// The task was started (or adopted with `--task-id`).
    TaskStarted {
        /// Its id.
        task_id: &'a str,
    },
    /// A task status was read.
    Task(&'a Task),
    /// The download starts.
    Downloading {
        /// Chunks in the file.
        chunks: usize,
    },
}

/// What an export did.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The engine's summary (retry counts include the downloads).
    pub summary: RunSummary,
    /// The workspace.
    pub workspace: Workspace,
    /// The model.
    pub model: Model,
    /// The export.
    pub export: Export,
    /// Its metadata, when Anaplan gave it.
    pub metadata: Option<ExportMetadata>,
    /// The task whose file was converted.
    pub task_id: String,
    /// Chunks in the file.
    pub chunks: usize,
}

/// Everything resolved before the download.
#[derive(Clone, Debug)]
pub struct PreparedExport {
    /// The workspace.
    pub workspace: Workspace,
    /// The model.
    pub model: Model,
    /// The export.
    pub export: Export,
    /// Its metadata, when Anaplan gave it.
    pub metadata: Option<ExportMetadata>,
    /// The finished, successful task.
    pub task_id: String,
    /// When the task finished (or was found finished).
    pub exported_at: SystemTime,
    /// The file to download.
    pub file: FileRef,
}

/// Steps 1 to 3: resolve names, run (or adopt) the task and check its outcome.
pub async fn prepare(
    client: &AnaplanClient,
    job: &ExportJob,
    run: &RunContext,
    on_event: &(dyn Fn(ExportEvent<'_>) + Send + Sync),
) -> Result<PreparedExport> {
    client.retry_stats().attach(&run.progress);
    client.stop_on(&run.shutdown);
    let workspace = client.find_workspace(&job.workspace).await?;
    let model = client.find_model(&workspace, &job.model).await?;
    let export = client.find_export(&workspace, &model, &job.export).await?;
    prepare_resolved(client, job, workspace, model, export, run, on_event).await
}

/// Steps 2 and 3 of [`prepare`] for names already resolved (a jobs run resolves the names of
/// every dataset once, then runs the tasks one model at a time): read the export's metadata,
/// run (or adopt) the task and check its outcome. `job`'s workspace, model and export names
/// are not used.
pub async fn prepare_resolved(
    client: &AnaplanClient,
    job: &ExportJob,
    workspace: Workspace,
    model: Model,
    export: Export,
    run: &RunContext,
    on_event: &(dyn Fn(ExportEvent<'_>) + Send + Sync),
) -> Result<PreparedExport> {
    on_event(ExportEvent::Resolved {
        workspace: &workspace,
        model: &model,
        export: &export,
    });
    tracing::info!(
        "export {:?} ({}) of model {:?} ({}) in workspace {:?} ({})",
        export.name,
        export.id,
        model.name,
        model.id,
        workspace.name,
        workspace.id
    );
    let metadata = match client
        .export_metadata(&workspace.id, &model.id, &export.id)
        .await
    {
        Ok(m) => Some(m),
        Err(e @ (Error::Cancelled(_) | Error::Unauthenticated(_))) => return Err(e),
        Err(e) => {
            tracing::warn!("cannot read the export's metadata (continuing without it): {e}");
            None
        }
    };
    if let Some(format) = metadata
        .as_ref()
        .and_then(|m| m.export_format.as_deref())
        .or(export.export_format.as_deref())
        && !format.contains("csv")
        && !format.starts_with("text/")
    {
        return Err(Error::Usage(format!(
            "export {:?} writes {format}, not CSV; change the export's file type to CSV or text in Anaplan",
            export.name
        )));
    }

    let eref = ExportRef {
        workspace_id: workspace.id.clone(),
        model_id: model.id.clone(),
        export_id: export.id.clone(),
    };
    let task_id = if let Some(id) = &job.task_id {
        tracing::info!("using the existing export task {id}");
        id.clone()
    } else {
        if run.shutdown.is_triggered() {
            return Err(run.shutdown.error());
        }
        let id = client.start_export_task(&eref, &job.locale).await?;
        tracing::info!("started export task {id}");
        id
    };
    on_event(ExportEvent::TaskStarted { task_id: &task_id });
    let on_task = |t: &Task| on_event(ExportEvent::Task(t));
    let task = client
        .wait_for_export_task(&eref, &task_id, &job.poll, &run.shutdown, &on_task)
        .await?;
    client.check_export_outcome(&eref, &task).await?;
    let exported_at = SystemTime::now();
    let file_id = task
        .result
        .as_ref()
        .and_then(|r| r.object_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| export.id.clone());
    Ok(PreparedExport {
        file: FileRef {
            workspace_id: workspace.id.clone(),
            model_id: model.id.clone(),
            file_id,
        },
        workspace,
        model,
        export,
        metadata,
        task_id,
        exported_at,
    })
}

/// The Parquet key-value metadata describing where the data came from.
fn parquet_metadata(p: &PreparedExport) -> Vec<(String, String)> {
    let mut kv = vec![
        ("anaplan.workspace.id".to_owned(), p.workspace.id.clone()),
        (
            "anaplan.workspace.name".to_owned(),
            p.workspace.name.clone(),
        ),
        ("anaplan.model.id".to_owned(), p.model.id.clone()),
        ("anaplan.model.name".to_owned(), p.model.name.clone()),
        ("anaplan.export.id".to_owned(), p.export.id.clone()),
        ("anaplan.export.name".to_owned(), p.export.name.clone()),
        ("anaplan.task.id".to_owned(), p.task_id.clone()),
        (
            "anaplan.export.time".to_owned(),
            chrono::DateTime::<chrono::Utc>::from(p.exported_at)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ];
    let layout = p
        .metadata
        .as_ref()
        .and_then(|m| m.layout.clone())
        .or_else(|| p.export.layout.clone())
        .or_else(|| p.export.export_type.clone());
    if let Some(layout) = layout {
        kv.push(("anaplan.export.layout".to_owned(), layout.to_string()));
    }
    kv
}

/// Fills the engine options from what Anaplan says about the export: the header for a file
/// with no chunks, the layout (when the user chose none), the separator and encoding (when
/// `from_metadata` and the options hold the defaults), and the key-value metadata.
pub fn engine_options(
    p: &PreparedExport,
    mut options: EngineOptions,
    from_metadata: bool,
) -> EngineOptions {
    if options.schema.layout == Layout::Auto
        && let Some(layout) = layout_of(p)
    {
        options.schema.layout = layout;
    }
    if let Some(md) = &p.metadata {
        if !md.header_names.is_empty() && options.schema.fallback_header.is_none() {
            options.schema.fallback_header = Some(md.header_names.clone());
        }
        if from_metadata {
            if options.csv.delimiter == b','
                && let Some(sep) = md.separator.as_deref()
                && let Some(b) = separator_byte(sep)
                && b != b','
            {
                tracing::info!("using the export's separator {sep:?}");
                options.csv.delimiter = b;
            }
            if options.csv.encoding == InputEncoding::Utf8
                && let Some(enc) = md.encoding.as_deref()
                && let Some(e) = encoding_of(enc)
                && e != InputEncoding::Utf8
            {
                tracing::info!("using the export's encoding {enc}");
                options.csv.encoding = e;
            }
        }
    }
    options.parquet.metadata.extend(parquet_metadata(p));
    options
}

/// The engine layout an export calls for, when its metadata (or, without it, the export's
/// `layout` or `exportType`) says Tabular Multiple Column: its dimension columns stay text and
/// each line-item column is inferred. `None` keeps the single-column default.
fn layout_of(p: &PreparedExport) -> Option<Layout> {
    let layout = p
        .metadata
        .as_ref()
        .and_then(|m| m.layout.as_ref())
        .or(p.export.layout.as_ref())
        .or(p.export.export_type.as_ref())?;
    if !layout.is_multi_column() {
        return None;
    }
    let dimensions = p.metadata.as_ref().map_or(0, leading_dimensions);
    if dimensions == 0 {
        tracing::warn!(
            "the export is {layout} but its metadata names no dimension columns: inferring the type of every column"
        );
    } else {
        tracing::info!(
            "the export is {layout}: its {dimensions} dimension columns stay text, the type of each line-item column is inferred"
        );
    }
    Some(Layout::MultiColumn { dimensions })
}

/// The leading columns that hold list members (dimensions): `dataTypes` `ENTITY` or
/// `TIME_ENTITY`; without `dataTypes`, a `listNames` entry that names a list.
fn leading_dimensions(md: &ExportMetadata) -> usize {
    if md.data_types.is_empty() {
        return md
            .list_names
            .iter()
            .take_while(|l| !l.trim().is_empty())
            .count();
    }
    md.data_types
        .iter()
        .take_while(|t| {
            let t = t.trim().to_ascii_uppercase().replace(['-', ' '], "_");
            t == "ENTITY" || t == "TIME_ENTITY"
        })
        .count()
}

fn separator_byte(sep: &str) -> Option<u8> {
    match sep {
        "\t" | "\\t" | "tab" => Some(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    }
}

fn encoding_of(name: &str) -> Option<InputEncoding> {
    match name.trim().to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => Some(InputEncoding::Utf8),
        "UTF-16LE" | "UTF-16" | "UTF16LE" => Some(InputEncoding::Utf16Le),
        "ISO-8859-1" | "LATIN1" | "LATIN-1" => Some(InputEncoding::Latin1),
        "WINDOWS-1252" | "CP1252" => Some(InputEncoding::Windows1252),
        _ => None,
    }
}

/// The whole job: [`prepare`], list the chunks, convert. `options` are the user's engine
/// options; the export's metadata fills in the rest ([`engine_options`]).
pub async fn run_export(
    client: &AnaplanClient,
    job: &ExportJob,
    destination: &Destination,
    options: EngineOptions,
    run: &RunContext,
    on_event: &(dyn Fn(ExportEvent<'_>) + Send + Sync),
) -> Result<ExportReport> {
    // A destination that cannot be written fails the run before the export task runs.
    tokio::select! {
        biased;
        () = run.shutdown.triggered() => return Err(run.shutdown.error()),
        checked = destination.check() => checked?,
    }
    export_into(client, job, destination, options, run, on_event).await
}

/// [`run_export`] into any sink (a record-batch stream), with no check of it first: sign in,
/// [`prepare`], download and convert with every stage measured.
pub async fn export_into(
    client: &AnaplanClient,
    job: &ExportJob,
    sink: &dyn Sink,
    options: EngineOptions,
    run: &RunContext,
    on_event: &(dyn Fn(ExportEvent<'_>) + Send + Sync),
) -> Result<ExportReport> {
    client.retry_stats().attach(&run.progress);
    client.stop_on(&run.shutdown);
    let started = Instant::now();
    client.sign_in_now().await?;
    let sign_in = started.elapsed();
    let started = Instant::now();
    let prepared = prepare(client, job, run, on_event).await?;
    let task_wait = started.elapsed();
    record_provenance(sink, &prepared);
    let (source, options) = download_plan(client, job, &prepared, options, run).await?;
    let chunks = source.chunk_count();
    on_event(ExportEvent::Downloading { chunks });
    let downloads = DownloadMeter::new();
    let source = source.with_meter(downloads.clone());
    let mut summary = convert_measured(
        client,
        &source,
        &downloads,
        sink,
        &options,
        run,
        (sign_in, task_wait),
    )
    .await?;
    merge_retries(&mut summary.retries, client.retry_stats().counts());
    Ok(ExportReport {
        summary,
        workspace: prepared.workspace,
        model: prepared.model,
        export: prepared.export,
        metadata: prepared.metadata,
        task_id: prepared.task_id,
        chunks,
    })
}

/// Converts a source whose downloads `downloads` meters (an export's chunks, a read request's
/// pages) with every stage measured: the summary's [`stages`](RunSummary::stages) holds the
/// download (bytes, latencies, the engine's waits),
/// the engine's CPU time, the destination's time and the bottleneck, with `before` (sign-in
/// and task wait) as measured by the caller.
pub async fn convert_measured(
    client: &AnaplanClient,
    source: &dyn crate::source::Source,
    downloads: &DownloadMeter,
    destination: &dyn Sink,
    options: &EngineOptions,
    run: &RunContext,
    before: (Duration, Duration),
) -> Result<RunSummary> {
    let uploads = UploadMeter::new();
    let timed = TimedSink::new(destination, uploads.clone());
    let retries_before = client.retry_stats().total();
    let cpu_before = run.progress.engine_cpu().total();
    let started = Instant::now();
    let mut summary = convert::convert(source, &timed, options, run).await?;
    let transfer = started.elapsed();
    let conversion_cpu = match (cpu_before, run.progress.engine_cpu().total()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let retries = client.retry_stats().total().saturating_sub(retries_before);
    summary.stages = Some(
        StageTimes {
            sign_in: before.0,
            task_wait: before.1,
            download: downloads.stage(retries),
            conversion_cpu,
            upload: uploads.total(),
            transfer,
            ..StageTimes::default()
        }
        .decide(),
    );
    Ok(summary)
}

/// Tells the destination where the data comes from (a Delta table keeps it in its commit).
pub(crate) fn record_provenance(destination: &dyn Sink, prepared: &PreparedExport) {
    for (key, value) in [
        ("workspace", &prepared.workspace.name),
        ("workspaceId", &prepared.workspace.id),
        ("model", &prepared.model.name),
        ("modelId", &prepared.model.id),
        ("export", &prepared.export.name),
        ("exportId", &prepared.export.id),
        ("taskId", &prepared.task_id),
    ] {
        destination.set_provenance(key, value);
    }
}

/// What downloading a prepared export needs: its file's chunks as a [`Source`](crate::source::Source)
/// and the engine options completed from the export's metadata. An empty file (no chunks) is
/// fine when the metadata names the columns (a zero-row Parquet file), an error otherwise.
pub async fn download_plan(
    client: &AnaplanClient,
    job: &ExportJob,
    prepared: &PreparedExport,
    options: EngineOptions,
    run: &RunContext,
) -> Result<(ExportSource, EngineOptions)> {
    let source = ExportSource::list(
        client.clone(),
        prepared.file.clone(),
        job.concurrency,
        run.progress.clone(),
    )
    .await?
    .with_name(format!(
        "Anaplan export {:?} of model {:?}",
        prepared.export.name, prepared.model.name
    ));
    let chunks = source.chunk_count();
    let options = engine_options(prepared, options, job.dialect_from_metadata);
    if chunks == 0 {
        if options.schema.fallback_header.is_none() {
            return Err(ExportFailed::EmptyFile {
                export: prepared.export.name.clone(),
            }
            .into());
        }
        tracing::info!(
            "the export's file is empty (no chunks): writing a file with no rows and the export's columns"
        );
    } else {
        tracing::info!(
            "downloading {chunks} chunks, {} at a time",
            source.concurrency()
        );
    }
    Ok((source, options))
}

/// Adds `more` retry counts into `into`, summing equal reasons.
pub(crate) fn merge_retries(into: &mut Vec<(String, u64)>, more: Vec<(String, u64)>) {
    for (reason, n) in more {
        match into.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, m)) => *m += n,
            None => into.push((reason, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::anaplan::model::ExportType;

    fn prepared() -> PreparedExport {
        PreparedExport {
            workspace: Workspace {
                id: "8a81".into(),
                name: "Finance".into(),
                ..Workspace::default()
            },
            model: Model {
                id: "75A4".into(),
                name: "FP&A".into(),
                ..Model::default()
            },
            export: Export {
                id: "116000000001".into(),
                name: "Revenue.csv".into(),
                export_type: Some(ExportType::TabularAllLineItems),
                ..Export::default()
            },
            metadata: Some(ExportMetadata {
                header_names: vec!["Time".into(), "Value".into()],
                separator: Some("\t".into()),
                encoding: Some("UTF-16LE".into()),
                layout: Some(ExportType::TabularSingleColumn),
                ..ExportMetadata::default()
            }),
            task_id: "ABC".into(),
            exported_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000),
            file: FileRef {
                workspace_id: "8a81".into(),
                model_id: "75A4".into(),
                file_id: "116000000001".into(),
            },
        }
    }

    #[test]
    fn metadata_fills_the_engine_options() {
        let o = engine_options(&prepared(), EngineOptions::default(), true);
        assert_eq!(o.csv.delimiter, b'\t');
        assert_eq!(o.csv.encoding, InputEncoding::Utf16Le);
        assert_eq!(
            o.schema.fallback_header,
            Some(vec!["Time".to_owned(), "Value".to_owned()])
        );
        let kv: std::collections::HashMap<_, _> = o.parquet.metadata.into_iter().collect();
        assert_eq!(kv["anaplan.workspace.name"], "Finance");
        assert_eq!(kv["anaplan.model.id"], "75A4");
        assert_eq!(kv["anaplan.export.name"], "Revenue.csv");
        assert_eq!(kv["anaplan.task.id"], "ABC");
        assert_eq!(kv["anaplan.export.time"], "2025-06-15T15:06:40Z");
        assert_eq!(kv["anaplan.export.layout"], "TABULAR_SINGLE_COLUMN");

        // The user's explicit dialect wins; without from_metadata nothing changes.
        let mut user = EngineOptions::default();
        user.csv.delimiter = b';';
        let o = engine_options(&prepared(), user, true);
        assert_eq!(o.csv.delimiter, b';');
        let o = engine_options(&prepared(), EngineOptions::default(), false);
        assert_eq!(
            (o.csv.delimiter, o.csv.encoding),
            (b',', InputEncoding::Utf8)
        );
    }

    /// Issue 12: a Tabular Multiple Column export exported with the default layout kept every
    /// line item as text.
    #[test]
    fn a_multi_column_export_takes_its_layout_from_the_metadata() {
        let mut p = prepared();
        p.metadata = Some(ExportMetadata {
            header_names: vec!["Region".into(), "Time".into(), "Revenue".into()],
            data_types: vec!["ENTITY".into(), "TIME_ENTITY".into(), "NUMBER".into()],
            layout: Some(ExportType::TabularMultiColumn),
            ..ExportMetadata::default()
        });
        let o = engine_options(&p, EngineOptions::default(), true);
        assert_eq!(o.schema.layout, Layout::MultiColumn { dimensions: 2 });
        // The user's layout wins, even when it is the single-column default spelled out.
        for chosen in [Layout::SingleColumn, Layout::Generic] {
            let mut user = EngineOptions::default();
            user.schema.layout = chosen;
            assert_eq!(engine_options(&p, user, true).schema.layout, chosen);
        }
        // Without `dataTypes`, the list names tell the dimensions; without metadata, the
        // export's type tells the layout (and nothing tells the dimensions).
        let md = p.metadata.as_mut().unwrap();
        md.data_types.clear();
        md.list_names = vec!["Regions".into(), String::new(), String::new()];
        md.layout = Some(ExportType::from("TABULAR_MULTIPLE_COLUMNS".to_owned()));
        let o = engine_options(&p, EngineOptions::default(), true);
        assert_eq!(o.schema.layout, Layout::MultiColumn { dimensions: 1 });
        p.metadata = None;
        p.export.export_type = Some(ExportType::TabularMultiColumn);
        let o = engine_options(&p, EngineOptions::default(), true);
        assert_eq!(o.schema.layout, Layout::MultiColumn { dimensions: 0 });
        // A single-column export keeps the default.
        let o = engine_options(&prepared(), EngineOptions::default(), true);
        assert_eq!(o.schema.layout, Layout::Auto);
    }

    #[test]
    fn encodings_and_separators() {
        assert_eq!(encoding_of("utf-8"), Some(InputEncoding::Utf8));
        assert_eq!(encoding_of("ISO-8859-1"), Some(InputEncoding::Latin1));
        assert_eq!(encoding_of("UTF-16LE"), Some(InputEncoding::Utf16Le));
        assert_eq!(encoding_of("EBCDIC"), None);
        assert_eq!(separator_byte(","), Some(b','));
        assert_eq!(separator_byte("\t"), Some(b'\t'));
        assert_eq!(separator_byte(""), None);
    }

    #[test]
    fn retries_merge_by_reason() {
        let mut a = vec![("HTTP 503".to_owned(), 2)];
        merge_retries(
            &mut a,
            vec![("HTTP 503".to_owned(), 1), ("timeout".to_owned(), 4)],
        );
        assert_eq!(
            a,
            vec![("HTTP 503".to_owned(), 3), ("timeout".to_owned(), 4)]
        );
    }
}
