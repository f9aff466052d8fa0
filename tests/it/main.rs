//! Integration tests: the built `ingest` binary, real files in temp dirs, a real SQLite snapshot.

mod alerts;
mod bad_inputs;
mod browser;
mod corpus;
mod crash;
mod csv;
mod daemon;
mod digest;
mod disk;
mod export_time;
mod health;
mod logs;
mod mcp_http;
mod mcp_stdio;
mod pdf;
mod replay;
mod retention;
mod runs;
mod schedule;
mod security;
mod sftp;
mod sshd;
mod status_page;
mod systemd;
mod untrusted;
mod util;
