//! A run: the passes over the input until the file is written.
//!
//! Usually one pass. With `--infer-rows all`, a first pass only gathers statistics. When a
//! value after the sample does not fit its column, the pass is abandoned and another one
//! writes the file with the widened plan. Every pass after the first reads the input again:
//! from the source when it is replayable, else from the spool the first pass wrote.

use std::time::Instant;

use super::options::{EngineOptions, RunContext};
use super::pipeline::{Goal, Input, PassEnd, run_pass};
use super::report::Inference;
use super::schema::{InferRows, Plan};
use super::spool::Spool;
use crate::error::{Error, Result};
use crate::sink::Sink;
use crate::source::{PieceStream, Source};
use crate::summary::{RunSummary, SummaryColumn, Widening};

/// See [`super::convert`].
pub(super) async fn convert(
    source: &dyn Source,
    destination: &dyn Sink,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<RunSummary> {
    let started = Instant::now();
    if let Some(n) = source.size_hint() {
        run.progress.set_bytes_total(n);
    }
    let needs_copy = options.keep_input.is_some() || !source.replayable();
    let mut spool = if needs_copy {
        Some(Spool::create(options.keep_input.as_deref())?)
    } else {
        None
    };
    let scan_all = options.schema.infer_rows == InferRows::All;
    let mut passes = 0u32;
    let mut forced: Option<Plan> = None;
    let mut widenings: Vec<Widening> = Vec::new();
    let mut pre_decisions: Vec<String> = Vec::new();
    // True once the first pass read the source (and filled the spool, if any).
    let mut read_once = false;

    loop {
        passes += 1;
        let input = if read_once && let Some(s) = spool.as_ref() {
            Input {
                stream: s.replay().await?,
                name: String::from("spooled input"),
                tee: None,
            }
        } else {
            Input {
                stream: open(source, run).await?,
                name: source.describe(),
                tee: if read_once { None } else { spool.as_mut() },
            }
        };
        let prepass = scan_all && forced.is_none() && !read_once;
        let goal = Goal {
            destination: (!prepass).then_some(destination),
            forced: forced.clone(),
            scan_all: prepass,
        };
        let end = run_pass(input, goal, options, run).await?;
        read_once = true;
        match end {
            PassEnd::Inferred(inference) => {
                if !prepass {
                    return Err(Error::Internal("a writing pass returned no file".into()));
                }
                pre_decisions = inference.decisions;
                forced = Some(inference.plan);
            }
            PassEnd::Written {
                written,
                rows,
                plan,
                decisions,
            } => {
                if let Some(s) = spool.take() {
                    s.finish().await?;
                }
                // Decisions made over the whole input (widening, `--infer-rows all`) describe
                // the final schema better than the forced pass can.
                let all_decisions = if pre_decisions.is_empty() {
                    decisions
                } else {
                    pre_decisions
                };
                let snapshot = run.progress.snapshot();
                return Ok(RunSummary {
                    source: source.describe(),
                    output: written.location.clone(),
                    rows,
                    columns: plan.describe().len(),
                    bytes_in: snapshot.bytes_in,
                    bytes_out: written.bytes,
                    elapsed: started.elapsed(),
                    passes,
                    schema: plan
                        .describe()
                        .into_iter()
                        .map(|(name, data_type)| SummaryColumn { name, data_type })
                        .collect(),
                    decisions: all_decisions,
                    widenings,
                    retries: written.retries,
                    stages: None,
                });
            }
            PassEnd::Widen(widened) => {
                pre_decisions = widened.decisions;
                if forced.is_some() && passes > 2 + u32::from(scan_all) {
                    return Err(Error::Internal(
                        "the input changed between passes (a column had to be widened twice)"
                            .into(),
                    ));
                }
                for wd in &widened.widenings {
                    tracing::info!(
                        "widening column {:?} from {} to {}: row {} (line {}) holds {:?}; writing again with the wider type",
                        wd.column,
                        wd.from,
                        wd.to,
                        wd.row,
                        wd.line,
                        wd.value
                    );
                }
                widenings.extend(widened.widenings);
                forced = Some(widened.plan);
            }
        }
        if let Some(s) = spool.as_mut() {
            s.flush().await?;
        }
        run.progress.restart_pass();
    }
}

/// See [`super::infer`].
pub(super) async fn infer(
    source: &dyn Source,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<Inference> {
    let input = Input {
        stream: open(source, run).await?,
        name: source.describe(),
        tee: None,
    };
    let goal = Goal {
        destination: None,
        forced: None,
        scan_all: options.schema.infer_rows == InferRows::All,
    };
    match run_pass(input, goal, options, run).await? {
        PassEnd::Inferred(inference) => Ok(inference),
        _ => Err(Error::Internal("inference wrote a file".into())),
    }
}

/// Opens the source, or gives up when the run is asked to stop: opening a FIFO waits for its
/// writer, maybe forever, and a signal must still end the run.
async fn open(source: &dyn Source, run: &RunContext) -> Result<PieceStream> {
    tokio::select! {
        biased;
        () = run.shutdown.triggered() => Err(run.shutdown.error()),
        opened = source.open() => opened,
    }
}
