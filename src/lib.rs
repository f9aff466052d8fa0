//! `ingest`: a hospital EHR's morning exports in, a read-only SQLite snapshot out.
//!
//! Data moves one way (DESIGN §2):
//!
//! ```text
//! source::folder (notify + rescan) → source::ready (settled / renamed / trigger)
//!   → pipeline (sha256, ledger, duplicate?) → parse (pure: bytes → model records + rejects)
//!   → store::write (one transaction per file, precedence by exported_at) → archive / quarantine
//! ```
//!
//! `daemon` runs that loop for `ingest run`; `replay` runs the same pipeline over archived files;
//! `status` reads the ledger. Sources never touch the store, parsers never touch SQLite.

pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod faults;
pub mod fsutil;
pub mod generate;
pub mod mcp;
pub mod model;
pub mod parse;
pub mod pdf;
pub mod pipeline;
pub mod replay;
pub mod schedule;
pub mod source;
pub mod status;
pub mod store;
pub mod systemd;
pub mod time;
