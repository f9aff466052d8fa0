//! `ingest`: a hospital EHR's morning exports in, a read-only SQLite snapshot out.
pub mod model;
pub mod parse;
pub mod time;
