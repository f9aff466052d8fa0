//! What the people who run `ingest` see and what it does for them on its own: the status report
//! (`ingest status`, `/status`), `/metrics`, alerts, and the retention pass.
//!
//! Invariant: nothing here knows the MCP side; the assistant's answers and these views read the
//! same snapshot through `ingest_store`, and judge freshness by the same rule
//! (`ingest_core::health::freshness`).

pub mod alerts;
pub mod metrics;
pub mod retention;
pub mod status;
