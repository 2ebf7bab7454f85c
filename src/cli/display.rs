//! Terminal output shared by the commands: the progress bar, the run summary, the schema.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::GlobalArgs;
use crate::progress::Progress;
use crate::summary::{RunSummary, human_bytes};

/// A live progress display: a bar on a terminal, nothing otherwise. Stops when dropped.
#[derive(Debug)]
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts showing `progress` on stderr when it is a terminal and output is not quieted.
    pub fn start(progress: &Progress, label: &str, global: &GlobalArgs) -> Self {
        if global.quiet || !std::io::stderr().is_terminal() {
            return ProgressDisplay {
                bar: None,
                ticker: None,
            };
        }
        let bar = crate::logging::bars().add(ProgressBar::new(0));
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {wide_msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(125));
        let progress = progress.clone();
        let b = bar.clone();
        let started = std::time::Instant::now();
        let ticker = tokio::spawn(async move {
            loop {
                let s = progress.snapshot();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let mut msg = String::new();
                if s.chunks_total > 0 {
                    msg.push_str(&format!("chunks {}/{}  ", s.chunks_done, s.chunks_total));
                }
                if s.bytes_total > 0 {
                    msg.push_str(&format!(
                        "{} / {}  ",
                        human_bytes(s.bytes_in),
                        human_bytes(s.bytes_total)
                    ));
                } else {
                    msg.push_str(&format!("{}  ", human_bytes(s.bytes_in)));
                }
                msg.push_str(&format!(
                    "{} rows  {:.1} MB/s",
                    s.rows,
                    s.bytes_in as f64 / 1e6 / secs
                ));
                if s.retries > 0 {
                    msg.push_str(&format!("  {} retries", s.retries));
                }
                b.set_message(msg);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        ProgressDisplay {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    /// Sets the text shown before the counters (e.g. the phase of an export).
    pub fn set_label(&self, label: &str) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(label.to_owned());
        }
    }

    /// Removes the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            crate::logging::bars().remove(&bar);
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop();
    }
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
