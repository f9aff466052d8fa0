//! The command line. Each subcommand calls one module; this file maps results to exit
//! codes: 0 all went in, 3 some file quarantined or message rejected, 2 usage or configuration
//! error, 1 any other failure.

use clap::{Parser, Subcommand};
use ingest_config::{Config, ConfigError};
use ingest_core::time::Clock;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// What `ingest --help` and the manual page say after the options.
const AFTER_HELP: &str = "\
Exit status: 0 everything went in (duplicates included); 3 finished, but a file was quarantined or a \
message rejected; 2 usage or configuration error; 1 any other failure.

Environment: INGEST_CONFIG (the config file when --config is not given), INGEST_LOG (log filter, \
e.g. debug), INGEST_TOKEN (the bearer token of `mcp --connect` without --token-file), \
STATE_DIRECTORY (the default data folder, set by systemd).

Files: /etc/ingest/ingest.toml (the configuration; every key is documented in the installed \
example), /var/lib/ingest (snapshot.db, audit.jsonl, archive/, quarantine/, staging/), \
/usr/share/doc/ingest/INSTALL.md (installing the service).";

#[derive(Debug, Parser)]
#[command(name = "ingest", version, about = "EHR morning exports → a read-only SQLite snapshot", after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Ingest these files or directories (backfill), in export order, then exit.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub replay: Vec<PathBuf>,
    /// The source the replayed files belong to (default: the only configured source).
    #[arg(long, value_name = "NAME", requires = "replay")]
    pub source: Option<String>,
    /// Config file (default: $INGEST_CONFIG, then /etc/ingest/ingest.toml, then built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Snapshot database (overrides the config).
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: watch the configured folders and ingest each export as it lands.
    Run,
    /// Per source: last export, last ingest, files by status, rejects, quarantine.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration and what it points at (SFTP keys and known_hosts, folders), and
    /// print what it means. Exits 2 on any error, so that the unit's ExecStartPre stops a bad start.
    CheckConfig {
        /// Also connect once to each SFTP source: host key fingerprint, login, listing.
        #[arg(long)]
        probe: bool,
    },
    /// Apply the retention policy now (`[retention]`; the daemon does at start and on its
    /// schedule): delete archived exports and purge patients off every panel beyond the limits.
    Retention {
        /// Only count what would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// MCP over stdio on the local snapshot, read-only (for Claude Desktop / Cowork on this machine);
    /// with --connect, a stdio bridge to a daemon's MCP over HTTP.
    Mcp {
        /// Forward to the MCP endpoint of an `ingest run` daemon, e.g. https://ingest.ward5:8765/mcp.
        /// The daemon's certificate is checked against the system's CAs (SSL_CERT_FILE names
        /// another bundle, e.g. the hospital's CA).
        #[arg(long, value_name = "URL")]
        connect: Option<String>,
        /// The bearer token for --connect, in a file readable only by its owner (default: $INGEST_TOKEN).
        #[arg(long, value_name = "FILE", requires = "connect")]
        token_file: Option<PathBuf>,
        /// Trust the CAs in this PEM file instead of the system's (e.g. the hospital's CA); a
        /// self-signed daemon certificate in it is trusted as itself. Empty: none (as a Claude
        /// Desktop extension passes an optional field left blank).
        // Read as an OS string: clap's path parser refuses an empty value.
        #[arg(long, value_name = "FILE", requires = "connect",
            value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
        ca_file: Option<PathBuf>,
        /// Trust exactly the daemon certificate with this fingerprint, `sha256:…` as `ingest
        /// tls-fingerprint` prints it on the daemon's host (repeat for a certificate change-over).
        /// Empty: none.
        #[arg(long, value_name = "sha256:HEX", requires = "connect")]
        pin: Vec<String>,
    },
    /// Print the SHA-256 fingerprint of the daemon's TLS certificate (mcp.tls_cert, or FILE), for
    /// `ingest mcp --connect … --pin` on a clinician's machine.
    TlsFingerprint {
        /// A PEM certificate file (default: the configured mcp.tls_cert).
        file: Option<PathBuf>,
    },
    /// The access audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a deterministic synthetic export (for benchmarks and load tests): one folder per day
    /// with ADT, ORU, MDM and RDE batches, census and labs CSVs and PDF notes. Invented data only.
    Generate {
        /// Where to write (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 500)]
        patients: usize,
        #[arg(long, default_value_t = 7)]
        days: usize,
        /// Result messages (10-30 OBX each) per patient per day.
        #[arg(long, default_value_t = 2)]
        results_per_patient: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop after the day that brings the export over this many MB.
        #[arg(long, value_name = "MB")]
        max_mb: Option<u64>,
        /// Instead: one 32-bed ward over `--days` mornings (default 7; 3 shows every scripted
        /// event) with a chemistry panel and a CBC a patient a day, notes, orders and a census,
        /// and written-in trends, criticals, a transfer, discharges and a census departure.
        #[arg(long)]
        ward: bool,
    },
    /// Internal: extract a PDF's text and print it as one JSON line (the pipeline runs this in a
    /// child process, so that a panic or a hang in the extractor costs that file only).
    #[command(name = "extract-pdf", hide = true)]
    ExtractPdf { file: PathBuf },
    /// Internal: write the manual pages (ingest.1, and ingest-run.1 … for each command) into DIR,
    /// from the same definitions as --help; the Debian package installs them.
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 if intact, 1 with the first broken line otherwise.
    Verify {
        /// The log (default: the configured one, audit.jsonl beside the snapshot).
        path: Option<PathBuf>,
    },
}

/// `ingest check-config [--probe]`: the description, then each check; exit 2 on any error.
fn check_config(config: &Config, probe: bool, now: chrono::DateTime<chrono::Utc>) -> ExitCode {
    use crate::preflight::Level;
    print!("{}", config.describe(now));
    let mut findings = crate::preflight::check(config);
    if probe {
        findings.extend(crate::preflight::probe(config));
    }
    for finding in &findings {
        println!("{finding}");
    }
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.iter().filter(|f| f.level == Level::Warning).count();
    if errors > 0 {
        println!("configuration NOT OK: {errors} error(s), {warnings} warning(s)");
        return ExitCode::from(2);
    }
    match warnings {
        0 => println!("configuration OK"),
        n => println!("configuration OK, with {n} warning(s)"),
    }
    ExitCode::SUCCESS
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The extractor child needs no config and no logging: stdout is its answer.
    if let Some(Command::ExtractPdf { file }) = &cli.command {
        return ingest_pipeline::pdf::child_main(file);
    }
    if let Some(Command::Man { dir }) = &cli.command {
        return man_pages(dir);
    }
    // A replay on a terminal shows a progress bar; per-file lines would only break it up.
    let interactive_replay = cli.command.is_none() && std::io::stderr().is_terminal();
    let level = match &cli.command {
        _ if interactive_replay => "warn",
        // The bridge's stderr lands in the assistant's log: rmcp's per-request lines would echo
        // request details (MRNs in error messages) there.
        // The TLS verifier's and rmcp's error lines are debug dumps; the bridge says what failed.
        Some(Command::Mcp { connect: Some(_), .. }) => "info,rmcp=off,rustls_platform_verifier=off",
        // Six rmcp lines per HTTP session would drown the daemon's own; its warnings (a refused
        // Host header) stay.
        Some(Command::Run) => "info,rmcp=warn",
        // A probe's connection is reported by check-config itself.
        Some(Command::CheckConfig { .. }) => "warn",
        // rmcp logs each client's whole self-description at info.
        Some(Command::Mcp { connect: None, .. }) => "info,rmcp=warn",
        _ => "info",
    };
    init_logging(level);
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config.with_snapshot(cli.db.as_deref()),
        Err(e) => return config_error(&e),
    };
    // The one clock of this process, passed down: the system's, or the tests' file clock.
    let clock = ingest_core::time::process_clock();
    if cli.command.is_some() && !cli.replay.is_empty() {
        eprintln!("ingest: --replay is a command of its own; it cannot be combined with a subcommand");
        return ExitCode::from(2);
    }
    let result = match (&cli.command, cli.replay.is_empty()) {
        (Some(Command::CheckConfig { probe }), _) => return check_config(&config, *probe, clock.now()),
        (Some(Command::Status { json }), _) => ingest_ops::status::run(&config, *json, clock.now()).map(|()| 0),
        (Some(Command::Retention { dry_run }), _) => retention(&config, *dry_run, clock).map(|()| 0),
        (Some(Command::Run), _) => {
            let (explicit, db) = (cli.config.clone(), cli.db.clone());
            let reload = move || Config::load(explicit.as_deref()).map(|c| c.with_snapshot(db.as_deref()));
            run_daemon(config, reload, clock).map(|()| 0)
        }
        (Some(Command::Mcp { connect: None, .. }), _) => {
            runtime().and_then(|rt| rt.block_on(ingest_mcp::stdio::serve(config, clock))).map(|()| 0)
        }
        (Some(Command::Mcp { connect: Some(url), token_file, ca_file, pin }), _) => {
            return bridge(url, token_file.as_deref(), ca_file.as_deref(), pin);
        }
        (Some(Command::TlsFingerprint { file }), _) => return tls_fingerprint(&config, file.as_deref()),
        (Some(Command::ExtractPdf { file }), _) => return ingest_pipeline::pdf::child_main(file),
        (Some(Command::Man { dir }), _) => return man_pages(dir),
        (Some(Command::Generate { out, days, seed, ward: true, .. }), _) => {
            crate::generate::ward::generate(out, *days, *seed)
                .map(|w| {
                    println!(
                        "{}: a {}-bed ward · {} days · {} files · {} OBX",
                        out.display(),
                        crate::generate::ward::BEDS,
                        w.days,
                        w.files,
                        w.obx
                    );
                    0
                })
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))
        }
        (Some(Command::Generate { out, patients, days, results_per_patient, seed, max_mb, .. }), _) => {
            let spec = crate::generate::Spec {
                out: out.clone(),
                patients: *patients,
                days: *days,
                results_per_patient: *results_per_patient,
                seed: *seed,
                max_bytes: max_mb.map(|mb| mb << 20),
            };
            crate::generate::generate(&spec)
                .map(|w| {
                    println!(
                        "{}: {} days · {} files · {:.1} MB · {} HL7 messages · {} OBX",
                        out.display(),
                        w.days,
                        w.files,
                        w.bytes as f64 / 1048576.0,
                        w.hl7_messages,
                        w.obx
                    );
                    0
                })
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))
        }
        (Some(Command::Audit { command: AuditCommand::Verify { path } }), _) => {
            let path = path.clone().unwrap_or_else(|| config.audit_log());
            match ingest_audit::verify(&path) {
                Ok(lines) => {
                    println!("{}: {lines} lines, hash chain intact", path.display());
                    Ok(0)
                }
                Err(e @ ingest_audit::AuditError::Broken { .. }) => {
                    println!("BROKEN: {e}");
                    Ok(1)
                }
                Err(e) => Err(e.into()),
            }
        }
        (None, false) => replay(&config, &cli, clock),
        (None, true) => {
            eprintln!("ingest: nothing to do; try `ingest --replay DIR`, `ingest run` or `ingest --help`");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ingest: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr only (over MCP stdio, stdout is the wire). `INGEST_LOG` (or `RUST_LOG`)
/// overrides the level.
fn init_logging(default_level: &str) {
    let filter = EnvFilter::try_from_env("INGEST_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("ingest: configuration error: {e}");
    ExitCode::from(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Cancel `token` on SIGTERM or SIGINT.
fn cancel_on_signals(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing or rolling back the file in hand"),
            _ = int.recv() => tracing::info!("SIGINT: finishing or rolling back the file in hand"),
        }
        crate::systemd::stopping();
        token.cancel();
    });
    Ok(())
}

fn run_daemon(
    config: Config,
    reload: impl Fn() -> Result<Config, ConfigError>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signals(shutdown.clone())?;
        crate::daemon::serve(config, reload, shutdown, clock).await
    })
}

/// `ingest man DIR`: clap_mangen renders a page per visible command from the definitions above.
fn man_pages(dir: &std::path::Path) -> ExitCode {
    use clap::CommandFactory;
    match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// How the bridge trusts the daemon's certificate, from `--ca-file` and `--pin`. An empty value is
/// no value: a Claude Desktop extension passes an optional field left blank as "" (deploy/mcpb).
fn trust_options(
    url: &str,
    ca_file: Option<&std::path::Path>,
    pins: &[String],
) -> Result<ingest_mcp::bridge::TrustOptions, String> {
    let ca_file = ca_file.filter(|p| !p.as_os_str().is_empty()).map(std::path::Path::to_path_buf);
    let pins = pins
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| ingest_mcp::trust::parse_pin(p))
        .collect::<Result<Vec<[u8; 32]>, String>>()?;
    if ca_file.is_some() && !pins.is_empty() {
        return Err("give --ca-file or --pin, not both: a pin trusts one certificate whoever signed it".into());
    }
    if let Some(path) = &ca_file {
        ingest_mcp::trust::read_certificates(path).map_err(|e| format!("--ca-file {e}"))?;
    }
    if (ca_file.is_some() || !pins.is_empty()) && url.starts_with("http://") {
        return Err(format!("--ca-file and --pin apply to https:// only; {url} is plain http"));
    }
    Ok(ingest_mcp::bridge::TrustOptions { ca_file, pins })
}

/// `ingest mcp --connect URL`: 2 for a bad URL or token file, 1 when the daemon cannot be reached
/// or refuses the token.
fn bridge(
    url: &str,
    token_file: Option<&std::path::Path>,
    ca_file: Option<&std::path::Path>,
    pins: &[String],
) -> ExitCode {
    use ingest_mcp::bridge;
    let trust = match trust_options(url, ca_file, pins) {
        Ok(trust) => trust,
        Err(e) => {
            eprintln!("ingest: {e}");
            return ExitCode::from(2);
        }
    };
    let token = match bridge::check_url(url).and_then(|()| bridge::token(token_file)) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("ingest: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime().and_then(|rt| rt.block_on(bridge::serve(url, token, &trust))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `ingest tls-fingerprint [FILE]`: the fingerprint of the first certificate (the one the daemon
/// presents) of FILE or of the configured `mcp.tls_cert`.
fn tls_fingerprint(config: &Config, file: Option<&std::path::Path>) -> ExitCode {
    let Some(path) =
        file.map(std::path::Path::to_path_buf).or_else(|| config.mcp.tls.as_ref().map(|(cert, _)| cert.clone()))
    else {
        eprintln!("ingest: no certificate: give a PEM file, or set mcp.tls_cert in the configuration");
        return ExitCode::from(2);
    };
    match ingest_mcp::trust::read_certificates(&path) {
        Ok(certs) => {
            println!("{}", ingest_mcp::trust::fingerprint(certs[0].as_ref()));
            eprintln!(
                "the certificate in {} (the first of {}); on a clinician's machine: ingest mcp --connect URL --pin <this>",
                path.display(),
                certs.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ingest: {e}");
            ExitCode::from(2)
        }
    }
}

fn replay(config: &Config, cli: &Cli, clock: Arc<dyn Clock>) -> anyhow::Result<u8> {
    let rt = runtime()?;
    let cancel = CancellationToken::new();
    rt.block_on(async { cancel_on_signals(cancel.clone()) })?;
    let summary = crate::replay::run(config, &cli.replay, cli.source.as_deref(), &cancel, clock)?;
    crate::replay::print_summary(config, &summary)?;
    Ok(summary.exit_code())
}

/// `ingest retention [--dry-run]`: one pass now, with the configured limits (even when the
/// daemon's own passes are off), and what it removed.
fn retention(config: &Config, dry_run: bool, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let now = clock.now();
    let mut conn = ingest_store::open_writer(&config.snapshot)?;
    let policy = &config.retention;
    let purge = if dry_run {
        ingest_ops::retention::apply(&mut conn, &config.archive_dir(), policy, now, true)?
    } else {
        let audit = ingest_audit::AuditLog::open(&config.audit_log(), clock)?;
        ingest_ops::retention::run_pass(&mut conn, &config.archive_dir(), &audit, policy, now, "command")?
    };
    let (archived_before, off_panel_before) = ingest_ops::retention::cutoffs(policy, now);
    let verb = if dry_run { "would purge" } else { "purged" };
    println!(
        "{verb}: {} patient(s) off every panel since before {} ({} row(s)); {} archived file(s) \
         ({:.1} MB) and {} other archive file(s) from before {}; raw text of {} rejected message(s)",
        purge.patients,
        ingest_core::time::rfc3339(off_panel_before),
        purge.records.values().sum::<u64>(),
        purge.archive_files,
        purge.archive_bytes as f64 / 1048576.0,
        purge.other_files,
        ingest_core::time::rfc3339(archived_before),
        purge.reject_texts,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn config(text: &str, dir: &std::path::Path) -> Config {
        Config::from_toml(text, ingest_config::Origin::BuiltIn, dir).expect("config")
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        ingest_core::time::parse_rfc3339("2026-11-24T06:00:00Z").expect("time")
    }

    #[test]
    fn the_command_line_is_consistent_and_source_needs_replay() {
        Cli::command().debug_assert();
        let parsed = Cli::try_parse_from(["ingest", "--replay", "a/", "b.hl7", "--source", "ward"]).expect("replay");
        assert_eq!(parsed.replay, [PathBuf::from("a/"), PathBuf::from("b.hl7")]);
        assert!(parsed.command.is_none());
        let error = Cli::try_parse_from(["ingest", "--source", "ward", "status"]).expect_err("--source alone");
        assert_eq!(error.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn check_config_exits_0_on_a_sound_config_and_2_when_a_source_cannot_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("drop")).expect("drop");
        let sound = config("[[source]]\nname = \"ward\"\npath = \"drop\"\n", dir.path());
        assert_eq!(check_config(&sound, false, now()), ExitCode::SUCCESS);
        // A folder that is not there yet is a warning (the daemon reports it and retries), not an error.
        let later = config("[[source]]\nname = \"ward\"\npath = \"not-yet\"\n", dir.path());
        assert_eq!(check_config(&later, false, now()), ExitCode::SUCCESS);
        // An SFTP key that does not exist is an error: exit 2 stops the unit's start.
        let broken = config(
            "[[source]]\nname = \"ehr\"\nkind = \"sftp\"\npoll = \"*/2 4-6 * * *\"\n[source.sftp]\n\
             host = \"ehr.example\"\nuser = \"ingest\"\nkey_file = \"missing_key\"\nknown_hosts = \"known_hosts\"\n",
            dir.path(),
        );
        assert_eq!(check_config(&broken, false, now()), ExitCode::from(2));
    }

    #[test]
    fn the_manual_pages_cover_every_visible_command_and_say_the_exit_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("man");
        assert_eq!(man_pages(&out), ExitCode::SUCCESS);
        for page in ["ingest.1", "ingest-run.1", "ingest-mcp.1", "ingest-check-config.1", "ingest-audit-verify.1"] {
            let text = std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
            assert!(text.starts_with(".ie") || text.contains("\n.TH "), "{page} is not roff: {}", &text[..80]);
        }
        let main = std::fs::read_to_string(out.join("ingest.1")).expect("ingest.1");
        assert!(main.contains("Exit status"), "{main}");
        assert!(!out.join("ingest-extract-pdf.1").exists(), "an internal command got a page");
    }

    #[test]
    fn the_bridge_reads_an_empty_ca_file_or_pin_as_not_given() {
        let cli = Cli::try_parse_from(["ingest", "mcp", "--connect", "https://x/mcp", "--ca-file", "", "--pin", ""])
            .expect("empty values parse");
        let Some(Command::Mcp { ca_file, pin, .. }) = cli.command else { panic!("not mcp: {cli:?}") };
        let trust = trust_options("https://x/mcp", ca_file.as_deref(), &pin).expect("empty is not given");
        assert_eq!((trust.ca_file, trust.pins.len()), (None, 0));
        // A value is still checked.
        let pin = format!("sha256:{}", "ab".repeat(32));
        let error = trust_options("http://127.0.0.1:1/mcp", None, &[pin]).expect_err("a pin over plain http");
        assert!(error.contains("https:// only"), "{error}");
        let error = trust_options("https://x/mcp", Some(std::path::Path::new("/nonexistent.pem")), &[])
            .expect_err("a CA file that is not there");
        assert!(error.starts_with("--ca-file"), "{error}");
    }

    #[test]
    fn a_configuration_error_exits_2() {
        let error =
            ConfigError { origin: "ingest.toml".into(), key: "source[0].path".into(), message: "missing".into() };
        assert_eq!(config_error(&error), ExitCode::from(2));
    }
}
