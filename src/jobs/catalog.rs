//! Names resolved once per round: the workspace, model and export lists, each read once and
//! every dataset's names (or ids) resolved against them.

use std::collections::HashMap;

use crate::anaplan::AnaplanClient;
use crate::anaplan::discovery::{resolve, scope_of};
use crate::anaplan::model::{Export, Model, Workspace};
use crate::error::Result;
use crate::export::ExportJob;
use crate::read::{ReadJob, ReadObject};

use super::manifest::NamedRef;
use super::report::named;

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

/// A view or list dataset's workspace, model and view (or list), resolved.
#[derive(Clone, Debug)]
pub(super) struct ReadResolved {
    pub workspace: Workspace,
    pub model: Model,
    /// `view` or `list`.
    pub kind: &'static str,
    pub object: NamedRef,
}

impl ReadResolved {
    /// Sets the report's `view` or `list`.
    pub(super) fn name_in(&self, view: &mut Option<NamedRef>, list: &mut Option<NamedRef>) {
        match self.kind {
            "view" => *view = Some(self.object.clone()),
            _ => *list = Some(self.object.clone()),
        }
    }
}

impl Catalog {
    /// Resolves a view or list dataset: the workspace and model from the lists read once per
    /// round, then the model's views (or lists). An unknown or ambiguous name is an error
    /// listing the candidates, as for exports.
    pub(super) async fn resolve_read(
        &mut self,
        client: &AnaplanClient,
        read: &ReadJob,
    ) -> Result<ReadResolved> {
        if self.workspaces.is_none() {
            self.workspaces = Some(client.workspaces().await?);
        }
        let all = self.workspaces.as_deref().unwrap_or_default();
        let workspace = resolve(all, &read.workspace, None)?.clone();
        if !self.models.contains_key(&workspace.id) {
            let models = client.models(&workspace.id).await?;
            self.models.insert(workspace.id.clone(), models);
        }
        let model = resolve(
            &self.models[&workspace.id],
            &read.model,
            Some(scope_of(&workspace)),
        )?
        .clone();
        let (kind, object) = match &read.object {
            ReadObject::View(v) => {
                let v = client.find_view(&workspace, &model, v).await?;
                ("view", named(&v))
            }
            ReadObject::List(l) => {
                let l = client.find_list(&workspace, &model, l).await?;
                ("list", named(&l))
            }
        };
        Ok(ReadResolved {
            workspace,
            model,
            kind,
            object,
        })
    }
}

/// A dataset's names, resolved: an export's, or a view's or list's.
#[derive(Clone, Debug)]
pub(super) enum Names {
    Export(Resolved),
    Read(ReadResolved),
}

impl Names {
    pub(super) fn model_id(&self) -> &str {
        match self {
            Names::Export(r) => &r.model.id,
            Names::Read(r) => &r.model.id,
        }
    }
}

impl Catalog {
    /// Resolves a dataset's names, whichever it reads.
    pub(super) async fn resolve_dataset(
        &mut self,
        client: &AnaplanClient,
        d: &super::Dataset,
    ) -> Result<Names> {
        match &d.read {
            Some(read) => self.resolve_read(client, read).await.map(Names::Read),
            None => self.resolve(client, &d.job).await.map(Names::Export),
        }
    }
}
