//! Discovery commands for views and lists: `modules`, `views` (each module's default view and
//! the saved views, with their module and dimensions) and `lists` (with item counts). Same
//! conventions as `exports`: workspace and model by name or id, a table or `--json`.

use std::process::ExitCode;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::GlobalArgs;
use super::discovery::{ModelScopeArgs, model_scope, print_list, with_client};
use crate::anaplan::views::{Dimension, View};
use crate::error::Result;

/// Metadata calls made at once.
const AT_ONCE: usize = 8;

/// Runs `modules`.
pub(crate) async fn run_modules(args: ModelScopeArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let (workspace, model) = model_scope(client, &args, resolved).await?;
        let items = client.modules(&workspace.id, &model.id).await?;
        print_list(&items, args.json, "modules", &["Name", "Id"], |m| {
            vec![m.name.clone(), m.id.clone()]
        })
    })
    .await
}

/// A view with its module and axes, as `views` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewRow {
    #[serde(flatten)]
    view: View,
    /// The module's name.
    module: Option<String>,
    /// The default view of its module.
    default: bool,
    rows: Vec<Dimension>,
    columns: Vec<Dimension>,
    pages: Vec<Dimension>,
}

fn names(dims: &[Dimension]) -> String {
    dims.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `views`.
pub(crate) async fn run_views(args: ModelScopeArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let (workspace, model) = model_scope(client, &args, resolved).await?;
        let modules = client.modules(&workspace.id, &model.id).await?;
        let views = client.views(&workspace.id, &model.id).await?;
        let (ws, m) = (workspace.id.clone(), model.id.clone());
        let rows: Vec<ViewRow> = futures::stream::iter(views)
            .map(|view| {
                let (ws, m, modules) = (&ws, &m, &modules);
                async move {
                    // Axes where Anaplan gives them; a view without metadata is still listed.
                    let md = match client.view_metadata(ws, m, &view.id).await {
                        Ok(md) => Some(md),
                        Err(e @ crate::error::Error::Cancelled(_)) => return Err(e),
                        Err(e) => {
                            tracing::warn!("no axes for view {:?}: {e}", view.name);
                            None
                        }
                    };
                    let md = md.unwrap_or_default();
                    Ok::<_, crate::error::Error>(ViewRow {
                        module: modules
                            .iter()
                            .find(|x| Some(&x.id) == view.module_id.as_ref())
                            .map(|x| x.name.clone()),
                        default: view.is_default(),
                        rows: md.rows,
                        columns: md.columns,
                        pages: md.pages,
                        view,
                    })
                }
            })
            .buffered(AT_ONCE)
            .try_collect()
            .await?;
        print_list(
            &rows,
            args.json,
            "views",
            &["Name", "Id", "Module", "Rows", "Columns", "Pages"],
            |r| {
                vec![
                    if r.default {
                        format!("{} (default)", r.view.name)
                    } else {
                        r.view.name.clone()
                    },
                    r.view.id.clone(),
                    r.module.clone().unwrap_or_default(),
                    names(&r.rows),
                    names(&r.columns),
                    names(&r.pages),
                ]
            },
        )
    })
    .await
}

/// A list with its item count, as `lists` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRow {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    properties: Vec<String>,
}

/// Runs `lists`.
pub(crate) async fn run_lists(args: ModelScopeArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let (workspace, model) = model_scope(client, &args, resolved).await?;
        let lists = client.lists(&workspace.id, &model.id).await?;
        let (ws, m) = (workspace.id.clone(), model.id.clone());
        let rows: Vec<ListRow> = futures::stream::iter(lists)
            .map(|list| {
                let (ws, m) = (&ws, &m);
                async move {
                    let md = match client.list_metadata(ws, m, &list.id).await {
                        Ok(md) => Some(md),
                        Err(e @ crate::error::Error::Cancelled(_)) => return Err(e),
                        Err(e) => {
                            tracing::warn!("no metadata for list {:?}: {e}", list.name);
                            None
                        }
                    };
                    Ok::<_, crate::error::Error>(ListRow {
                        item_count: md.as_ref().and_then(|m| m.item_count),
                        parent: md
                            .as_ref()
                            .and_then(|m| m.parent.as_ref().map(|p| p.name.clone())),
                        properties: md
                            .map(|m| m.properties.into_iter().map(|p| p.name).collect())
                            .unwrap_or_default(),
                        id: list.id,
                        name: list.name,
                    })
                }
            })
            .buffered(AT_ONCE)
            .try_collect()
            .await?;
        print_list(
            &rows,
            args.json,
            "lists",
            &["Name", "Id", "Items", "Parent", "Properties"],
            |r| {
                vec![
                    r.name.clone(),
                    r.id.clone(),
                    r.item_count.map(|n| n.to_string()).unwrap_or_default(),
                    r.parent.clone().unwrap_or_default(),
                    r.properties.join(", "),
                ]
            },
        )
    })
    .await
}
