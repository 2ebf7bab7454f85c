//! Modules, views and lists: discovery and metadata, read leniently, found by name or id.
//!
//! What the API sends (the facts this relies on, from the API notes):
//!
//! - `GET …/modules` → `modules: [{id, name}]` (`102…`, 12 digits; `code` optional).
//! - `GET …/views` → `views: [{code, id, name, moduleId}]`. A module's default view has
//!   `id == moduleId` and the module's name (`default` on the per-module path); a saved view
//!   is named `<module>.<view>`, a part with special characters wrapped in single quotes
//!   (`'StrategicPlanning/2020'.'x/US$'`): names are never split on `.`.
//! - `GET …/views/{id}` → **flat** `{viewName, viewId, rows, columns, pages}`; an axis with no
//!   dimension is left out; axis entries are `{id, name[, code]}`. Line Items is dimension
//!   `20000000012` (the docs' example mislabels `101999999999`, which is Users).
//! - `GET …/lists` → `lists: [{id, name}]`; `GET …/lists/{id}` → `metadata{…}` with
//!   `itemCount` (counting the top-level item), `properties[{name, format}]`,
//!   `hasSelectiveAccess`, `parent{id, name}`, `subsets`; unset entries are left out.
//!
//! Collections are paged as every list call (`AnaplanClient::get_list`) and leave out their
//! key when empty. Ids may arrive as numbers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AnaplanClient;
use super::discovery::{Named, resolve, scope_of};
use super::lenient::{ListItem, lenient};
use super::model::{Model, Workspace, unwrap_object};
use crate::error::{Error, ObjectKind, Result};

/// The Line Items dimension's id.
pub const LINE_ITEMS_DIMENSION: &str = "20000000012";

/// A module.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Module {
    /// Id (`102…`).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Code, when it has one.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A view: a module's default view (its id is the module's) or a saved view.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct View {
    /// Id.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name as Anaplan shows it (`<module>.<view>` for a saved view).
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// The module it belongs to.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// Code (usually empty).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl View {
    /// True for a module's default view.
    pub fn is_default(&self) -> bool {
        self.module_id.as_deref() == Some(self.id.as_str())
    }
}

/// A dimension on an axis of a view.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Dimension {
    /// Id.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
}

impl Dimension {
    /// True for the Line Items dimension.
    pub fn is_line_items(&self) -> bool {
        self.id == LINE_ITEMS_DIMENSION || self.name.eq_ignore_ascii_case("Line Items")
    }
}

impl ListItem for Dimension {
    fn item(v: Value) -> Option<Self> {
        serde_json::from_value(v).ok()
    }
}

/// A view's axes (`GET …/views/{id}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ViewMetadata {
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub view_name: String,
    /// Id.
    #[serde(deserialize_with = "lenient")]
    pub view_id: String,
    /// Row dimensions.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Dimension>,
    /// Column dimensions.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Dimension>,
    /// Page dimensions.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<Dimension>,
}

impl ViewMetadata {
    /// The dimension columns a Tabular Multiple Column read starts with: every dimension on
    /// any axis but Line Items (page dimensions move to columns).
    pub fn tabular_dimensions(&self) -> usize {
        self.rows
            .iter()
            .chain(&self.columns)
            .chain(&self.pages)
            .filter(|d| !d.is_line_items())
            .count()
    }
}

/// A list.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct List {
    /// Id (`101…`).
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Code.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A property of a list.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListProperty {
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Format (`TEXT`, `NUMBER`, …).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl ListItem for ListProperty {
    fn item(v: Value) -> Option<Self> {
        serde_json::from_value(v).ok()
    }
}

/// A list's metadata (`GET …/lists/{id}`, key `metadata`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMetadata {
    /// Id.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// Name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Items, counting the top-level item.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u64>,
    /// Properties.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<ListProperty>,
    /// Subsets (a boolean column each in a read).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Dimension>,
    /// Selective Access (reads then carry `Write` and `Read` columns).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub has_selective_access: Option<bool>,
    /// The parent list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Dimension>,
}

impl ListMetadata {
    /// The leading text columns of a large list read: name, `Parent`, `Write` and `Read`
    /// (with Selective Access), `Code`.
    pub fn text_columns(&self) -> usize {
        if self.has_selective_access == Some(true) {
            5
        } else {
            3
        }
    }
}

macro_rules! named {
    ($($t:ty => $kind:ident),*) => {$(
        impl Named for $t {
            const KIND: ObjectKind = ObjectKind::$kind;
            fn id(&self) -> &str { &self.id }
            fn name(&self) -> &str { &self.name }
        }
    )*};
}
named!(Module => Module, View => View, List => List);

/// A view name with the single quotes around its parts taken away (`'a/b'.'c'` → `a/b.c`).
fn unquoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_quotes = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if in_quotes && chars.peek() == Some(&'\'') => {
                out.push('\'');
                chars.next();
            }
            '\'' if in_quotes || out.is_empty() || out.ends_with('.') => in_quotes = !in_quotes,
            _ => out.push(c),
        }
    }
    out
}

/// Finds a view by id or name: the name as Anaplan shows it, or without its quotes.
pub(crate) fn resolve_view<'a>(views: &'a [View], wanted: &str, model: &Model) -> Result<&'a View> {
    match resolve(views, wanted, Some(scope_of(model))) {
        Err(Error::NotFound(_)) => {
            let plain: Vec<View> = views
                .iter()
                .map(|v| View {
                    name: unquoted(&v.name),
                    ..v.clone()
                })
                .collect();
            let found = resolve(&plain, wanted, Some(scope_of(model)))?;
            Ok(views
                .iter()
                .find(|v| v.id == found.id)
                .expect("the same views"))
        }
        other => other,
    }
}

impl AnaplanClient {
    fn model_segments<'a>(workspace_id: &'a str, model_id: &'a str) -> Vec<&'a str> {
        vec!["workspaces", workspace_id, "models", model_id]
    }

    /// The modules of a model.
    pub async fn modules(&self, workspace_id: &str, model_id: &str) -> Result<Vec<Module>> {
        let mut s = Self::model_segments(workspace_id, model_id);
        s.push("modules");
        self.get_list(
            &s,
            &[],
            "modules",
            &format!("list the modules of model {model_id}"),
        )
        .await
    }

    /// The views of a model: every module's default view and the saved views.
    pub async fn views(&self, workspace_id: &str, model_id: &str) -> Result<Vec<View>> {
        let mut s = Self::model_segments(workspace_id, model_id);
        s.push("views");
        self.get_list(
            &s,
            &[],
            "views",
            &format!("list the views of model {model_id}"),
        )
        .await
    }

    /// A view's axes.
    pub async fn view_metadata(
        &self,
        workspace_id: &str,
        model_id: &str,
        view_id: &str,
    ) -> Result<ViewMetadata> {
        let what = format!("read the metadata of view {view_id}");
        let mut s = Self::model_segments(workspace_id, model_id);
        s.extend(["views", view_id]);
        let body = self.get_json(self.api_url(&s), &what).await?;
        // Flat: the fields sit beside `meta` and `status` (a wrapped form is accepted too).
        unwrap_object(&body, "viewMetadata", &what)
    }

    /// The lists of a model.
    pub async fn lists(&self, workspace_id: &str, model_id: &str) -> Result<Vec<List>> {
        let mut s = Self::model_segments(workspace_id, model_id);
        s.push("lists");
        self.get_list(
            &s,
            &[],
            "lists",
            &format!("list the lists of model {model_id}"),
        )
        .await
    }

    /// A list's metadata.
    pub async fn list_metadata(
        &self,
        workspace_id: &str,
        model_id: &str,
        list_id: &str,
    ) -> Result<ListMetadata> {
        let what = format!("read the metadata of list {list_id}");
        let mut s = Self::model_segments(workspace_id, model_id);
        s.extend(["lists", list_id]);
        let body = self.get_json(self.api_url(&s), &what).await?;
        unwrap_object(&body, "metadata", &what)
    }

    /// Finds a module by name or id.
    pub async fn find_module(
        &self,
        workspace: &Workspace,
        model: &Model,
        wanted: &str,
    ) -> Result<Module> {
        let all = self.modules(&workspace.id, &model.id).await?;
        resolve(&all, wanted, Some(scope_of(model))).cloned()
    }

    /// Finds a view by name (as Anaplan shows it, with or without its quotes) or id.
    pub async fn find_view(
        &self,
        workspace: &Workspace,
        model: &Model,
        wanted: &str,
    ) -> Result<View> {
        let all = self.views(&workspace.id, &model.id).await?;
        resolve_view(&all, wanted, model).cloned()
    }

    /// Finds a list by name or id.
    pub async fn find_list(
        &self,
        workspace: &Workspace,
        model: &Model,
        wanted: &str,
    ) -> Result<List> {
        let all = self.lists(&workspace.id, &model.id).await?;
        resolve(&all, wanted, Some(scope_of(model))).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::anaplan::model::unwrap_list;

    #[test]
    fn shapes_from_the_reference() {
        let body = json!({"meta":{"paging":{"currentPageSize":3,"offset":0,"totalSize":3}},
            "status":{"code":200,"message":"Success"},
            "views":[{"code":"","id":"102000000000","name":"StrategicPlanning","moduleId":"102000000000"},
                     {"code":"","id":207_000_000_000_u64,"name":"StrategicPlanning.UK Financial forecast","moduleId":"102000000000"},
                     {"code":"","id":"237000000001","name":"'StrategicPlanning/2020'.'accountSummary&overview/US$'","moduleId":"102000000001"}]});
        let views: Vec<View> = unwrap_list(&body, "views", "list").unwrap();
        assert!(views[0].is_default());
        assert_eq!(views[1].id, "207000000000");
        assert!(!views[1].is_default());
        let model = Model {
            id: "M".into(),
            name: "FP&A".into(),
            ..Model::default()
        };
        let v = resolve_view(
            &views,
            "StrategicPlanning/2020.accountSummary&overview/US$",
            &model,
        )
        .unwrap();
        assert_eq!(v.id, "237000000001");
        assert_eq!(
            resolve_view(&views, "strategicplanning", &model)
                .unwrap()
                .id,
            "102000000000"
        );
        assert!(matches!(
            resolve_view(&views, "nope", &model),
            Err(Error::NotFound(_))
        ));

        let md: ViewMetadata = unwrap_object(
            &json!({"meta":{"schema":"x"},"status":{"code":200,"message":"Success"},
                "viewName":"REV01 Price Book","viewId":"102000000000",
                "rows":[{"id":"101000000000","name":"Products"},{"id":"101000000003","name":"Regions"}],
                "columns":[{"id":"20000000012","name":"Line Items"}],
                "pages":[{"id":"20000000020","name":"Versions"}]}),
            "viewMetadata",
            "get",
        )
        .unwrap();
        assert_eq!(md.view_name, "REV01 Price Book");
        assert_eq!(md.tabular_dimensions(), 3);
        // Axes with no dimension are left out.
        let md: ViewMetadata =
            unwrap_object(&json!({"viewName":"x","viewId":1,"columns":[{"id":20_000_000_012_u64,"name":"Line Items"}]}), "viewMetadata", "get").unwrap();
        assert_eq!(md.tabular_dimensions(), 0);

        let md: ListMetadata = unwrap_object(
            &json!({"metadata":{"id":"101000000001","name":"Sales Reps",
                "properties":[{"name":"Salesforce","format":"TEXT","notes":"","referencedBy":""}],
                "hasSelectiveAccess":false,"parent":{"id":"101000000000","name":"Organization"},
                "itemCount":1}}),
            "metadata",
            "get",
        )
        .unwrap();
        assert_eq!(md.properties[0].name, "Salesforce");
        assert_eq!(md.text_columns(), 3);
        assert_eq!(md.parent.unwrap().name, "Organization");
    }

    #[test]
    fn quotes_come_off_view_names() {
        for (raw, plain) in [
            ("A.B", "A.B"),
            ("'A/2020'.'x&y/US$'", "A/2020.x&y/US$"),
            ("A.'it''s'", "A.it's"),
            ("default", "default"),
        ] {
            assert_eq!(unquoted(raw), plain, "{raw}");
        }
    }
}
