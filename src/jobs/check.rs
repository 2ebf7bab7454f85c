//! `run --check`: every dataset's names resolved and every destination checked, without
//! exporting anything.

use super::Dataset;
use super::catalog::Catalog;
use super::report::{CheckReport, CheckedDataset, Problem, named, shown_output, where_to};
use crate::anaplan::AnaplanClient;
use crate::error::{Error, Result};
use crate::sink::Destination;

/// Checks datasets without exporting anything: signs in, resolves every workspace, model
/// and export name, and checks that every destination can be written
/// ([`Destination::check`]). Every problem is reported, not just the first; only a failed
/// sign-in is an error. Outputs that overlap one another are the jobs file's problem, found
/// before this runs (`overlap`; `run_round` refuses them too).
pub async fn check(client: &AnaplanClient, datasets: &[Dataset]) -> Result<CheckReport> {
    client.sign_in_now().await?;
    let mut catalog = Catalog::default();
    let mut out = CheckReport {
        datasets: Vec::new(),
        problems: Vec::new(),
    };
    for d in datasets {
        let mut checked = CheckedDataset {
            name: d.name.clone(),
            ok: true,
            workspace: None,
            model: None,
            export: None,
            view: None,
            list: None,
            output: shown_output(&d.output.output),
        };
        let mut problem = |e: &Error| {
            checked.ok = false;
            out.problems.push(Problem {
                dataset: Some(d.name.clone()),
                problem: e.to_string(),
            });
        };
        if let Some(read) = &d.read {
            match catalog.resolve_read(client, read).await {
                Ok(r) => {
                    checked.workspace = Some(named(&r.workspace));
                    checked.model = Some(named(&r.model));
                    r.name_in(&mut checked.view, &mut checked.list);
                }
                Err(e) => problem(&e),
            }
        } else {
            match catalog.resolve(client, &d.job).await {
                Ok(r) => {
                    checked.workspace = Some(named(&r.workspace));
                    checked.model = Some(named(&r.model));
                    checked.export = Some(named(&r.export));
                }
                Err(e) => problem(&e),
            }
        }
        match Destination::from_options(&d.output) {
            Ok(dest) => {
                if let Err(e) = dest.check().await {
                    problem(&e);
                }
                checked.output = where_to(&dest);
            }
            Err(e) => problem(&e),
        }
        out.datasets.push(checked);
    }
    Ok(out)
}
