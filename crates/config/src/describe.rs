//! `check-config`'s description of a checked configuration: every source, where it stages, when
//! its exports are due, how its files are read.

use super::*;

impl Config {
    /// One source: where its files come from, when they are due, how they are taken.
    fn describe_source(&self, s: &SourceConfig, now: chrono::DateTime<chrono::Utc>) -> String {
        let zone = self.zone;
        let span = ingest_core::time::human_duration;
        let mut out = String::new();
        match &s.sftp {
            Some(c) => {
                out.push_str(&format!(
                    "source {}: SFTP sftp://{}@{}:{}{}{} · key {} ({}) · known_hosts {} · timeout {}\n",
                    s.name,
                    c.user,
                    c.host,
                    c.port,
                    c.remote_dir,
                    if c.recursive { " (recursive)" } else { "" },
                    c.key_file.display(),
                    match &c.passphrase {
                        Passphrase::None => "no passphrase".to_string(),
                        Passphrase::File(p) => format!("passphrase from {}", p.display()),
                        Passphrase::Credential(n) => format!("passphrase from the systemd credential {n:?}"),
                    },
                    c.known_hosts.display(),
                    span(c.timeout),
                ));
                let poll = match &s.poll {
                    Some(cron) => format!(
                        "poll {:?} (cron, {zone}; next {})",
                        cron.as_str(),
                        cron.next_after(now, zone).map_or("never".to_string(), |t| zone.stamp(t))
                    ),
                    None => "poll every minute".to_string(),
                };
                let after = match &c.after {
                    RemoteAfter::None => {
                        "left on the server (the ledger keeps it from being downloaded twice)".to_string()
                    }
                    RemoteAfter::Delete => "deleted on the server".to_string(),
                    RemoteAfter::Move(dir) => format!("moved on the server to {dir}"),
                };
                out.push_str(&format!(
                    "  {poll} · a file is taken once two listings agree · downloaded files are {after} · staged in {}\n",
                    s.path.display()
                ));
            }
            None => out.push_str(&format!(
                "source {}: folder {}{} · settle {} · rescan every {}\n",
                s.name,
                s.path.display(),
                if s.recursive { " (recursive)" } else { "" },
                span(s.settle),
                span(s.rescan_interval),
            )),
        }
        let due = match &s.expected {
            Some(exp) => {
                let next = exp.expected.next_after(now, zone);
                format!(
                    "expected {:?} (cron, {zone}) with grace {}: next at {}, stale if none by {}",
                    exp.expected.as_str(),
                    span(exp.grace),
                    next.map_or("never".to_string(), |t| zone.stamp(t)),
                    next.and_then(|t| chrono::Duration::from_std(exp.grace).ok().map(|g| t + g))
                        .map_or("never".to_string(), |t| zone.stamp(t)),
                )
            }
            None => format!("no schedule: stale when the newest export is older than {}", span(s.stale_after)),
        };
        let run = match &s.run_marker {
            Some(m) => format!(
                "export runs: files wait for the marker {:?}, alert after {} held",
                m.glob().glob(),
                span(s.hold_limit)
            ),
            None => "each file on its own (no run marker)".to_string(),
        };
        let trigger = if s.require_trigger {
            format!("requires a trigger file ({})", s.trigger_suffixes.join(", "))
        } else {
            format!("trigger files {}", s.trigger_suffixes.join(", "))
        };
        let after = format!("{:?}", s.after_ingest).to_lowercase();
        out.push_str(&format!("  {due} · {run} · {trigger} · after ingest: {after}\n"));
        out.push_str(&match &s.locations {
            Some((patterns, _)) => format!(
                "  panel: patients placed at {} only (an event elsewhere takes one of them off)\n",
                patterns.join(" or ")
            ),
            None => "  panel: every location its ADT and census name\n".to_string(),
        });
        out
    }

    /// A short human description, for `check-config` and the daemon's first log line.
    pub fn describe(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut out = format!(
            "config: {}\nsnapshot: {}\ndata dir: {}\ntime zone for times without offset: {}\nMRN: first PID-3 of type {}{}\n",
            self.origin,
            self.snapshot.display(),
            self.data_dir.display(),
            self.zone,
            self.mrn.id_type,
            self.mrn.authority.as_deref().map(|a| format!(" from {a}")).unwrap_or_default(),
        );
        if self.zone == ingest_core::time::Zone::Host {
            out.push_str(
                "WARNING: time_zone is the host's. Export times without a UTC offset (CSV file names and \
                 columns, HL7 times without one) are read in it; if the EHR writes another zone's local time, \
                 set time_zone to it (e.g. time_zone = \"America/Chicago\").\n",
            );
        }
        let mappings: Vec<String> =
            self.csv.iter().map(|m| format!("{} ({} → {})", m.name, m.pattern, m.kind.as_str())).collect();
        out.push_str(&format!("CSV mappings: {}\n", mappings.join(", ")));
        for m in &self.csv {
            out.push_str(&format!("  {}: {}\n", m.name, describe_csv_fields(m)));
        }
        for m in &self.pdf.mappings {
            out.push_str(&format!(
                "  PDF {}: {} named /{}/ (groups mrn, doc_type, date read as {})\n",
                m.name,
                m.pattern,
                m.file_name.as_str(),
                m.date_format
            ));
        }
        let m = &self.mcp;
        out.push_str(&format!(
            "MCP over HTTP: {} · {} token(s) · roles: {} · stdio role: {} · audit log: {}\n",
            if m.http_enabled {
                format!(
                    "{}://{}{}",
                    if m.tls.is_some() { "https" } else { "http" },
                    std::net::SocketAddr::new(m.bind, m.port),
                    m.path
                )
            } else {
                "off".to_string()
            },
            m.tokens.len(),
            m.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
            m.stdio_role,
            self.audit_log().display(),
        ));
        let r = &self.retention;
        out.push_str(&match r.enabled {
            true => format!(
                "retention: archived exports {} days · patients off every panel {} days · at start and {}\n",
                r.archive_days,
                r.patient_days,
                r.schedule.as_str()
            ),
            false => "retention: off (nothing is deleted or purged)\n".to_string(),
        });
        let a = &self.alerts;
        let events: Vec<&str> = a.on.iter().map(|k| k.as_str()).collect();
        let mut via = Vec::new();
        if let Some(argv) = &a.command {
            via.push(format!("command {}", argv[0]));
        }
        if let Some(url) = a.webhook.as_deref().and_then(|u| url::Url::parse(u).ok()) {
            // Not the whole URL: its path or query may carry the receiver's secret.
            via.push(format!("webhook {}://{}", url.scheme(), url.host_str().unwrap_or("")));
        }
        out.push_str(&format!(
            "alerts on {}: {} · {} retries · at most {} per {}\n",
            events.join(", "),
            if via.is_empty() { "log lines only".to_string() } else { via.join(" and ") },
            a.retries,
            a.rate_limit,
            ingest_core::time::human_duration(a.rate_window)
        ));
        for s in &self.sources {
            out.push_str(&self.describe_source(s, now));
        }
        out
    }
}

/// A CSV mapping's fields as it applies them: `field ← header (| alias)`, built fields, defaults,
/// the fields a file may lack, and the date formats.
pub(crate) fn describe_csv_fields(m: &CsvMapping) -> String {
    let mut parts: Vec<String> = Vec::new();
    for field in m.kind.required().iter().chain(m.kind.optional()) {
        let source = match (m.columns.get(*field), m.derived.get(*field)) {
            (Some(aliases), _) => aliases.join(" | "),
            (None, Some(derived)) => derived.describe(),
            (None, None) => continue,
        };
        let default = m.defaults.get(*field).map(|d| format!(" (default {d:?})")).unwrap_or_default();
        let formats = m.field_formats.get(*field).map(|f| format!(" (dates {})", f.join(" or "))).unwrap_or_default();
        parts.push(format!("{field} ← {source}{default}{formats}"));
    }
    let lacking: Vec<&str> = m.may_lack.iter().map(String::as_str).collect();
    if !lacking.is_empty() && lacking.len() < m.kind.optional().len() {
        parts.push(format!("a file may lack {}", lacking.join(", ")));
    }
    parts.push(format!("dates {}", m.date_formats.join(" or ")));
    if m.whole_header {
        parts.push("reads a file only when it knows every column of its header".into());
    }
    if !m.extra.is_empty() {
        parts.push(format!("kept as the stay's notes: {}", m.extra.join(", ")));
    }
    if let Some(skip) = &m.skip_rows {
        parts.push(format!("rows matching /{}/ are skipped (counted as not used)", skip.as_str()));
    }
    if m.complete {
        parts.push(
            "each file is its patients' whole current list: an order it no longer lists is no longer current".into(),
        );
    }
    parts.join(" · ")
}
