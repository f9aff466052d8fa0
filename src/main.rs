//! The `ingest` binary: everything happens in the library's command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest::cli::main()
}
