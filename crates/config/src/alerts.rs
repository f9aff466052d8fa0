//! `[alerts]`: what is alerted on (the vocabulary `AlertKind`), and how.

use super::*;
use crate::raw::*;

/// What an alert is about: the vocabulary of `alerts.on` (the alerts module sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Stale,
    Quarantined,
    Recovered,
    /// A poll or scan failed, after the last one worked.
    Failing,
    /// A poll or scan worked, after failing.
    Working,
    /// An export run's files have waited for its marker longer than `hold_limit`.
    Held,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Stale,
        AlertKind::Quarantined,
        AlertKind::Recovered,
        AlertKind::Failing,
        AlertKind::Working,
        AlertKind::Held,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::Stale => "stale",
            AlertKind::Quarantined => "quarantined",
            AlertKind::Recovered => "recovered",
            AlertKind::Failing => "failing",
            AlertKind::Working => "working",
            AlertKind::Held => "held",
        }
    }

    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// `[alerts]`: who is told when a source turns stale, a file is quarantined, or a source recovers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// A program and its arguments, run once per alert with the alert's JSON on stdin.
    pub command: Option<Vec<String>>,
    /// An `http(s)://` URL that each alert is POSTed to as JSON.
    pub webhook: Option<String>,
    /// Extra request headers for the webhook (e.g. an `Authorization` the receiver wants).
    pub webhook_headers: Vec<(String, String)>,
    /// Which events alert; default all three.
    pub on: Vec<AlertKind>,
    /// Attempts after the first failed one, with the wait doubling from `retry_wait`. Default 4.
    pub retries: u32,
    pub retry_wait: Duration,
    /// How long one command run or webhook request may take. Default 10 s.
    pub timeout: Duration,
    /// At most `rate_limit` alerts per `rate_window` are sent; the rest are logged and counted,
    /// and the next alert sent says how many were held back. Default 20 per hour.
    pub rate_limit: u32,
    pub rate_window: Duration,
}

impl AlertsConfig {
    /// Anything configured to deliver to.
    pub fn enabled(&self) -> bool {
        self.command.is_some() || self.webhook.is_some()
    }
}

pub(crate) fn check_alerts(raw: RawAlerts, base: &Path) -> Result<AlertsConfig, (String, String)> {
    let key = |k: &str| format!("alerts.{k}");
    let command = match raw.command {
        None => None,
        Some(argv) if argv.is_empty() || argv[0].is_empty() => {
            return Err((key("command"), "needs a program: [\"/path/to/program\", \"arg\", …]".into()));
        }
        Some(mut argv) => {
            // A relative program is taken from the config file's directory, not from $PATH.
            if argv[0].contains('/') {
                argv[0] = base.join(&argv[0]).display().to_string();
            }
            Some(argv)
        }
    };
    if let Some(url) = &raw.webhook {
        let parsed = url::Url::parse(url).map_err(|e| (key("webhook"), format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err((key("webhook"), format!("{url:?} must be an http:// or https:// URL")));
        }
        let loopback = parsed.host_str().is_some_and(|h| {
            h == "localhost" || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        });
        if parsed.scheme() == "http" && !loopback {
            return Err((key("webhook"), format!("{url:?}: plain http only to a loopback receiver; use https")));
        }
    }
    let mut webhook_headers = Vec::new();
    for (name, value) in raw.webhook_headers {
        if http::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::header::HeaderValue::from_str(&value).is_err()
        {
            return Err((key("webhook_headers"), format!("{name:?} is not a valid header name and value")));
        }
        webhook_headers.push((name, value));
    }
    let on = match raw.on {
        None => AlertKind::ALL.to_vec(),
        Some(names) => {
            let mut on = Vec::new();
            for name in names {
                let kind = AlertKind::parse(&name).ok_or_else(|| {
                    let known: Vec<&str> = AlertKind::ALL.iter().map(AlertKind::as_str).collect();
                    (key("on"), format!("unknown event {name:?} (one of {})", known.join(", ")))
                })?;
                on.push(kind);
            }
            on
        }
    };
    let duration = |k: &str, value: Option<String>, default: Duration| duration(&key(k), value, default, Zero::Refused);
    let rate_limit = raw.rate_limit.unwrap_or(20);
    if rate_limit == 0 {
        return Err((key("rate_limit"), "must be at least 1".into()));
    }
    Ok(AlertsConfig {
        command,
        webhook: raw.webhook,
        webhook_headers,
        on,
        retries: raw.retries.unwrap_or(4),
        retry_wait: duration("retry_wait", raw.retry_wait, Duration::from_secs(2))?,
        timeout: duration("timeout", raw.timeout, Duration::from_secs(10))?,
        rate_limit,
        rate_window: duration("rate_window", raw.rate_window, Duration::from_secs(3600))?,
    })
}
