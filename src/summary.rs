//! The run summary: what was read, what was written, how fast, and which schema decisions were
//! made. Printed on stderr by default, or as one JSON object on stdout with `--json`.

use std::time::Duration;

use serde::Serialize;

use crate::stages::StageTimes;

/// One column of the written schema.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SummaryColumn {
    /// Column name as written.
    pub name: String,
    /// Arrow type, in the `--type` spelling (`utf8`, `int64`, ...).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A column widened after the inference sample because a later value did not fit.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Widening {
    /// The column.
    pub column: String,
    /// Type inferred from the sample.
    pub from: String,
    /// Type written.
    pub to: String,
    /// 1-based data row of the value that made `to` necessary (the first value that fits no
    /// type narrower than `to` together with the values before it).
    pub row: u64,
    /// Physical line of that value.
    pub line: u64,
    /// The value (shortened when long).
    pub value: String,
    /// The first value that did not fit `from`, when it is not the one above: it only called
    /// for a type in between (`0.1` in an int64 column, before `abc` made it text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_misfit: Option<FirstMisfit>,
}

/// A value of a widened column that did not fit the type it had then.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FirstMisfit {
    /// 1-based data row.
    pub row: u64,
    /// Physical line.
    pub line: u64,
    /// The value (shortened when long).
    pub value: String,
    /// The type it called for.
    pub to: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    /// Where the data came from.
    pub source: String,
    /// Where the Parquet went.
    pub output: String,
    /// Data rows written.
    pub rows: u64,
    /// Columns written.
    pub columns: usize,
    /// Input bytes read in the final pass.
    pub bytes_in: u64,
    /// Parquet bytes written.
    pub bytes_out: u64,
    /// Wall time of the whole run.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// Passes over the input (2 when a column had to be widened after the sample).
    pub passes: u32,
    /// The schema written.
    pub schema: Vec<SummaryColumn>,
    /// Inference decisions, one sentence each.
    pub decisions: Vec<String>,
    /// Columns widened after the sample.
    pub widenings: Vec<Widening>,
    /// Retried requests, by reason (downloads and uploads).
    pub retries: Vec<(String, u64)>,
    /// Where the time went, stage by stage (exports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<StageTimes>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl RunSummary {
    /// The `--json` summary of an export or read: these fields, with `anaplan` (where the data
    /// came from) added.
    pub(crate) fn json_with_source(
        &self,
        anaplan: serde_json::Value,
    ) -> crate::error::Result<serde_json::Value> {
        let mut value = serde_json::to_value(self)
            .map_err(|e| crate::error::Error::Internal(format!("cannot print the summary: {e}")))?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("anaplan".to_owned(), anaplan);
        }
        Ok(value)
    }

    /// Input throughput in MB/s (10^6 bytes per second).
    pub fn mb_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.bytes_in as f64 / 1e6 / s
        } else {
            0.0
        }
    }

    /// Human-readable, several lines, for stderr.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "wrote {} rows x {} columns to {}",
            self.rows, self.columns, self.output
        );
        let _ = writeln!(
            out,
            "  read {} from {}, wrote {}, in {:.2}s ({:.1} MB/s{})",
            human_bytes(self.bytes_in),
            self.source,
            human_bytes(self.bytes_out),
            self.elapsed.as_secs_f64(),
            self.mb_per_s(),
            if self.passes > 1 {
                format!(", {} passes", self.passes)
            } else {
                String::new()
            }
        );
        let cols: Vec<String> = self
            .schema
            .iter()
            .map(|c| format!("{}: {}", c.name, c.data_type))
            .collect();
        let _ = writeln!(out, "  schema: {}", cols.join(", "));
        for d in &self.decisions {
            let _ = writeln!(out, "  {d}");
        }
        for w in &self.widenings {
            let _ = write!(
                out,
                "  widened {} from {} to {}: row {} (line {}) has {:?}",
                w.column, w.from, w.to, w.row, w.line, w.value
            );
            if let Some(m) = &w.first_misfit {
                let _ = write!(
                    out,
                    " (the first value that did not fit {}, {:?} on row {} (line {}), only called for {})",
                    w.from, m.value, m.row, m.line, m.to
                );
            }
            out.push('\n');
        }
        for (what, n) in &self.retries {
            let _ = writeln!(out, "  retried {n} x {what}");
        }
        if let Some(stages) = &self.stages {
            let _ = writeln!(out, "{}", stages_text(stages));
        }
        out
    }
}

/// The stage breakdown, two lines for the text summary.
fn stages_text(t: &StageTimes) -> String {
    use std::fmt::Write as _;
    let d = &t.download;
    let mut out = format!(
        "  stages: sign-in {:.2}s, task {:.2}s, download {} in {:.2}s ({:.1} MB/s, {} chunks, latency p50 {:.0}ms p95 {:.0}ms max {:.0}ms, {} retries)",
        t.sign_in.as_secs_f64(),
        t.task_wait.as_secs_f64(),
        human_bytes(d.bytes),
        d.wall.as_secs_f64(),
        d.mb_per_s,
        d.chunks,
        d.chunk_latency.p50.as_secs_f64() * 1000.0,
        d.chunk_latency.p95.as_secs_f64() * 1000.0,
        d.chunk_latency.max.as_secs_f64() * 1000.0,
        d.retries,
    );
    match t.conversion_cpu {
        Some(cpu) => {
            let _ = write!(out, ", conversion {:.2} CPU-s", cpu.as_secs_f64());
        }
        None => out.push_str(", conversion CPU unknown"),
    }
    let _ = write!(
        out,
        ", upload {:.2}s\n  bottleneck: {} (engine waited {:.2}s for chunks and {:.2}s for the destination in a {:.2}s transfer)",
        t.upload.as_secs_f64(),
        t.bottleneck.name(),
        d.input_wait.as_secs_f64(),
        t.upload.as_secs_f64(),
        t.transfer.as_secs_f64(),
    );
    out
}

/// Formats a byte count with binary units (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_table() {
        for (n, s) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
        ] {
            assert_eq!(human_bytes(n), s);
        }
    }
}
