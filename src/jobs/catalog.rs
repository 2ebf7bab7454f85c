//! Names resolved once per round: the workspace, model and export lists, each read once and
//! every dataset's names (or ids) resolved against them.

use std::collections::HashMap;

use crate::anaplan::AnaplanClient;
use crate::anaplan::discovery::{resolve, scope_of};
use crate::anaplan::model::{Export, Model, Workspace};
use crate::error::Result;
use crate::export::ExportJob;

/// A dataset's workspace, model and export, resolved.
#[derive(Clone, Debug)]
pub(super) struct Resolved {
    pub workspace: Workspace,
    pub model: Model,
    pub export: Export,
}

/// The lists read to resolve names, each read once per round.
#[derive(Default)]
pub(super) struct Catalog {
    workspaces: Option<Vec<Workspace>>,
    models: HashMap<String, Vec<Model>>,
    exports: HashMap<(String, String), Vec<Export>>,
}

impl Catalog {
    pub(super) async fn resolve(
        &mut self,
        client: &AnaplanClient,
        job: &ExportJob,
    ) -> Result<Resolved> {
        if self.workspaces.is_none() {
            self.workspaces = Some(client.workspaces().await?);
        }
        let all = self.workspaces.as_deref().unwrap_or_default();
        let workspace = resolve(all, &job.workspace, None)?.clone();
        if !self.models.contains_key(&workspace.id) {
            let models = client.models(&workspace.id).await?;
            self.models.insert(workspace.id.clone(), models);
        }
        let model = resolve(
            &self.models[&workspace.id],
            &job.model,
            Some(scope_of(&workspace)),
        )?
        .clone();
        let key = (workspace.id.clone(), model.id.clone());
        if !self.exports.contains_key(&key) {
            let exports = client.exports(&workspace.id, &model.id).await?;
            self.exports.insert(key.clone(), exports);
        }
        let export = resolve(&self.exports[&key], &job.export, Some(scope_of(&model)))?.clone();
        Ok(Resolved {
            workspace,
            model,
            export,
        })
    }
}
