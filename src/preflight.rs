//! `ingest check-config`'s checks of what the configuration points at, beyond its syntax: for an
//! SFTP source its key file (exists, readable, private), its passphrase file, its known_hosts (exists,
//! readable, names the server); for a folder source its folder. With `--probe`, one connection per
//! SFTP source: the host key's fingerprint, whether login and listing work. An error fails the
//! command (and so the unit's `ExecStartPre`); a warning is printed and passes.

use ingest_config::{Config, Passphrase, SftpConfig, SourceConfig};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Ok,
}

/// One thing checked, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub source: String,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Ok => "ok",
        };
        write!(f, "{level}: source {}: {}", self.source, self.text)
    }
}

/// Check every source's files and folders.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for source in &config.sources {
        let mut say = |level, text: String| out.push(Finding { level, source: source.name.clone(), text });
        match &source.sftp {
            Some(sftp) => check_sftp(sftp, &mut say),
            None => check_folder(source, &mut say),
        }
    }
    out
}

/// Connect once to every SFTP source: host key, login, listing.
pub fn probe(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for source in config.sources.iter().filter(|s| s.sftp.is_some()) {
        let Some(sftp) = source.sftp.clone() else { continue };
        let server = format!("sftp://{}@{}:{}{}", sftp.user, sftp.host, sftp.port, sftp.remote_dir);
        let poller = ingest_pipeline::source::sftp::Poller::new(&source.name, sftp, source.path.clone());
        let wants = |name: &str| source.wants(name) || source.is_run_marker(name);
        let (level, text) = match poller.probe(&wants) {
            Ok(p) => (
                Level::Ok,
                format!(
                    "probe {server}: host key {} {} is the one in known_hosts; login worked; the folder lists {} \
                     file(s), {} of them taken by this source",
                    p.key_type, p.fingerprint, p.listed, p.wanted
                ),
            ),
            Err(e) => (Level::Error, format!("probe failed ({}): {e}", e.kind().as_str())),
        };
        out.push(Finding { level, source: source.name.clone(), text });
    }
    out
}

fn check_folder(source: &SourceConfig, say: &mut impl FnMut(Level, String)) {
    let path = &source.path;
    match std::fs::read_dir(path) {
        Ok(_) => say(Level::Ok, format!("folder {} is readable", path.display())),
        Err(e) => say(
            Level::Warning,
            format!(
                "folder {}: {e}. The daemon keeps retrying and reports the source FAILING until it can read it",
                path.display()
            ),
        ),
    }
}

fn check_sftp(c: &SftpConfig, say: &mut impl FnMut(Level, String)) {
    secret("sftp.key_file", &c.key_file, say);
    match &c.passphrase {
        Passphrase::None => {}
        Passphrase::File(path) => secret("sftp.passphrase_file", path, say),
        Passphrase::Credential(name) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) if Path::new(&dir).join(name).is_file() => {
                say(Level::Ok, format!("the systemd credential {name:?} is present"))
            }
            _ => say(
                Level::Warning,
                format!(
                    "the passphrase is the systemd credential {name:?}, which only the service sees \
                     (LoadCredential= in the unit); not checked here"
                ),
            ),
        },
    }
    let text = match std::fs::read_to_string(&c.known_hosts) {
        Ok(text) => text,
        Err(e) => {
            return say(
                Level::Error,
                format!(
                    "sftp.known_hosts {}: {e}. Every poll would refuse the server; create it with the server's \
                     key, confirmed with the EHR's administrators: ssh-keyscan -p {} {} >> {}",
                    c.known_hosts.display(),
                    c.port,
                    c.host,
                    c.known_hosts.display()
                ),
            );
        }
    };
    let name = if c.port == 22 { c.host.clone() } else { format!("[{}]:{}", c.host, c.port) };
    if let Err(reason) = libssh2_reads(&c.known_hosts) {
        return say(
            Level::Error,
            format!(
                "sftp.known_hosts {}: libssh2 (which the daemon connects with) cannot read it: {reason}. Every \
                 poll would refuse the server; remove or fix the line it stops at",
                c.known_hosts.display()
            ),
        );
    }
    let keys = keys_for(&text, &c.host, c.port);
    if keys.is_empty() {
        say(
            Level::Error,
            format!(
                "sftp.known_hosts {} has no key for {name}: every poll would refuse the server. Add its key, \
                 confirmed with the EHR's administrators: ssh-keyscan -p {} {} >> {}",
                c.known_hosts.display(),
                c.port,
                c.host,
                c.known_hosts.display()
            ),
        );
    } else {
        say(Level::Ok, format!("sftp.known_hosts {} has {} for {name}", c.known_hosts.display(), keys.join(", ")));
    }
}

/// Whether libssh2 reads the whole file: it refuses a file at its first line it cannot parse.
fn libssh2_reads(path: &Path) -> Result<(), String> {
    let session = ssh2::Session::new().map_err(|e| e.message().to_string())?;
    let mut known = session.known_hosts().map_err(|e| e.message().to_string())?;
    known.read_file(path, ssh2::KnownHostFileKind::OpenSSH).map(|_| ()).map_err(|e| e.message().to_string())
}

/// A file that holds a secret: readable by this process, by no one else but its owner and, when
/// someone else owns it (root, with the service's group), that group. As OpenSSH judges a key: a
/// key of one's own that the group can read is refused too.
fn secret(field: &str, path: &Path, say: &mut impl FnMut(Level, String)) {
    use std::os::unix::fs::MetadataExt as _;
    let opened = std::fs::File::open(path).and_then(|f| f.metadata());
    let meta = match opened {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return say(Level::Error, format!("{field} {}: not a regular file", path.display())),
        Err(e) => return say(Level::Error, format!("{field} {}: {e}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    let own = meta.uid() == rustix::process::geteuid().as_raw();
    let fix = "a secret must be private (chmod 600, or 640 owned by root with the service's group)";
    if mode & 0o007 != 0 {
        say(
            Level::Error,
            format!("{field} {} can be read by anyone on the host (mode {mode:o}): {fix}", path.display()),
        );
    } else if own && mode & 0o070 != 0 {
        // libssh2 takes it; OpenSSH's own tools would refuse a key of one's own that is this open.
        say(Level::Warning, format!("{field} {} can be read by its group (mode {mode:o}): {fix}", path.display()));
    } else {
        say(Level::Ok, format!("{field} {} is readable and private", path.display()));
    }
}

/// The key types known_hosts holds for `host` on `port`, as libssh2 (what the daemon connects
/// with) finds them: a name is compared exactly (no `*`, `?` or `!` patterns), hashed names
/// (`|1|salt|hash`, HMAC-SHA1 of the name) included, and off port 22 `[host]:port` is tried, then
/// `host`. Lines with a marker (`@cert-authority`, `@revoked`) do not count.
pub fn keys_for(known_hosts: &str, host: &str, port: u16) -> Vec<String> {
    let names: Vec<String> =
        if port == 22 { vec![host.to_string()] } else { vec![format!("[{host}]:{port}"), host.to_string()] };
    let mut out = Vec::new();
    for line in known_hosts.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(key_type)) = (fields.next(), fields.next()) else { continue };
        let matched = hosts.split(',').any(|pattern| names.iter().any(|name| matches(pattern, name)));
        if matched && !out.iter().any(|k| k == key_type) {
            out.push(key_type.to_string());
        }
    }
    out
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("|1|") {
        Some(hashed) => hashed_matches(hashed, name),
        None => pattern == name,
    }
}

fn hashed_matches(hashed: &str, name: &str) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else { return false };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_names_match_as_libssh2_matches_them() {
        let text = "# comment\n\
            ehr.example.org,10.1.2.3 ssh-ed25519 AAAA\n\
            [sftp.example.org]:2222 ecdsa-sha2-nistp256 AAAA\n\
            plain.example.org ssh-ed25519 AAAA\n\
            *.ward.example.org ssh-rsa AAAA\n\
            @revoked revoked.example.org ssh-ed25519 AAAA\n\
            |1|/Qyb5pmkh8CRowfEZmX4Tlr0mvQ=|/wcLfDqh5UuW+94o/d2nbqPji34= ssh-rsa AAAA\n";
        assert_eq!(keys_for(text, "ehr.example.org", 22), ["ssh-ed25519"]);
        assert_eq!(keys_for(text, "10.1.2.3", 22), ["ssh-ed25519"]);
        assert_eq!(keys_for(text, "sftp.example.org", 2222), ["ecdsa-sha2-nistp256"]);
        assert!(keys_for(text, "sftp.example.org", 22).is_empty(), "[host]:port is not the host on 22");
        assert_eq!(keys_for(text, "plain.example.org", 2222), ["ssh-ed25519"], "off 22, the plain name is tried too");
        assert!(keys_for(text, "a.ward.example.org", 22).is_empty(), "libssh2 has no wildcards");
        assert!(keys_for(text, "revoked.example.org", 22).is_empty(), "a marker line does not count");
        // The hashed line is what `ssh-keygen -H` wrote for "192.168.1.61 ssh-rsa AAAA".
        assert_eq!(keys_for(text, "192.168.1.61", 22), ["ssh-rsa"]);
        assert!(keys_for(text, "192.168.1.62", 22).is_empty());
    }
}
