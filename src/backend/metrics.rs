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
//!   no series) and status code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The backend's counters, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    start_time_s: f64,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
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
        }
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
        out
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
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
