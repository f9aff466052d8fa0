//! The vocabulary every other crate of `ingest` speaks: the normalized records ([`model`]), time
//! ([`time`]: zones, stamps and the [`time::Clock`] that `main` makes once and passes down), and
//! the export schedule with its freshness verdicts ([`schedule`]), and a source's health beside
//! its freshness ([`health`]: the one freshness rule that status, the daemon and MCP call).
//!
//! Invariant: no I/O. Nothing here reads a file, opens a socket or a database. The exceptions are
//! the test hooks, which exist only with the `test-hooks` feature (the release build does not
//! enable it): the file clock that lets a test move a running binary's time, and the crash
//! points ([`faults`]) that SIGKILL it.

pub mod faults;
pub mod health;
pub mod model;
pub mod schedule;
pub mod time;
