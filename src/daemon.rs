//! `ingest run`: watch every configured folder, take each file once it is ready, and put it through
//! the pipeline, one file at a time. Shutdown is a token so that tests (and SIGTERM) can stop it;
//! blocking work (the scan, SQLite) runs on tokio's blocking pool. MCP over HTTP (`mcp::http`) is
//! bound at start and served beside the loop, stopped by the same token.

mod sftp;

use ingest_config::{AfterIngest, Config, SourceConfig};
use ingest_core::health::{Check, Held, SourceHealth, Untaken};
use ingest_core::time::Clock;
use ingest_ops::alerts::{Alert, Alerts};
use ingest_pipeline::source::folder::{self, FolderEvent};
use ingest_pipeline::source::ready::{Hint, Rules, Stat, Tracker};
use ingest_pipeline::{Handling, Intake, Outcome, Pipeline};
use ingest_store as store;
use notify::RecommendedWatcher;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often pending files are checked for readiness.
const READY_POLL: Duration = Duration::from_millis(100);
/// How often each source's freshness is judged (a change is logged once).
const FRESHNESS_EVERY: Duration = Duration::from_secs(5);
/// How long a source that has never delivered an export may fetch its backlog, from when it was
/// first watched, before a stale alert.
const NEW_SOURCE_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// One watched folder and what is known of it.
struct Watched {
    config: SourceConfig,
    watcher: Option<RecommendedWatcher>,
    tracker: Tracker,
    next_rescan: Instant,
    /// PDFs waiting for a documents manifest: looked at again after the next file that goes in.
    deferred: Vec<PathBuf>,
    /// Export runs: ready files held until their run's marker is ready, with when each was first
    /// held.
    held: BTreeMap<PathBuf, chrono::DateTime<chrono::Utc>>,
    /// Ready run markers, with when they became ready. A run completes once a rescan has run
    /// since (so that no file of the run is still unknown) and no file under it is still pending.
    markers: BTreeMap<PathBuf, Instant>,
    last_rescan: Option<Instant>,
    /// Files no include pattern takes that were logged already (each is logged once).
    untaken_logged: std::collections::BTreeSet<String>,
    /// When the run held before a restart was first held: the time of the files held again after
    /// it, until a run is published.
    restored_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The source's health as this loop last wrote it: the held run and its alert (every
    /// source), the scan's result (folder sources; an SFTP source's poll task writes its own).
    health: SourceHealth,
}

/// `ingest run`: [`run`] until `shutdown`, starting again with a new configuration on SIGHUP.
/// `reload` reads the configuration again; an invalid one is refused with an ERROR line and the
/// running configuration stays. A reload stops the running generation as SIGTERM would (the file
/// in hand finishes or rolls back), then starts the new one: sources, pipeline and MCP over HTTP.
pub async fn serve(
    mut config: Config,
    reload: impl Fn() -> Result<Config, ingest_config::ConfigError>,
    shutdown: CancellationToken,
    clock: Arc<dyn ingest_core::time::Clock>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    if let Some(every) = crate::systemd::watchdog_interval() {
        // Proves the runtime answers; a file in hand is bounded by its own limits (pdf.timeout).
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            while tokio::select! { _ = stop.cancelled() => false, _ = tick.tick() => true } {
                crate::systemd::watchdog();
            }
        });
    }
    loop {
        let generation = shutdown.child_token();
        let mut running = tokio::spawn(run(config.clone(), generation.clone(), Arc::clone(&clock)));
        let next = loop {
            tokio::select! {
                ended = &mut running => return ended?,
                _ = hangup.recv() => match reload() {
                    Ok(next) => break next,
                    Err(e) => tracing::error!(error = %e,
                        "SIGHUP: configuration reload refused; the running configuration stays"),
                },
            }
        };
        tracing::info!("SIGHUP: configuration read; restarting sources, pipeline and MCP with it");
        crate::systemd::reloading();
        generation.cancel();
        running.await??;
        config = next;
    }
}

/// Run until `shutdown` is cancelled. A file in hand when it is cancelled is rolled back and left
/// in place for the next start.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    clock: Arc<dyn ingest_core::time::Clock>,
) -> anyhow::Result<()> {
    let conn = store::open_writer(&config.snapshot)?;
    let pipeline = Arc::new(Mutex::new(Pipeline::new(
        conn,
        config.parse_options(),
        Arc::clone(&clock),
        config.archive_dir(),
        config.quarantine_dir(),
    )));
    // Bound before the folder loop starts: a port in use or a bad certificate is a startup error.
    let http = crate::http::start(&config, &shutdown, Arc::clone(&clock)).await?;
    let alerts = Alerts::start(&config.alerts, &shutdown)?;
    let mut next_retention = retention(&pipeline, &config, &clock, "start").await;
    for source in config.sources.iter().filter(|s| s.sftp.is_some()) {
        ingest_fsutil::create_private_dir(&source.path)?;
    }
    let healths = load_health(&pipeline, &config, clock.now()).await?;
    let pollers = sftp::spawn_all(&config, &clock, &alerts, &shutdown);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    // A source already reported stale before a restart or reload is not alerted again.
    let mut monitor = ingest_core::schedule::Monitor::already_stale(
        healths.iter().filter(|h| h.1.stale_since.is_some()).map(|h| h.0.clone()),
    );
    let mut sources: Vec<Watched> = config
        .sources
        .iter()
        .zip(healths)
        .map(|(s, health)| Watched {
            config: s.clone(),
            watcher: None,
            tracker: Tracker::default(),
            next_rescan: now,
            deferred: Vec::new(),
            held: BTreeMap::new(),
            markers: BTreeMap::new(),
            last_rescan: None,
            restored_since: health.1.held.as_ref().map(|h| h.since),
            untaken_logged: Default::default(),
            health: health.1,
        })
        .collect();
    tracing::info!(
        snapshot = %config.snapshot.display(),
        sources = sources.len(),
        zone = %config.zone,
        "ingest daemon started"
    );
    crate::systemd::ready(&format!("watching {} source(s); snapshot {}", sources.len(), config.snapshot.display()));

    let mut next_freshness = Instant::now();
    let mut poll = tokio::time::interval(READY_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some((index, event)) = rx.recv() => {
                // A file renamed in or a trigger file is judged at once, not at the next tick.
                if sources.get_mut(index).is_some_and(|watched| on_event(watched, event)) {
                    poll.reset_immediately();
                }
            }
            _ = poll.tick() => {
                if Instant::now() >= next_freshness {
                    next_freshness = Instant::now() + FRESHNESS_EVERY;
                    check_freshness(&pipeline, &config, clock.now(), &mut monitor, &alerts).await;
                }
                if next_retention.is_some_and(|at| clock.now() >= at) {
                    next_retention = retention(&pipeline, &config, &clock, "schedule").await;
                }
                for (index, watched) in sources.iter_mut().enumerate() {
                    if Instant::now() >= watched.next_rescan {
                        rescan(index, watched, &pipeline, &tx, &alerts, clock.now()).await;
                    }
                    let ready = watched.tracker.take_ready(Instant::now(), rules(&watched.config), stat, |p| {
                        folder::trigger_of(&watched.config, p).is_some()
                    });
                    for path in ready {
                        if shutdown.is_cancelled() {
                            break;
                        }
                        if watched.config.run_marker.is_some() {
                            hold(watched, path, clock.now());
                            continue;
                        }
                        match ingest_one(&pipeline, &watched.config, path.clone(), &shutdown, &alerts, &*clock).await {
                            Some(Outcome::Deferred) => watched.deferred.push(path),
                            Some(Outcome::Ingested(_)) => {
                                for waiting in watched.deferred.drain(..) {
                                    watched.tracker.discover(&waiting, Instant::now());
                                }
                            }
                            _ => {}
                        }
                    }
                    if !watched.markers.is_empty() && !shutdown.is_cancelled() {
                        complete_runs(watched, &pipeline, &config, &shutdown, &alerts, &*clock).await;
                    }
                    note_held(watched, &pipeline, &alerts, clock.now()).await;
                }
            }
        }
    }
    for poller in pollers {
        let _ = poller.await;
    }
    if let Some(http) = http {
        http.join().await?;
    }
    tracing::info!("ingest daemon stopped");
    Ok(())
}

/// Judge every source's freshness (`health::freshness`) and log each change once: WARN when a source
/// turns stale, INFO when it recovers.
async fn check_freshness(
    pipeline: &Arc<Mutex<Pipeline>>,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
    monitor: &mut ingest_core::schedule::Monitor,
    alerts: &Alerts,
) {
    let reader = Arc::clone(pipeline);
    let last = tokio::task::spawn_blocking(move || {
        let pipeline = reader.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
        let view = pipeline.writer().view();
        Ok::<_, anyhow::Error>((ingest_store::read::last_exports(view)?, ingest_store::health::load_all(view)?))
    })
    .await;
    let (last, health) = match last {
        Ok(Ok(last)) => last,
        Ok(Err(e)) => return tracing::error!(error = %e, "cannot read the ledger to judge freshness"),
        Err(e) => return tracing::error!(error = %e, "freshness task failed"),
    };
    let judged: Vec<(String, ingest_core::schedule::Freshness)> = config
        .sources
        .iter()
        .filter_map(|s| {
            let exported = last.get(&s.name).and_then(|t| ingest_core::time::parse_rfc3339(t));
            let health = health.get(&s.name);
            // A source that has never delivered gets a few minutes from its first watch to fetch
            // its backlog before it is alerted stale (the views say stale all the same).
            let new = health.is_some_and(|h| now - h.watched_since < NEW_SOURCE_GRACE);
            (exported.is_some() || !new).then(|| {
                (
                    s.name.clone(),
                    ingest_core::health::freshness(
                        config.freshness_rule(&s.name),
                        &s.name,
                        exported,
                        health,
                        now,
                        config.zone,
                    ),
                )
            })
        })
        .collect();
    for transition in monitor.check(judged.iter().map(|(name, f)| (name.as_str(), f))) {
        let (source, since) = match transition {
            ingest_core::schedule::Transition::BecameStale { source, reason } => {
                tracing::warn!(source = %source, reason = %reason, "source is stale: MCP answers now say so");
                alerts.raise(Alert::stale(&source, &reason, now));
                (source, Some(now))
            }
            ingest_core::schedule::Transition::Recovered { source } => {
                tracing::info!(source = %source, "source is fresh again");
                alerts.raise(Alert::recovered(&source, now));
                (source, None)
            }
        };
        let writer = Arc::clone(pipeline);
        let saved = tokio::task::spawn_blocking(move || {
            let pipeline = writer.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
            Ok::<_, anyhow::Error>(ingest_store::health::save_stale_since(pipeline.writer(), &source, since)?)
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::error!(error = %e, "cannot record the stale state; a restart may alert again");
        }
    }
}

/// Every configured source's health row (created on first start), in the order of the config.
async fn load_health(
    pipeline: &Arc<Mutex<Pipeline>>,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<(String, SourceHealth)>> {
    let pipeline = Arc::clone(pipeline);
    let sources: Vec<(String, &'static str)> =
        config.sources.iter().map(|s| (s.name.clone(), if s.sftp.is_some() { "sftp" } else { "folder" })).collect();
    tokio::task::spawn_blocking(move || {
        let pipeline = pipeline.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
        sources
            .into_iter()
            .map(|(name, kind)| {
                let health = ingest_store::health::ensure(pipeline.writer(), &name, kind, now)?;
                Ok((name, health))
            })
            .collect()
    })
    .await?
}

/// Write what the folder holds for its run marker when that changed, and alert once when a run
/// has been held past the source's `hold_limit`.
async fn note_held(
    watched: &mut Watched,
    pipeline: &Arc<Mutex<Pipeline>>,
    alerts: &Alerts,
    now: chrono::DateTime<chrono::Utc>,
) {
    let held = held_run(watched);
    // After a restart the held files are known again only once they are ready again: until then
    // the stored held run stands.
    if watched.last_rescan.is_none() || (held.is_none() && !watched.tracker.is_empty()) {
        return;
    }
    let mut health = watched.health.clone();
    health.held = held;
    if let Some(h) = health.held_unalerted_past(watched.config.hold_limit, now) {
        alerts.raise(Alert::held(&watched.config.name, h, watched.config.hold_limit, now));
        health.held_alerted_at = Some(now);
    }
    if health == watched.health {
        return;
    }
    // Kept in memory whether or not it is written: a failed write must not repeat the alert.
    watched.health = health.clone();
    let (writer, name) = (Arc::clone(pipeline), watched.config.name.clone());
    let result = tokio::task::spawn_blocking(move || {
        let pipeline = writer.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
        Ok::<_, anyhow::Error>(ingest_store::health::save_holding(pipeline.writer(), &name, &health)?)
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(source = %watched.config.name, error = %e, "cannot record the held run"),
        Err(e) => tracing::error!(error = %e, "held run task failed"),
    }
}

/// The files held for their run marker: how many, since when (when the first of them was held),
/// and the folder of that one.
fn held_run(watched: &Watched) -> Option<Held> {
    let marker = watched.config.run_marker.as_ref()?.glob().glob().to_string();
    let (path, since) = watched.held.iter().min_by_key(|(_, since)| **since)?;
    let run = path.parent().and_then(|d| d.strip_prefix(&watched.config.path).ok()).map(Path::display);
    let run = run.map(|r| r.to_string()).filter(|r| !r.is_empty()).unwrap_or_else(|| ".".to_string());
    Some(Held { files: watched.held.len() as i64, since: *since, run, marker })
}

/// Apply the retention policy (`[retention]`) between files, and say when it is next due (`None` when
/// retention is off). A failure is logged and tried again at the next scheduled time.
async fn retention(
    pipeline: &Arc<Mutex<Pipeline>>,
    config: &Config,
    clock: &Arc<dyn Clock>,
    trigger: &'static str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let now = clock.now();
    let policy = config.retention.clone();
    if !policy.enabled {
        return None;
    }
    let pipeline = Arc::clone(pipeline);
    let (archive, audit_path) = (config.archive_dir(), config.audit_log());
    let clock = Arc::clone(clock);
    let pass = tokio::task::spawn_blocking(move || -> anyhow::Result<ingest_ops::retention::Purge> {
        let audit = ingest_audit::AuditLog::open(&audit_path, clock)?;
        let mut pipeline = pipeline.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
        Ok(ingest_ops::retention::run_pass(pipeline.writer_mut(), &archive, &audit, &policy, now, trigger)?)
    })
    .await;
    match pass {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed; tried again at the next scheduled time"),
        Err(e) => tracing::error!(error = %e, "retention task failed"),
    }
    config.retention.schedule.next_after(now, config.zone)
}

fn rules(source: &SourceConfig) -> Rules {
    Rules { settle: source.settle, require_trigger: source.require_trigger }
}

/// The file's size and mtime for the readiness rules. A symbolic link is judged as itself (not
/// followed), so that it reaches the pipeline, which refuses it with a reason.
fn stat(path: &Path) -> Option<Stat> {
    let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file() || m.file_type().is_symlink())?;
    Some(Stat { size: meta.len(), mtime: meta.modified().ok()? })
}

/// A ready file of a source with export runs: a marker waits for its run to be complete (after
/// the next rescan), any other file waits for its marker.
fn hold(watched: &mut Watched, path: PathBuf, now: chrono::DateTime<chrono::Utc>) {
    let is_marker = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| watched.config.is_run_marker(n));
    if is_marker {
        tracing::info!(source = %watched.config.name, marker = %path.display(), "export run marker seen");
        watched.markers.insert(path, Instant::now());
        watched.next_rescan = Instant::now();
    } else {
        // Files held again after a restart keep the time their run was first held.
        let since = watched.restored_since.map_or(now, |since| since.min(now));
        watched.held.entry(path).or_insert(since);
    }
}

/// Publish every export run whose marker is ready, whose folder has been rescanned since, and
/// none of whose files is still being written: its held files in one transaction, then the
/// marker is archived or deleted with them (kept when the source keeps its files).
async fn complete_runs(
    watched: &mut Watched,
    pipeline: &Arc<Mutex<Pipeline>>,
    config: &Config,
    shutdown: &CancellationToken,
    alerts: &Alerts,
    clock: &dyn Clock,
) {
    let complete: Vec<PathBuf> = watched
        .markers
        .iter()
        .filter(|(marker, since)| {
            let dir = marker.parent().unwrap_or(Path::new("/"));
            watched.last_rescan.is_some_and(|r| r > **since) && !watched.tracker.pending_under(dir)
        })
        .map(|(marker, _)| marker.clone())
        .collect();
    for marker in complete {
        let dir = marker.parent().unwrap_or(Path::new("/")).to_path_buf();
        let files: Vec<PathBuf> = watched.held.keys().filter(|p| p.starts_with(&dir)).cloned().collect();
        let source = watched.config.clone();
        let archive = config.archive_dir().join(&source.name);
        let token = shutdown.clone();
        let pipeline = Arc::clone(pipeline);
        let run_files = files.clone();
        let run_marker = marker.clone();
        let result = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Outcome>> {
            let mut pipeline = pipeline.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
            let intakes: Vec<Intake<'_>> = run_files
                .iter()
                .map(|path| Intake {
                    source: &source.name,
                    path,
                    trigger: folder::trigger_of(&source, path),
                    handling: Handling::Live(source.after_ingest),
                })
                .collect();
            let outcomes = pipeline.process_run(&intakes, &|| token.is_cancelled())?;
            if !matches!(outcomes.as_slice(), [Outcome::Cancelled]) {
                match source.after_ingest {
                    AfterIngest::Keep => {}
                    AfterIngest::Delete => std::fs::remove_file(&run_marker)?,
                    AfterIngest::Archive => {
                        let day = chrono::Utc::now().format("%Y/%m/%d").to_string();
                        ingest_fsutil::move_into(&run_marker, &archive.join(day))?;
                    }
                }
            }
            Ok(outcomes)
        })
        .await;
        match result {
            Ok(Ok(outcomes)) if matches!(outcomes.as_slice(), [Outcome::Cancelled]) => return,
            Ok(Ok(outcomes)) => {
                let published = outcomes.iter().filter(|o| matches!(o, Outcome::Ingested(_))).count();
                for outcome in &outcomes {
                    alert_if_quarantined(alerts, &watched.config.name, outcome, clock);
                }
                tracing::info!(source = %watched.config.name, marker = %marker.display(), files = outcomes.len(),
                    published, "export run complete: published together");
                for file in &files {
                    watched.held.remove(file);
                }
                watched.restored_since = None;
                watched.markers.remove(&marker);
            }
            Ok(Err(e)) => {
                tracing::error!(source = %watched.config.name, error = %e,
                    "export run not published; its files stay in place and it is tried again");
                // Looked at again after the next rescan.
                watched.markers.insert(marker, Instant::now());
            }
            Err(e) => tracing::error!(error = %e, "export run task failed; its files stay in place"),
        }
    }
}

/// Take in one watcher event; true when it may have made a file ready at once (renamed in, or
/// its trigger file written), so that readiness is judged now rather than at the next poll.
fn on_event(watched: &mut Watched, event: FolderEvent) -> bool {
    let now = Instant::now();
    match event {
        FolderEvent::Touched(path, hint) => {
            let Some(export) = folder::export_path(&watched.config, &path) else { return false };
            // An event on a trigger file concerns its export, which has not itself changed.
            let hint = if export == path { hint } else { Hint::Written };
            // A held file written again is not ready any more.
            watched.held.remove(&export);
            if export == path {
                watched.tracker.note(&export, hint, now);
                hint == Hint::RenamedIn
            } else {
                watched.tracker.discover(&export, now);
                true
            }
        }
        FolderEvent::Removed(path) => {
            watched.tracker.forget(&path);
            watched.held.remove(&path);
            watched.markers.remove(&path);
            false
        }
        FolderEvent::Rescan => {
            watched.next_rescan = now;
            true
        }
    }
}

/// (Re)establish the watch if needed, then find every file not yet in the ledger. For a folder
/// source the scan is its health check (an SFTP source's poll is its own).
async fn rescan(
    index: usize,
    watched: &mut Watched,
    pipeline: &Arc<Mutex<Pipeline>>,
    tx: &mpsc::UnboundedSender<(usize, FolderEvent)>,
    alerts: &Alerts,
    now: chrono::DateTime<chrono::Utc>,
) {
    watched.next_rescan = Instant::now() + watched.config.rescan_interval;
    if watched.watcher.is_none() {
        match folder::watch(index, &watched.config, tx.clone()) {
            Ok(w) => {
                tracing::info!(source = %watched.config.name, folder = %watched.config.path.display(), "watching");
                watched.watcher = Some(w);
            }
            // The scan still runs: it finds the files (at each rescan) or says why it cannot.
            Err(e) => tracing::error!(source = %watched.config.name, folder = %watched.config.path.display(),
                error = %e, "cannot watch the folder; retrying at the next rescan"),
        }
    }
    let source = watched.config.clone();
    let pipeline = Arc::clone(pipeline);
    let checks = source.sftp.is_none();
    let mut health = watched.health.clone();
    let found = tokio::task::spawn_blocking(move || {
        let scanned = folder::scan(&source);
        let pipeline = pipeline.lock().map_err(|_| std::io::Error::other("pipeline lock poisoned"))?;
        // A file with a ledger row is not taken again; if a crash interrupted its move to the
        // archive or quarantine after its commit, that is finished here.
        let found = scanned.map(|scan| {
            let mut new = Vec::new();
            for path in &scan.exports {
                match pipeline.finish_pending(&source.name, path, folder::trigger_of(&source, path).as_deref()) {
                    Ok(true) => {}
                    Ok(false) => new.push(path.clone()),
                    Err(e) => {
                        tracing::error!(source = %source.name, error = %e, "could not finish an interrupted move")
                    }
                }
            }
            (new, scan)
        });
        let mut change = None;
        if checks {
            let check = match &found {
                Ok((new, scan)) => {
                    health.untaken = Untaken::of(&scan.untaken);
                    let mut summary = format!("found {} export(s), {} not yet in", scan.exports.len(), new.len());
                    if !scan.untaken.is_empty() {
                        summary.push_str(&format!(" · {} not taken (no include pattern)", scan.untaken.len()));
                    }
                    Check::Ok { summary }
                }
                // The kind only: the error text can name a file under the folder.
                Err(e) => Check::Failed {
                    kind: ingest_core::health::ErrorKind::of_io(e),
                    message: format!("cannot read the folder {}: {}", source.path.display(), e.kind()),
                },
            };
            change = health.record(check, now);
            if let Err(e) = ingest_store::health::save_check(pipeline.writer(), &source.name, &health) {
                tracing::error!(source = %source.name, error = %e, "cannot record the folder's health");
            }
        }
        Ok::<_, std::io::Error>((found.map(|(new, scan)| (new, scan.untaken)), health, change))
    })
    .await;
    let (found, health, change) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return tracing::error!(source = %watched.config.name, error = %e, "rescan failed"),
        Err(e) => return tracing::error!(source = %watched.config.name, error = %e, "rescan task failed"),
    };
    if checks {
        let (held, alerted) = (watched.health.held.clone(), watched.health.held_alerted_at);
        watched.health = SourceHealth { held, held_alerted_at: alerted, ..health };
        if let Some(change) = change {
            alerts.raise(Alert::of_change(&watched.config.name, &change, now));
        }
    }
    match found {
        Ok((paths, untaken)) => {
            for name in untaken.iter().filter(|n| !watched.untaken_logged.contains(*n)) {
                tracing::info!(source = %watched.config.name, file = %ingest_pipeline::safe_name(name),
                    "file matches no include pattern; left alone (ingest status lists such files)");
            }
            watched.untaken_logged = untaken.into_iter().collect();
            let now = Instant::now();
            for path in &paths {
                if !watched.held.contains_key(path) && !watched.markers.contains_key(path) {
                    watched.tracker.discover(path, now);
                }
            }
            watched.last_rescan = Some(now);
            tracing::debug!(source = %watched.config.name, new = paths.len(), "rescan");
        }
        Err(e) => tracing::error!(source = %watched.config.name, error = %e, "rescan failed"),
    }
}

/// Put one ready file through the pipeline on the blocking pool.
async fn ingest_one(
    pipeline: &Arc<Mutex<Pipeline>>,
    source: &SourceConfig,
    path: PathBuf,
    shutdown: &CancellationToken,
    alerts: &Alerts,
    clock: &dyn Clock,
) -> Option<Outcome> {
    let pipeline = Arc::clone(pipeline);
    let source = source.clone();
    let token = shutdown.clone();
    let started = Instant::now();
    let name = source.name.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut pipeline = pipeline.lock().map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?;
        if pipeline.already_seen(&source.name, &path)? {
            return Ok(None);
        }
        let intake = Intake {
            source: &source.name,
            path: &path,
            trigger: folder::trigger_of(&source, &path),
            handling: Handling::Live(source.after_ingest),
        };
        Ok::<_, anyhow::Error>(Some(pipeline.process(&intake, &|| token.is_cancelled())?))
    })
    .await;
    match result {
        Ok(Ok(outcome)) => {
            if matches!(outcome, Some(Outcome::Ingested(_) | Outcome::Duplicate { .. } | Outcome::Quarantined { .. })) {
                ingest_ops::metrics::METRICS.file_done(&name, started.elapsed());
            }
            if let Some(outcome) = &outcome {
                alert_if_quarantined(alerts, &name, outcome, clock);
            }
            outcome
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "file not finished; it stays in place and is tried again at the next rescan");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "ingest task failed; the file stays in place");
            None
        }
    }
}

fn alert_if_quarantined(alerts: &Alerts, source: &str, outcome: &Outcome, clock: &dyn Clock) {
    if let Outcome::Quarantined { file_id, error, .. } = outcome {
        alerts.raise(Alert::quarantined(source, *file_id, error, clock.now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> chrono::DateTime<chrono::Utc> {
        ingest_core::time::parse_rfc3339(t).expect("time")
    }

    /// A watched folder source with export runs (`EXPORT_COMPLETE`), nothing seen yet.
    fn watched(dir: &Path) -> Watched {
        let config = Config::from_toml(
            "[[source]]\nname = \"ward\"\npath = \"drop\"\nrun_marker = \"EXPORT_COMPLETE\"\n",
            ingest_config::Origin::BuiltIn,
            dir,
        )
        .expect("config");
        let source = config.sources[0].clone();
        Watched {
            config: source,
            watcher: None,
            tracker: Tracker::default(),
            next_rescan: Instant::now() + Duration::from_secs(3600),
            deferred: Vec::new(),
            held: BTreeMap::new(),
            markers: BTreeMap::new(),
            last_rescan: None,
            restored_since: None,
            untaken_logged: Default::default(),
            health: SourceHealth::new("folder", at("2026-11-24T04:00:00Z")),
        }
    }

    #[test]
    fn files_of_a_run_are_held_for_its_marker_and_the_marker_asks_for_a_rescan_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = watched(dir.path());
        let run = w.config.path.join("20261124");
        hold(&mut w, run.join("ADT.hl7"), at("2026-11-24T05:00:00Z"));
        hold(&mut w, run.join("ORU.hl7"), at("2026-11-24T05:02:00Z"));
        assert!(w.markers.is_empty() && w.next_rescan > Instant::now(), "no marker yet, no rescan asked");
        let held = held_run(&w).expect("a held run");
        assert_eq!((held.files, held.since, held.run.as_str()), (2, at("2026-11-24T05:00:00Z"), "20261124"));
        assert_eq!(held.marker, "EXPORT_COMPLETE");

        hold(&mut w, run.join("EXPORT_COMPLETE"), at("2026-11-24T05:03:00Z"));
        assert_eq!(w.markers.keys().collect::<Vec<_>>(), [&run.join("EXPORT_COMPLETE")]);
        assert!(w.next_rescan <= Instant::now(), "the marker did not ask for a rescan");
        assert_eq!(w.held.len(), 2, "a marker is not one of the run's files");
    }

    #[test]
    fn a_held_file_written_again_is_not_held_any_more_and_a_removed_one_is_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = watched(dir.path());
        let (adt, oru) = (w.config.path.join("ADT.hl7"), w.config.path.join("ORU.hl7"));
        hold(&mut w, adt.clone(), at("2026-11-24T05:00:00Z"));
        hold(&mut w, oru.clone(), at("2026-11-24T05:00:00Z"));
        assert!(!on_event(&mut w, FolderEvent::Touched(adt.clone(), Hint::Written)), "a write waits to settle");
        assert!(on_event(&mut w, FolderEvent::Touched(oru.clone(), Hint::RenamedIn)), "a rename in is judged now");
        assert!(w.held.is_empty(), "{:?}", w.held);
        hold(&mut w, adt.clone(), at("2026-11-24T05:05:00Z"));
        assert!(!on_event(&mut w, FolderEvent::Removed(adt)));
        assert!(held_run(&w).is_none());
        assert!(on_event(&mut w, FolderEvent::Rescan) && w.next_rescan <= Instant::now());
    }

    #[test]
    fn files_held_again_after_a_restart_keep_the_time_their_run_was_first_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = watched(dir.path());
        w.restored_since = Some(at("2026-11-24T04:30:00Z"));
        let adt = w.config.path.join("ADT.hl7");
        hold(&mut w, adt, at("2026-11-24T05:10:00Z"));
        assert_eq!(held_run(&w).expect("held").since, at("2026-11-24T04:30:00Z"));
    }
}
