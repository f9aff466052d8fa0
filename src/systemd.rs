//! Telling systemd how the service is doing (`Type=notify`): READY=1 once the sources are watched
//! and MCP is bound, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM, WATCHDOG=1 while the runtime
//! answers. Each is a no-op outside systemd (no `$NOTIFY_SOCKET`); a failed notification is
//! logged, never fatal.
//!
//! The unit is `Type=notify` with `ExecReload=kill -HUP $MAINPID`, not `Type=notify-reload`: the
//! latter needs systemd ≥ 253 and Debian 12 ships 252. RELOADING=1 carries MONOTONIC_USEC anyway,
//! as 253 and later want, so moving the unit to `notify-reload` needs no change here.
//!
//! `sd-notify` formats the states and reads the monotonic clock; the datagram is sent here so that
//! an abstract socket (`@name`, as some container managers hand out) works too, and so that the
//! tests can aim at a socket of their own without touching the environment.

use sd_notify::NotifyState;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Startup (or a reload) is done; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
}

/// A one-line status for `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(&one_line(text))]);
}

/// A reload began (systemd ≥ 253 wants the monotonic time with it); `ready` ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown began: the file in hand finishes or rolls back.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Still alive (`WatchdogSec=`).
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to send WATCHDOG=1: half of `WatchdogSec=`, when the watchdog is on for this process
/// (`$WATCHDOG_USEC`, and `$WATCHDOG_PID` absent or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_for(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn watchdog_interval_for(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    match pid.map(|p| p.trim().parse::<u32>()) {
        None => {}
        Some(Ok(p)) if p == me => {}
        Some(_) => return None,
    }
    Some(Duration::from_micros(usec) / 2)
}

fn send(states: &[NotifyState<'_>]) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(e) = send_to(&socket, states) {
        tracing::warn!(error = %e, socket = %socket.to_string_lossy(), "cannot notify systemd");
    }
}

/// One datagram, a `KEY=VALUE` line per state, to a socket path or an abstract `@name`.
fn send_to(socket: &OsStr, states: &[NotifyState<'_>]) -> io::Result<()> {
    let mut message = String::new();
    for state in states {
        let _ = writeln!(message, "{state}");
    }
    let sender = UnixDatagram::unbound()?;
    let sent = match socket.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(message.as_bytes(), &address)?
        }
        None => sender.send_to(message.as_bytes(), socket)?,
    };
    if sent != message.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "notification cut short"));
    }
    Ok(())
}

/// The protocol is a line per state: a newline in a status would start a bogus one.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut buf = [0u8; 1024];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).expect("utf-8")
    }

    #[test]
    fn a_notification_is_one_datagram_with_a_line_per_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        send_to(path.as_os_str(), &[NotifyState::Ready, NotifyState::Status(&one_line("watching 2\nsources"))])
            .expect("send");
        assert_eq!(receive(&socket), "READY=1\nSTATUS=watching 2 sources\n");
        send_to(path.as_os_str(), &[NotifyState::Reloading, NotifyState::monotonic_usec_now().expect("clock")])
            .expect("send");
        let reloading = receive(&socket);
        assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
        let usec = reloading.lines().nth(1).and_then(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("usec");
        assert!(usec.parse::<u64>().expect("a number") > 0);
    }

    #[test]
    fn an_abstract_socket_is_reached_by_its_at_name() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ingest-test-notify-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let socket = UnixDatagram::bind_addr(&address).expect("bind abstract");
        send_to(OsStr::new(&format!("@{name}")), &[NotifyState::Watchdog]).expect("send");
        assert_eq!(receive(&socket), "WATCHDOG=1\n");
    }

    #[test]
    fn no_listener_is_an_error_for_the_caller_to_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(send_to(dir.path().join("absent.sock").as_os_str(), &[NotifyState::Stopping]).is_err());
    }

    #[test]
    fn the_watchdog_interval_is_half_the_limit_and_only_for_its_process() {
        let half = Some(Duration::from_secs(30));
        assert_eq!(watchdog_interval_for(Some("60000000"), None, 42), half);
        assert_eq!(watchdog_interval_for(Some("60000000"), Some("42"), 42), half);
        assert_eq!(watchdog_interval_for(Some("60000000"), Some("43"), 42), None);
        assert_eq!(watchdog_interval_for(Some("60000000"), Some("x"), 42), None);
        assert_eq!(watchdog_interval_for(None, Some("42"), 42), None);
        assert_eq!(watchdog_interval_for(Some("0"), None, 42), None);
        assert_eq!(watchdog_interval_for(Some("soon"), None, 42), None);
    }

    #[test]
    fn without_a_notify_socket_nothing_happens() {
        // The test runner is not a systemd service: every call is a quiet no-op.
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            ready("test");
            status("test");
            reloading();
            watchdog();
            stopping();
        }
    }
}
