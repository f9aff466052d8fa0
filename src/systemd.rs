//! Telling systemd how the service is doing (`Type=notify`): READY=1 once the sources are watched
//! and MCP is bound, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM, WATCHDOG=1 while the runtime
//! answers. Each is a no-op outside systemd (no `$NOTIFY_SOCKET`); a failed notification is
//! logged, never fatal.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Startup is done; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload began (systemd ≥ 253 wants the monotonic time with it); `ready` ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to send WATCHDOG=1: half of `WatchdogSec=`, when the watchdog is on for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|limit| limit / 2)
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_notify_socket_nothing_happens() {
        // The test runner is not a systemd service: every call is a quiet no-op.
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            super::ready("test");
            super::reloading();
            super::watchdog();
            super::stopping();
            assert_eq!(super::watchdog_interval(), None);
        }
    }
}
