//! The model a model-scoped call is about (checked for access), and lookups within it.

use crate::simulator::config::{ExportConfig, ModelConfig};
use crate::simulator::http::Ctx;
use crate::simulator::state::ExportFile;

/// What a model-scoped handler needs to know about its model.
pub(super) struct ModelScope {
    pub(super) model: ModelConfig,
    pub(super) model_id: String,
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
