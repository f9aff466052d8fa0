//! The `ingest` binary: logging to stderr, then the command line.

use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // stderr only: over MCP stdio, stdout is the wire. RUST_LOG overrides the level.
    let filter = EnvFilter::try_from_env("INGEST_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    ingest::cli::main()
}
