//! The model a model-scoped call is about (checked for access), and lookups within it.

use super::envelope::schema;
use crate::simulator::config::{ExportConfig, ModelConfig};
use crate::simulator::http::Ctx;
use crate::simulator::state::{ExportFile, Task};

/// What a model-scoped handler needs to know about its model.
pub(super) struct ModelScope {
    pub(super) model: ModelConfig,
    pub(super) model_id: String,
}

impl ModelScope {
    /// The `meta.schema` link of an object of this model.
    pub(super) fn schema(&self, ctx: &Ctx, object: &str) -> String {
        schema(ctx, Some(&self.model_id), object)
    }
}

pub(super) fn find_export<'a>(scope: &'a ModelScope, id: &str) -> Option<&'a ExportConfig> {
    scope
        .model
        .exports
        .iter()
        .find(|e| e.id.as_deref() == Some(id))
}

pub(super) fn export_file(ctx: &Ctx, scope: &ModelScope, id: &str) -> Option<ExportFile> {
    ctx.shared
        .lock()
        .files
        .get(&(scope.model_id.clone(), id.to_owned()))
        .cloned()
}

/// What `read` makes of task `id` of export `export_id` in this model, if there is one.
pub(super) fn with_task<R>(
    ctx: &Ctx,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
    read: impl FnOnce(&Task) -> Option<R>,
) -> Option<R> {
    let inner = ctx.shared.lock();
    inner
        .tasks
        .iter()
        .find(|t| t.id == id && t.model_id == scope.model_id && t.export_id == export_id)
        .and_then(read)
}
