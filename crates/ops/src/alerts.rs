//! Alerts: the on-call engineer is told when a source turns stale, a file is quarantined, a
//! stale source recovers, a source starts failing (its SFTP server refuses the host key or the
//! login, cannot be reached, its folder is gone…) and works again, and an export run is held for
//! its marker past the source's `hold_limit`, through a configured command (the alert's JSON on stdin) and/or a JSON
//! webhook. Every alert is also a log line (INFO for recovered and working, WARN for the rest).
//!
//! The payload carries no PHI: the source, the event, the time, the file's ledger id (`ingest
//! status` and the status page show the file), and the reason as the daemon logs it. Never a
//! file name (PDF names carry MRNs), never record content.
//!
//! Delivery runs beside the daemon's loop and never holds it up. A failed attempt (a command that
//! exits non-zero or runs past `timeout`, a webhook answering other than 2xx, or not reachable) is
//! tried again `retries` times, the wait doubling from `retry_wait`; a webhook's 4xx other than
//! 408 and 429 is not retried (the receiver refuses this request, and will again). At most
//! `rate_limit` alerts go out per `rate_window`: the rest are logged and counted, and the next
//! alert sent carries that count in `held_back`, so that a flood of quarantined files pages once
//! rather than a hundred times and nothing is silently lost. Alerts are delivered independently,
//! so while one is being retried a later one may arrive first: `time` orders them.

use chrono::{DateTime, Utc};
pub use ingest_config::AlertKind;
use ingest_config::AlertsConfig;
use ingest_core::time::rfc3339;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The longest wait between two attempts.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// One alert, as sent (the JSON body of the webhook and the command's stdin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Stable across the retries of one alert, for receivers that deduplicate.
    pub id: String,
    pub event: AlertKind,
    pub source: String,
    /// When the daemon noticed, RFC 3339 UTC.
    pub time: String,
    /// One line for a pager.
    pub summary: String,
    /// Why the source is stale, or why the file was quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The quarantined file's ledger id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<i64>,
    /// Alerts not sent since the last one that was, because of the rate limit.
    pub held_back: u64,
    /// The machine the daemon runs on.
    pub host: String,
}

impl Alert {
    fn new(event: AlertKind, source: &str, now: DateTime<Utc>, summary: String) -> Alert {
        Alert {
            id: String::new(),
            event,
            source: source.to_string(),
            time: rfc3339(now),
            summary,
            reason: None,
            file_id: None,
            held_back: 0,
            host: hostname(),
        }
    }

    pub fn stale(source: &str, reason: &str, now: DateTime<Utc>) -> Alert {
        let summary = format!("ingest: source {source} is STALE: the assistant is told its data is not current");
        Alert { reason: Some(reason.to_string()), ..Alert::new(AlertKind::Stale, source, now, summary) }.with_id()
    }

    pub fn recovered(source: &str, now: DateTime<Utc>) -> Alert {
        Alert::new(AlertKind::Recovered, source, now, format!("ingest: source {source} is fresh again")).with_id()
    }

    pub fn quarantined(source: &str, file_id: i64, reason: &str, now: DateTime<Utc>) -> Alert {
        let summary =
            format!("ingest: a file from source {source} was quarantined (ledger id {file_id}); the rest went in");
        let alert = Alert::new(AlertKind::Quarantined, source, now, summary);
        Alert { reason: Some(reason.to_string()), file_id: Some(file_id), ..alert }.with_id()
    }

    pub fn failing(source: &str, failure: &ingest_core::health::Failure, now: DateTime<Utc>) -> Alert {
        let summary = format!(
            "ingest: source {source} is FAILING: {}; no new export can arrive until this is fixed",
            failure.kind.phrase()
        );
        Alert { reason: Some(failure.message.clone()), ..Alert::new(AlertKind::Failing, source, now, summary) }
            .with_id()
    }

    pub fn working(source: &str, failing_since: DateTime<Utc>, now: DateTime<Utc>) -> Alert {
        let summary = format!("ingest: source {source} works again (it was failing since {})", rfc3339(failing_since));
        Alert::new(AlertKind::Working, source, now, summary).with_id()
    }

    /// The alert for a change of a source's health.
    pub fn of_change(source: &str, change: &ingest_core::health::Change, now: DateTime<Utc>) -> Alert {
        match change {
            ingest_core::health::Change::StartedFailing(failure) => Alert::failing(source, failure, now),
            ingest_core::health::Change::Recovered { since, .. } => Alert::working(source, *since, now),
        }
    }

    pub fn held(source: &str, held: &ingest_core::health::Held, limit: Duration, now: DateTime<Utc>) -> Alert {
        let summary = format!(
            "ingest: source {source}: {} file(s) of an export run have waited over {} for the run marker {}",
            held.files,
            ingest_core::time::human_duration(limit),
            held.marker
        );
        let reason = format!(
            "staged since {} in {}; nothing of the run is published until its marker arrives",
            rfc3339(held.since),
            held.run
        );
        Alert { reason: Some(reason), ..Alert::new(AlertKind::Held, source, now, summary) }.with_id()
    }

    /// The id: a digest of everything that makes this alert this one (so a retry keeps it).
    fn with_id(mut self) -> Alert {
        use sha2::{Digest, Sha256};
        let key = format!("{}|{}|{}|{:?}|{:?}", self.event.as_str(), self.source, self.time, self.file_id, self.reason);
        self.id = ingest_fsutil::hex(&Sha256::digest(key.as_bytes())[..12]);
        self
    }

    fn log(&self) {
        let (event, source, file_id, reason) =
            (self.event.as_str(), &self.source, self.file_id, self.reason.as_deref().unwrap_or(""));
        match self.event {
            AlertKind::Recovered | AlertKind::Working => {
                tracing::info!(alert = event, source, "alert: {}", self.summary)
            }
            _ => tracing::warn!(alert = event, source, file_id, reason, "alert: {}", self.summary),
        }
    }
}

fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// At most `limit` alerts per `window`, counted over the window that ends now. Time is the
/// daemon's clock (the alerts' own `time`), so that a clock moved back cannot open the gate early.
#[derive(Debug)]
pub struct RateLimit {
    limit: usize,
    window: chrono::Duration,
    sent: VecDeque<DateTime<Utc>>,
}

impl RateLimit {
    pub fn new(limit: u32, window: Duration) -> RateLimit {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        RateLimit { limit: limit as usize, window, sent: VecDeque::new() }
    }

    /// Whether an alert may go out at `now` (and if so, it is counted).
    pub fn admit(&mut self, now: DateTime<Utc>) -> bool {
        while self.sent.front().is_some_and(|t| now - *t >= self.window) {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.limit {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

/// The wait before attempt `n` (1 = the first retry).
fn retry_wait(first: Duration, n: u32) -> Duration {
    first.saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX)).min(MAX_RETRY_WAIT)
}

/// The daemon's handle: [`Alerts::raise`] logs the alert and hands it to the delivery task.
#[derive(Debug, Clone)]
pub struct Alerts {
    on: Vec<AlertKind>,
    tx: Option<mpsc::UnboundedSender<Alert>>,
}

impl Alerts {
    /// Start delivering (nothing is started when no command or webhook is configured: alerts are
    /// then log lines only). Stops with `shutdown`.
    pub fn start(config: &AlertsConfig, shutdown: &CancellationToken) -> anyhow::Result<Alerts> {
        if !config.enabled() {
            return Ok(Alerts { on: config.on.clone(), tx: None });
        }
        let client = match &config.webhook {
            Some(_) => Some(
                reqwest::Client::builder()
                    .timeout(config.timeout)
                    .user_agent(concat!("ingest/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
            ),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver_all(config.clone(), client, rx, shutdown.clone()));
        Ok(Alerts { on: config.on.clone(), tx: Some(tx) })
    }

    pub fn raise(&self, alert: Alert) {
        if !self.on.contains(&alert.event) {
            return;
        }
        alert.log();
        crate::metrics::METRICS.alert(alert.event.as_str(), false);
        if let Some(tx) = &self.tx {
            let _ = tx.send(alert);
        }
    }
}

async fn deliver_all(
    config: AlertsConfig,
    client: Option<reqwest::Client>,
    mut rx: mpsc::UnboundedReceiver<Alert>,
    shutdown: CancellationToken,
) {
    let mut limit = RateLimit::new(config.rate_limit, config.rate_window);
    let mut held_back = 0u64;
    let config = std::sync::Arc::new(config);
    loop {
        let mut alert = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = rx.recv() => match next { Some(alert) => alert, None => return },
        };
        let noticed = ingest_core::time::parse_rfc3339(&alert.time).unwrap_or_else(Utc::now);
        if !limit.admit(noticed) {
            held_back += 1;
            crate::metrics::METRICS.alert(alert.event.as_str(), true);
            tracing::warn!(alert = alert.event.as_str(), source = %alert.source, held_back,
                "alert not sent: over the rate limit ({} per {}); the next alert sent counts it",
                config.rate_limit, ingest_core::time::human_duration(config.rate_window));
            continue;
        }
        alert.held_back = std::mem::take(&mut held_back);
        // Each alert on its own task, the command and the webhook side by side: one slow
        // receiver holds up neither the other nor the next alert.
        let (config, client) = (std::sync::Arc::clone(&config), client.clone());
        tokio::spawn(async move {
            let body = serde_json::to_vec(&alert).unwrap_or_default();
            let command = async {
                if let Some(argv) = &config.command {
                    let attempt = || run_command(argv, &alert, &body, config.timeout);
                    report(&alert, "command", with_retries(&config, "command", &alert, attempt).await);
                }
            };
            let webhook = async {
                if let (Some(url), Some(client)) = (&config.webhook, &client) {
                    let attempt = || post(client, url, &config.webhook_headers, &body);
                    report(&alert, "webhook", with_retries(&config, "webhook", &alert, attempt).await);
                }
            };
            tokio::join!(command, webhook);
        });
    }
}

/// A failed attempt: `retry` false when trying again cannot help.
struct Failure {
    message: String,
    retry: bool,
}

async fn with_retries<F, Fut>(config: &AlertsConfig, via: &str, alert: &Alert, attempt: F) -> Result<u32, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let mut n = 0;
    loop {
        match attempt().await {
            Ok(()) => return Ok(n + 1),
            Err(f) if !f.retry || n >= config.retries => {
                return Err(format!("{} (after {} attempt(s))", f.message, n + 1));
            }
            Err(f) => {
                n += 1;
                let wait = retry_wait(config.retry_wait, n);
                tracing::warn!(alert = alert.event.as_str(), source = %alert.source, via, error = %f.message,
                    "alert delivery failed; trying again in {}", ingest_core::time::human_duration(wait));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn report(alert: &Alert, via: &str, outcome: Result<u32, String>) {
    crate::metrics::METRICS.alert_delivery(via, outcome.is_ok());
    let (event, source, id) = (alert.event.as_str(), &alert.source, &alert.id);
    match outcome {
        Ok(attempts) => tracing::info!(alert = event, source = %source, via, attempts, id = %id, "alert delivered"),
        Err(e) => tracing::error!(alert = event, source = %source, via, error = %e, id = %id,
            "alert NOT delivered; it stays in this log only"),
    }
}

/// Run the command with the alert on stdin (and its event and source in the environment).
async fn run_command(argv: &[String], alert: &Alert, body: &[u8], timeout: Duration) -> Result<(), Failure> {
    use tokio::io::AsyncWriteExt;
    let fail = |message: String| Failure { message, retry: true };
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("INGEST_ALERT_EVENT", alert.event.as_str())
        .env("INGEST_ALERT_SOURCE", &alert.source)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run {}: {e}", argv[0])))?;
    let mut stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
    let run = async {
        // A command that does not read its stdin is its own business: a broken pipe is not a failure.
        let _ = stdin.write_all(body).await;
        let _ = stdin.write_all(b"\n").await;
        drop(stdin);
        child.wait_with_output().await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(fail(format!("{} ran past {}", argv[0], ingest_core::time::human_duration(timeout)))),
        Ok(Err(e)) => Err(fail(format!("{}: {e}", argv[0]))),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("").chars().take(200).collect::<String>();
            Err(fail(format!("{} exited with {}: {last}", argv[0], out.status)))
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<(), Failure> {
    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Err(e) => Err(Failure { message: format!("POST {url}: {e}"), retry: true }),
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => {
            let status = answer.status();
            let retry = !status.is_client_error() || matches!(status.as_u16(), 408 | 429);
            Err(Failure { message: format!("POST {url}: {status}"), retry })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        ingest_core::time::parse_rfc3339(t).expect("time")
    }

    #[test]
    fn the_rate_limit_counts_over_a_sliding_window() {
        let mut limit = RateLimit::new(2, Duration::from_secs(60));
        let t0 = at("2026-12-01T05:41:00Z");
        let s = chrono::Duration::seconds;
        assert!(limit.admit(t0));
        assert!(limit.admit(t0 + s(1)));
        assert!(!limit.admit(t0 + s(2)));
        assert!(!limit.admit(t0 + s(59)));
        // A clock moved back does not open the gate.
        assert!(!limit.admit(t0 - s(3600)));
        // The first has left the window.
        assert!(limit.admit(t0 + s(60)));
        assert!(!limit.admit(t0 + s(60)));
        assert!(limit.admit(t0 + s(61)));
    }

    #[test]
    fn retry_waits_double_up_to_a_cap() {
        let first = Duration::from_secs(2);
        let waits: Vec<u64> = (1..=9).map(|n| retry_wait(first, n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(retry_wait(first, 40), MAX_RETRY_WAIT);
    }

    fn config(retries: u32) -> AlertsConfig {
        let mut config = ingest_config::Config::built_in().expect("defaults").alerts;
        config.retries = retries;
        config.retry_wait = Duration::from_millis(10);
        config.timeout = Duration::from_secs(5);
        config
    }

    #[tokio::test]
    async fn a_failing_command_is_run_again_until_the_retries_are_spent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("runs");
        let script = format!("echo run >> {}; echo 'pager unreachable' >&2; exit 3", runs.display());
        let argv = ["/bin/sh".to_string(), "-c".into(), script];
        let alert = Alert::recovered("ward", at("2026-12-01T06:00:00Z"));
        let body = serde_json::to_vec(&alert).expect("json");
        let attempt = || run_command(&argv, &alert, &body, Duration::from_secs(5));
        let outcome = with_retries(&config(2), "command", &alert, attempt).await;
        let error = outcome.expect_err("the command always fails");
        assert!(error.contains("exited with exit status: 3: pager unreachable (after 3 attempt(s))"), "{error}");
        assert_eq!(std::fs::read_to_string(&runs).expect("runs").lines().count(), 3);
    }

    #[tokio::test]
    async fn a_webhook_that_refuses_the_request_is_not_asked_again() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let served = std::thread::spawn(move || {
            let mut requests = 0;
            listener.set_nonblocking(false).expect("blocking");
            for stream in listener.incoming().take(1) {
                let mut stream = stream.expect("accept");
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                requests += 1;
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
            requests
        });
        let client = reqwest::Client::new();
        let alert = Alert::recovered("ward", at("2026-12-01T06:00:00Z"));
        let outcome = with_retries(&config(3), "webhook", &alert, || post(&client, &url, &[], b"{}")).await;
        let error = outcome.expect_err("400 is a failure");
        assert!(error.contains("400 Bad Request (after 1 attempt(s))"), "{error}");
        assert_eq!(served.join().expect("receiver"), 1);
    }

    #[test]
    fn a_payload_names_the_file_by_ledger_id_only() {
        let alert = Alert::quarantined("ward", 42, "the file is empty", at("2026-12-01T05:41:00Z"));
        let json: serde_json::Value = serde_json::to_value(&alert).expect("json");
        assert_eq!(json["event"], "quarantined");
        assert_eq!(json["file_id"], 42);
        assert_eq!(json["reason"], "the file is empty");
        assert_eq!(json["time"], "2026-12-01T05:41:00Z");
        let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["event", "file_id", "held_back", "host", "id", "reason", "source", "summary", "time"]);
        // The same alert has the same id (a retry), another has another.
        assert_eq!(alert.id, Alert::quarantined("ward", 42, "the file is empty", at("2026-12-01T05:41:00Z")).id);
        assert_ne!(alert.id, Alert::quarantined("ward", 43, "the file is empty", at("2026-12-01T05:41:00Z")).id);
        let recovered = serde_json::to_value(Alert::recovered("ward", at("2026-12-01T06:00:00Z"))).expect("json");
        assert!(recovered.get("reason").is_none() && recovered.get("file_id").is_none());
    }
}
