//! A connector's Prometheus metrics (`metrics_bind`, off by default): the
//! counters the role keeps for its status (`connectors:{ID}:status`),
//! rendered in the Prometheus text exposition format 0.0.4 on
//! `GET /metrics`. The status is the one source: a scrape fills in the
//! role's live values with the same `refresh` its heartbeat uses, then
//! renders the common part here and the role's own part through
//! [`RoleMetrics`], so the metrics and the status never disagree.
//!
//! ```text
//! Prometheus ──GET /metrics──► serve ─► StatusCell::refreshed(refresh) ─► Status<T>
//!                                         └─► render: build info, state, config refusal, T::render ─► text
//! ```
//!
//! Conventions of the ecosystem: `alp_connex_` prefix, `_total` counters,
//! units in the names, one series per state with the value 1 for the
//! current one; `process_start_time_seconds` as every exporter has it.
//! The backend renders its own metrics (`backend::metrics`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::status::{State, Status, StatusCell, ValkeyStatus};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The role's live values, filled into its status before it is shown.
pub type Refresh<T> = Arc<dyn Fn(&mut Status<T>) + Send + Sync>;

/// A role's own metrics, rendered from its status fields.
pub trait RoleMetrics {
    /// Writes the role's metric families.
    fn render(&self, out: &mut Exposition);
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (restarts at 0 with the process).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// The text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(4096),
        }
    }

    /// The `# HELP` and `# TYPE` lines of a family.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the family last begun, with its labels.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Sample>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.into());
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Into<Sample>) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.single(name, Kind::Counter, help, value);
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Into<Sample>) {
        self.single(name, Kind::Gauge, help, value);
    }

    /// The text written.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A sample value as the text format writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// A whole number, written exactly.
    Int(u64),
    /// A real number.
    Real(f64),
}

impl From<u64> for Sample {
    fn from(v: u64) -> Self {
        Self::Int(v)
    }
}

impl From<usize> for Sample {
    fn from(v: usize) -> Self {
        Self::Int(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl From<bool> for Sample {
    fn from(v: bool) -> Self {
        Self::Int(u64::from(v))
    }
}

impl From<f64> for Sample {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl core::fmt::Display for Sample {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Real(v) if v.is_nan() => f.write_str("NaN"),
            Self::Real(v) if v.is_infinite() => f.write_str(if *v > 0.0 { "+Inf" } else { "-Inf" }),
            Self::Real(v) => write!(f, "{v:.3}"),
        }
    }
}

/// A label value: backslash, double quote and line feed escaped (the
/// backend's metrics use it too).
pub(crate) fn escape(value: &str) -> String {
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

/// Every state a status may show, in the order of the series.
const STATES: [(State, &str); 5] = [
    (State::Connecting, "connecting"),
    (State::Connected, "connected"),
    (State::Disconnected, "disconnected"),
    (State::Listening, "listening"),
    (State::Stopped, "stopped"),
];

/// The whole exposition of a connector whose process started at
/// `start_time_s` (Unix seconds).
pub fn render<T: RoleMetrics>(status: &Status<T>, start_time_s: f64) -> String {
    let mut out = Exposition::new();
    out.gauge(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        start_time_s,
    );
    out.family(
        "alp_connex_build_info",
        Kind::Gauge,
        "The connector: version, role (kind) and ID as labels; always 1.",
    );
    out.sample(
        "alp_connex_build_info",
        &[
            ("version", status.version),
            ("kind", status.kind),
            ("id", &status.id),
        ],
        1u64,
    );
    out.family(
        "alp_connex_state",
        Kind::Gauge,
        "The connector's state (its link to its source, or listening for a server): 1 for the current one.",
    );
    for (state, name) in STATES {
        out.sample(
            "alp_connex_state",
            &[("state", name)],
            status.state == state,
        );
    }
    out.gauge(
        "alp_connex_managed_config_refused",
        "1 while the last managed configuration is refused (the connector runs on its last good settings).",
        status.config_error.is_some(),
    );
    status.role.render(&mut out);
    out.finish()
}

/// The Valkey writer's figures (`valkey` of the status), as every role
/// that writes the image has them.
pub fn render_valkey(out: &mut Exposition, v: &ValkeyStatus) {
    out.gauge(
        "alp_connex_valkey_connected",
        "1 while the Valkey writer's last connection attempt or write succeeded.",
        v.connected,
    );
    out.counter(
        "alp_connex_points_written_total",
        "Data points whose image value and stream entry Valkey acknowledged.",
        v.written,
    );
    out.gauge(
        "alp_connex_valkey_pending_points",
        "The write backlog: data points handed to the Valkey writer, not written yet.",
        v.pending,
    );
    out.counter(
        "alp_connex_valkey_outages_total",
        "Times Valkey became unreachable for the writer (a start while it is down counts).",
        v.outages,
    );
    out.counter(
        "alp_connex_valkey_stream_entries_dropped_total",
        "Stream entries left out beyond the stream cap because of a Valkey outage (their image values were written).",
        v.dropped_stream_entries,
    );
    out.counter(
        "alp_connex_valkey_stream_entries_trimmed_total",
        "Stream entries left out beyond the stream cap while Valkey was writing (more arrived during one write than the cap keeps).",
        v.trimmed_stream_entries,
    );
}

/// What the endpoint serves from.
struct Endpoint<T> {
    cell: StatusCell<T>,
    refresh: Refresh<T>,
    start_time_s: f64,
}

/// The running metrics endpoint; stops serving when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Listens on `addr` (the role fails to start when it cannot) and
    /// serves `GET /metrics` from `cell`, each scrape after `refresh`.
    pub async fn start<T: RoleMetrics + Serialize + Send + 'static>(
        addr: SocketAddr,
        cell: StatusCell<T>,
        refresh: Refresh<T>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let start_time_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let endpoint = Arc::new(Endpoint {
            cell,
            refresh,
            start_time_s,
        });
        let app = Router::new()
            .route("/metrics", get(metrics::<T>))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "not found: the metrics are at /metrics\n",
                )
            })
            .with_state(endpoint);
        info!(listen = %addr, "serving metrics at /metrics");
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                warn!("the metrics endpoint stopped: {e}");
            }
        });
        Ok(Self { addr, task })
    }

    /// [`MetricsServer::start`] when the role has a `--metrics-bind`
    /// (`bind`); `None` without one. A socket that cannot be opened is
    /// logged and returned (the role does not start).
    pub async fn start_if<T: RoleMetrics + Serialize + Send + 'static>(
        bind: Option<SocketAddr>,
        cell: &StatusCell<T>,
        refresh: &Refresh<T>,
    ) -> std::io::Result<Option<Self>> {
        let Some(addr) = bind else {
            return Ok(None);
        };
        Self::start(addr, cell.clone(), Arc::clone(refresh))
            .await
            .inspect_err(|e| error!(listen = %addr, "cannot serve the metrics: {e}"))
            .map(Some)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn metrics<T: RoleMetrics + Serialize + Send + 'static>(
    AxumState(endpoint): AxumState<Arc<Endpoint<T>>>,
) -> impl IntoResponse {
    let text = endpoint.cell.refreshed(&*endpoint.refresh, |status| {
        render(status, endpoint.start_time_s)
    });
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize)]
    struct Role {
        received: u64,
        valkey: ValkeyStatus,
    }

    impl RoleMetrics for Role {
        fn render(&self, out: &mut Exposition) {
            out.counter("alp_connex_points_received_total", "Points.", self.received);
            render_valkey(out, &self.valkey);
        }
    }

    #[test]
    fn the_exposition_has_build_info_one_series_per_state_and_the_roles_families() {
        let mut status = Status::new(
            "rtu-\"a\"",
            "iec104-inbound",
            State::Connected,
            Role::default(),
        );
        status.role.received = 42;
        status.role.valkey.pending = 7;
        status.role.valkey.connected = true;
        status.config_error = Some("x".into());
        let text = render(&status, 1_767_000_000.25);
        let want_head = format!(
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.\n\
             # TYPE process_start_time_seconds gauge\n\
             process_start_time_seconds 1767000000.250\n\
             # HELP alp_connex_build_info The connector: version, role (kind) and ID as labels; always 1.\n\
             # TYPE alp_connex_build_info gauge\n\
             alp_connex_build_info{{version=\"{}\",kind=\"iec104-inbound\",id=\"rtu-\\\"a\\\"\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.starts_with(&want_head), "{text}");
        for line in [
            "alp_connex_state{state=\"connecting\"} 0\n",
            "alp_connex_state{state=\"connected\"} 1\n",
            "alp_connex_state{state=\"disconnected\"} 0\n",
            "alp_connex_state{state=\"listening\"} 0\n",
            "alp_connex_state{state=\"stopped\"} 0\n",
            "alp_connex_managed_config_refused 1\n",
            "# TYPE alp_connex_points_received_total counter\nalp_connex_points_received_total 42\n",
            "alp_connex_valkey_connected 1\n",
            "# TYPE alp_connex_valkey_pending_points gauge\nalp_connex_valkey_pending_points 7\n",
            "alp_connex_points_written_total 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        // Every family is declared once, before its samples, and every
        // counter ends in _total.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("name and type");
                assert!(!declared.contains(&name.to_owned()), "{name} twice");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
                declared.push(name.to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().expect("a name");
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            }
        }
    }

    #[test]
    fn samples_print_whole_numbers_exactly_and_reals_with_milliseconds() {
        assert_eq!(Sample::from(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Sample::from(true).to_string(), "1");
        assert_eq!(Sample::from(0.5).to_string(), "0.500");
        assert_eq!(Sample::from(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
