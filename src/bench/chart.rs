//! The chart of a sweep: throughput against connections, each bar split by where the run's
//! time went (waiting for chunks, converting, writing), the recommended bar outlined.
//!
//! The chart is a handful of rectangles, lines and labels (`Shape`), written as SVG text or
//! rasterised into a PNG (`png.rs`). A plotting crate would bring a font stack and an
//! image codec for this; a few hundred lines do it with no new dependency.

use std::fmt::Write as _;
use std::path::Path;

use super::shapes::{Anchor, Rgb, Shape};
use super::{BenchReport, BenchRun};
use crate::error::{Error, Result};
use crate::stages::Stage;

const INK: Rgb = [0x22, 0x22, 0x22];
const GRID: Rgb = [0xdd, 0xdd, 0xdd];
const WHITE: Rgb = [0xff, 0xff, 0xff];
/// Colours of the stages in a bar.
const SPLIT: [(Stage, &str, Rgb); 3] = [
    (Stage::Download, "waiting for chunks", [0x4e, 0x79, 0xa7]),
    (Stage::Conversion, "converting", [0xf2, 0x8e, 0x2b]),
    (Stage::Upload, "writing", [0x59, 0xa1, 0x4f]),
];

/// The chart's size.
pub(super) const WIDTH: u32 = 880;
pub(super) const HEIGHT: u32 = 420;

/// A chart file's format, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartFormat {
    /// `.svg`
    Svg,
    /// `.png`
    Png,
}

impl ChartFormat {
    /// The format of `path` (`.svg` or `.png`, any case); a usage error otherwise.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(ChartFormat::Svg),
            Some("png") => Ok(ChartFormat::Png),
            _ => Err(Error::usage(format!(
                "--chart: {} must end in .svg or .png",
                path.display()
            ))),
        }
    }
}

/// Draws the chart of `report` into `path` (SVG or PNG by its extension), through a temporary
/// file renamed into place.
pub fn write_chart(report: &BenchReport, path: &Path) -> Result<()> {
    let format = ChartFormat::of(path)?;
    let shapes = layout(report);
    let bytes = match format {
        ChartFormat::Svg => to_svg(&shapes).into_bytes(),
        ChartFormat::Png => super::png::render(&shapes, WIDTH, HEIGHT),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail =
        |e: std::io::Error| Error::io(format!("cannot write the chart {}", path.display()), e);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The runs the chart shows: those of the recommended file and codec (all runs when there is
/// no recommendation), by connections.
fn charted(report: &BenchReport) -> Vec<&BenchRun> {
    let mut runs: Vec<&BenchRun> = report
        .runs
        .iter()
        .filter(|r| {
            report.recommendation.as_ref().is_none_or(|rec| {
                r.compression == rec.compression && r.chunk_size == rec.chunk_size
            })
        })
        .collect();
    runs.sort_by_key(|r| r.concurrency);
    runs
}

/// A round axis maximum at or above `v`: 1, 2 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * p)
}

/// The shapes of the chart.
pub(super) fn layout(report: &BenchReport) -> Vec<Shape> {
    let (w, h) = (f64::from(WIDTH), f64::from(HEIGHT));
    let (left, right, top, bottom) = (64.0, 300.0, 60.0, 56.0);
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let runs = charted(report);
    let mut s = vec![Shape::Rect {
        x: 0.0,
        y: 0.0,
        w,
        h,
        fill: Some(WHITE),
        stroke: None,
    }];
    let text = |x: f64, y: f64, t: String, size: f64, anchor: Anchor| Shape::Text {
        x,
        y,
        text: t,
        size,
        anchor,
        color: INK,
    };
    let mut title = "Throughput by connections".to_owned();
    if let Some(r) = runs.first() {
        let _ = write!(title, " ({}", r.compression);
        if let Some(size) = r.chunk_size {
            let _ = write!(title, ", chunks of {}", crate::summary::human_bytes(size));
        }
        title.push(')');
    }
    s.push(text(left, 26.0, title, 16.0, Anchor::Start));

    let max = nice_max(runs.iter().map(|r| r.mb_per_s).fold(0.0, f64::max));
    let y_of = |v: f64| top + plot_h - v / max * plot_h;
    for i in 0..=5 {
        let v = max * f64::from(i) / 5.0;
        let y = y_of(v);
        s.push(Shape::Line {
            x1: left,
            y1: y,
            x2: left + plot_w,
            y2: y,
            color: if i == 0 { INK } else { GRID },
        });
        let label = if max >= 10.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        };
        s.push(text(left - 8.0, y + 4.0, label, 12.0, Anchor::End));
    }
    s.push(text(
        left - 8.0,
        top - 12.0,
        "MB/s".into(),
        12.0,
        Anchor::End,
    ));
    s.push(text(
        left + plot_w / 2.0,
        h - 14.0,
        "connections (--concurrency)".into(),
        12.0,
        Anchor::Middle,
    ));

    let slot = plot_w / runs.len().max(1) as f64;
    let bar_w = (slot * 0.6).min(80.0);
    let recommended = report.recommendation.as_ref().map(|r| r.concurrency);
    for (i, r) in runs.iter().enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        let x = cx - bar_w / 2.0;
        let top_y = y_of(r.mb_per_s);
        let height = top + plot_h - top_y;
        // The bar, split by the time charged to each overlapped stage.
        let charged = r.stages.charged();
        let total: f64 = SPLIT
            .iter()
            .map(|(stage, _, _)| share(&charged, *stage))
            .sum();
        let mut y = top + plot_h;
        for (stage, _, color) in SPLIT {
            let part = if total > 0.0 {
                share(&charged, stage) / total
            } else if stage == Stage::Conversion {
                1.0
            } else {
                0.0
            };
            let ph = height * part;
            if ph > 0.0 {
                s.push(Shape::Rect {
                    x,
                    y: y - ph,
                    w: bar_w,
                    h: ph,
                    fill: Some(color),
                    stroke: None,
                });
            }
            y -= ph;
        }
        if recommended == Some(r.concurrency) {
            s.push(Shape::Rect {
                x: x - 3.0,
                y: top_y - 3.0,
                w: bar_w + 6.0,
                h: height + 3.0,
                fill: None,
                stroke: Some(INK),
            });
        }
        s.push(text(
            cx,
            top_y - 8.0,
            format!("{:.1}", r.mb_per_s),
            12.0,
            Anchor::Middle,
        ));
        s.push(text(
            cx,
            top + plot_h + 18.0,
            r.concurrency.to_string(),
            12.0,
            Anchor::Middle,
        ));
    }

    // The legend.
    let lx = left + plot_w + 24.0;
    let mut ly = top + 8.0;
    for (_, name, color) in SPLIT {
        s.push(Shape::Rect {
            x: lx,
            y: ly - 10.0,
            w: 12.0,
            h: 12.0,
            fill: Some(color),
            stroke: None,
        });
        s.push(text(lx + 18.0, ly, name.into(), 12.0, Anchor::Start));
        ly += 20.0;
    }
    s.push(Shape::Rect {
        x: lx,
        y: ly - 10.0,
        w: 12.0,
        h: 12.0,
        fill: None,
        stroke: Some(INK),
    });
    s.push(text(
        lx + 18.0,
        ly,
        "recommended".into(),
        12.0,
        Anchor::Start,
    ));
    if let Some(rec) = &report.recommendation {
        ly += 32.0;
        for line in wrap(&rec.reason, 22) {
            s.push(text(lx, ly, line, 12.0, Anchor::Start));
            ly += 18.0;
        }
    }
    s
}

fn share(charged: &[(Stage, std::time::Duration)], stage: Stage) -> f64 {
    charged
        .iter()
        .find(|(s, _)| *s == stage)
        .map_or(0.0, |(_, d)| d.as_secs_f64())
}

/// `text` cut into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The shapes as an SVG document.
pub(super) fn to_svg(shapes: &[Shape]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\">\n"
    );
    for shape in shapes {
        match shape {
            Shape::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => {
                let _ = writeln!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\" stroke=\"{}\"/>",
                    fill.map_or_else(|| "none".to_owned(), hex),
                    stroke.map_or_else(|| "none".to_owned(), hex),
                );
            }
            Shape::Line {
                x1,
                y1,
                x2,
                y2,
                color,
            } => {
                let _ = writeln!(
                    out,
                    "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{}\"/>",
                    hex(*color)
                );
            }
            Shape::Text {
                x,
                y,
                text,
                size,
                anchor,
                color,
            } => {
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let _ = writeln!(
                    out,
                    "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text>",
                    hex(*color),
                    escape(text)
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(47.0), 50.0);
        assert_eq!(nice_max(101.0), 200.0);
        assert_eq!(nice_max(10.0), 10.0);
    }

    #[test]
    fn long_sentences_wrap_at_spaces() {
        assert_eq!(
            wrap("8 connections reach 94% of the best", 14),
            vec!["8 connections", "reach 94% of", "the best"]
        );
    }

    #[test]
    fn chart_formats_come_from_the_extension() {
        assert_eq!(
            ChartFormat::of(Path::new("a.SVG")).unwrap(),
            ChartFormat::Svg
        );
        assert_eq!(
            ChartFormat::of(Path::new("x/a.png")).unwrap(),
            ChartFormat::Png
        );
        assert!(ChartFormat::of(Path::new("a.jpg")).is_err());
    }
}
