//! Terminal output shared by the commands: the progress bar, the run summary, the schema.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::GlobalArgs;
use crate::export::ExportEvent;
use crate::anaplan::model::TaskState;
use crate::progress::Progress;
use crate::summary::{RunSummary, human_bytes};

/// The progress display: a bar on a terminal, a log line every 10 s otherwise, nothing with
/// `-q`.
pub struct Display {
    bar: Option<ProgressBar>,
    phase: Arc<Mutex<Phase>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Phase {
    text: String,
    downloading: Option<Instant>,
    chunks: usize,
}

impl Display {
    /// Starts drawing (or logging) `progress`.
    pub fn start(progress: &Progress, global: &GlobalArgs) -> Self {
        let phase = Arc::new(Mutex::new(Phase::default()));
        let stop = CancellationToken::new();
        if global.quiet {
            return Display {
                bar: None,
                phase,
                stop,
            };
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = crate::logging::bars().add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let every = if bar.is_some() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(10)
        };
        let (p, ph, st, b) = (
            progress.clone(),
            Arc::clone(&phase),
            stop.clone(),
            bar.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = st.cancelled() => break,
                }
                let line = {
                    let ph = ph.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    match ph.downloading {
                        Some(since) => download_line(&p, since, ph.chunks, b.is_none()),
                        None if b.is_some() => ph.text.clone(),
                        None => continue,
                    }
                };
                if let Some(bar) = &b {
                    let s = p.snapshot();
                    if s.chunks_total > 0 {
                        bar.set_length(s.chunks_total);
                        bar.set_position(s.chunks_done);
                    }
                    bar.set_message(line);
                } else {
                    tracing::info!("{line}");
                }
            }
        });
        Display { bar, phase, stop }
    }

    /// Follows what the export does.
    pub fn event(&self, e: &ExportEvent<'_>) {
        let mut ph = self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match e {
            ExportEvent::Resolved { export, .. } => ph.text = format!("export {:?}", export.name),
            ExportEvent::TaskStarted { task_id } => {
                ph.text = format!("export task {task_id} started");
            }
            ExportEvent::Task(t) => {
                ph.text = format!(
                    "export task {}{}{}",
                    t.task_state.as_ref().map_or("…", TaskState::as_str),
                    t.progress
                        .map(|p| format!(" {:.0}%", p * 100.0))
                        .unwrap_or_default(),
                    t.current_step
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
            }
            ExportEvent::Downloading { chunks } => {
                drop(ph);
                self.transfer_started(Some(*chunks));
                return;
            }
        }
        if let Some(bar) = &self.bar
            && ph.downloading.is_none()
        {
            bar.set_message(ph.text.clone());
        }
    }

    /// Shows the transfer counters from now on (for an export, with its chunk count).
    pub fn transfer_started(&self, chunks: Option<usize>) {
        let mut ph = self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ph.downloading = Some(Instant::now());
        ph.chunks = chunks.unwrap_or(0);
        if let Some(chunks) = chunks
            && let Some(bar) = &self.bar
        {
            {
                bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner:.green} [{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} chunks  {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                bar.set_length(chunks as u64);
            }
        }
    }

    /// Stops drawing and clears the bar.
    pub fn finish(self) {
        self.stop.cancel();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The download's counters on one line; `with_chunks` when no bar shows them already.
fn download_line(p: &Progress, since: Instant, chunks: usize, with_chunks: bool) -> String {
    let with_chunks = with_chunks && chunks > 0;
    let s = p.snapshot();
    let secs = since.elapsed().as_secs_f64().max(0.001);
    let total = if s.chunks_total > 0 {
        s.chunks_total
    } else {
        chunks as u64
    };
    format!(
        "{}{}  {} rows  {:.1} MB/s{}",
        if with_chunks {
            format!("chunks {}/{total}  ", s.chunks_done)
        } else {
            String::new()
        },
        human_bytes(s.bytes_in),
        s.rows,
        s.bytes_in as f64 / 1e6 / secs,
        if s.retries > 0 {
            format!("  ({} retries)", s.retries)
        } else {
            String::new()
        }
    )
}

/// Prints the summary: JSON on stdout with `--json`, text on stderr unless quiet.
pub fn print_summary(summary: &RunSummary, json: bool, global: &GlobalArgs) {
    if json {
        match serde_json::to_string(summary) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                crate::logging::print_error(&format!("error: cannot format the summary: {e}"));
            }
        }
    } else if !global.quiet {
        crate::logging::print_error(summary.to_text().trim_end());
    }
}

/// Prints a schema as an aligned two-column table.
pub fn schema_table(columns: &[(String, String)]) -> String {
    let width = columns
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, ty) in columns {
        let pad = width - name.chars().count();
        out.push_str(&format!("{name}{}  {ty}\n", " ".repeat(pad)));
    }
    out
}
