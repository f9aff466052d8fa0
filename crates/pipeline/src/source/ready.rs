//! Readiness: a file is taken only when its writer is done. Pure bookkeeping; the caller supplies
//! the clock and the file system's answers, so the rules are tested without sleeping.
//!
//! A file is ready when
//! - its trigger file (`NAME.done`, per the source) exists, or
//! - it was renamed into place (an atomic publish), unless the source requires a trigger, or
//! - its size and mtime have not changed for `settle` since we started watching it, unless the
//!   source requires a trigger. Any write event restarts the wait.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Why a path is being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// Created, written or closed, or found by a rescan: wait for it to settle.
    Written,
    /// Renamed into the folder: the writer published it whole.
    RenamedIn,
}

/// What the file system says of a path right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime: SystemTime,
}

/// The rules of one source.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub settle: Duration,
    pub require_trigger: bool,
}

#[derive(Debug)]
struct Pending {
    stat: Option<Stat>,
    since: Instant,
    renamed_in: bool,
}

/// Files seen but not yet taken.
#[derive(Debug, Default)]
pub struct Tracker {
    pending: HashMap<PathBuf, Pending>,
}

impl Tracker {
    /// Something happened to `path`. A write restarts its settle wait; a rename marks it published.
    pub fn note(&mut self, path: &Path, hint: Hint, now: Instant) {
        let entry =
            self.pending.entry(path.to_path_buf()).or_insert(Pending { stat: None, since: now, renamed_in: false });
        match hint {
            Hint::Written => {
                entry.since = now;
                entry.renamed_in = false;
            }
            Hint::RenamedIn => entry.renamed_in = true,
        }
    }

    /// Start tracking `path` if it is not tracked yet (a rescan must not restart a wait).
    pub fn discover(&mut self, path: &Path, now: Instant) {
        if !self.pending.contains_key(path) {
            self.note(path, Hint::Written, now);
        }
    }

    pub fn forget(&mut self, path: &Path) {
        self.pending.remove(path);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a tracked path under `dir` is still waiting to be ready.
    pub fn pending_under(&self, dir: &Path) -> bool {
        self.pending.keys().any(|p| p.starts_with(dir))
    }

    /// The paths that are ready now, in name order; they are no longer tracked. `stat` says what
    /// is on disk (None: gone); `triggered` whether its trigger file exists.
    pub fn take_ready(
        &mut self,
        now: Instant,
        rules: Rules,
        stat: impl Fn(&Path) -> Option<Stat>,
        triggered: impl Fn(&Path) -> bool,
    ) -> Vec<PathBuf> {
        let mut ready = Vec::new();
        self.pending.retain(|path, p| {
            let Some(current) = stat(path) else { return false };
            let is_ready = if triggered(path) {
                true
            } else if rules.require_trigger {
                false
            } else if p.renamed_in {
                true
            } else if p.stat == Some(current) {
                now.duration_since(p.since) >= rules.settle
            } else {
                p.stat = Some(current);
                p.since = now;
                rules.settle.is_zero()
            };
            if is_ready {
                ready.push(path.clone());
            }
            !is_ready
        });
        ready.sort();
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const SETTLE: Rules = Rules { settle: Duration::from_secs(2), require_trigger: false };

    fn stat(size: u64) -> Option<Stat> {
        Some(Stat { size, mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(size) })
    }

    #[test]
    fn a_growing_file_is_taken_only_after_it_stops_changing_for_settle() {
        let t0 = Instant::now();
        let size = RefCell::new(10);
        let mut tracker = Tracker::default();
        let path = Path::new("/in/a.hl7");
        tracker.note(path, Hint::Written, t0);
        let mut take =
            |secs: u64| tracker.take_ready(t0 + Duration::from_secs(secs), SETTLE, |_| stat(*size.borrow()), |_| false);
        assert!(take(0).is_empty(), "first sight only records the size");
        *size.borrow_mut() = 20;
        assert!(take(1).is_empty());
        *size.borrow_mut() = 30;
        assert!(take(2).is_empty(), "still growing");
        assert!(take(3).is_empty(), "1 s stable is not enough");
        assert_eq!(take(4), vec![PathBuf::from("/in/a.hl7")], "2 s stable");
        assert!(take(5).is_empty(), "taken once");
    }

    #[test]
    fn a_write_event_restarts_the_wait() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        let path = Path::new("/in/a.hl7");
        tracker.note(path, Hint::Written, t0);
        assert!(tracker.take_ready(t0, SETTLE, |_| stat(1), |_| false).is_empty());
        tracker.note(path, Hint::Written, t0 + Duration::from_secs(1));
        assert!(tracker.take_ready(t0 + Duration::from_secs(2), SETTLE, |_| stat(1), |_| false).is_empty());
        assert_eq!(tracker.take_ready(t0 + Duration::from_secs(3), SETTLE, |_| stat(1), |_| false).len(), 1);
    }

    #[test]
    fn renamed_in_or_triggered_files_are_ready_at_once() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        tracker.note(Path::new("/in/renamed.hl7"), Hint::RenamedIn, t0);
        tracker.note(Path::new("/in/triggered.hl7"), Hint::Written, t0);
        tracker.note(Path::new("/in/plain.hl7"), Hint::Written, t0);
        let ready = tracker.take_ready(t0, SETTLE, |_| stat(5), |p| p.ends_with("triggered.hl7"));
        assert_eq!(ready, vec![PathBuf::from("/in/renamed.hl7"), PathBuf::from("/in/triggered.hl7")]);
    }

    #[test]
    fn with_a_required_trigger_nothing_else_makes_a_file_ready() {
        let t0 = Instant::now();
        let rules = Rules { settle: Duration::from_secs(2), require_trigger: true };
        let mut tracker = Tracker::default();
        tracker.note(Path::new("/in/a.hl7"), Hint::RenamedIn, t0);
        assert!(tracker.take_ready(t0 + Duration::from_secs(60), rules, |_| stat(5), |_| false).is_empty());
        assert_eq!(tracker.take_ready(t0 + Duration::from_secs(61), rules, |_| stat(5), |_| true).len(), 1);
    }

    #[test]
    fn a_file_that_disappears_is_forgotten() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        tracker.note(Path::new("/in/a.hl7"), Hint::RenamedIn, t0);
        assert!(tracker.take_ready(t0, SETTLE, |_| None, |_| false).is_empty());
        assert!(tracker.is_empty());
    }

    #[test]
    fn discover_does_not_restart_a_wait() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        let path = Path::new("/in/a.hl7");
        tracker.note(path, Hint::Written, t0);
        assert!(tracker.take_ready(t0, SETTLE, |_| stat(1), |_| false).is_empty());
        tracker.discover(path, t0 + Duration::from_secs(1));
        assert_eq!(tracker.take_ready(t0 + Duration::from_secs(2), SETTLE, |_| stat(1), |_| false).len(), 1);
    }
}
