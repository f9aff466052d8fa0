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

// The vocabulary (`ingest_core`: model, time, schedule) and the parsers (`ingest_parse`) are
// crates of their own under crates/; everything here is the service around them.
pub mod cli;
pub mod daemon;
pub mod generate;
pub mod http;
pub mod preflight;
pub mod replay;
pub mod systemd;
