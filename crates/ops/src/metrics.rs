//! `/metrics` on the daemon's HTTP port, in the text exposition format (OpenMetrics, which
//! Prometheus scrapes), with the Prometheus project's own client (`prometheus-client`).
//!
//! Two kinds of figures. What the ledger and snapshot hold (files by status, records by kind,
//! rejects, last export and ingest per source, staleness) is read at each scrape from the same
//! [`crate::status::Report`] as `ingest status` and `/status`, so the three never disagree. What
//! only the process sees (MCP calls by tool and result, MCP and ingest latency) is counted as it
//! happens, in [`METRICS`]: one set per process, so `/metrics` shows the daemon's own (HTTP) calls.
//! No label carries patient data: sources, statuses, kinds, tool names, results.

use crate::status::Report;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    /// `ok`, `error` or `refused`.
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FileLabels {
    source: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    source: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    source: String,
    /// The HL7 message type, e.g. `VXU^V04`.
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    /// `command` or `webhook`.
    via: String,
    /// `delivered` or `failed` (after every retry).
    result: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// What this process counts as it runs.
#[derive(Debug)]
pub struct Metrics {
    mcp_calls: Family<CallLabels, Counter>,
    mcp_seconds: Histograms<ToolLabel>,
    ingest_seconds: Histograms<SourceLabel>,
    alerts: Family<EventLabel, Counter>,
    alerts_held_back: Family<EventLabel, Counter>,
    alert_deliveries: Family<DeliveryLabels, Counter>,
}

/// The process's counters (see the module documentation).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    mcp_calls: Family::default(),
    // 1 ms to ~16 s.
    mcp_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15))),
    // 10 ms to ~10 min.
    ingest_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 17))),
    alerts: Family::default(),
    alerts_held_back: Family::default(),
    alert_deliveries: Family::default(),
});

impl Metrics {
    /// One MCP call answered: `result` is the audit line's (`ok`, `error: …`, `refused: …`).
    pub fn mcp_call(&self, tool: &str, result: &str, took: Duration) {
        let result = result.split(':').next().unwrap_or(result).to_string();
        self.mcp_calls.get_or_create(&CallLabels { tool: tool.to_string(), result }).inc();
        self.mcp_seconds.get_or_create(&ToolLabel { tool: tool.to_string() }).observe(took.as_secs_f64());
    }

    /// An alert raised (`held_back`: not sent, over the rate limit).
    pub fn alert(&self, event: &str, held_back: bool) {
        let label = EventLabel { event: event.to_string() };
        if held_back { self.alerts_held_back.get_or_create(&label) } else { self.alerts.get_or_create(&label) }.inc();
    }

    /// An alert's delivery by `via` (`command`, `webhook`) ended, `delivered` or not.
    pub fn alert_delivery(&self, via: &str, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" }.to_string();
        self.alert_deliveries.get_or_create(&DeliveryLabels { via: via.to_string(), result }).inc();
    }

    /// One file finished (ingested, duplicate or quarantined): from ready to committed.
    pub fn file_done(&self, source: &str, took: Duration) {
        self.ingest_seconds.get_or_create(&SourceLabel { source: source.to_string() }).observe(took.as_secs_f64());
    }
}

/// The exposition text: the snapshot's figures from `report`, and this process's counters.
pub fn render(report: &Report) -> String {
    let mut registry = Registry::with_prefix("ingest");
    let files = Family::<FileLabels, Gauge>::default();
    let rejects = Family::<SourceLabel, Gauge>::default();
    let field_warnings = Family::<SourceLabel, Gauge>::default();
    let not_used = Family::<TypeLabels, Gauge>::default();
    let last_export = Family::<SourceLabel, FloatGauge>::default();
    let last_ingest = Family::<SourceLabel, FloatGauge>::default();
    let stale = Family::<SourceLabel, Gauge>::default();
    let age = Family::<SourceLabel, FloatGauge>::default();
    let records = Family::<KindLabel, Gauge>::default();
    let up = Family::<SourceLabel, Gauge>::default();
    let errors = Family::<ErrorLabels, Counter>::default();
    let held = Family::<SourceLabel, Gauge>::default();
    let held_age = Family::<SourceLabel, FloatGauge>::default();
    let untaken = Family::<SourceLabel, Gauge>::default();
    let seconds = |t: &Option<String>| t.as_deref().and_then(ingest_core::time::parse_rfc3339);
    for source in &report.sources {
        let s = &source.status;
        let label = SourceLabel { source: s.name.clone() };
        for (status, n) in &s.files {
            files.get_or_create(&FileLabels { source: s.name.clone(), status: status.clone() }).set(*n);
        }
        rejects.get_or_create(&label).set(s.rejects);
        field_warnings.get_or_create(&label).set(s.field_warnings);
        for (message_type, n) in &s.not_used {
            not_used.get_or_create(&TypeLabels { source: s.name.clone(), r#type: message_type.clone() }).set(*n);
        }
        if let Some(t) = seconds(&s.last_export_at) {
            last_export.get_or_create(&label).set(t.timestamp() as f64);
            age.get_or_create(&label).set((report.now - t).num_milliseconds() as f64 / 1000.0);
        }
        if let Some(t) = seconds(&s.last_ingested_at) {
            last_ingest.get_or_create(&label).set(t.timestamp() as f64);
        }
        stale.get_or_create(&label).set(i64::from(source.stale));
        up.get_or_create(&label).set(i64::from(source.up));
        if let Some(h) = &source.health {
            held.get_or_create(&label).set(h.held.as_ref().map_or(0, |h| h.files));
            let age = h.held.as_ref().map_or(0.0, |h| (report.now - h.since).num_milliseconds() as f64 / 1000.0);
            held_age.get_or_create(&label).set(age.max(0.0));
            untaken.get_or_create(&label).set(h.untaken.files);
            for kind in ingest_core::health::ErrorKind::ALL {
                let n = h.errors.get(kind.as_str()).copied().unwrap_or(0);
                let labels = ErrorLabels { source: s.name.clone(), kind: kind.as_str().to_string() };
                errors.get_or_create(&labels).inc_by(n.max(0) as u64);
            }
        }
    }
    let c = &report.counts;
    for (kind, n) in [
        ("patients", c.patients),
        ("panel_patients", c.on_panel),
        ("observations", c.observations),
        ("abnormal_observations", c.abnormal_observations),
        ("medications", c.medications),
        ("problems", c.problems),
        ("allergies", c.allergies),
        ("documents", c.documents),
    ] {
        records.get_or_create(&KindLabel { kind: kind.to_string() }).set(n);
    }
    registry.register("files", "Files in the ledger, by source and status", files);
    registry.register("records", "Records in the snapshot, by kind", records);
    registry.register("rejected_messages", "Messages rejected inside files that went in, by source", rejects);
    registry.register(
        "messages_not_used",
        "Messages of types the snapshot does not use (read and set aside, not errors), by source and type",
        not_used,
    );
    registry.register(
        "field_warnings",
        "Fields left empty (unreadable, not needed to identify their record) in messages that went in, by source",
        field_warnings,
    );
    registry.register_with_unit(
        "last_export_timestamp",
        "The newest exported_at among the files that went in (Unix time)",
        Unit::Seconds,
        last_export,
    );
    registry.register_with_unit(
        "last_ingest_timestamp",
        "When the newest file went in (Unix time)",
        Unit::Seconds,
        last_ingest,
    );
    registry.register_with_unit("export_age", "How old the newest export is", Unit::Seconds, age);
    registry.register("source_stale", "1 when the source is stale (answers say so), else 0", stale);
    registry.register("source_up", "1 when the source's last poll or scan worked (or none ran yet), else 0", up);
    registry.register("source_errors", "Failed polls or scans since the source was first watched, by kind", errors);
    registry.register("source_held_files", "Files staged and waiting for their export run's marker", held);
    registry.register_with_unit(
        "source_held_age",
        "How long the oldest held file has waited for its run's marker (0 when none is held)",
        Unit::Seconds,
        held_age,
    );
    registry.register("source_untaken_files", "Files in the source's folder that no include pattern takes", untaken);
    let m = &*METRICS;
    registry.register("mcp_calls", "MCP calls answered, by tool and result (ok, error, refused)", m.mcp_calls.clone());
    registry.register_with_unit(
        "mcp_call",
        "MCP call latency, audit line included",
        Unit::Seconds,
        m.mcp_seconds.clone(),
    );
    registry.register_with_unit(
        "file_ingest",
        "Time from a file being ready to its commit, by source",
        Unit::Seconds,
        m.ingest_seconds.clone(),
    );
    registry.register("alerts", "Alerts raised (each one also a log line), by event", m.alerts.clone());
    registry.register(
        "alerts_held_back",
        "Alerts not sent because of the rate limit, by event",
        m.alerts_held_back.clone(),
    );
    registry.register(
        "alert_deliveries",
        "Alert deliveries finished, by way (command, webhook) and result (delivered, failed after retries)",
        m.alert_deliveries.clone(),
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}
