//! SFTP sources in the daemon: a task per source polls on its schedule (on the blocking pool:
//! ssh2 blocks) and stages complete files in the source's staging folder, which the folder loop
//! watches like any other: renamed into place, they are taken at once.

use crate::config::{Config, SourceConfig};
use crate::source::sftp::Poller;
use crate::store;
use crate::time::{Clock, Zone};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Polls of a source without a `poll` schedule: once a minute.
const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// Start the poll task of every SFTP source.
pub(super) fn spawn_all(
    config: &Config,
    clock: &Arc<dyn Clock>,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    config
        .sources
        .iter()
        .filter(|s| s.sftp.is_some())
        .map(|source| {
            let task =
                poll_loop(source.clone(), config.snapshot.clone(), config.zone, Arc::clone(clock), shutdown.clone());
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

async fn poll_loop(
    source: SourceConfig,
    snapshot: std::path::PathBuf,
    zone: Zone,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let Some(sftp) = source.sftp.clone() else { return };
    let server = format!("{}@{}:{}", sftp.user, sftp.host, sftp.port);
    tracing::info!(source = %source.name, server = %server, remote_dir = %sftp.remote_dir,
        staging = %source.path.display(), "polling SFTP");
    let poller = Poller::new(&source.name, sftp, source.path.clone()).with_run_marker(source.run_marker.clone());
    let poller = Arc::new(Mutex::new(poller));
    // The ledger of remote files lives in the snapshot; this task has its own connection to it.
    let ledger: Arc<Mutex<Option<rusqlite::Connection>>> = Arc::new(Mutex::new(None));
    // The first poll runs at once: it lists, and files are taken at the next one.
    let mut due = clock.now();
    loop {
        let wait = (due - clock.now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let (poller, ledger, source_name) = (Arc::clone(&poller), Arc::clone(&ledger), source.name.clone());
        let (wanted, token, snapshot, now) = (source.clone(), shutdown.clone(), snapshot.clone(), clock.now());
        let result = tokio::task::spawn_blocking(move || -> anyhow::Result<crate::source::sftp::PollReport> {
            let mut ledger = ledger.lock().map_err(|_| anyhow::anyhow!("ledger lock poisoned"))?;
            if ledger.is_none() {
                *ledger = Some(store::open_writer(&snapshot)?);
            }
            let conn = ledger.as_ref().ok_or_else(|| anyhow::anyhow!("no ledger connection"))?;
            let mut poller = poller.lock().map_err(|_| anyhow::anyhow!("poller lock poisoned"))?;
            let wants = |name: &str| wanted.wants(name) || wanted.is_run_marker(name);
            Ok(poller.poll(conn, &wants, now, &|| token.is_cancelled())?)
        })
        .await;
        match result {
            Ok(Ok(report)) => tracing::info!(
                source = %source_name,
                listed = report.listed,
                staged = report.staged.len(),
                waiting = report.waiting,
                known = report.known,
                refused = report.refused.len(),
                "SFTP poll"
            ),
            Ok(Err(e)) if shutdown.is_cancelled() => {
                tracing::info!(source = %source_name, error = %e, "SFTP poll stopped")
            }
            Ok(Err(e)) => tracing::error!(source = %source_name, error = %e,
                "SFTP poll failed; nothing partial was staged; the next poll tries again"),
            Err(e) => tracing::error!(source = %source_name, error = %e, "SFTP poll task failed"),
        }
        due = next_poll(&source, clock.now(), zone);
    }
}
