//! Desktop notifications behind a small trait, so the window and tests do not depend on a notification daemon.
//!
//! notify-rust can block for a long time when something owns the notification name on the bus but never answers,
//! so the real notifier sends from a thread of its own and never from the UI thread.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// A notification from Backstop: its name, its icon, and the desktop-entry hint that lets the notification service
/// group it under the installed launcher (and find the same icon there); hints exist on the D-Bus platforms only.
fn notification(summary: &str, body: &str) -> notify_rust::Notification {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("Backstop")
        .summary(summary)
        .body(body)
        .icon(crate::APP_ID);
    #[cfg(all(unix, not(target_os = "macos")))]
    notification.hint(notify_rust::Hint::DesktopEntry(crate::APP_ID.to_string()));
    notification
}

/// Something that shows a short message to the user outside the window.
pub trait Notifier: Send {
    /// Shows a notification; never blocks.
    fn notify(&self, summary: &str, body: &str);

    /// A problem the notifier met since the last call (e.g. "no notification service"), reported once.
    fn take_problem(&self) -> Option<String>;
}

/// Sends through the desktop's notification service (D-Bus on Linux) from a thread named `backstop-notify`.
pub struct DesktopNotifier {
    requests: Sender<(String, String)>,
    problems: Mutex<Receiver<String>>,
}

impl DesktopNotifier {
    /// Starts the sending thread.
    pub fn start() -> DesktopNotifier {
        let (requests, incoming) = channel::<(String, String)>();
        let (problem_tx, problems) = channel::<String>();
        let spawned = std::thread::Builder::new().name("backstop-notify".into()).spawn(move || {
            let mut reported = false;
            while let Ok((summary, body)) = incoming.recv() {
                let result = notification(&summary, &body).show();
                if let Err(e) = result
                    && !reported
                {
                    reported = true;
                    let _ = problem_tx.send(format!(
                        "Desktop notifications are unavailable ({e}); Backstop keeps working and shows messages in the window"
                    ));
                }
            }
        });
        if spawned.is_err() {
            // Without the thread, requests are simply dropped; the window still shows every message.
        }
        DesktopNotifier {
            requests,
            problems: Mutex::new(problems),
        }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, summary: &str, body: &str) {
        let _ = self.requests.send((summary.to_string(), body.to_string()));
    }

    fn take_problem(&self) -> Option<String> {
        self.problems.lock().ok()?.try_recv().ok()
    }
}

/// Sends one notification and waits at most `timeout` for it (for the CLI, whose process ends right after).
/// Does nothing without a session bus; a daemon that never answers costs `timeout`, never a hang.
pub fn notify_and_wait(summary: &str, body: &str, timeout: std::time::Duration) {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return;
    }
    let (done_tx, done_rx) = channel();
    let (summary, body) = (summary.to_string(), body.to_string());
    let spawned = std::thread::Builder::new()
        .name("backstop-notify".into())
        .spawn(move || {
            let _ = notification(&summary, &body).show();
            let _ = done_tx.send(());
        });
    if spawned.is_ok() {
        let _ = done_rx.recv_timeout(timeout);
    }
}

/// Keeps notifications in memory (tests, and machines where the user turned notifications off).
#[derive(Clone, Default)]
pub struct RecordingNotifier {
    /// Every (summary, body) sent.
    pub sent: Arc<Mutex<Vec<(String, String)>>>,
}

impl Notifier for RecordingNotifier {
    fn notify(&self, summary: &str, body: &str) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((summary.to_string(), body.to_string()));
        }
    }

    fn take_problem(&self) -> Option<String> {
        None
    }
}
