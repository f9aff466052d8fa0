//! `ingest`: a hospital EHR's morning exports in, a read-only SQLite snapshot out.
//!
//! Data moves one way (ARCHITECTURE.md, bird's-eye view):
//!
//! ```text
//! source::folder (notify + rescan) → source::ready (settled / renamed / trigger)
//!   → pipeline (sha256, ledger, duplicate?) → parse (pure: bytes → model records + rejects)
//!   → store::write (one transaction per file, precedence by exported_at) → archive / quarantine
//! ```
//!
//! `daemon` runs that loop for `ingest run`; `replay` runs the same pipeline over archived files;
//! `status` reads the ledger. Sources never touch the store, parsers never touch SQLite.

// The parsers: pure, and all that is built without the `service` feature (what fuzz/ builds).
pub mod model;
pub mod parse;
pub mod pdf;
pub mod time;

/// Declares the modules of the service (everything with I/O), each under the `service` feature.
macro_rules! service_modules {
    ($($name:ident),* $(,)?) => { $( #[cfg(feature = "service")] pub mod $name; )* };
}

service_modules!(
    alerts, audit, cli, config, daemon, faults, fsutil, generate, health, mcp, metrics, pipeline, preflight, replay,
    retention, schedule, source, status, store, systemd,
);
