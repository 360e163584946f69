//! The explorer page's files, embedded in the binary so that the page works offline: no CDN,
//! nothing fetched at run time.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub(crate) struct Asset {
    pub name: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
    /// Versioned in its name, so browsers may keep it for good.
    pub immutable: bool,
}

/// The vendored chart library's file name (see `assets/vendor/echarts/README.md`).
pub(crate) const ECHARTS: &str = "echarts-6.1.0.min.js";

pub(crate) const INDEX: Asset = Asset {
    name: "index.html",
    mime: "text/html; charset=utf-8",
    body: include_bytes!("../../assets/index.html"),
    immutable: false,
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/app.js"),
        immutable: false,
    },
    Asset {
        name: "app.css",
        mime: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/app.css"),
        immutable: false,
    },
    Asset {
        name: ECHARTS,
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/echarts/echarts-6.1.0.min.js"),
        immutable: true,
    },
    Asset {
        name: "LICENSE-echarts.txt",
        mime: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/vendor/echarts/LICENSE"),
        immutable: false,
    },
];

/// The file under `/assets/` called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// What the page may load and run: its own scripts, styles and JSON, nothing inline, nothing
/// from elsewhere, no frames, no plugins. Product text that slipped through as markup could
/// then still run nothing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The headers every page file is answered with.
pub(crate) fn page_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Answers with `asset`: its type, the page headers, and a validator (a digest of the file)
/// so that a reload of the page costs a 304.
pub(crate) fn respond(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = format!("\"{}\"", &blake3::hash(asset.body).to_hex()[..16]);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.mime)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    page_headers(headers);
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    response
}
