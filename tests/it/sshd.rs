//! A real OpenSSH server for the SFTP tests: `/usr/sbin/sshd` on 127.0.0.1 and a free port, with
//! its own host key, one authorized client key, `internal-sftp` only, and a remote folder in a temp
//! directory. Stopped when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The folder the tests put "exports" in (the source's `remote_dir`).
    pub remote: PathBuf,
    /// The client's private key, protected by the passphrase in `passphrase_file`.
    pub client_key: PathBuf,
    pub passphrase_file: PathBuf,
    /// A known_hosts file holding this server's host key.
    pub known_hosts: PathBuf,
    /// The host key's fingerprint as OpenSSH prints it (`SHA256:…`).
    pub fingerprint: String,
}

fn keygen(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "ingest-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Sshd {
    pub fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "the SFTP tests need OpenSSH's sshd: apt-get install openssh-server (see .ci/run)");
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = dir.path().join("host_ed25519");
        let client_key = dir.path().join("client_ed25519");
        let passphrase = "correct horse battery staple";
        keygen(&host_key, "");
        keygen(&client_key, passphrase);
        let passphrase_file = dir.path().join("passphrase");
        std::fs::write(&passphrase_file, format!("{passphrase}\n")).expect("passphrase file");
        std::fs::copy(client_key.with_extension("pub"), dir.path().join("authorized_keys")).expect("authorized_keys");
        let remote = dir.path().join("remote");
        std::fs::create_dir_all(&remote).expect("remote dir");
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nSubsystem sftp internal-sftp\n\
                 ForceCommand internal-sftp\nAllowTcpForwarding no\nLogLevel ERROR\n",
                host = host_key.display(),
                pid = dir.path().join("sshd.pid").display(),
                keys = dir.path().join("authorized_keys").display(),
            ),
        )
        .expect("sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd (privilege separation directory)");
        let log = std::fs::File::create(dir.path().join("sshd.log")).expect("sshd log");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().expect("key type"), fields.next().expect("key"));
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {key}\n")).expect("known_hosts");
        let printed =
            Command::new("ssh-keygen").arg("-lf").arg(host_key.with_extension("pub")).output().expect("ssh-keygen -l");
        let fingerprint =
            String::from_utf8_lossy(&printed.stdout).split_whitespace().nth(1).expect("a fingerprint").to_string();
        let mut server = Sshd { child, dir, port, remote, client_key, passphrase_file, known_hosts, fingerprint };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(server.child.try_wait().expect("try_wait").is_none(), "sshd exited: {}", server.log());
            assert!(started.elapsed() < Duration::from_secs(10), "sshd did not listen: {}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Cut every open connection (the per-connection sshd processes); the listener stays.
    pub fn kill_sessions(&self) {
        let _ = Command::new("pkill").args(["-KILL", "-P", &self.child.id().to_string()]).status();
    }

    /// A known_hosts file with another key for this server (as after a rebuild, or an attack).
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let other = self.dir.path().join("other_ed25519");
        keygen(&other, "");
        let key = std::fs::read_to_string(other.with_extension("pub")).expect("other key");
        let mut fields = key.split_whitespace();
        let path = self.dir.path().join("known_hosts.wrong");
        let (kind, key) = (fields.next().expect("type"), fields.next().expect("key"));
        std::fs::write(&path, format!("[127.0.0.1]:{} {kind} {key}\n", self.port)).expect("write");
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_sessions();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
