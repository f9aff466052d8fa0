//! A folder source: inotify (via notify) for prompt pickup, and a full scan at start and on an
//! interval because events can be lost. Events are only hints; readiness decides.

use super::ready::Hint;
use ingest_config::SourceConfig;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

/// What the watcher saw, reduced to what the daemon acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderEvent {
    Touched(PathBuf, Hint),
    Removed(PathBuf),
    /// A directory appeared or events were lost: scan the whole folder.
    Rescan,
}

/// Start watching `source.path`; events go to `tx` tagged with `index`.
pub fn watch(
    index: usize,
    source: &SourceConfig,
    tx: UnboundedSender<(usize, FolderEvent)>,
) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let events = match result {
            Ok(event) => translate(&event),
            Err(_) => vec![FolderEvent::Rescan],
        };
        for event in events {
            // The receiver is gone only during shutdown.
            let _ = tx.send((index, event));
        }
    })?;
    let mode = if source.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    watcher.watch(&source.path, mode)?;
    Ok(watcher)
}

fn translate(event: &notify::Event) -> Vec<FolderEvent> {
    if event.need_rescan() {
        return vec![FolderEvent::Rescan];
    }
    let touched = |hint| event.paths.iter().map(|p| FolderEvent::Touched(p.clone(), hint)).collect();
    match event.kind {
        EventKind::Create(CreateKind::Folder) => vec![FolderEvent::Rescan],
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_)) => touched(Hint::Written),
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => touched(Hint::Written),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => match event.paths.first() {
            Some(p) if p.is_dir() => vec![FolderEvent::Rescan],
            _ => touched(Hint::RenamedIn),
        },
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let mut out: Vec<FolderEvent> =
                event.paths.first().map(|p| FolderEvent::Removed(p.clone())).into_iter().collect();
            match event.paths.get(1) {
                Some(p) if p.is_dir() => out.push(FolderEvent::Rescan),
                Some(p) => out.push(FolderEvent::Touched(p.clone(), Hint::RenamedIn)),
                None => {}
            }
            out
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
            event.paths.iter().map(|p| FolderEvent::Removed(p.clone())).collect()
        }
        _ => Vec::new(),
    }
}

/// What a scan of a source's folder found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Every regular file or symbolic link whose name the source takes, plus the export named by
    /// each trigger file, in name order.
    pub exports: Vec<PathBuf>,
    /// Files that no include pattern takes (ignored temporary names aside), relative to the
    /// folder: left alone, and said so.
    pub untaken: Vec<String>,
}

/// Scan the source's folder. Symlinks are not followed: a link is found as itself, and the
/// pipeline quarantines it unread. An unreadable folder gives an error.
pub fn scan(source: &SourceConfig) -> std::io::Result<Scan> {
    let depth = if source.recursive { usize::MAX } else { 1 };
    let mut found = Scan::default();
    for entry in walkdir::WalkDir::new(&source.path).max_depth(depth).follow_links(false) {
        let entry = entry.map_err(|e| {
            let kind = e.io_error().map_or(std::io::ErrorKind::Other, std::io::Error::kind);
            std::io::Error::new(kind, e.to_string())
        })?;
        if !entry.file_type().is_file() && !entry.path_is_symlink() {
            continue;
        }
        match export_path(source, entry.path()) {
            Some(path) => found.exports.push(path),
            None if !is_ignored(source, entry.path()) => {
                let relative = entry.path().strip_prefix(&source.path).unwrap_or(entry.path());
                found.untaken.push(relative.display().to_string());
            }
            None => {}
        }
    }
    found.exports.sort();
    found.exports.dedup();
    found.untaken.sort();
    Ok(found)
}

/// A temporary name the source ignores on purpose, or a trigger file (whose export is taken).
fn is_ignored(source: &SourceConfig, path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    source.ignore.is_match(name.as_ref()) || source.trigger_for(name.as_ref()).is_some()
}

/// The export that an event on `path` concerns: the file itself if the source takes its name (or
/// it is the source's export-run marker), the file it announces if it is a trigger file, else none.
pub fn export_path(source: &SourceConfig, path: &Path) -> Option<PathBuf> {
    // A name that is not UTF-8 is matched as shown (with U+FFFD), so it is taken and refused with
    // a reason rather than ignored.
    let name = path.file_name()?.to_string_lossy();
    let name = name.as_ref();
    if source.is_run_marker(name) {
        return Some(path.to_path_buf());
    }
    if let Some(target) = source.trigger_for(name) {
        return source.wants(target).then(|| path.with_file_name(target));
    }
    source.wants(name).then(|| path.to_path_buf())
}

/// The trigger file next to `path` that exists, if any.
pub fn trigger_of(source: &SourceConfig, path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    source
        .trigger_suffixes
        .iter()
        .map(|suffix| {
            let mut trigger = name.to_os_string();
            trigger.push(suffix);
            path.with_file_name(trigger)
        })
        .find(|p| p.exists())
}
