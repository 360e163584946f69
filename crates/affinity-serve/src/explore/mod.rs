//! The explorer: a page at `/` where analysts look at the served bundle's associations
//! (overview, rules, a product, a basket), and the JSON routes under `/v1/explore` it reads.
//! The routes are documented in docs/explorer.md and usable alone. The basket view asks
//! `/v1/recommend`, the route services use; the page never sees or sends the admin token.

mod assets;
mod index;
mod product;
mod rules;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::routes::{blocking, ApiError};
use crate::state::{AppState, Serving};
pub(crate) use index::Explorer;
use rules::{QueryError, RuleQuery};

/// The page and its routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(asset))
        .route("/v1/explore/overview", get(overview))
        .route("/v1/explore/rules", get(rules_page))
        .route("/v1/explore/rules.csv", get(rules_csv))
        .route("/v1/explore/rules/{id}", get(rule))
        .route("/v1/explore/scatter", get(scatter))
        .route("/v1/explore/items", get(items))
        .route("/v1/explore/items/{item}", get(product_page))
}

impl Serving {
    /// The explorer's index of this bundle, built on first use.
    pub(crate) fn explorer(&self) -> &Explorer {
        self.explorer.get_or_init(|| {
            let fitted = self.recommender.fitted();
            Explorer::new(
                fitted.names(),
                &fitted.texts,
                &fitted.counts,
                fitted.buyers(),
                &fitted.rules,
            )
        })
    }
}

async fn page(headers: HeaderMap) -> Response {
    assets::respond(&assets::INDEX, &headers)
}

async fn asset(
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = name.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let found =
        assets::find(&name).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such file"))?;
    Ok(assets::respond(found, &headers))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::UnknownItem(n) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("unknown item {n:?}"))
            }
            QueryError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
        }
    }
}

/// A date as `YYYY-MM-DD`.
fn date(day: f64) -> String {
    let (y, m, d) = affinity_data::civil_from_days(day.floor() as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `GET /v1/explore/overview`: the data's figures, the fitted ranking and how it was chosen,
/// the most bought products, and the ranges the rules span.
async fn overview(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let serving = state.current();
    blocking(move || {
        let rec = &serving.recommender;
        let fitted = rec.fitted();
        let explorer = serving.explorer();
        let names = fitted.names();
        let (first, last) = fitted
            .events
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), e| {
                (lo.min(e.timestamp), hi.max(e.timestamp))
            });
        let dates = (first <= last).then(|| {
            json!({ "first": date(first as f64 / 86_400.0), "last": date(last as f64 / 86_400.0) })
        });
        let span = |f: fn(&affinity_mine::Rule) -> f64| {
            let values = fitted.rules.iter().map(f).filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            (lo <= hi).then_some([lo, hi])
        };
        let popular: Vec<Value> = explorer
            .popular(20)
            .iter()
            .map(|&i| {
                json!({
                    "item": names[i as usize],
                    "text": fitted.texts[i as usize],
                    "events": fitted.counts[i as usize],
                    "shoppers": explorer.buyers[i as usize],
                    "rank": explorer.rank(i),
                })
            })
            .collect();
        let (weights, mmr_lambda) = rec.ranking();
        let provenance = rec.provenance();
        Ok(Json(json!({
            "bundle": serving.figures,
            "counts": {
                "shoppers": fitted.n_users(),
                "products": fitted.n_items(),
                "events": fitted.events.len(),
                "baskets": fitted.baskets,
                "rules": fitted.rules.len(),
            },
            "dates": dates,
            "ranking": {
                "weights": weights,
                "mmr_lambda": mmr_lambda,
                "mode": rec.ranking_settings().candidates,
                "sources": rec.sources(),
            },
            "tuning": provenance.tuning,
            "fine_tuning": provenance.fine_tuning,
            "model": {
                "language_model": rec.has_encoder(),
                "item_vectors": rec.item_vectors().is_some(),
                "sequential": rec.sequential().is_some(),
            },
            "popular": popular,
            "rules": {
                "support": span(|r| r.support),
                "confidence": span(|r| r.confidence),
                "lift": span(|r| r.lift),
            },
        })))
    })
    .await
}

/// Runs a rules query on the bundle served now, off the async workers, then `answer` with the
/// ids kept (in order) and the milliseconds the query took: what the table, the scatter and the
/// CSV share.
async fn selected<T: Send + 'static>(
    state: &AppState,
    q: Result<Query<RuleQuery>, QueryRejection>,
    answer: impl FnOnce(&Serving, &RuleQuery, Vec<u32>, f64) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let q = query(q)?;
    let serving = state.current();
    blocking(move || {
        let started = Instant::now();
        let rec = &serving.recommender;
        let ids = rules::select(serving.explorer(), rec.rules(), |n| rec.item_id(n), &q)?;
        let took = started.elapsed().as_secs_f64() * 1e3;
        Ok(answer(&serving, &q, ids, took))
    })
    .await
}

/// `GET /v1/explore/rules?...`: one page of the rules the filters keep.
async fn rules_page(
    State(state): State<Arc<AppState>>,
    q: Result<Query<RuleQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    selected(&state, q, |serving, q, ids, took| {
        let fitted = serving.recommender.fitted();
        let page: Vec<Value> = ids
            .iter()
            .skip(q.offset)
            .take(q.limit())
            .map(|&id| {
                rules::rule_json(
                    id,
                    &fitted.rules[id as usize],
                    fitted.names(),
                    &fitted.texts,
                )
            })
            .collect();
        Json(json!({
            "total": ids.len(),
            "offset": q.offset,
            "limit": q.limit(),
            "rules": page,
            "took_ms": took,
        }))
    })
    .await
}

/// Points a scatter draws at most: beyond, evenly spaced in the table's order. The shape of
/// 100,000 rules shows in 2,500 dots, and drawing more cost the page most of a filter's time
/// (10,000: 180-200 ms of 250 on the 100,000-rule bundle).
const SCATTER_POINTS: usize = 2_500;

/// `GET /v1/explore/scatter?...`: support, confidence and lift of the rules the filters keep,
/// as `[support, confidence, lift, id]` rows in single precision (at most 2,500, evenly spaced
/// in the table's order).
async fn scatter(
    State(state): State<Arc<AppState>>,
    q: Result<Query<RuleQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    selected(&state, q, |serving, _, ids, took| {
        let rules = serving.recommender.rules();
        // Single precision is plenty for a dot on a chart and halves the JSON.
        let points: Vec<(f32, f32, f32, u32)> = rules::spread(&ids, SCATTER_POINTS)
            .iter()
            .map(|&id| {
                let r = &rules[id as usize];
                (r.support as f32, r.confidence as f32, r.lift as f32, id)
            })
            .collect();
        Json(json!({
            "total": ids.len(),
            "shown": points.len(),
            "points": points,
            "took_ms": took,
        }))
    })
    .await
}

/// `GET /v1/explore/rules.csv?...`: every rule the filters keep, as CSV.
async fn rules_csv(
    State(state): State<Arc<AppState>>,
    q: Result<Query<RuleQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let body = selected(&state, q, |serving, _, ids, _| {
        let rec = &serving.recommender;
        rules::csv(&ids, rec.rules(), rec.names())
    })
    .await?;
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"rules.csv\""),
    );
    Ok(response)
}

/// `GET /v1/explore/rules/{id}`: one rule with every metric.
async fn rule(
    State(state): State<Arc<AppState>>,
    id: Result<Path<u32>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let serving = state.current();
    let fitted = serving.recommender.fitted();
    let found = fitted
        .rules
        .get(id as usize)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no rule {id}")))?;
    Ok(Json(rules::rule_json(
        id,
        found,
        fitted.names(),
        &fitted.texts,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsQuery {
    #[serde(default)]
    q: String,
    #[serde(default = "twenty")]
    limit: usize,
}

fn twenty() -> usize {
    20
}

/// `GET /v1/explore/items?q=TEXT&limit=20`: products whose name or text holds the text.
async fn items(
    State(state): State<Arc<AppState>>,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    if q.limit == 0 || q.limit > rules::MAX_LIMIT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("limit must lie in 1..={}", rules::MAX_LIMIT),
        ));
    }
    let serving = state.current();
    blocking(move || {
        let fitted = serving.recommender.fitted();
        let explorer = serving.explorer();
        let found: Vec<Value> = explorer
            .search(&q.q, fitted.names(), q.limit)
            .into_iter()
            .map(|i| {
                json!({
                    "item": fitted.names()[i as usize],
                    "text": fitted.texts[i as usize],
                    "events": fitted.counts[i as usize],
                    "rank": explorer.rank(i),
                })
            })
            .collect();
        Ok(Json(json!({ "query": q.q, "results": found })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductQuery {
    /// Baskets a partner must share with the product.
    #[serde(default = "five")]
    min_baskets: u32,
    /// Shoppers behind a "bought before" product.
    #[serde(default = "five")]
    min_shoppers: u32,
}

fn five() -> u32 {
    5
}

/// Partners shown, and partners drawn in the neighbourhood graph.
const PARTNERS: usize = 15;
const GRAPH_PARTNERS: usize = 12;

/// `GET /v1/explore/items/{item}`: a product, its partners by lift, what shoppers bought before
/// it, similar products by the model, its rules, and its neighbourhood graph.
async fn product_page(
    State(state): State<Arc<AppState>>,
    item: Result<Path<String>, PathRejection>,
    q: Result<Query<ProductQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = item.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let q = query(q)?;
    let serving = state.current();
    let id = serving
        .recommender
        .item_id(&name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown item {name:?}")))?;
    blocking(move || {
        let rec = &serving.recommender;
        let fitted = rec.fitted();
        let explorer = serving.explorer();
        let names = fitted.names();
        let label = |i: u32| json!({ "item": names[i as usize], "text": fitted.texts[i as usize] });
        let with = |i: u32, extra: Value| {
            let mut v = label(i);
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        let counts = fitted.cooccurrence.counts();
        let found = product::partners(counts, fitted.baskets, id, q.min_baskets, PARTNERS);
        let partners: Vec<Value> = found
            .iter()
            .map(|p| with(p.id, serde_json::to_value(p).unwrap_or_default()))
            .collect();
        let (eligible, before) = product::bought_before(
            &fitted.shoppers,
            &explorer.buyers,
            id,
            q.min_shoppers,
            PARTNERS,
        );
        let before: Vec<Value> = before
            .iter()
            .map(|b| with(b.id, serde_json::to_value(b).unwrap_or_default()))
            .collect();
        let similar = match rec.item_vectors() {
            Some(_) => Some(
                rec.similar(id, 10.min(rec.len().saturating_sub(1)).max(1))?
                    .into_iter()
                    .map(|r| with(r.item, json!({ "score": r.score })))
                    .collect::<Vec<_>>(),
            ),
            None => None,
        };
        let nodes: Vec<u32> = std::iter::once(id)
            .chain(found.iter().take(GRAPH_PARTNERS).map(|p| p.id))
            .collect();
        let edges = product::neighbourhood(counts, fitted.baskets, &nodes, q.min_baskets);
        let graph_nodes: Vec<Value> = nodes
            .iter()
            .map(|&i| with(i, json!({ "events": fitted.counts[i as usize] })))
            .collect();
        Ok(Json(json!({
            "item": name,
            "text": fitted.texts[id as usize],
            "fields": fitted.catalog.get(id),
            "popularity": {
                "events": fitted.counts[id as usize],
                "shoppers": explorer.buyers[id as usize],
                "baskets": counts.item_counts.get(id as usize).copied().unwrap_or(0),
                "rank": explorer.rank(id),
            },
            "rules": {
                "as_antecedent": explorer.with_antecedent(id).len(),
                "as_consequent": explorer.with_consequent(id).len(),
            },
            "partners": partners,
            "bought_before": { "shoppers": eligible, "items": before },
            "similar": similar,
            "graph": { "nodes": graph_nodes, "edges": edges },
        })))
    })
    .await
}
