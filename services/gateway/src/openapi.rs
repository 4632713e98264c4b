//! `/api/v1/openapi.json`: the services' OpenAPI documents merged into one, and `/api/v1/docs`.
//!
//! Each service generates its document from its code (utoipa) and serves it at
//! `/openapi.json`, which the gateway does not route. The gateway fetches them, merges paths
//! and schemas, and caches the result for a minute, so a deploy of one service shows up soon
//! without restarting the gateway.
//!
//! The merged document also tells what a client can get from the edge and the kit on top of
//! what each handler documents ([`document_edge_answers`]): every error is a problem
//! (`application/problem+json`), any request may be refused as malformed (400), for its token
//! (401), for its rate (429) or because its upstream is down (503), a request with a body for
//! its size, media type or fields (413, 415, 422), one naming an id for that id (404), and an
//! admin route for the caller's role (403).
//!
//! No request waits on another's fetch while a document is cached: once the cache is stale,
//! the stale document is served and one refresh runs in the background. Only when there is no
//! complete document yet do requests wait, all on the same fetch.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::response::Html;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use kit::{ApiResult, Json};
use serde_json::{Map, Value, json};

use crate::AppState;

/// How long a merged document is served before it is refreshed.
pub const CACHE_FOR: Duration = Duration::from_secs(60);

type Fetch = Shared<BoxFuture<'static, Arc<Value>>>;

/// The merged document, cached.
pub struct Docs {
    ttl: Duration,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The last complete document and when it was fetched.
    doc: Option<(Instant, Arc<Value>)>,
    /// The fetch under way, if any.
    fetch: Option<Fetch>,
}

impl std::fmt::Debug for Docs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.cache();
        f.debug_struct("Docs")
            .field("ttl", &self.ttl)
            .field("cached_at", &cache.doc.as_ref().map(|(at, _)| *at))
            .field("fetching", &cache.fetch.is_some())
            .finish()
    }
}

impl Docs {
    /// An empty cache that keeps a complete document for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn merged(self: &Arc<Self>, state: &Arc<AppState>) -> Arc<Value> {
        let fetch = {
            let mut cache = self.cache();
            if let Some((at, doc)) = &cache.doc
                && at.elapsed() < self.ttl
            {
                return doc.clone();
            }
            let fetch = match &cache.fetch {
                Some(fetch) => fetch.clone(),
                None => {
                    let fetch = self.clone().fetch(state.clone()).boxed().shared();
                    // Runs to the end even if every request waiting on it goes away.
                    tokio::spawn(fetch.clone());
                    cache.fetch = Some(fetch.clone());
                    fetch
                }
            };
            match &cache.doc {
                Some((_, stale)) => return stale.clone(),
                None => fetch,
            }
        };
        fetch.await
    }

    async fn fetch(self: Arc<Self>, state: Arc<AppState>) -> Arc<Value> {
        let fetches = state.openapi_sources.iter().map(|(name, url)| {
            let http = &state.http;
            async move {
                let doc = async {
                    http.get(url)
                        .send()
                        .await?
                        .error_for_status()?
                        .json::<Value>()
                        .await
                }
                .await;
                match doc {
                    Ok(doc) => Some(doc),
                    Err(error) => {
                        tracing::warn!(service = name, %error, "OpenAPI document unavailable");
                        None
                    }
                }
            }
        });
        let docs: Vec<Value> = join_all(fetches).await.into_iter().flatten().collect();
        let complete = docs.len() == state.openapi_sources.len();
        let doc = Arc::new(merge(&docs));
        let mut cache = self.cache();
        cache.fetch = None;
        // A partial document is handed to the requests that waited for it but not cached: the
        // last complete one, if any, stays in service, and the next request tries again.
        if complete {
            cache.doc = Some((Instant::now(), doc.clone()));
        }
        doc
    }
}

/// Merges `paths` and `components` of several documents under one `info`.
pub fn merge(docs: &[Value]) -> Value {
    let mut paths = Map::new();
    let mut components: Map<String, Value> = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    for doc in docs {
        if let Some(doc_paths) = doc.get("paths").and_then(Value::as_object) {
            paths.extend(doc_paths.clone());
        }
        if let Some(doc_components) = doc.get("components").and_then(Value::as_object) {
            for (kind, entries) in doc_components {
                if let (Some(target), Some(entries)) = (
                    components
                        .entry(kind.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut(),
                    entries.as_object(),
                ) {
                    target.extend(entries.clone());
                }
            }
        }
        if let Some(doc_tags) = doc.get("tags").and_then(Value::as_array) {
            tags.extend(doc_tags.iter().cloned());
        }
    }
    for (path, item) in &mut paths {
        document_edge_answers(path, item);
    }
    components
        .entry("schemas".to_owned())
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(|schemas| {
            schemas
                .entry("Problem".to_owned())
                .or_insert_with(|| json!({ "type": "object" }))
        });
    components
        .entry("securitySchemes".to_owned())
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(|schemes| {
            schemes.insert(
                "bearer".to_owned(),
                json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }),
            )
        });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ecommerce API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The public API of the ecommerce shop. Errors are RFC 9457 problem documents."
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "paths": paths,
        "components": components,
    })
}

/// The methods of a path item that are operations.
const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// Adds to each operation of the path item at `path` the answers the gateway and the kit give
/// whatever the handler (see the module docs), and documents every error answer as a problem.
fn document_edge_answers(path: &str, item: &mut Value) {
    let problem = json!({
        "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } }
    });
    let has_id = path.contains('{');
    let admin = path.starts_with("/api/v1/admin/");
    let Some(item) = item.as_object_mut() else {
        return;
    };
    for (method, operation) in item.iter_mut() {
        if !METHODS.contains(&method.as_str()) {
            continue;
        }
        let Some(operation) = operation.as_object_mut() else {
            continue;
        };
        let has_body = operation.contains_key("requestBody");
        let responses = operation.entry("responses").or_insert_with(|| json!({}));
        let Some(responses) = responses.as_object_mut() else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if status.parse::<u16>().is_ok_and(|s| s >= 400)
                && let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                && let Some(json) = content.remove("application/json")
            {
                content.insert("application/problem+json".to_owned(), json);
            }
        }
        let mut answers = vec![
            (
                "400",
                "Malformed: a path not in normal form, or a parameter or body that cannot be read",
            ),
            (
                "401",
                "The access token sent is invalid or expired (or none was sent where one is needed)",
            ),
            (
                "429",
                "Too many requests; retry after `Retry-After` seconds",
            ),
            (
                "503",
                "The service or one of its dependencies is unavailable; retry later",
            ),
        ];
        if has_body {
            answers.extend([
                ("413", "The body is larger than the limit"),
                ("415", "The body is not application/json"),
                ("422", "A field is invalid; `errors` names it"),
            ]);
        }
        if has_id {
            answers.push(("404", "Nothing has this id"));
        }
        if admin {
            answers.push(("403", "The caller is not an admin"));
        }
        for (status, description) in answers {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| json!({ "description": description, "content": problem }));
        }
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn document(state: &Arc<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json((*state.docs.merged(state).await).clone()))
}

/// `GET /api/v1/docs`: the operations as a plain HTML page (no scripts, so it needs nothing from
/// outside and passes a strict CSP).
pub async fn page(state: &Arc<AppState>) -> Html<String> {
    let doc = state.docs.merged(state).await;
    let mut rows = String::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, operations) in paths {
            let Some(operations) = operations.as_object() else {
                continue;
            };
            for (method, operation) in operations {
                let summary = operation
                    .get("summary")
                    .or_else(|| operation.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let _ = write!(
                    rows,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(summary)
                );
            }
        }
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ecommerce API</title></head>\
         <body><h1>ecommerce API</h1><p>Machine-readable: <a href=\"/api/v1/openapi.json\">openapi.json</a>.</p>\
         <table><thead><tr><th>Method</th><th>Path</th><th>Summary</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_schemas_of_every_service_are_merged() {
        let user = json!({
            "paths": { "/api/v1/auth/login": { "post": { "summary": "Sign in" } } },
            "components": { "schemas": { "LoginRequest": { "type": "object" } } }
        });
        let product = json!({
            "paths": { "/api/v1/products": { "get": { "summary": "Search" } } },
            "components": { "schemas": { "Product": { "type": "object" } } }
        });
        let merged = merge(&[user, product]);
        assert!(merged["paths"]["/api/v1/auth/login"]["post"].is_object());
        assert!(merged["paths"]["/api/v1/products"]["get"].is_object());
        assert!(merged["components"]["schemas"]["LoginRequest"].is_object());
        assert!(merged["components"]["schemas"]["Product"].is_object());
        assert_eq!(
            merged["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn the_answers_of_the_edge_are_documented_and_every_error_is_a_problem() {
        let product = json!({
            "paths": {
                "/api/v1/products/{id}": { "get": { "responses": {
                    "200": { "description": "ok" },
                    "404": { "description": "gone", "content": { "application/json": {} } }
                } } },
                "/api/v1/admin/products": { "post": {
                    "requestBody": { "content": { "application/json": {} } },
                    "responses": { "201": { "description": "created" } }
                } }
            }
        });
        let merged = merge(&[product]);
        let detail = &merged["paths"]["/api/v1/products/{id}"]["get"]["responses"];
        for status in ["400", "401", "404", "429", "503"] {
            assert!(
                detail[status]["content"]["application/problem+json"].is_object(),
                "{status}: {detail}"
            );
        }
        assert_eq!(
            detail["404"]["description"], "gone",
            "a handler's own answer is kept"
        );
        assert!(detail["404"]["content"].get("application/json").is_none());
        assert!(detail.get("413").is_none(), "no body, no body limit");
        let create = &merged["paths"]["/api/v1/admin/products"]["post"]["responses"];
        for status in ["403", "413", "415", "422"] {
            assert!(create[status].is_object(), "{status}: {create}");
        }
        assert!(merged["components"]["schemas"]["Problem"].is_object());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
