//! Modules, views and lists, and reading them: discovery, the large-volume read requests
//! (create, status, pages, DELETE) and the transactional reads, as the API notes describe them
//! (`anaplan-api-views-oauth.md` §1–3; the facts this relies on are restated here).
//!
//! # What is served (model-scoped, under both `/workspaces/{w}/models/{m}` and `/models/{m}`)
//!
//! | call | answer |
//! |---|---|
//! | `GET modules` | `modules: [{id, name}]` (`102…` ids), paged |
//! | `GET views` | `views: [{code:"", id, name, moduleId}]`: each module's default view (`id == moduleId`, named after the module) and its saved views (13-digit ids, named `<module>.<view>`, parts with special characters in single quotes) |
//! | `GET modules/{id}/views` | the same for one module; the default view is named `default` (as in the docs) |
//! | `GET views/{id}` | flat metadata: `viewName`, `viewId`, `rows`, `columns` (`Line Items`, `20000000012`); empty axes omitted |
//! | `GET views/{id}/data` | transactional read: CSV grid (dimension header cells empty), or `exportType=TABULAR_MULTI_COLUMN\|TABULAR_SINGLE_COLUMN` with `moduleId` for the tabular CSV; 400 above `cell_limit` cells |
//! | `GET lists`, `GET lists/{id}` | `lists: [{id, name}]`; `metadata{…, properties, itemCount, parent}` |
//! | `GET lists/{id}/items` | JSON `listItems` or CSV (`id,name,code,parent,parentId,listId,listName[,subsets,properties]` with `includeAll=true`); 400 above `item_limit` |
//! | `POST views/{id}/readRequests` | body `{"exportType": …}`: `TABULAR_MULTI_COLUMN`, `TABULAR_SINGLE_COLUMN` (alias `TABULAR_SINGLE_ITEMS`), `GRID_ALL_PAGES`, `GRID_CURRENT_PAGE` (both served as multi-column); anything else or none: 400 |
//! | `POST lists/{id}/readRequests` | no body |
//! | `GET …/readRequests/{r}` | `{requestId, viewId\|listId (a JSON number), requestState, url, availablePages, successful}` |
//! | `GET …/readRequests/{r}/pages/{k}` | `text/csv`, page `k` (0-based) once `k < availablePages`; 404 otherwise |
//! | `DELETE …/readRequests/{r}` | 200 with the request, `CANCELLED` (unfinished) or `COMPLETE`; 404 on every later call |
//!
//! The answer to POST is 200 (not 201) with `requestState` and `url` only. A POST when the
//! workspace already holds `max_concurrent` live requests answers 429 with `Retry-After`. With
//! `admin_only`, a user who is not a workspace administrator gets 404 (never 403: the live API
//! masks what a role may not do as 404). The existing faults apply: 429 and 5xx to every call,
//! reset/truncate/slow to page downloads.
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | modules, views, lists and the `[reads]` behaviour, from code or TOML |
//! | `content.rs` | the generated records of a view or list, and their pages |
//! | `requests.rs` | read requests and their clock-driven life cycle |
//! | `api/views.rs` (in `api`) | the endpoints |

pub mod config;
pub mod content;
pub mod requests;

pub use config::{
    CellFormat, Field, ListConfig, ModelReads, ModuleConfig, ReadsConfig, SavedView,
    default_model_reads,
};
pub use content::{Table, ViewLayout};
pub(crate) use requests::ReadStore;
pub use requests::{ReadKind, ReadRequestInfo};

use super::SimulatorHandle;
use crate::error::{Error, Result};

impl SimulatorHandle {
    /// Every read request created so far, oldest first (deleted and expired ones included).
    pub fn read_requests(&self) -> Vec<ReadRequestInfo> {
        self.shared.reads.infos()
    }

    /// What a read of view `view` (its id or name, default or saved, in any model) produces
    /// in `layout`: the ground truth of a download.
    pub fn view_table(&self, view: &str, layout: ViewLayout) -> Option<Table> {
        let inner = self.shared.lock();
        inner
            .config
            .workspaces
            .iter()
            .flat_map(|w| w.models.iter())
            .find_map(|m| {
                let r = &m.reads;
                r.modules.iter().find_map(|module| {
                    if module.id.as_deref() == Some(view) || module.name == view {
                        return Some(Table::view(r, module, &[], layout));
                    }
                    module
                        .views
                        .iter()
                        .find(|v| v.id.as_deref() == Some(view) || v.name == view)
                        .map(|v| Table::view(r, module, &v.line_items, layout))
                })
            })
    }

    /// What a read of list `list` (its id or name, in any model) produces.
    pub fn list_table(&self, list: &str) -> Option<Table> {
        let inner = self.shared.lock();
        inner
            .config
            .workspaces
            .iter()
            .flat_map(|w| w.models.iter())
            .find_map(|m| {
                m.reads
                    .lists
                    .iter()
                    .find(|l| l.id.as_deref() == Some(list) || l.name == list)
                    .map(|l| Table::list(&m.reads, l))
            })
    }

    /// Changes how read requests behave from now on.
    pub fn set_reads(&self, change: impl FnOnce(&mut ReadsConfig)) -> Result<()> {
        let mut inner = self.shared.lock();
        let mut reads = inner.config.reads.clone();
        change(&mut reads);
        reads.validate()?;
        inner.config.reads = reads;
        Ok(())
    }

    /// Changes a model's modules and lists (model by id or name); ids left `None` are filled in.
    pub fn update_model_reads(
        &self,
        model: &str,
        change: impl FnOnce(&mut ModelReads),
    ) -> Result<()> {
        let mut inner = self.shared.lock();
        let m = inner
            .model_mut_by_key(model)
            .ok_or_else(|| Error::usage(format!("no model {model:?}")))?;
        let mut reads = m.reads.clone();
        change(&mut reads);
        reads.resolve()?;
        m.reads = reads;
        Ok(())
    }
}
