//! systemd's service notifications (`Type=notify`, sd_notify(3)): READY once the config is
//! loaded, the listener is up and load has started; STOPPING when the drain begins; STATUS lines
//! on the way; and, when the unit sets `WatchdogSec=`, a WATCHDOG ping every half period from a
//! task on the runtime — a runtime that stalls stops pinging and systemd restarts it. Without
//! `NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// The run started: the config is loaded and the listener is up.
pub(super) fn ready(detail: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(detail)]);
}

/// The drain began.
pub(super) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// A status line (`systemctl status` shows the last).
pub(super) fn status(detail: &str) {
    send(&[NotifyState::Status(detail)]);
}

/// How often to ping the watchdog (half its period), when the unit has one.
pub(super) fn watchdog_every() -> Option<Duration> {
    let period = sd_notify::watchdog_enabled()?;
    tracing::info!(period = %crate::config::human(period), "systemd watchdog enabled");
    Some((period / 2).max(Duration::from_millis(10)))
}

/// The watchdog ping.
pub(super) fn ping() {
    send(&[NotifyState::Watchdog]);
}
