//! SFTP sources in the daemon: a task per source polls on its schedule (on the blocking pool:
//! ssh2 blocks) and stages complete files in the source's staging folder, which the folder loop
//! watches like any other: renamed into place, they are taken at once.

use chrono::{DateTime, Utc};
use ingest_config::{Config, SourceConfig};
use ingest_core::health::{Change, Check, SourceHealth, Untaken};
use ingest_core::time::{Clock, Zone};
use ingest_ops::alerts::{Alert, Alerts};
use ingest_pipeline::source::sftp::{PollReport, Poller, SftpError, WaitReason};
use ingest_store as store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Polls of a source without a `poll` schedule: once a minute.
const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// Start the poll task of every SFTP source.
pub(super) fn spawn_all(
    config: &Config,
    clock: &Arc<dyn Clock>,
    alerts: &Alerts,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    config
        .sources
        .iter()
        .filter(|s| s.sftp.is_some())
        .map(|source| {
            let task = poll_loop(
                source.clone(),
                config.snapshot.clone(),
                config.zone,
                Arc::clone(clock),
                alerts.clone(),
                shutdown.clone(),
            );
            tokio::spawn(task)
        })
        .collect()
}

/// When the next poll is due.
fn next_poll(source: &SourceConfig, now: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
    source.poll.as_ref().and_then(|cron| cron.next_after(now, zone)).unwrap_or_else(|| {
        now + chrono::Duration::from_std(DEFAULT_EVERY).unwrap_or_else(|_| chrono::Duration::minutes(1))
    })
}

/// What a poll task keeps between polls: its own connection to the snapshot (the remote file
/// ledger and the source's health) and the health as last written.
#[derive(Default)]
struct State {
    conn: Option<store::Writer>,
    health: Option<SourceHealth>,
}

async fn poll_loop(
    source: SourceConfig,
    snapshot: std::path::PathBuf,
    zone: Zone,
    clock: Arc<dyn Clock>,
    alerts: Alerts,
    shutdown: CancellationToken,
) {
    let Some(sftp) = source.sftp.clone() else { return };
    let server = format!("{}@{}:{}", sftp.user, sftp.host, sftp.port);
    tracing::info!(source = %source.name, server = %server, remote_dir = %sftp.remote_dir,
        staging = %source.path.display(), "polling SFTP");
    let poller = Poller::new(&source.name, sftp, source.path.clone()).with_run_marker(source.run_marker.clone());
    let poller = Arc::new(Mutex::new(poller));
    let state = Arc::new(Mutex::new(State::default()));
    // The first poll runs at once: it lists, and files are taken at the next one.
    let mut due = clock.now();
    loop {
        let wait = (due - clock.now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let (poller, state, name) = (Arc::clone(&poller), Arc::clone(&state), source.name.clone());
        let (wanted, token, snapshot, now) = (source.clone(), shutdown.clone(), snapshot.clone(), clock.now());
        let result =
            tokio::task::spawn_blocking(move || -> anyhow::Result<(Result<PollReport, SftpError>, Option<Change>)> {
                let mut state = state.lock().map_err(|_| anyhow::anyhow!("poll state lock poisoned"))?;
                let State { conn, health } = &mut *state;
                let conn = match conn {
                    Some(conn) => conn,
                    None => conn.insert(store::open_writer(&snapshot)?),
                };
                let health = match health {
                    Some(health) => health,
                    None => health.insert(store::health::ensure(conn, &name, "sftp", now)?),
                };
                let mut poller = poller.lock().map_err(|_| anyhow::anyhow!("poller lock poisoned"))?;
                let wants = |file: &str| wanted.wants(file) || wanted.is_run_marker(file);
                let outcome = poller.poll(conn, &wants, now, &|| token.is_cancelled());
                let check = match &outcome {
                    Err(SftpError::Cancelled) => return Ok((outcome, None)),
                    Err(e) => Check::Failed { kind: e.kind(), message: e.without_names() },
                    Ok(report) => {
                        health.untaken = Untaken::of(&report.untaken);
                        Check::Ok { summary: report.summary() }
                    }
                };
                let change = health.record(check, now);
                // The alert goes out even when the snapshot cannot be written (a full disk).
                if let Err(e) = store::health::save_check(conn, &name, health) {
                    tracing::error!(source = %name, error = %e, "cannot record the source's health");
                }
                Ok((outcome, change))
            })
            .await;
        match result {
            Ok(Ok((outcome, change))) => {
                log_poll(&source.name, &outcome, shutdown.is_cancelled());
                if let Some(change) = change {
                    alerts.raise(Alert::of_change(&source.name, &change, now));
                }
            }
            Ok(Err(e)) => tracing::error!(source = %source.name, error = %e,
                "SFTP poll: the snapshot (remote file ledger, health) cannot be written; the next poll tries again"),
            Err(e) => tracing::error!(source = %source.name, error = %e, "SFTP poll task failed"),
        }
        due = next_poll(&source, clock.now(), zone);
    }
}

fn log_poll(source: &str, outcome: &Result<PollReport, SftpError>, stopping: bool) {
    match outcome {
        Ok(report) => {
            tracing::info!(source, summary = %report.summary(), "SFTP poll");
            for w in &report.waiting {
                let why = match w.why {
                    WaitReason::Changing => "new or changed since the previous listing: taken once two listings agree",
                    WaitReason::RunIncomplete => "a run marker: staged once every other file of its run is",
                    WaitReason::StagedNotTaken => "its previous version is still in staging, not yet taken",
                };
                tracing::debug!(source, remote = %w.name, why, "SFTP file waiting");
            }
        }
        Err(e) if stopping => tracing::info!(source, error = %e, "SFTP poll stopped"),
        Err(e) => tracing::error!(source, kind = e.kind().as_str(), error = %e,
            "SFTP poll failed; nothing partial was staged; the next poll tries again"),
    }
}
