//! Discovery: workspaces, models, exports, files and chunks, and finding one by name or id.
//!
//! Lists are paged the way Anaplan's own clients do it: ask for the next page while
//! `offset + items received < totalSize`, ignoring `next` (the live API sends a `next` even
//! when everything was returned). A v1.3 answer (a bare array) is one page.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::model::{
    Chunk, Export, ExportMetadata, FileInfo, Model, Workspace, paging, unwrap_list, unwrap_object,
};
use super::{AnaplanClient, ApiVersion, Call, CallAuth};
use crate::error::{Ambiguous, Candidate, NotFound, ObjectKind, Result, Scope};

/// Safety stop for paging: no list is longer than this many pages.
const MAX_PAGES: usize = 10_000;

/// An object found by name or id: a workspace, model, export or file.
pub(crate) trait Named {
    /// What kind of object it is, for messages.
    const KIND: ObjectKind;
    /// The id.
    fn id(&self) -> &str;
    /// The name.
    fn name(&self) -> &str;
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
named!(Workspace => Workspace, Model => Model, Export => Export, FileInfo => File);

/// The object `item` as the place a name is looked up in (`in model "FP&A"`).
pub(crate) fn scope_of<T: Named>(item: &T) -> Scope {
    Scope {
        kind: T::KIND,
        name: item.name().to_owned(),
    }
}

/// Finds the one item whose id or name is `wanted`: an exact id, else an exact name, else a
/// name differing only in case. `scope` (the model an export was looked for in) words the
/// errors, which list the candidates.
pub(crate) fn resolve<'a, T: Named>(
    items: &'a [T],
    wanted: &str,
    scope: Option<Scope>,
) -> Result<&'a T> {
    let wanted_trim = wanted.trim();
    if let Some(item) = items.iter().find(|i| i.id() == wanted_trim) {
        return Ok(item);
    }
    let exact: Vec<&T> = items.iter().filter(|i| i.name() == wanted).collect();
    let matches = if exact.is_empty() {
        items
            .iter()
            .filter(|i| {
                i.name().trim().eq_ignore_ascii_case(wanted_trim)
                    || i.name().trim().to_lowercase() == wanted_trim.to_lowercase()
            })
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(NotFound::Name {
            kind: T::KIND,
            name: wanted.to_owned(),
            scope,
            candidates: items.iter().map(candidate).collect(),
        }
        .into()),
        many => Err(Ambiguous {
            kind: T::KIND,
            name: wanted.to_owned(),
            scope,
            matches: many.iter().map(|i| candidate(*i)).collect(),
        }
        .into()),
    }
}

fn candidate<T: Named>(item: &T) -> Candidate {
    Candidate {
        name: item.name().to_owned(),
        id: item.id().to_owned(),
    }
}

impl AnaplanClient {
    /// Every page of a list call.
    pub(crate) async fn get_list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        key: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        let mut items: Vec<T> = Vec::new();
        for page in 0..MAX_PAGES {
            let mut url = self.api_url(segments);
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in query {
                    q.append_pair(k, v);
                }
                if self.inner.version == ApiVersion::V2 {
                    if let Some(limit) = self.inner.page_size {
                        q.append_pair("limit", &limit.to_string());
                    }
                    if page > 0 {
                        q.append_pair("offset", &items.len().to_string());
                    }
                }
            }
            if url.query() == Some("") {
                url.set_query(None);
            }
            let body = self.get_json(url, what).await?;
            let batch: Vec<T> = unwrap_list(&body, key, what)?;
            let received = batch.len();
            items.extend(batch);
            let Some(total) = paging(&body).and_then(|p| p.total_size) else {
                break;
            };
            if items.len() as u64 >= total {
                break;
            }
            if received == 0 {
                tracing::warn!(
                    "{what}: Anaplan announced {total} items but sent {} before an empty page",
                    items.len()
                );
                break;
            }
            tracing::debug!(
                "{what}: {} of {total}; asking for the next page",
                items.len()
            );
        }
        Ok(items)
    }

    /// The workspaces the user can see.
    pub async fn workspaces(&self) -> Result<Vec<Workspace>> {
        let query: &[(&str, &str)] = match self.inner.version {
            ApiVersion::V2 => &[("tenantDetails", "true")],
            ApiVersion::V1_3 => &[],
        };
        self.get_list(&["workspaces"], query, "workspaces", "list workspaces")
            .await
    }

    /// The models of a workspace.
    pub async fn models(&self, workspace_id: &str) -> Result<Vec<Model>> {
        self.get_list(
            &["workspaces", workspace_id, "models"],
            &[],
            "models",
            &format!("list the models of workspace {workspace_id}"),
        )
        .await
    }

    /// The exports of a model.
    pub async fn exports(&self, workspace_id: &str, model_id: &str) -> Result<Vec<Export>> {
        self.get_list(
            &["workspaces", workspace_id, "models", model_id, "exports"],
            &[],
            "exports",
            &format!("list the exports of model {model_id}"),
        )
        .await
    }

    /// The files of a model.
    pub async fn files(&self, workspace_id: &str, model_id: &str) -> Result<Vec<FileInfo>> {
        self.get_list(
            &["workspaces", workspace_id, "models", model_id, "files"],
            &[],
            "files",
            &format!("list the files of model {model_id}"),
        )
        .await
    }

    /// What an export writes: columns, types, encoding, separator.
    pub async fn export_metadata(
        &self,
        workspace_id: &str,
        model_id: &str,
        export_id: &str,
    ) -> Result<ExportMetadata> {
        let what = format!("read the metadata of export {export_id}");
        let url = self.api_url(&[
            "workspaces",
            workspace_id,
            "models",
            model_id,
            "exports",
            export_id,
        ]);
        let body = self.get_json(url, &what).await?;
        unwrap_object(&body, "exportMetadata", &what)
    }

    /// The chunks of a file, in order. Numeric ids are sorted numerically.
    pub async fn chunks(
        &self,
        workspace_id: &str,
        model_id: &str,
        file_id: &str,
    ) -> Result<Vec<Chunk>> {
        let mut chunks: Vec<Chunk> = self
            .get_list(
                &[
                    "workspaces",
                    workspace_id,
                    "models",
                    model_id,
                    "files",
                    file_id,
                    "chunks",
                ],
                &[],
                "chunks",
                &format!("list the chunks of file {file_id}"),
            )
            .await?;
        if chunks.iter().all(|c| c.id.trim().parse::<u64>().is_ok()) {
            chunks.sort_by_key(|c| c.id.trim().parse::<u64>().unwrap_or(u64::MAX));
        }
        chunks.dedup_by(|a, b| a.id == b.id);
        Ok(chunks)
    }

    /// One chunk's bytes, whole and checked against its Content-Length; retried as needed.
    pub async fn chunk(
        &self,
        workspace_id: &str,
        model_id: &str,
        file_id: &str,
        chunk_id: &str,
    ) -> Result<Bytes> {
        let call = Call {
            auth: CallAuth::Api,
            ..Call::get(
                self.api_url(&[
                    "workspaces",
                    workspace_id,
                    "models",
                    model_id,
                    "files",
                    file_id,
                    "chunks",
                    chunk_id,
                ]),
                format!("download chunk {chunk_id} of file {file_id}"),
            )
        };
        Ok(self.call(&call).await?.body)
    }

    /// Finds a workspace by name or id.
    pub async fn find_workspace(&self, wanted: &str) -> Result<Workspace> {
        let all = self.workspaces().await?;
        resolve(&all, wanted, None).cloned()
    }

    /// Finds a model of a workspace by name or id.
    pub async fn find_model(&self, workspace: &Workspace, wanted: &str) -> Result<Model> {
        let all = self.models(&workspace.id).await?;
        resolve(&all, wanted, Some(scope_of(workspace))).cloned()
    }

    /// Finds an export of a model by name or id.
    pub async fn find_export(
        &self,
        workspace: &Workspace,
        model: &Model,
        wanted: &str,
    ) -> Result<Export> {
        let all = self.exports(&workspace.id, &model.id).await?;
        resolve(&all, wanted, Some(scope_of(model))).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn ws(id: &str, name: &str) -> Workspace {
        Workspace {
            id: id.into(),
            name: name.into(),
            ..Workspace::default()
        }
    }

    #[test]
    fn resolve_table() {
        let items = [
            ws("8a01", "Finance"),
            ws("8a02", "Sales"),
            ws("8a03", "Sales"),
            ws("8a04", "finance"),
            ws("8a05", "Ops Planning"),
            ws("Sales", "Id looks like a name"),
        ];
        // (wanted, Ok(id) or Err(kind))
        let table: [(&str, std::result::Result<&str, &str>); 8] = [
            ("8a02", Ok("8a02")),
            ("Finance", Ok("8a01")),
            ("finance", Ok("8a04")),
            ("ops planning", Ok("8a05")),
            (" 8a05 ", Ok("8a05")),
            ("Sales", Ok("Sales")), // an id match wins over names
            ("FINANCE", Err("ambiguous")),
            ("Marketing", Err("not found")),
        ];
        for (wanted, expected) in table {
            let got = resolve(&items, wanted, None);
            match (expected, got) {
                (Ok(id), Ok(item)) => assert_eq!(item.id, id, "{wanted}"),
                (Err("ambiguous"), Err(Error::Ambiguous(a))) => {
                    let ids: Vec<&str> = a.matches.iter().map(|c| c.id.as_str()).collect();
                    assert_eq!(ids, ["8a01", "8a04"]);
                    let m = a.to_string();
                    assert!(
                        m.contains("\"Finance\" (8a01)") && m.contains("\"finance\" (8a04)"),
                        "{m}"
                    );
                }
                (Err("not found"), Err(Error::NotFound(n))) => {
                    let NotFound::Name {
                        kind, candidates, ..
                    } = &*n
                    else {
                        panic!("{n:?}")
                    };
                    assert_eq!((*kind, candidates.len()), (ObjectKind::Workspace, 6));
                    let m = n.to_string();
                    assert!(m.contains("no workspace named \"Marketing\""), "{m}");
                    assert!(m.contains("\"Ops Planning\" (8a05)"), "{m}");
                }
                (e, g) => panic!("{wanted}: expected {e:?}, got {g:?}"),
            }
        }
        let items = [ws("1", "Sales"), ws("2", "Sales")];
        let e = resolve(&items, "Sales", None).unwrap_err();
        assert!(matches!(e, Error::Ambiguous(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "2 workspaces are named \"Sales\"; give the id instead: \"Sales\" (1), \"Sales\" (2)"
        );
        let none: [Model; 0] = [];
        let e = resolve(&none, "x", Some(scope_of(&ws("8a01", "W")))).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "no model named \"x\" (or with that id) in workspace \"W\"; there is no model to \
             choose from (check the user's access)"
        );
    }

    #[test]
    fn long_candidate_lists_are_cut() {
        let items: Vec<Workspace> = (0..25)
            .map(|i| ws(&format!("id{i}"), &format!("W{i}")))
            .collect();
        let e = resolve(&items, "nope", None).unwrap_err();
        assert!(e.to_string().ends_with("and 5 more"), "{e}");
    }
}
