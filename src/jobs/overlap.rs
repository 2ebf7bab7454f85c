//! Outputs that would destroy each other's data: two datasets of a jobs file writing to one
//! place, however it is spelled (`out/x.parquet`, `./out/x.parquet`, the absolute path;
//! `s3://lake/x.parquet` and `s3a://lake/x.parquet`), or one writing inside the other's
//! directory or prefix (a file inside an append dataset, which its readers would take for one
//! of its parts). Outputs are compared by [`Location`], the sink's one identity of a place;
//! each dataset's manifest counts as part of its output.
//!
//! Both `run` and `run --check` refuse such a file before anything is exported, naming both
//! datasets ([`overlaps`]); [`run_round`](super::run_round) refuses them too ([`refuse`]).

use super::Dataset;
use super::report::{Problem, shown_output};
use crate::error::{Error, Result};
use crate::sink::{Destination, Location, WriteMode};

/// One dataset's places: its data and its manifest.
struct Places<'a> {
    dataset: &'a Dataset,
    data: Location,
    manifest: Location,
}

/// Every pair of `datasets` whose outputs overlap, as a problem of the later one naming both.
/// A dataset whose output does not resolve is left out (that is its own problem).
pub(crate) fn overlaps(datasets: &[&Dataset]) -> Vec<Problem> {
    let places: Vec<Places<'_>> = datasets
        .iter()
        .filter_map(|d| {
            let dest = Destination::from_options(&d.output).ok()?;
            Some(Places {
                dataset: d,
                data: dest.location(),
                manifest: dest.manifest_location_id(),
            })
        })
        .collect();
    let mut problems = Vec::new();
    for (j, later) in places.iter().enumerate() {
        // One problem per dataset: the first earlier dataset it collides with.
        if let Some(problem) = places[..j]
            .iter()
            .find_map(|earlier| conflict(earlier, later))
        {
            problems.push(Problem {
                dataset: Some(later.dataset.name.clone()),
                problem,
            });
        }
    }
    problems
}

/// The same check for a round about to run: the first overlap is an error.
pub(crate) fn refuse(datasets: &[Dataset]) -> Result<()> {
    let all: Vec<&Dataset> = datasets.iter().collect();
    match overlaps(&all).into_iter().next() {
        None => Ok(()),
        Some(p) => Err(Error::usage(format!(
            "dataset {:?}: {}; nothing was run",
            p.dataset.unwrap_or_default(),
            p.problem
        ))),
    }
}

/// Why `a` and `b` cannot both be written, in words, or `None`.
fn conflict(a: &Places<'_>, b: &Places<'_>) -> Option<String> {
    let (name_a, out_a) = (&a.dataset.name, shown_output(&a.dataset.output.output));
    let out_b = shown_output(&b.dataset.output.output);
    if a.data == b.data {
        let spelled = if out_a == out_b {
            String::new()
        } else {
            format!(" ({out_b} and {out_a} are both {})", a.data)
        };
        return Some(format!(
            "writes to the same place as dataset {name_a:?}{spelled}; each dataset needs its \
             own output, or only the last one written survives"
        ));
    }
    if a.data.contains(&b.data) {
        return Some(format!(
            "its output {out_b} is inside dataset {name_a:?}'s {} {}; {}",
            kind(a.dataset),
            a.data,
            inside(a.dataset)
        ));
    }
    if b.data.contains(&a.data) {
        return Some(format!(
            "its {} {} holds dataset {name_a:?}'s output {out_a}; {}",
            kind(b.dataset),
            b.data,
            inside(b.dataset)
        ));
    }
    let manifest = |owner: &Places<'_>, other: &Places<'_>| {
        owner.manifest.overlaps(&other.data) || owner.manifest == other.manifest
    };
    if manifest(a, b) || manifest(b, a) {
        return Some(format!(
            "its output {out_b} and dataset {name_a:?}'s output {out_a} meet at a manifest \
             ({} or {}); each dataset needs its own output",
            a.manifest, b.manifest
        ));
    }
    None
}

fn kind(d: &Dataset) -> &'static str {
    match d.output.mode {
        WriteMode::Append => "append dataset",
        WriteMode::Replace => "output",
    }
}

/// What goes wrong when something is written inside `outer`'s output.
fn inside(outer: &Dataset) -> &'static str {
    match outer.output.mode {
        WriteMode::Append => {
            "every file under an append dataset is read as one of its parts, so the other \
             output would break it; give each dataset a place outside the other's"
        }
        WriteMode::Replace => {
            "a file cannot also be a directory or prefix holding another output; give each \
             dataset a place outside the other's"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::EngineOptions;
    use crate::export::ExportJob;
    use crate::sink::{DestinationOptions, StorageOption};

    fn dataset(name: &str, output: &str, mode: WriteMode) -> Dataset {
        let mut o = DestinationOptions::new(output);
        o.mode = mode;
        o.read_env = false;
        if output.contains("://") {
            o.storage_options = vec![StorageOption::parse("region=us-east-1").unwrap()];
        }
        Dataset {
            name: name.to_owned(),
            job: ExportJob::new("W", "M", name),
            engine: EngineOptions::default(),
            output: o,
            read: None,
        }
    }

    /// `(dataset, words)` for each problem found among `datasets`.
    fn found(datasets: &[Dataset]) -> Vec<(String, String)> {
        let all: Vec<&Dataset> = datasets.iter().collect();
        overlaps(&all)
            .into_iter()
            .map(|p| (p.dataset.unwrap(), p.problem))
            .collect()
    }

    #[test]
    fn overlapping_outputs_are_problems_naming_both_datasets() {
        use WriteMode::{Append, Replace};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        let at = |p: &str| format!("{}/{p}", d.display());
        // (datasets, the problems: dataset and words)
        type Case<'a> = (Vec<Dataset>, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case<'_>> = vec![
            (
                vec![
                    dataset("a", &at("x.parquet"), Replace),
                    dataset("b", &at("sub/../x.parquet"), Replace),
                    dataset("c", &at("./x.parquet"), Replace),
                ],
                vec![
                    ("b", "same place as dataset \"a\""),
                    ("c", "same place as dataset \"a\""),
                ],
            ),
            (
                vec![
                    dataset("ds", &at("ds/"), Append),
                    dataset("in", &at("ds/p/x.parquet"), Replace),
                    dataset("ds2", &at("ds2.parquet"), Replace),
                ],
                vec![("in", "inside dataset \"ds\"'s append dataset")],
            ),
            (
                vec![
                    dataset("in", "s3://lake/ds/x.parquet", Replace),
                    dataset("ds", "s3://lake/ds", Append),
                    dataset("other", "s3://other/ds/x.parquet", Replace),
                    dataset("gcs", "gs://lake/ds/x.parquet", Replace),
                ],
                vec![("ds", "holds dataset \"in\"'s output")],
            ),
            (
                vec![
                    dataset("a", "s3://lake/a", Append),
                    dataset("b", "s3://lake/a", Append),
                ],
                vec![("b", "same place as dataset \"a\"")],
            ),
            (
                vec![
                    dataset("a", &at("x.parquet"), Replace),
                    dataset("m", &at("x.parquet.manifest.json"), Replace),
                ],
                vec![("m", "meet at a manifest")],
            ),
            (
                vec![
                    dataset("a", &at("a.parquet"), Replace),
                    dataset("b", &at("b.parquet"), Replace),
                    dataset("c", &at("c"), Append),
                    dataset("d", "s3://lake/c", Append),
                ],
                vec![],
            ),
        ];
        for (datasets, want) in cases {
            let got = found(&datasets);
            assert_eq!(got.len(), want.len(), "{got:#?}");
            for ((name, text), (want_name, words)) in got.iter().zip(&want) {
                assert_eq!(name, want_name, "{text}");
                assert!(text.contains(words), "{name}: {text}");
            }
        }
    }

    #[test]
    fn a_round_refuses_overlapping_outputs() {
        let datasets = [
            dataset("first", "s3://lake/k.parquet", WriteMode::Replace),
            dataset("second", "s3a://lake/%6B.parquet", WriteMode::Replace),
        ];
        let e = refuse(&datasets).unwrap_err();
        assert_eq!(e.exit_class().code(), 2);
        let e = e.to_string();
        assert!(e.contains("\"second\"") && e.contains("\"first\""), "{e}");
        refuse(&datasets[..1]).unwrap();
    }
}
