//! The recommendation: the fewest connections that come close to the fastest run.

use serde::Serialize;

use super::BenchRun;
use crate::stages::Stage;

/// A setting within this share of the best throughput counts as reaching it.
pub const NEAR_BEST: f64 = 0.9;

/// The setting `bench` recommends.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Recommendation {
    /// Connections (`--concurrency`) to use.
    pub concurrency: usize,
    /// Chunk size of the file measured with it (simulator runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    /// Codec (`--compression`) of the fastest run.
    pub compression: String,
    /// Throughput at the recommended setting, MB/s.
    pub mb_per_s: f64,
    /// The best throughput measured, MB/s.
    pub best_mb_per_s: f64,
    /// Connections of the best run.
    pub best_concurrency: usize,
    /// `mb_per_s` over `best_mb_per_s`, 0 to 1.
    pub share_of_best: f64,
    /// The bottleneck at the recommended setting.
    pub bottleneck: String,
    /// One sentence saying why.
    pub reason: String,
}

/// Takes the fastest run; among the runs of the same file and codec, recommends the fewest
/// connections that reach [`NEAR_BEST`] of it. `None` for no runs.
pub fn recommend(runs: &[BenchRun]) -> Option<Recommendation> {
    let best = runs
        .iter()
        .max_by(|a, b| a.mb_per_s.total_cmp(&b.mb_per_s))?;
    let mut same: Vec<&BenchRun> = runs
        .iter()
        .filter(|r| r.chunk_size == best.chunk_size && r.compression == best.compression)
        .collect();
    same.sort_by_key(|r| r.concurrency);
    let chosen = same
        .iter()
        .copied()
        .find(|r| r.mb_per_s >= NEAR_BEST * best.mb_per_s)
        .unwrap_or(best);
    let most_tried = same.last().map_or(chosen.concurrency, |r| r.concurrency);
    let share = if best.mb_per_s > 0.0 {
        chosen.mb_per_s / best.mb_per_s
    } else {
        1.0
    };
    let percent = (share * 100.0).floor() as u32;
    let conns = |n: usize| {
        if n == 1 {
            "1 connection".to_owned()
        } else {
            format!("{n} connections")
        }
    };
    let reach = |n: usize| if n == 1 { "reaches" } else { "reach" };
    let mut reason = if same.len() < 2 {
        format!(
            "only {} tried ({:.1} MB/s); sweep --concurrency to compare",
            conns(chosen.concurrency),
            chosen.mb_per_s
        )
    } else if chosen.concurrency == most_tried {
        let more = if chosen.stages.bottleneck == Stage::Download {
            "more may help"
        } else {
            "more would add little: the download is not what holds it up"
        };
        format!(
            "{} (the most tried) were the fastest ({:.1} MB/s); {more}",
            conns(chosen.concurrency),
            chosen.mb_per_s
        )
    } else if chosen.concurrency == best.concurrency {
        format!(
            "{} {} the best ({:.1} MB/s); more only adds load",
            conns(chosen.concurrency),
            reach(chosen.concurrency),
            chosen.mb_per_s
        )
    } else {
        format!(
            "{} {} {percent}% of the best ({:.1} of {:.1} MB/s, with {}); more only adds load",
            conns(chosen.concurrency),
            reach(chosen.concurrency),
            chosen.mb_per_s,
            best.mb_per_s,
            conns(best.concurrency)
        )
    };
    if runs
        .iter()
        .any(|r| r.compression != best.compression || r.chunk_size != best.chunk_size)
    {
        reason.push_str(&format!(" (with {}", best.compression));
        if let Some(size) = best.chunk_size {
            reason.push_str(&format!(
                ", chunks of {}",
                crate::summary::human_bytes(size)
            ));
        }
        reason.push(')');
    }
    let bottleneck = chosen.stages.bottleneck.name().to_owned();
    reason.push_str(&format!("; the bottleneck there is {bottleneck}."));
    Some(Recommendation {
        concurrency: chosen.concurrency,
        chunk_size: chosen.chunk_size,
        compression: chosen.compression.clone(),
        mb_per_s: chosen.mb_per_s,
        best_mb_per_s: best.mb_per_s,
        best_concurrency: best.concurrency,
        share_of_best: (share * 1000.0).round() / 1000.0,
        bottleneck,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stages::StageTimes;

    fn run(concurrency: usize, codec: &str, mb_per_s: f64) -> BenchRun {
        BenchRun {
            concurrency,
            chunk_size: None,
            compression: codec.to_owned(),
            rows: 1,
            bytes_in: 1,
            bytes_out: 1,
            elapsed: Duration::from_secs(1),
            mb_per_s,
            stages: StageTimes::default(),
        }
    }

    #[test]
    fn the_fewest_connections_near_the_best() {
        let runs = [
            run(1, "zstd", 10.0),
            run(4, "zstd", 40.0),
            run(8, "zstd", 47.0),
            run(16, "zstd", 50.0),
        ];
        let r = recommend(&runs).unwrap();
        assert_eq!((r.concurrency, r.best_concurrency), (8, 16));
        assert_eq!(r.share_of_best, 0.94);
        assert!(
            r.reason.starts_with("8 connections reach 94% of the best"),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("more only adds load"), "{}", r.reason);

        // Still rising at the most tried: say so, when the download holds it up.
        let mut rising = runs[..2].to_vec();
        let r = recommend(&rising).unwrap();
        assert_eq!(r.concurrency, 4);
        assert!(r.reason.contains("more would add little"), "{}", r.reason);
        rising[1].stages.bottleneck = Stage::Download;
        let r = recommend(&rising).unwrap();
        assert!(r.reason.contains("more may help"), "{}", r.reason);

        // The codec of the best run wins; its runs decide the connections.
        let runs = [
            run(1, "gzip", 5.0),
            run(4, "gzip", 9.0),
            run(1, "snappy", 30.0),
            run(4, "snappy", 31.0),
        ];
        let r = recommend(&runs).unwrap();
        assert_eq!((r.concurrency, r.compression.as_str()), (1, "snappy"));
        assert!(
            r.reason.starts_with("1 connection reaches 96% of the best"),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("with snappy"), "{}", r.reason);
        assert_eq!(recommend(&[]), None);
    }
}
