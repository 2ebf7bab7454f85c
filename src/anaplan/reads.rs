//! Large-volume read requests of views and lists, and the transactional view read.
//!
//! The life cycle (API notes §2; only the workspace-prefixed form is documented, so that is
//! the one used):
//!
//! 1. `POST …/views/{id}/readRequests` with `{"exportType": "TABULAR_MULTI_COLUMN"}` (or
//!    `TABULAR_SINGLE_COLUMN`), or `POST …/lists/{id}/readRequests` with no body. The answer
//!    is 200 (not 201) with `viewReadRequest` / `listReadRequest` `{requestId, requestState,
//!    url}`. The `url` is not followed (doc examples carry typos in it); the status URL is
//!    built from the ids.
//! 2. `GET …/readRequests/{r}`: `requestState` NOT_STARTED, IN_PROGRESS (pages
//!    `0 … availablePages-1` can already be downloaded), COMPLETE (`successful: false` means
//!    failed: delete it and start again), CANCELLING, CANCELLED. `successful` is read only
//!    when COMPLETE (the docs' IN_PROGRESS example shows `true`); a missing `availablePages`
//!    is 0; `viewId`/`listId` are JSON numbers here (read leniently).
//! 3. `GET …/readRequests/{r}/pages/{k}` with `Accept: text/csv` (`csv_accept`): page `k`,
//!    0-based. Whether pages after 0 repeat the header, and whether a page can end inside a
//!    record, is not known: see [`crate::source::pages`] for how both are read.
//! 4. `DELETE …/readRequests/{r}`: 200 with the request (`CANCELLED` or `COMPLETE`). Pages
//!    are removed; later calls answer 404. Unused requests are reclaimed after 30 minutes
//!    without activity, and only page numbers divisible by 100 (including 0) reset that timer.
//!
//! A 429 (rate limit, or too many concurrent requests) is retried after its `Retry-After` like
//! any call. A role that may not make a call gets 404, not 403.
//!
//! The transactional view read, `GET /models/{m}/views/{v}/data` (model-direct path), answers
//! CSV; with `exportType=TABULAR_MULTI_COLUMN&moduleId={module}` the tabular layout. Above
//! 1,000,000 cells it answers 400.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

use super::lenient::lenient;
use super::model::{TaskState, unwrap_object};
use super::{AnaplanClient, Call, CallAuth, Interrupt};
use crate::error::{Error, Result};

/// The `Accept` a call asks for when it downloads CSV (read-request pages, the transactional
/// view read, list previews); `None` for everything else (JSON calls and chunk downloads keep
/// the client's default).
pub(crate) fn csv_accept(url: &Url) -> Option<&'static str> {
    let path = url.path();
    let page = path.contains("/readRequests/") && path.contains("/pages/");
    let data = path.contains("/views/") && path.ends_with("/data");
    let list = path.contains("/lists/") && (path.ends_with("/preview") || path.ends_with("/items"));
    (page || data || list).then_some("text/csv")
}

/// What a read request reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReadTarget {
    /// A view (default or saved), by id.
    View(String),
    /// A list, by id.
    List(String),
}

impl ReadTarget {
    fn segments(&self) -> [&str; 2] {
        match self {
            ReadTarget::View(id) => ["views", id],
            ReadTarget::List(id) => ["lists", id],
        }
    }

    /// The JSON key of the request object.
    fn key(&self) -> &'static str {
        match self {
            ReadTarget::View(_) => "viewReadRequest",
            ReadTarget::List(_) => "listReadRequest",
        }
    }

    /// `view 102000000000` / `list 101000000001`.
    pub fn describe(&self) -> String {
        match self {
            ReadTarget::View(id) => format!("view {id}"),
            ReadTarget::List(id) => format!("list {id}"),
        }
    }
}

/// Where a read request lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReadRef {
    /// Workspace id.
    pub workspace_id: String,
    /// Model id.
    pub model_id: String,
    /// The view or list.
    pub target: ReadTarget,
}

impl ReadRef {
    fn segments<'a>(&'a self, tail: &[&'a str]) -> Vec<&'a str> {
        let mut s = vec!["workspaces", &self.workspace_id, "models", &self.model_id];
        s.extend(self.target.segments());
        s.push("readRequests");
        s.extend_from_slice(tail);
        s
    }
}

/// A read request's status.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadRequest {
    /// Id (32 uppercase hex digits).
    #[serde(deserialize_with = "lenient")]
    pub request_id: String,
    /// State (the export tasks' states).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_state: Option<TaskState>,
    /// Pages that can be downloaded now (`0 … availablePages-1`).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub available_pages: Option<u64>,
    /// Meaningful only once COMPLETE: false means the request failed.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub successful: Option<bool>,
}

impl ReadRequest {
    /// Pages ready now (a missing count is 0).
    pub fn available(&self) -> u64 {
        self.available_pages.unwrap_or(0)
    }

    /// COMPLETE and successful (a missing `successful` on COMPLETE counts as success).
    pub fn is_done(&self) -> bool {
        self.request_state == Some(TaskState::Complete) && self.successful != Some(false)
    }

    /// COMPLETE without success, or CANCELLING/CANCELLED: it will not produce its pages.
    pub fn has_failed(&self) -> bool {
        match &self.request_state {
            Some(TaskState::Complete) => self.successful == Some(false),
            Some(TaskState::Cancelled | TaskState::Cancelling) => true,
            _ => false,
        }
    }
}

impl AnaplanClient {
    /// Starts a read request; `export_type` only for views (`TABULAR_MULTI_COLUMN`, ...).
    pub async fn create_read_request(
        &self,
        read: &ReadRef,
        export_type: Option<&str>,
    ) -> Result<ReadRequest> {
        let what = format!("start a large-volume read of {}", read.target.describe());
        let call = Call {
            method: reqwest::Method::POST,
            body: export_type.map(|t| serde_json::json!({ "exportType": t })),
            idempotent: false,
            interrupt: Interrupt::BetweenAttempts,
            auth: CallAuth::Api,
            ..Call::get(self.api_url(&read.segments(&[])), what.clone())
        };
        let reply = self.call(&call).await?;
        let body = super::parse_json(&reply.body, &what)?;
        let request: ReadRequest = unwrap_object(&body, read.target.key(), &what)?;
        if request.request_id.is_empty() {
            return Err(super::bad_answer(what, "the answer has no requestId"));
        }
        Ok(request)
    }

    /// A read request's status.
    pub async fn read_request(&self, read: &ReadRef, request_id: &str) -> Result<ReadRequest> {
        let what = format!("check read request {request_id}");
        let body = self
            .get_json(self.api_url(&read.segments(&[request_id])), &what)
            .await?;
        let mut request: ReadRequest = unwrap_object(&body, read.target.key(), &what)?;
        if request.request_id.is_empty() {
            request_id.clone_into(&mut request.request_id);
        }
        Ok(request)
    }

    /// Page `page` of a read request, whole and checked against its Content-Length; retried
    /// as needed.
    pub async fn read_page(&self, read: &ReadRef, request_id: &str, page: u64) -> Result<Bytes> {
        let k = page.to_string();
        let call = Call::get(
            self.api_url(&read.segments(&[request_id, "pages", &k])),
            format!("download page {page} of read request {request_id}"),
        );
        Ok(self.call(&call).await?.body)
    }

    /// Deletes a read request (its pages are removed). Never cut short by a stop request.
    pub async fn delete_read_request(&self, read: &ReadRef, request_id: &str) -> Result<()> {
        let call = Call {
            method: reqwest::Method::DELETE,
            interrupt: Interrupt::Never,
            ..Call::get(
                self.api_url(&read.segments(&[request_id])),
                format!("delete read request {request_id}"),
            )
        };
        self.call(&call).await.map(|_| ())
    }

    /// The transactional read of a view as CSV in `export_type`'s layout (with the view's
    /// module), or as a grid without one.
    pub async fn view_data(
        &self,
        model_id: &str,
        view_id: &str,
        tabular: Option<(&str, &str)>,
    ) -> Result<Bytes> {
        let mut url = self.api_url(&["models", model_id, "views", view_id, "data"]);
        if let Some((export_type, module_id)) = tabular {
            url.query_pairs_mut()
                .append_pair("exportType", export_type)
                .append_pair("moduleId", module_id);
        }
        let call = Call::get(url, format!("read the data of view {view_id}"));
        Ok(self.call(&call).await?.body)
    }
}

impl AnaplanClient {
    /// The transactional read of a list as CSV, with subsets and properties
    /// (`includeAll=true`): `id,name,code,parent,parentId,listId,listName,…`.
    pub async fn list_items_csv(
        &self,
        workspace_id: &str,
        model_id: &str,
        list_id: &str,
    ) -> Result<Bytes> {
        let mut url = self.api_url(&[
            "workspaces",
            workspace_id,
            "models",
            model_id,
            "lists",
            list_id,
            "items",
        ]);
        url.query_pairs_mut().append_pair("includeAll", "true");
        let call = Call::get(url, format!("read the items of list {list_id}"));
        Ok(self.call(&call).await?.body)
    }
}

/// Leaves a read request's errors as they are, but says which ones mean "refused".
pub(crate) fn is_refusal(e: &Error) -> Option<(u16, String)> {
    match e {
        Error::NotFound(n) => match &**n {
            crate::error::NotFound::Call { message, .. } => Some((404, message.clone())),
            crate::error::NotFound::Name { .. } => None,
        },
        Error::Api(a) => match &**a {
            crate::error::ApiError::Status {
                status: status @ 403,
                message,
                ..
            } => Some((*status, message.clone())),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_shapes_from_the_reference() {
        // The POST answer: no availablePages, successful or viewId.
        let r: ReadRequest = unwrap_object(
            &json!({"meta":{"schema":"x"},"status":{"code":200,"message":"Success"},
                "viewReadRequest":{"requestId":"0A06B0739F0E47BB92E2326C603D86EC","requestState":"IN_PROGRESS",
                "url":"https://api.anaplan.com/2/0/workspaces/w/models/m/views/v/readRequests/0A06"}}),
            "viewReadRequest",
            "post",
        )
        .unwrap();
        assert_eq!(r.available(), 0);
        assert!(!r.is_done() && !r.has_failed());
        // Status: viewId a number; IN_PROGRESS with successful true means nothing.
        let r: ReadRequest = unwrap_object(
            &json!({"viewReadRequest":{"requestId":"0A06","viewId":101_000_000_014_u64,"requestState":"IN_PROGRESS",
                "availablePages":50,"successful":true}}),
            "viewReadRequest",
            "get",
        )
        .unwrap();
        assert_eq!(r.available(), 50);
        assert!(!r.is_done());
        let r: ReadRequest = unwrap_object(
            &json!({"listReadRequest":{"requestId":"1","listId":"101","requestState":"COMPLETE","availablePages":"3","successful":"false"}}),
            "listReadRequest",
            "get",
        )
        .unwrap();
        assert!(r.has_failed() && !r.is_done());
    }

    #[test]
    fn csv_is_asked_for_pages_and_view_data_only() {
        for (url, csv) in [
            (
                "https://a/2/0/workspaces/w/models/m/views/1/readRequests/R/pages/0",
                true,
            ),
            (
                "https://a/2/0/workspaces/w/models/m/lists/1/readRequests/R/pages/12",
                true,
            ),
            ("https://a/2/0/models/m/views/1/data?exportType=X", true),
            (
                "https://a/2/0/workspaces/w/models/m/views/1/readRequests/R",
                false,
            ),
            (
                "https://a/2/0/workspaces/w/models/m/files/1/chunks/0",
                false,
            ),
        ] {
            assert_eq!(
                csv_accept(&Url::parse(url).unwrap()).is_some(),
                csv,
                "{url}"
            );
        }
    }
}
