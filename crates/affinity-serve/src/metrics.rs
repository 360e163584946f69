//! Request counts by route and status, a latency histogram, and the served bundle's figures,
//! in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

#[derive(Default)]
struct Route {
    by_status: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket, then the total.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    seconds: f64,
}

/// What `/metrics` reports.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, Route>>,
    updates: Mutex<(u64, u64)>,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = routes.entry(route.to_string()).or_default();
        *entry.by_status.entry(status).or_default() += 1;
        let s = elapsed.as_secs_f64();
        for (count, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if s <= bound {
                *count += 1;
            }
        }
        entry.count += 1;
        entry.seconds += s;
    }

    /// Records a finished background update (ok or failed).
    pub fn record_update(&self, ok: bool) {
        let mut u = self.updates.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            u.0 += 1;
        } else {
            u.1 += 1;
        }
    }

    /// The text exposition, with the served bundle's figures.
    pub fn render(&self, bundle: &BundleFigures) -> String {
        let mut out = String::new();
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP affinity_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE affinity_requests_total counter\n");
        for (route, r) in routes.iter() {
            for (status, n) in &r.by_status {
                let _ = writeln!(
                    out,
                    "affinity_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP affinity_request_seconds Time to answer, by route.\n");
        out.push_str("# TYPE affinity_request_seconds histogram\n");
        for (route, r) in routes.iter() {
            for (count, bound) in r.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "affinity_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "affinity_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                r.count
            );
            let _ = writeln!(
                out,
                "affinity_request_seconds_sum{{route=\"{route}\"}} {}",
                r.seconds
            );
            let _ = writeln!(
                out,
                "affinity_request_seconds_count{{route=\"{route}\"}} {}",
                r.count
            );
        }
        drop(routes);
        let (ok, failed) = *self.updates.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP affinity_updates_total Background updates from posted events, by outcome.\n\
             # TYPE affinity_updates_total counter\n\
             affinity_updates_total{{outcome=\"ok\"}} {ok}\n\
             affinity_updates_total{{outcome=\"failed\"}} {failed}"
        );
        let _ = writeln!(
            out,
            "# HELP affinity_bundle_info The bundle being served.\n\
             # TYPE affinity_bundle_info gauge\n\
             affinity_bundle_info{{path=\"{}\",created=\"{}\",format=\"{}\",version=\"{}\"}} 1",
            escape(&bundle.path),
            escape(&bundle.created),
            bundle.format_version,
            bundle.generation
        );
        for (name, help, value) in [
            (
                "affinity_bundle_items",
                "Items in the served catalogue.",
                bundle.items,
            ),
            (
                "affinity_bundle_users",
                "Users with a history.",
                bundle.users,
            ),
            ("affinity_bundle_rules", "Rules in use.", bundle.rules),
            (
                "affinity_bundle_generation",
                "Bundles loaded since start (1: the first).",
                bundle.generation as usize,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

/// Figures of the served bundle.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BundleFigures {
    /// Where it was loaded from.
    pub path: String,
    /// When it was written.
    pub created: String,
    /// Its layout version.
    pub format_version: u32,
    /// Bundles loaded since the server started (1 for the first).
    pub generation: u64,
    /// Items.
    pub items: usize,
    /// Users.
    pub users: usize,
    /// Rules.
    pub rules: usize,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
