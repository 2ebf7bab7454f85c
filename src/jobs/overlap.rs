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
