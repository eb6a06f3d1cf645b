//! The backend's metrics in the Prometheus text exposition format 0.0.4,
//! written by hand: a few counters and gauges need no registry crate, the
//! format is the one every scraper reads (Prometheus, VictoriaMetrics, the
//! OpenTelemetry collector), and `prometheus-client`, the maintained
//! registry crate, writes OpenMetrics only (`# EOF`, its own naming rules),
//! which a scraper has to ask for.
//!
//! - `process_start_time_seconds`: when the process started (the standard
//!   name, so "time since start" queries work as for any exporter);
//! - `alp_connex_build_info{version}`: 1, labelled with the version;
//! - `alp_connex_http_requests_total{route, status}`: requests answered,
//!   by matched route (`unmatched` for none, so a scan of random paths adds
//!   no series) and status code;
//! - `alp_connex_http_request_duration_seconds{route}`: a histogram of the
//!   time to the response head, by matched route;
//! - `alp_connex_auth_failures_total{reason}`: requests refused by the
//!   token check (`missing`, `malformed`, `expired`, `signature`, …,
//!   `forbidden` for a role too low);
//! - `alp_connex_config_pushes_pending`: connectors whose key in Valkey
//!   still has to be brought in line; `alp_connex_config_pushes_total`
//!   and `alp_connex_config_push_failures_total`;
//! - `alp_connex_sse_clients`: open `/api/v1/updates` streams;
//!   `alp_connex_sse_lagged_total`: updates a slow stream missed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::connector::metrics::escape;

/// The upper bounds of the request duration histogram, seconds.
pub const DURATION_BUCKETS_S: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// One route's request durations.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The backend's counters, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    start_time_s: f64,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    auth_failures: Mutex<BTreeMap<String, u64>>,
    /// Connectors with a push pending, as last seen by the pusher.
    pub pushes_pending: AtomicI64,
    /// Pushes made.
    pub pushes: AtomicU64,
    /// Push attempts that failed.
    pub push_failures: AtomicU64,
    /// Open update streams.
    pub sse_clients: AtomicI64,
    /// Updates missed by slow update streams.
    pub sse_lagged: AtomicU64,
}

impl Metrics {
    /// Metrics of a process started at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            start_time_s: start
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            requests: Mutex::new(BTreeMap::new()),
            durations: Mutex::new(BTreeMap::new()),
            auth_failures: Mutex::new(BTreeMap::new()),
            pushes_pending: AtomicI64::new(0),
            pushes: AtomicU64::new(0),
            push_failures: AtomicU64::new(0),
            sse_clients: AtomicI64::new(0),
            sse_lagged: AtomicU64::new(0),
        }
    }

    /// Records how long a request on `route` took to its response head.
    pub fn duration(&self, route: &str, took: Duration) {
        let s = took.as_secs_f64();
        let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let h = match durations.get_mut(route) {
            Some(h) => h,
            None => durations.entry(route.to_owned()).or_default(),
        };
        for (bucket, bound) in h.buckets.iter_mut().zip(DURATION_BUCKETS_S) {
            if s <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum_s += s;
    }

    /// Counts one request refused by the token check for `reason`.
    pub fn auth_failure(&self, reason: &str) {
        let mut failures = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry(reason.to_owned()).or_default() += 1;
    }

    /// Requests refused for `reason`.
    pub fn auth_failures(&self, reason: &str) -> u64 {
        let failures = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(reason).copied().unwrap_or(0)
    }

    /// Counts one request answered on `route` with `status`.
    pub fn request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        match requests.get_mut(&(route.to_owned(), status)) {
            Some(n) => *n = n.saturating_add(1),
            None => {
                requests.insert((route.to_owned(), status), 1);
            }
        }
    }

    /// Requests counted on `route` with `status`.
    pub fn requests(&self, route: &str, status: u16) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests
            .get(&(route.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// Every metric in the text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {:.3}", self.start_time_s);
        family(
            &mut out,
            "alp_connex_build_info",
            "gauge",
            "The version of alp-connex running, as a label; always 1.",
        );
        let _ = writeln!(
            out,
            "alp_connex_build_info{{version=\"{}\"}} 1",
            escape(env!("CARGO_PKG_VERSION"))
        );
        family(
            &mut out,
            "alp_connex_http_requests_total",
            "counter",
            "HTTP requests answered, by matched route and status code.",
        );
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "alp_connex_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        drop(requests);
        family(
            &mut out,
            "alp_connex_http_request_duration_seconds",
            "histogram",
            "Time from the request to the response head, by matched route, in seconds.",
        );
        let durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for (route, h) in durations.iter() {
            let route = escape(route);
            for (n, bound) in h.buckets.iter().zip(DURATION_BUCKETS_S) {
                let _ = writeln!(
                    out,
                    "alp_connex_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "alp_connex_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "alp_connex_http_request_duration_seconds_sum{{route=\"{route}\"}} {:.6}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "alp_connex_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        drop(durations);
        family(
            &mut out,
            "alp_connex_auth_failures_total",
            "counter",
            "Requests refused by the token check, by reason.",
        );
        let failures = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        for (reason, n) in failures.iter() {
            let _ = writeln!(
                out,
                "alp_connex_auth_failures_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        drop(failures);
        let gauges: [(&str, &str, &str, String); 5] = [
            (
                "alp_connex_config_pushes_pending",
                "gauge",
                "Connectors whose configuration key in Valkey is still to be brought in line with the database.",
                self.pushes_pending.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alp_connex_config_pushes_total",
                "counter",
                "Configuration keys written (or removed) in Valkey and published.",
                self.pushes.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alp_connex_config_push_failures_total",
                "counter",
                "Configuration pushes that failed (Valkey away) and are tried again.",
                self.push_failures.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alp_connex_sse_clients",
                "gauge",
                "Open live update streams (/api/v1/updates).",
                self.sse_clients.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alp_connex_sse_lagged_total",
                "counter",
                "Updates that slow live update streams missed.",
                self.sse_lagged.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, value) in gauges {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_exposition_lists_each_family_with_help_type_and_samples() {
        let m = Metrics::new(UNIX_EPOCH + Duration::from_millis(1_767_000_000_250));
        m.request("/readyz", 503);
        m.request("/readyz", 200);
        m.request("/readyz", 200);
        m.request(UNMATCHED, 404);
        let text = m.render();
        let text = text
            .split("# HELP alp_connex_http_request_duration_seconds")
            .next()
            .unwrap();
        let want = format!(
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.\n\
             # TYPE process_start_time_seconds gauge\n\
             process_start_time_seconds 1767000000.250\n\
             # HELP alp_connex_build_info The version of alp-connex running, as a label; always 1.\n\
             # TYPE alp_connex_build_info gauge\n\
             alp_connex_build_info{{version=\"{}\"}} 1\n\
             # HELP alp_connex_http_requests_total HTTP requests answered, by matched route and status code.\n\
             # TYPE alp_connex_http_requests_total counter\n\
             alp_connex_http_requests_total{{route=\"/readyz\",status=\"200\"}} 2\n\
             alp_connex_http_requests_total{{route=\"/readyz\",status=\"503\"}} 1\n\
             alp_connex_http_requests_total{{route=\"unmatched\",status=\"404\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(text, want);
        assert_eq!(m.requests("/readyz", 200), 2);
        assert_eq!(m.requests("/healthz", 200), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let m = Metrics::new(UNIX_EPOCH);
        m.request("/x/\"{id}\"", 200);
        assert!(
            m.render()
                .contains("{route=\"/x/\\\"{id}\\\"\",status=\"200\"} 1\n")
        );
    }
}
