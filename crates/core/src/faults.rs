//! Crash points: the places where a crash must leave nothing half done (ARCHITECTURE.md: one
//! transaction per file), named so that the crash tests can stop the process at each of them in
//! turn. A test hook: without the `test-hooks` feature (the release build) a point is an empty
//! function and the variable below is not read.
//!
//! With `INGEST_CRASH_AT=N` in the environment, the Nth crash point this process reaches sends it
//! SIGKILL, exactly as `kill -9` would: no unwinding, no destructors, no flushing. With
//! `INGEST_CRASH_AT=0` none fires, and (as with any N) every point reached is logged at debug level
//! under the `ingest::faults` target with its number and name, so a test can count them
//! (`INGEST_LOG=ingest::faults=debug`).

#[cfg(feature = "test-hooks")]
use std::sync::OnceLock;
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "test-hooks")]
static CRASH_AT: OnceLock<Option<u64>> = OnceLock::new();
#[cfg(feature = "test-hooks")]
static REACHED: AtomicU64 = AtomicU64::new(0);

/// A crash point. `name` says what is done and what is not, e.g. "after commit, before archive".
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn point(_name: &'static str) {}

/// A crash point. `name` says what is done and what is not, e.g. "after commit, before archive".
#[cfg(feature = "test-hooks")]
pub fn point(name: &'static str) {
    let Some(at) = *CRASH_AT.get_or_init(|| std::env::var("INGEST_CRASH_AT").ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    let n = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::debug!(target: "ingest::faults", n, name, "crash point");
    if n == at {
        eprintln!("ingest: INGEST_CRASH_AT={n}: killed at crash point {n} ({name})");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // SIGKILL cannot be caught; should it somehow not arrive, do not go on as if nothing happened.
        std::process::abort();
    }
}
