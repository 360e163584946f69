//! The HTTP routes. Every answer is JSON (but `/metrics`); bad input is a 4xx with a message,
//! never a 5xx and never a crash.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::batch::BatchError;
use crate::state::AppState;
use affinity_recommend::pipeline::{
    Candidates, Influence, PipelineError, Recommendation, WordInfluence,
};

/// An error answer: a status and a JSON body `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        let status = match &e {
            PipelineError::UnknownItem(_) => StatusCode::NOT_FOUND,
            PipelineError::InvalidSetting { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the encoder queue is full; retry shortly",
            ),
            BatchError::Failed(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

/// A JSON body: too large is 413, not JSON or not the expected shape is 400, each with a
/// message saying where.
fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Runs CPU work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn check_k(k: usize, items: usize) -> Result<(), ApiError> {
    if k == 0 || k > items {
        return Err(ApiError::unprocessable(format!(
            "k must lie in 1..={items} (the catalogue), got {k}"
        )));
    }
    Ok(())
}

fn ten() -> usize {
    10
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecommendRequest {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    items: Option<Vec<String>>,
    #[serde(default = "ten")]
    k: usize,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default = "yes")]
    explain: bool,
    /// Also say how much each history item moved each recommendation (its score without the
    /// item; one more history vector per distinct item, at most 20).
    #[serde(default)]
    influence: bool,
    /// Also say which words of the history's text moved the language model toward each
    /// recommendation (its cosine without the word; one more pass of the model per word, at
    /// most 64). Refused where no language model reads the histories.
    #[serde(default)]
    words: bool,
    /// Which items the list may hold: "discover", "mixed" or "buy-again" (the bundle's
    /// default when absent).
    #[serde(default)]
    mode: Option<Candidates>,
    /// The day the list is for, as days since 1970 (the bundle's newest day when absent):
    /// what is due to be bought again depends on it.
    #[serde(default)]
    day: Option<f64>,
}

/// `POST /v1/recommend`.
pub(crate) async fn recommend(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: RecommendRequest = json_body(body)?;
    let serving = state.current();
    let rec = serving.recommender.clone();
    check_k(request.k, rec.len())?;
    let mut unknown = Vec::new();
    let mut ids = |names: &[String]| -> Vec<u32> {
        names
            .iter()
            .filter_map(|n| {
                let id = rec.item_id(n);
                if id.is_none() {
                    unknown.push(n.clone());
                }
                id
            })
            .collect()
    };
    if request.day.is_some_and(|d| !d.is_finite()) {
        return Err(ApiError::unprocessable(
            "\"day\" must be a finite number of days",
        ));
    }
    let mode = request.mode.unwrap_or(rec.ranking_settings().candidates);
    let mut cached = None;
    let mut shopper = None;
    let (history, cold_start) = match (&request.user, &request.items) {
        (Some(user), None) => match rec.fitted().history(user) {
            Some(h) => {
                cached = rec.user_vector(user).map(|v| v.to_vec());
                shopper = rec.fitted().shopper(user, request.day);
                (h.to_vec(), false)
            }
            None => (vec![], true),
        },
        (None, Some(items)) => {
            let history = ids(items);
            let cold = history.is_empty();
            (history, cold)
        }
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of \"user\" or \"items\"",
            ))
        }
    };
    let exclude = ids(&request.exclude);
    let vector = match cached {
        Some(v) => Some(v),
        None if history.is_empty() || !rec.reads_histories() => None,
        None => Some(serving.encoder.run(history.clone()).await?),
    };
    // Nothing to compare without a vector: every similarity is 0.
    let sims = match vector {
        Some(v) => serving.similarities.run(v).await?,
        None => vec![0.0; rec.len()],
    };
    let explain = request.explain;
    let with_influence = request.influence;
    let with_words = request.words;
    let k = request.k;
    type Explained = (
        Vec<Recommendation>,
        Option<Vec<Vec<Influence>>>,
        Option<Vec<Vec<WordInfluence>>>,
    );
    let (recs, influence, words): Explained = blocking(move || {
        let mut recs = rec.recommend_scored(
            &history,
            shopper.as_ref(),
            mode,
            &exclude,
            ndarray::ArrayView1::from(&sims),
            k,
        )?;
        if !explain {
            recs.iter_mut().for_each(|r| r.reasons.clear());
        }
        let items: Vec<u32> = recs.iter().map(|r| r.item).collect();
        let influence = match with_influence {
            true => Some(rec.influence(&history, shopper.as_ref(), mode, &items)?),
            false => None,
        };
        let words = match with_words {
            true => Some(rec.word_influence(&history, &items)?),
            false => None,
        };
        Ok((recs, influence, words))
    })
    .await?;
    // Each with its reasons as one line of text too, worded as the CLI words them.
    let recs: Vec<Value> = recs
        .iter()
        .enumerate()
        .map(|(j, r)| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if let Some(fields) = value.as_object_mut() {
                if explain {
                    fields.insert(
                        "why".into(),
                        affinity_recommend::report::reasons_text(&r.reasons).into(),
                    );
                }
                if let Some(moved) = influence.as_ref().and_then(|all| all.get(j)) {
                    fields.insert(
                        "influence".into(),
                        serde_json::to_value(moved).unwrap_or_default(),
                    );
                }
                if let Some(moved) = words.as_ref().and_then(|all| all.get(j)) {
                    fields.insert(
                        "words".into(),
                        serde_json::to_value(moved).unwrap_or_default(),
                    );
                }
            }
            value
        })
        .collect();
    Ok(Json(json!({
        "user": request.user,
        "mode": mode,
        "cold_start": cold_start,
        "unknown_items": unknown,
        "recommendations": recs,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchRequest {
    query: String,
    #[serde(default = "ten")]
    k: usize,
}

/// `POST /v1/search`.
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: SearchRequest = json_body(body)?;
    let rec = state.current().recommender.clone();
    check_k(request.k, rec.len())?;
    if request.query.trim().is_empty() {
        return Err(ApiError::unprocessable("the query is empty"));
    }
    if !rec.has_encoder() {
        return Err(ApiError::unprocessable("this bundle has no language model"));
    }
    let found = blocking(move || Ok(rec.search(&request.query, request.k)?)).await?;
    Ok(Json(json!({ "results": found })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KQuery {
    #[serde(default = "ten")]
    k: usize,
}

fn path_item(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(item)| item)
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))
}

/// `GET /v1/similar/{item}?k=10`.
pub(crate) async fn similar(
    State(state): State<Arc<AppState>>,
    item: Result<Path<String>, PathRejection>,
    query: Result<Query<KQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let item = path_item(item)?;
    let Query(KQuery { k }) =
        query.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let rec = state.current().recommender.clone();
    check_k(k, rec.len())?;
    let id = rec
        .item_id(&item)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown item {item:?}")))?;
    if rec.item_vectors().is_none() {
        return Err(ApiError::unprocessable("this bundle has no item vectors"));
    }
    let found = blocking(move || Ok(rec.similar(id, k)?)).await?;
    Ok(Json(json!({ "item": item, "results": found })))
}

/// `GET /v1/items/{item}`: the item's text, popularity, and the strongest rules from it and to
/// it (by confidence, then support).
pub(crate) async fn item(
    State(state): State<Arc<AppState>>,
    item: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = path_item(item)?;
    let rec = state.current().recommender.clone();
    let id = rec
        .item_id(&name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown item {name:?}")))?;
    let fitted = rec.fitted();
    let count = fitted.counts[id as usize];
    let rank = 1 + fitted.counts.iter().filter(|&&c| c > count).count();
    let names = fitted.names();
    let rule = |r: &affinity_mine::Rule| {
        json!({
            "antecedent": r.antecedent.iter().map(|&i| &names[i as usize]).collect::<Vec<_>>(),
            "consequent": names[r.consequent[0] as usize],
            "support": r.support,
            "confidence": r.confidence,
            "lift": r.lift,
        })
    };
    let strongest = |keep: &dyn Fn(&affinity_mine::Rule) -> bool| {
        let mut found: Vec<&affinity_mine::Rule> = rec.rules().iter().filter(|r| keep(r)).collect();
        // Confident first, then the most common: a rule seen in 4 % of baskets with the same
        // confidence says less than one seen in a third of them.
        found.sort_by(|a, b| {
            (b.confidence, b.support, b.lift)
                .partial_cmp(&(a.confidence, a.support, a.lift))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        found.into_iter().take(5).map(rule).collect::<Vec<_>>()
    };
    Ok(Json(json!({
        "item": name,
        "text": fitted.texts[id as usize],
        "fields": fitted.catalog.get(id),
        "popularity": { "events": count, "rank": rank },
        "rules_from": strongest(&|r| r.antecedent.contains(&id)),
        "rules_to": strongest(&|r| r.consequent[0] == id),
    })))
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: a bundle is loaded, and which.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "ready", "bundle": state.current().figures }))
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(&state.current().figures);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.params.admin_token.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin routes are off (start with --admin-token-file)",
        ));
    }
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !state.is_admin(presented) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid admin token is needed (Authorization: Bearer TOKEN)",
        ));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReloadRequest {
    #[serde(default)]
    bundle: Option<String>,
}

/// `POST /v1/admin/reload`: loads a bundle and swaps it in; on failure the old one keeps
/// serving and the answer says why.
pub(crate) async fn reload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let request: ReloadRequest = match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => ReloadRequest::default(),
        _ => json_body(body)?,
    };
    let dir = state
        .reload_target(request.bundle.as_deref())
        .map_err(ApiError::unprocessable)?;
    let loader = state.clone();
    let next = blocking(move || {
        loader
            .load(&dir)
            .map_err(|e| ApiError::unprocessable(format!("{e:#}")))
    })
    .await?;
    let figures = next.figures.clone();
    state.swap(next);
    tracing::info!(bundle = %figures.path, generation = figures.generation, "reloaded");
    Ok(Json(json!({ "status": "reloaded", "bundle": figures })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    time_format: Option<String>,
}

/// `POST /v1/admin/events`: a CSV of new events (header row, columns found as `affinity fit`
/// finds them), folded into the served bundle in the background: the updated bundle is saved
/// over the served directory and swapped in. Answers 202 at once; `/v1/admin/status` tells
/// how it went.
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&state, &headers)?;
    let Query(q) = query.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let bytes = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    // Read like the bundle's own events, unless told otherwise.
    let recorded = affinity_recommend::bundle::read_manifest(&state.current().dir)
        .ok()
        .and_then(|m| m.last_read().map(|r| r.time_format.clone()));
    let time_format = match q.time_format.as_deref().or(recorded.as_deref()) {
        None => affinity_data::TimeFormat::default(),
        Some(t) => t
            .parse()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("time_format: {e}")))?,
    };
    // Parsed now, so that a malformed file is the caller's 400, not a failed update later.
    let parsed = blocking(move || {
        let internal =
            |e: std::io::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let dir = tempfile::Builder::new()
            .prefix("affinity-serve-")
            .tempdir()
            .map_err(internal)?;
        let path = dir.path().join("events.csv");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .map_err(internal)?;
        let format = affinity_data::Format::Long(affinity_data::LongCsv {
            time_format,
            ..Default::default()
        });
        let loaded = affinity_data::load(&path, &format, &Default::default());
        drop(dir); // removed with what it holds
        loaded.map(|(d, _)| d).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.to_string().replace(&*path.to_string_lossy(), "body"),
            )
        })
    })
    .await?;
    let events = parsed.interactions.len();
    let worker = state.clone();
    tokio::spawn(async move {
        let _one_at_a_time = worker.update_lock.lock().await;
        let started = worker.current();
        let (dir, generation) = (started.dir.clone(), started.figures.generation);
        drop(started);
        let job = worker.clone();
        let outcome = tokio::task::spawn_blocking(move || -> crate::Result<(Value, bool)> {
            let current = affinity_recommend::pipeline::Recommender::load(&dir, &job.params.load)?;
            let (updated, report) = current.update(&parsed)?;
            updated.save(&dir, &Default::default())?;
            drop(updated);
            let next = job.load(&dir)?;
            // A reload that came meanwhile wins: the update stays saved in its directory.
            let swapped = job.swap_if_current(generation, next);
            Ok((serde_json::to_value(&report).unwrap_or_default(), swapped))
        })
        .await;
        let (ok, value) = match outcome {
            Ok(Ok((report, true))) => (true, json!({ "status": "applied", "report": report })),
            Ok(Ok((report, false))) => (
                true,
                json!({
                    "status": "saved, not served",
                    "detail": "a reload served another bundle while the update ran; the update is saved in the bundle it was posted for (reload it to serve it)",
                    "report": report,
                }),
            ),
            Ok(Err(e)) => (false, json!({ "status": "failed", "error": e.to_string() })),
            Err(e) => (false, json!({ "status": "failed", "error": e.to_string() })),
        };
        tracing::info!(outcome = %value, "update from posted events");
        worker.metrics.record_update(ok);
        *worker.last_update.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "events": events })),
    ))
}

/// `GET /v1/admin/status`: the served bundle and the last update's outcome.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let last = state
        .last_update
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Json(json!({
        "bundle": state.current().figures,
        "last_update": last,
        "update_running": state.update_lock.try_lock().is_err(),
    })))
}
