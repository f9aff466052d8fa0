//! An SFTP source: poll a remote folder, download each export that has stopped changing into the
//! source's staging folder, and let the folder machinery (readiness, pipeline, archive) take it
//! from there. Blocking (ssh2 is): the daemon runs [`Poller::poll`] on tokio's blocking pool.
//!
//! One poll: connect → the host key must be in `known_hosts` (an unknown or changed key refuses the
//! connection, naming the fingerprint offered) → key authentication → list → for each wanted file
//! whose size and mtime are the same as at the previous poll and that the ledger (`remote_files`)
//! does not have yet: download to `.NAME.part` in the staging folder (hashing as it goes), check
//! the length, fsync, rename to `NAME`, fsync the folder, record it in the ledger, then the
//! opt-in remote after-action. A broken connection ends the poll: the partial download is removed
//! and the file is taken at a later poll. The ledger is what makes a restart download nothing twice;
//! the pipeline's sha256 ledger is what makes it ingest nothing twice.
//!
//! With export runs (a run marker), staged files wait in staging for the marker. A remote file
//! that changes after its download, while its run is still held, is downloaded again and its
//! staged copy replaced (a WARN line gives both sizes and times): the run then gets the final
//! version, and its marker is not held back for ever behind a stale copy. Once a run is published
//! (its marker staged), a changed remote file is a new file.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ingest_config::{Passphrase, RemoteAfter, SftpConfig};
use ingest_core::health::ErrorKind;
use ingest_core::time::rfc3339;
use ingest_store::Writer;
use ingest_store::remote::{self, Download, Staged};
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};

/// Why a poll failed. Each says which server and which step, for the person reading the log.
#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    #[error("{server}: cannot connect: {source}")]
    Connect { server: String, source: std::io::Error },
    #[error("{server}: SSH handshake failed: {source}")]
    Handshake { server: String, source: ssh2::Error },
    #[error(
        "{server}: the server's host key is not in {known_hosts}; refusing to connect. It offered {key_type} \
         {fingerprint}. If the EHR's administrators confirm that fingerprint, add the key (e.g. \
         `{keyscan} >> {known_hosts}`) and the next poll will connect"
    )]
    UnknownHostKey { server: String, keyscan: String, known_hosts: String, key_type: String, fingerprint: String },
    #[error(
        "{server}: HOST KEY CHANGED: {known_hosts} has another key for this server; refusing to connect. It \
         offered {key_type} {fingerprint}. This is either an attack or a rebuilt server: ask the EHR's \
         administrators before replacing the entry"
    )]
    HostKeyMismatch { server: String, known_hosts: String, key_type: String, fingerprint: String },
    #[error("{server}: cannot check the host key against {known_hosts}: {reason}")]
    KnownHosts { server: String, known_hosts: String, reason: String },
    #[error("cannot read the SFTP key passphrase from {path}: {source}")]
    Passphrase { path: String, source: std::io::Error },
    #[error(
        "{server}: the server refused key authentication as {user} with {key} ({reason}). Ask the EHR's SFTP \
         administrators to authorize this public key for {user}, or check user and key_file"
    )]
    Auth {
        server: String,
        user: String,
        /// The key file, and its public key's fingerprint when `KEY.pub` is beside it.
        key: String,
        reason: String,
    },
    #[error("{server}: cannot use the key {key_file}: {reason}")]
    Key { server: String, key_file: String, reason: String },
    #[error("{server}: {step}: {source}")]
    Remote { server: String, step: String, source: ssh2::Error },
    #[error("{server}: {step}: {source}")]
    Transfer { server: String, step: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Staging { path: String, source: std::io::Error },
    #[error("remote file ledger: {0}")]
    Ledger(#[from] ingest_store::Error),
    #[error("stopped: shutdown during the poll")]
    Cancelled,
}

impl SftpError {
    /// What kind of failure this is, for the source's health.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SftpError::Connect { source, .. } => match ErrorKind::of_io(source) {
                ErrorKind::Other | ErrorKind::NotFound => ErrorKind::Unreachable,
                kind => kind,
            },
            SftpError::Handshake { .. } => ErrorKind::Unreachable,
            SftpError::UnknownHostKey { .. } => ErrorKind::HostKeyUnknown,
            SftpError::HostKeyMismatch { .. } => ErrorKind::HostKeyChanged,
            SftpError::KnownHosts { reason, .. } if reason == NO_SUCH_FILE => ErrorKind::NotFound,
            SftpError::Passphrase { source, .. } => ErrorKind::of_io(source),
            SftpError::Auth { .. } => ErrorKind::AuthRefused,
            SftpError::Remote { source, .. } => match source.code() {
                // SSH_FX_NO_SUCH_FILE, SSH_FX_NO_SUCH_PATH
                ssh2::ErrorCode::SFTP(2 | 10) => ErrorKind::NotFound,
                ssh2::ErrorCode::SFTP(3) => ErrorKind::PermissionDenied,
                // SSH_FX_NO_CONNECTION, SSH_FX_CONNECTION_LOST
                ssh2::ErrorCode::SFTP(6 | 7) => ErrorKind::Unreachable,
                // libssh2's socket errors: send, timeout, disconnect, socket timeout, receive.
                ssh2::ErrorCode::Session(-7 | -9 | -13 | -30 | -43) => ErrorKind::Unreachable,
                ssh2::ErrorCode::Session(_) | ssh2::ErrorCode::SFTP(_) => ErrorKind::Other,
            },
            SftpError::Transfer { source, .. } => match source.kind() {
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::NotFound => ErrorKind::RemoteFileChanged,
                _ => ErrorKind::Unreachable,
            },
            SftpError::Staging { source, .. } => ErrorKind::of_io(source),
            SftpError::KnownHosts { .. } | SftpError::Key { .. } | SftpError::Ledger(_) | SftpError::Cancelled => {
                ErrorKind::Other
            }
        }
    }

    /// The error without file names (a remote or staged file's name can carry an MRN), for the
    /// source's health and alerts; the log line has the whole error.
    pub fn without_names(&self) -> String {
        match self {
            SftpError::Remote { server, step, source } => {
                format!("{server}: {}: {source}", step.split_whitespace().next().unwrap_or("a step"))
            }
            SftpError::Transfer { server, source, .. } => format!("{server}: a download failed: {source}"),
            SftpError::Staging { source, .. } => format!("the staging folder: {source}"),
            other => other.to_string(),
        }
    }
}

const NO_SUCH_FILE: &str = "no such file";

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Wanted files listed on the server.
    pub listed: usize,
    /// Downloaded, complete, under their final names in the staging folder.
    pub staged: Vec<PathBuf>,
    /// Staged copies replaced by a newer download: the remote file changed while its run was held.
    pub replaced: Vec<String>,
    /// Listed but not taken yet, each with why.
    pub waiting: Vec<Waiting>,
    /// Already in the ledger (downloaded at an earlier poll, before a restart too).
    pub known: usize,
    /// Remote names refused (a path that would leave the staging folder), with the reason.
    pub refused: Vec<(String, String)>,
    /// Remote files that no include pattern takes (hidden names aside), by name.
    pub untaken: Vec<String>,
}

/// A listed file not taken at this poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub name: String,
    pub why: WaitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// New, or its size or mtime changed since the previous listing: it may still be written.
    Changing,
    /// A run marker whose run is not wholly staged yet.
    RunIncomplete,
    /// The previous version of this name is still in staging, not yet taken (and not replaceable:
    /// no run holds it, or its run is being published).
    StagedNotTaken,
}

impl PollReport {
    /// One line of what the poll saw, for the log and the source's health.
    pub fn summary(&self) -> String {
        let count = |why| self.waiting.iter().filter(|w| w.why == why).count();
        let mut parts = vec![format!("listed {}", self.listed), format!("staged {}", self.staged.len())];
        for (n, what) in [
            (self.replaced.len(), "staged copy replaced (the remote file changed)"),
            (count(WaitReason::Changing), "still changing"),
            (count(WaitReason::RunIncomplete), "run marker waiting for its run"),
            (count(WaitReason::StagedNotTaken), "waiting for the staged copy to be taken"),
            (self.known, "downloaded before"),
            (self.refused.len(), "refused"),
            (self.untaken.len(), "not taken (no include pattern)"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(" · ")
    }
}

/// What `check-config --probe` learns from one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub key_type: String,
    pub fingerprint: String,
    /// Files in the remote folder (recursively when configured), and how many the source takes.
    pub listed: usize,
    pub wanted: usize,
}

/// A remote file as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    size: u64,
    mtime: u64,
}

/// One SFTP source's poller. It remembers the previous listing: a file is taken only once two
/// listings in a row agree on its size and mtime.
#[derive(Debug)]
pub struct Poller {
    source: String,
    config: SftpConfig,
    staging: PathBuf,
    previous: HashMap<String, Listed>,
    /// Refused names already logged (one WARN per name, not one per poll).
    warned: HashSet<String>,
    /// The source's export-run marker: staged last, and only once every other file under its
    /// folder has been staged, so that the run is whole in staging when the marker appears there.
    run_marker: Option<globset::GlobMatcher>,
}

impl Poller {
    pub fn new(source: &str, config: SftpConfig, staging: PathBuf) -> Poller {
        Poller {
            source: source.to_string(),
            config,
            staging,
            previous: HashMap::new(),
            warned: HashSet::new(),
            run_marker: None,
        }
    }

    /// Stage files named like `marker` after the rest of their run (see the field).
    pub fn with_run_marker(mut self, marker: Option<globset::GlobMatcher>) -> Poller {
        self.run_marker = marker;
        self
    }

    fn is_marker(&self, relative: &Path) -> bool {
        let name = relative.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        self.run_marker.as_ref().is_some_and(|m| m.is_match(name.as_ref()))
    }

    fn server(&self) -> String {
        format!("sftp://{}@{}:{}", self.config.user, self.config.host, self.config.port)
    }

    /// One poll. `wants` says which file names (no folder) are exports; `cancelled` is asked
    /// between files and between chunks of a download.
    pub fn poll(
        &mut self,
        ledger: &Writer,
        wants: &dyn Fn(&str) -> bool,
        now: DateTime<Utc>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<PollReport, SftpError> {
        let session = self.connect()?;
        let sftp = session.sftp().map_err(|source| self.remote("open the SFTP channel", source))?;
        let mut listing = Vec::new();
        let mut untaken = Vec::new();
        self.list(&sftp, Path::new(&self.config.remote_dir), Path::new(""), wants, &mut listing, &mut untaken)?;
        let mut report = PollReport { listed: listing.len(), untaken, ..PollReport::default() };
        let previous = std::mem::take(&mut self.previous);
        self.previous = listing.iter().map(|(rel, listed)| (rel.display().to_string(), *listed)).collect();
        // Run markers last; folders with a file not staged in this poll hold their marker back.
        listing.sort_by_key(|(relative, _)| self.is_marker(relative));
        let mut incomplete: Vec<PathBuf> = Vec::new();

        for (relative, listed) in listing {
            if cancelled() {
                return Err(SftpError::Cancelled);
            }
            let shown = relative.display().to_string();
            let folder = relative.parent().unwrap_or(Path::new("")).to_path_buf();
            let wait = |report: &mut PollReport, why| report.waiting.push(Waiting { name: shown.clone(), why });
            if self.is_marker(&relative) && incomplete.iter().any(|f| f.starts_with(&folder)) {
                wait(&mut report, WaitReason::RunIncomplete);
                continue;
            }
            if let Err(reason) = check_relative(&relative) {
                if self.warned.insert(shown.clone()) {
                    tracing::warn!(source = %self.source, remote = %shown, reason, "remote name refused");
                }
                report.refused.push((shown, reason.to_string()));
                incomplete.push(folder);
                continue;
            }
            if previous.get(&shown) != Some(&listed) {
                wait(&mut report, WaitReason::Changing);
                incomplete.push(folder);
                continue;
            }
            if remote::is_known(ledger, &self.source, &shown, listed.size, listed.mtime)? {
                report.known += 1;
                continue;
            }
            let target = self.staging.join(&relative);
            let replacing = match target.exists() {
                false => None,
                true => match self.replaceable(ledger, &shown, &target)? {
                    Some(old) => Some(old),
                    None => {
                        // The last version of this name is still waiting to be taken: never
                        // overwrite it.
                        wait(&mut report, WaitReason::StagedNotTaken);
                        incomplete.push(folder);
                        continue;
                    }
                },
            };
            let remote = Path::new(&self.config.remote_dir).join(&relative);
            let sha256 = match self.download(&sftp, &remote, &target, listed, cancelled) {
                Ok(sha256) => sha256,
                // Written again (or removed) while it was read: not a failure of the server.
                // Nothing was staged; the file is taken once two listings agree again.
                Err(e) if e.kind() == ErrorKind::RemoteFileChanged => {
                    tracing::warn!(source = %self.source, remote = %shown, error = %e,
                        "a remote file changed during its download; it is taken once it is still");
                    self.previous.remove(&shown);
                    wait(&mut report, WaitReason::Changing);
                    incomplete.push(folder);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let after = self.after_action(&sftp, &remote, &relative);
            let staged_path = target.display().to_string();
            remote::record(
                ledger,
                &Download {
                    source: &self.source,
                    remote_path: &shown,
                    size: listed.size,
                    mtime: listed.mtime,
                    sha256: &sha256,
                    staged_path: &staged_path,
                    downloaded_at: &rfc3339(now),
                    after_action: after.as_deref(),
                },
            )?;
            match replacing {
                Some(old) => {
                    let mtime = |t: u64| DateTime::from_timestamp(t as i64, 0).map(rfc3339).unwrap_or_default();
                    tracing::warn!(source = %self.source, remote = %shown, old_bytes = old.size,
                        old_mtime = %mtime(old.mtime), downloaded_at = %old.downloaded_at, new_bytes = listed.size,
                        new_mtime = %mtime(listed.mtime),
                        "a remote file changed after it was downloaded; its run is still held, so its staged copy \
                         is replaced by the new version");
                    report.replaced.push(shown);
                }
                None => tracing::info!(source = %self.source, remote = %shown, bytes = listed.size,
                    after = after.as_deref().unwrap_or("none"), "staged from SFTP"),
            }
            report.staged.push(target);
        }
        Ok(report)
    }

    /// Whether the file at `target` is our own download of an older version of `remote_path`
    /// that its export run still holds, and so may be replaced: the source has run markers, the
    /// staged bytes are what the ledger says we downloaded, and no marker is staged beside it (a
    /// staged marker means the run is being published).
    fn replaceable(&self, ledger: &Writer, remote_path: &str, target: &Path) -> Result<Option<Staged>, SftpError> {
        let Some(marker) = &self.run_marker else { return Ok(None) };
        let Some(old) = remote::latest(ledger, &self.source, remote_path)? else { return Ok(None) };
        if Path::new(&old.staged_path) != target {
            return Ok(None);
        }
        // A run is its marker's folder and every folder under it: a marker staged in the target's
        // folder or any folder above it (up to staging) is publishing the target's run.
        let folders = target.ancestors().skip(1).take_while(|d| d.starts_with(&self.staging));
        for dir in folders {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(SftpError::Staging { path: dir.display().to_string(), source }),
            };
            if entries.filter_map(Result::ok).any(|e| marker.is_match(e.file_name().to_string_lossy().as_ref())) {
                return Ok(None);
            }
        }
        let regular = std::fs::symlink_metadata(target).is_ok_and(|m| m.is_file());
        if !regular || !ingest_fsutil::same_sha256(target, &old.sha256) {
            return Ok(None);
        }
        Ok(Some(old))
    }

    /// Connect once, check the host key, log in and list: what `check-config --probe` reports.
    pub fn probe(&self, wants: &dyn Fn(&str) -> bool) -> Result<Probe, SftpError> {
        let session = self.connect()?;
        let (key_type, fingerprint) = host_key_of(&session);
        let sftp = session.sftp().map_err(|source| self.remote("open the SFTP channel", source))?;
        let (mut listing, mut untaken) = (Vec::new(), Vec::new());
        self.list(&sftp, Path::new(&self.config.remote_dir), Path::new(""), wants, &mut listing, &mut untaken)?;
        Ok(Probe { key_type, fingerprint, listed: listing.len() + untaken.len(), wanted: listing.len() })
    }

    /// TCP, handshake, host key, authentication.
    fn connect(&self) -> Result<Session, SftpError> {
        let c = &self.config;
        let server = self.server();
        let timeout = c.timeout;
        let connect_error = |source| SftpError::Connect { server: server.clone(), source };
        let addrs: Vec<_> = (c.host.as_str(), c.port).to_socket_addrs().map_err(connect_error)?.collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolves to no address");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_error(last))?;
        stream.set_read_timeout(Some(timeout)).map_err(connect_error)?;
        stream.set_write_timeout(Some(timeout)).map_err(connect_error)?;
        let mut session = Session::new().map_err(|source| SftpError::Handshake { server: server.clone(), source })?;
        session.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        session.set_tcp_stream(stream);
        session.handshake().map_err(|source| SftpError::Handshake { server: server.clone(), source })?;
        self.check_host_key(&session)?;
        let passphrase = self.passphrase()?;
        session.userauth_pubkey_file(&c.user, None, &c.key_file, passphrase.as_deref()).map_err(|e| {
            // LIBSSH2_ERROR_FILE: the key file could not be read or decrypted, nothing was sent.
            if e.code() == ssh2::ErrorCode::Session(-16) {
                SftpError::Key {
                    server: server.clone(),
                    key_file: c.key_file.display().to_string(),
                    reason: format!("{} (unreadable, not a private key, or a wrong passphrase)", e.message()),
                }
            } else {
                self.auth_error(e.message().to_string())
            }
        })?;
        if !session.authenticated() {
            return Err(self.auth_error("the server did not accept the key".into()));
        }
        Ok(session)
    }

    fn auth_error(&self, reason: String) -> SftpError {
        SftpError::Auth {
            server: self.server(),
            user: self.config.user.clone(),
            key: format!(
                "{}{}",
                self.config.key_file.display(),
                public_key_fingerprint(&self.config.key_file).map(|f| format!(" (public key {f})")).unwrap_or_default()
            ),
            reason,
        }
    }

    fn check_host_key(&self, session: &Session) -> Result<(), SftpError> {
        let c = &self.config;
        let known_hosts = c.known_hosts.display().to_string();
        let failed =
            |reason: String| SftpError::KnownHosts { server: self.server(), known_hosts: known_hosts.clone(), reason };
        let (key, _) = session.host_key().ok_or_else(|| failed("the server sent no host key".into()))?;
        let (key_type, fingerprint) = host_key_of(session);
        let mut known = session.known_hosts().map_err(|e| failed(e.message().to_string()))?;
        if !c.known_hosts.is_file() {
            return Err(failed(NO_SUCH_FILE.into()));
        }
        known.read_file(&c.known_hosts, KnownHostFileKind::OpenSSH).map_err(|e| failed(e.message().to_string()))?;
        let result = if c.port == 22 { known.check(&c.host, key) } else { known.check_port(&c.host, c.port, key) };
        match result {
            CheckResult::Match => Ok(()),
            CheckResult::NotFound => Err(SftpError::UnknownHostKey {
                server: self.server(),
                keyscan: format!("ssh-keyscan -p {} {}", c.port, c.host),
                known_hosts,
                key_type,
                fingerprint,
            }),
            CheckResult::Mismatch => {
                Err(SftpError::HostKeyMismatch { server: self.server(), known_hosts, key_type, fingerprint })
            }
            CheckResult::Failure => Err(failed("libssh2 could not check the key".into())),
        }
    }

    /// The key's passphrase: the first line of a file, or of a systemd credential.
    fn passphrase(&self) -> Result<Option<String>, SftpError> {
        let path = match &self.config.passphrase {
            Passphrase::None => return Ok(None),
            Passphrase::File(path) => path.clone(),
            Passphrase::Credential(name) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => PathBuf::from(dir).join(name),
                None => {
                    return Err(SftpError::Passphrase {
                        path: format!("systemd credential {name:?}"),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "$CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)",
                        ),
                    });
                }
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|source| SftpError::Passphrase { path: path.display().to_string(), source })?;
        Ok(Some(text.lines().next().unwrap_or_default().to_string()))
    }

    fn remote(&self, step: &str, source: ssh2::Error) -> SftpError {
        SftpError::Remote { server: self.server(), step: step.to_string(), source }
    }

    /// Regular files under `dir` (recursively when configured) whose names `wants`, as paths
    /// relative to the remote folder.
    fn list(
        &self,
        sftp: &ssh2::Sftp,
        dir: &Path,
        relative: &Path,
        wants: &dyn Fn(&str) -> bool,
        out: &mut Vec<(PathBuf, Listed)>,
        untaken: &mut Vec<String>,
    ) -> Result<(), SftpError> {
        let entries = sftp.readdir(dir).map_err(|source| self.remote(&format!("list {}", dir.display()), source))?;
        for (path, stat) in entries {
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if name == "." || name == ".." {
                continue;
            }
            let rel = relative.join(&name);
            if stat.is_dir() {
                if self.config.recursive {
                    self.list(sftp, &path, &rel, wants, out, untaken)?;
                }
            } else if stat.is_file() && wants(&name) {
                out.push((rel, Listed { size: stat.size.unwrap_or(0), mtime: stat.mtime.unwrap_or(0) }));
            } else if stat.is_file() && !name.starts_with('.') {
                untaken.push(crate::safe_name(&rel.display().to_string()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(())
    }

    /// Download to `.NAME.part` beside `target`, then fsync and rename; the partial file is removed
    /// on any failure. Returns the sha256 of what was staged.
    fn download(
        &self,
        sftp: &ssh2::Sftp,
        remote: &Path,
        target: &Path,
        listed: Listed,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<String, SftpError> {
        let dir = target.parent().unwrap_or(&self.staging).to_path_buf();
        let staging_error = |source| SftpError::Staging { path: dir.display().to_string(), source };
        ingest_fsutil::create_private_dir(&dir).map_err(staging_error)?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let part = dir.join(format!(".{name}.part"));
        let result = self.copy_to(sftp, remote, &part, listed, cancelled);
        match result {
            Ok(sha256) => {
                std::fs::rename(&part, target)
                    .map_err(|source| SftpError::Staging { path: target.display().to_string(), source })?;
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok(sha256)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                Err(e)
            }
        }
    }

    fn copy_to(
        &self,
        sftp: &ssh2::Sftp,
        remote: &Path,
        part: &Path,
        listed: Listed,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<String, SftpError> {
        use std::os::unix::fs::OpenOptionsExt;
        let step = format!("download {}", remote.display());
        let transfer = |source| SftpError::Transfer { server: self.server(), step: step.clone(), source };
        let local = |source| SftpError::Staging { path: part.display().to_string(), source };
        let mut from = sftp.open(remote).map_err(|source| self.remote(&step, source))?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(part)
            .map_err(local)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            if cancelled() {
                return Err(SftpError::Cancelled);
            }
            let n = from.read(&mut buf).map_err(transfer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            to.write_all(&buf[..n]).map_err(local)?;
            total += n as u64;
        }
        if total != listed.size {
            let reason =
                format!("read {total} bytes, the listing said {}: the file changed or the read was cut", listed.size);
            return Err(transfer(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, reason)));
        }
        to.sync_all().map_err(local)?;
        Ok(ingest_fsutil::hex(&hasher.finalize()))
    }

    /// The opt-in after-action; a failure is logged and noted in the ledger, not retried (the file
    /// is safely staged; the ledger keeps it from being downloaded again).
    fn after_action(&self, sftp: &ssh2::Sftp, remote: &Path, relative: &Path) -> Option<String> {
        let result = match &self.config.after {
            RemoteAfter::None => return None,
            RemoteAfter::Delete => sftp.unlink(remote).map(|()| "deleted".to_string()),
            RemoteAfter::Move(dir) => {
                let to = Path::new(dir).join(relative.file_name().unwrap_or_default());
                sftp.rename(remote, &to, None).map(|()| format!("moved to {}", to.display()))
            }
        };
        Some(result.unwrap_or_else(|e| {
            tracing::warn!(source = %self.source, remote = %remote.display(), error = %e, "remote after-action failed");
            format!("failed: {e}")
        }))
    }
}

/// The SHA-256 fingerprint of the public key beside a private key (`KEY.pub`), as `ssh-keygen -l`
/// prints it, for the administrator who has to authorize it.
fn public_key_fingerprint(key_file: &Path) -> Option<String> {
    let mut public = key_file.as_os_str().to_owned();
    public.push(".pub");
    let text = std::fs::read_to_string(PathBuf::from(public)).ok()?;
    let blob = base64::engine::general_purpose::STANDARD.decode(text.split_whitespace().nth(1)?).ok()?;
    Some(format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))))
}

/// The server's host key type and SHA-256 fingerprint, as `ssh-keygen -l` prints it.
fn host_key_of(session: &Session) -> (String, String) {
    let key_type = session.host_key().map_or_else(|| "(no key)".to_string(), |(_, t)| format!("{t:?}"));
    let fingerprint = session
        .host_key_hash(HashType::Sha256)
        .map(|h| format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)))
        .unwrap_or_else(|| "(no fingerprint)".into());
    (key_type, fingerprint)
}

/// A remote path relative to the remote folder may only name something inside the staging folder:
/// plain components, no `..`, no root, no control characters, no hidden (temporary) names.
pub fn check_relative(relative: &Path) -> Result<(), &'static str> {
    if relative.as_os_str().is_empty() {
        return Err("empty name");
    }
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                let part = part.to_string_lossy();
                if part.chars().any(char::is_control) {
                    return Err("the name has control characters");
                }
                if part.contains('\\') {
                    return Err("the name has a backslash: read as a path elsewhere, it could leave the folder");
                }
                if part.starts_with('.') {
                    return Err("a hidden or dot name (temporary files are not exports)");
                }
            }
            Component::ParentDir => return Err("the name has `..`: it would leave the staging folder"),
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path"),
            Component::CurDir => return Err("the name has `.`"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_staging_folder_are_refused() {
        assert_eq!(check_relative(Path::new("ADT_20261124.hl7")), Ok(()));
        assert_eq!(check_relative(Path::new("5w/ADT_20261124.hl7")), Ok(()));
        for bad in ["../etc/passwd", "a/../../b", "/etc/passwd", ".ADT.hl7.part", "a\u{7}b", "a\\..\\b", ""] {
            assert!(check_relative(Path::new(bad)).is_err(), "{bad:?}");
        }
    }
}
