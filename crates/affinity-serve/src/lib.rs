//! `affinity serve`: real-time recommendations over HTTP from a fitted bundle.
//!
//! tokio and hyper carry the connections (HTTP/1.1, header-read timeout, graceful drain), axum
//! routes, tower-http bounds each request's time. The bundle is held behind an `Arc` that a
//! reload swaps whole, so a request finishes on the bundle it started with. History texts of
//! concurrent requests are encoded together on one thread per bundle (the `batch` module); ranking runs
//! on tokio's blocking pool, so the async workers only move bytes.
//!
//! ```no_run
//! # async fn demo() -> affinity_serve::Result<()> {
//! use affinity_serve::{serve, ServeParams};
//! let params = ServeParams::new("bundles/groceries");
//! serve(params, |addr| println!("listening on http://{addr}"), std::future::pending()).await
//! # }
//! ```

mod batch;
mod error;
mod explore;
mod metrics;
mod routes;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

pub use error::{Result, ServeError};
pub use metrics::BundleFigures;
pub use state::{
    release_freed_memory, tune_allocator, AppState, ServeParams, MAX_BATCH, MAX_BODY, MAX_WORKERS,
};

/// The routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.params.body_limit;
    let timeout = state.params.request_timeout;
    let explorer = if state.params.explorer {
        explore::routes()
    } else {
        Router::new()
    };
    Router::new()
        .route("/v1/recommend", post(routes::recommend))
        .route("/v1/search", post(routes::search))
        .route("/v1/similar/{item}", get(routes::similar))
        .route("/v1/items/{item}", get(routes::item))
        .route("/v1/admin/reload", post(routes::reload))
        .route("/v1/admin/events", post(routes::events))
        .route("/v1/admin/status", get(routes::status))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .merge(explorer)
        .fallback(|| async {
            routes::ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such route")
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts every answer by route and status, with its latency.
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let started = Instant::now();
    let response = json_errors(next.run(request).await);
    state
        .metrics
        .record(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Every error answered as JSON: the answers the framework makes itself (405 for a wrong
/// method, 408 for a request past its time) come with no body; they get `{"error": ...}`
/// with the status's reason, keeping their headers (`Allow`).
fn json_errors(response: Response) -> Response {
    let status = response.status();
    let has_body = response
        .headers()
        .contains_key(axum::http::header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || has_body {
        return response;
    }
    let (parts, _) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut answer =
        axum::response::IntoResponse::into_response(routes::ApiError::new(status, reason));
    for (name, value) in parts.headers.iter() {
        answer.headers_mut().entry(name).or_insert(value.clone());
    }
    answer
}

/// Loads the bundle, listens, calls `ready` with the address bound (port 0 picks a free one),
/// answers until `shutdown` completes, then drains requests in flight (at most
/// `params.drain`).
pub async fn serve(
    params: ServeParams,
    ready: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let header_timeout = params.header_timeout;
    let drain = params.drain;
    let addr = params.addr;
    let state = Arc::new(tokio::task::spawn_blocking(move || AppState::new(params)).await??);
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    tracing::info!(%bound, bundle = %state.current().figures.path, "serving");
    // Polled once before the address is announced: `termination` installs its signal handlers
    // on its first poll, and a SIGTERM sent the moment the address is printed must find them
    // installed (it otherwise killed the process without draining).
    let mut shutdown = std::pin::pin!(shutdown);
    let stopped =
        std::future::poll_fn(|cx| std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready()))
            .await;
    ready(bound);
    let graceful = GracefulShutdown::new();
    if !stopped {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                    let watched = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = watched.await;
                    });
                }
                () = &mut shutdown => break,
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => tracing::warn!("drain timed out"),
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[allow(dead_code)]
fn shared_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<affinity_recommend::pipeline::Recommender>();
    check::<AppState>();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request past its time is answered by the timeout layer with no body: JSON now.
    #[test]
    fn bodiless_errors_become_json() {
        let bare = Response::builder()
            .status(axum::http::StatusCode::REQUEST_TIMEOUT)
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = json_errors(bare);
        assert_eq!(answer.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            answer.headers()[axum::http::header::CONTENT_TYPE],
            "application/json"
        );
        // Answers that already say something are left alone.
        let ok = Response::new(axum::body::Body::from("fine"));
        assert!(!json_errors(ok)
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE));
    }
}
