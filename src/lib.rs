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

#[cfg(feature = "service")]
pub mod audit;
#[cfg(feature = "service")]
pub mod cli;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod daemon;
#[cfg(feature = "service")]
pub mod faults;
#[cfg(feature = "service")]
pub mod fsutil;
#[cfg(feature = "service")]
pub mod generate;
#[cfg(feature = "service")]
pub mod mcp;
#[cfg(feature = "service")]
pub mod metrics;
pub mod model;
pub mod parse;
pub mod pdf;
#[cfg(feature = "service")]
pub mod pipeline;
#[cfg(feature = "service")]
pub mod replay;
#[cfg(feature = "service")]
pub mod schedule;
#[cfg(feature = "service")]
pub mod source;
#[cfg(feature = "service")]
pub mod status;
#[cfg(feature = "service")]
pub mod store;
#[cfg(feature = "service")]
pub mod systemd;
pub mod time;
