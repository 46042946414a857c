//! The real binary on a real X server (Xvfb on display :63) and a private D-Bus session (issue 13 §4, §7): a second
//! `backstop` brings the first window forward and exits 0; the tray item registers with a StatusNotifierWatcher
//! (a stand-in written here with zbus, served on the private bus), its dbusmenu's "Back up now" makes a backup and
//! its tooltip and status follow; `--hidden` hides the window while the scheduler works; with no watcher, or no bus
//! at all, `--hidden` shows the window and closing it (WM_DELETE_WINDOW, sent by a python3-xlib script) quits
//! cleanly. Needs Xvfb, xdotool, dbus-daemon and python3-xlib (`.ci/run` installs them); skipped where Xvfb is
//! missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::TestHome;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use zbus::zvariant::{OwnedValue, Value};

const DISPLAY: &str = ":63";

/// One test at a time: they share the display.
static SERIAL: Mutex<()> = Mutex::new(());

/// A child process stopped when the test ends, whatever happens: SIGTERM first (Xvfb then removes its socket),
/// SIGKILL if it is still there after a while.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether an X server answers on the display.
fn x_answers() -> bool {
    Command::new("xdotool")
        .env("DISPLAY", DISPLAY)
        .arg("getdisplaygeometry")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The X server on :63 (started here unless one runs already) and the test's turn.
struct Display {
    _xvfb: Option<Killed>,
    _turn: MutexGuard<'static, ()>,
}

fn display() -> Option<Display> {
    let turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let xvfb = if x_answers() {
        None
    } else {
        let child = match Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1280x860x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("skipped: no Xvfb ({e})");
                return None;
            }
        };
        let xvfb = Killed(child);
        wait_for("Xvfb to answer", Duration::from_secs(20), x_answers);
        Some(xvfb)
    };
    Some(Display {
        _xvfb: xvfb,
        _turn: turn,
    })
}

/// Polls `done` every 50 ms; fails after `limit` (a guard against a hang, not a timing assertion).
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private session bus: `dbus-daemon --session`, its address.
struct Bus {
    address: String,
    _daemon: Killed,
}

fn private_bus() -> Bus {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Bus {
        address: line.trim().to_string(),
        _daemon: Killed(child),
    }
}

/// The StatusNotifierWatcher stand-in: records the items that register.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// Serves the watcher on `bus`; the connection (kept alive by the caller) and the registered items.
fn watcher(bus: &Bus) -> (zbus::blocking::Connection, Arc<Mutex<Vec<String>>>) {
    let items = Arc::new(Mutex::new(Vec::new()));
    let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at(
            "/StatusNotifierWatcher",
            Watcher {
                items: items.clone(),
            },
        )
        .unwrap()
        .build()
        .unwrap();
    (connection, items)
}

/// The window: `backstop args…` on the display, with `bus` as its session bus (None: no bus at all).
fn start(home: &TestHome, args: &[&str], bus: Option<&str>) -> Killed {
    let mut command = home.command(args);
    command
        .env("DISPLAY", DISPLAY)
        .env_remove("WAYLAND_DISPLAY")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            bus.unwrap_or("unix:path=/nonexistent/backstop-test-bus"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Killed(command.spawn().unwrap())
}

/// The X windows named "Backstop" (`visible`: mapped ones only).
fn windows(visible: bool) -> Vec<String> {
    let mut command = Command::new("xdotool");
    command.env("DISPLAY", DISPLAY).arg("search");
    if visible {
        command.arg("--onlyvisible");
    }
    let out = command.args(["--name", "^Backstop$"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Sends WM_DELETE_WINDOW to every window named Backstop, as a window manager's close button does.
fn close_windows() {
    const SCRIPT: &str = r#"
import sys
from Xlib import X, display, protocol
d = display.Display(sys.argv[1])
protocols = d.intern_atom('WM_PROTOCOLS')
delete = d.intern_atom('WM_DELETE_WINDOW')
for wid in sys.argv[2:]:
    w = d.create_resource_object('window', int(wid))
    w.send_event(protocol.event.ClientMessage(window=w, client_type=protocols,
                 data=(32, [delete, X.CurrentTime, 0, 0, 0])), event_mask=X.NoEventMask)
d.flush()
"#;
    let status = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, DISPLAY])
        .args(windows(false))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit; its exit code.
fn exit_code(child: &mut Killed, limit: Duration) -> Option<i32> {
    let mut code = None;
    wait_for("backstop to exit", limit, || match child.0.try_wait() {
        Ok(Some(status)) => {
            code = Some(status.code());
            true
        }
        _ => false,
    });
    code.flatten()
}

/// Completed backups of the catalog with this trigger.
fn completed(home: &TestHome, trigger: &str) -> usize {
    home.list_json()
        .iter()
        .filter(|b| b["trigger"] == trigger && b["status"] == "completed")
        .count()
}

/// A property of the tray item `item` (its bus name).
fn property(connection: &zbus::blocking::Connection, item: &str, name: &str) -> OwnedValue {
    connection
        .call_method(
            Some(item),
            "/StatusNotifierItem",
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.kde.StatusNotifierItem", name),
        )
        .unwrap()
        .body()
        .deserialize::<OwnedValue>()
        .unwrap()
}

fn unwrap_variant<'a>(value: &'a Value<'a>) -> &'a Value<'a> {
    match value {
        Value::Value(inner) => unwrap_variant(inner),
        other => other,
    }
}

fn text(value: &Value<'_>) -> String {
    match unwrap_variant(value) {
        Value::Str(s) => s.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

/// The tooltip's description (the state in words).
fn tooltip(connection: &zbus::blocking::Connection, item: &str) -> String {
    let value = property(connection, item, "ToolTip");
    match unwrap_variant(&value) {
        Value::Structure(s) => text(&s.fields()[3]),
        other => panic!("ToolTip is not a structure: {other:?}"),
    }
}

fn status(connection: &zbus::blocking::Connection, item: &str) -> String {
    text(&property(connection, item, "Status"))
}

/// A dbusmenu item: its id, label and children.
#[derive(Debug)]
struct MenuNode {
    id: i32,
    label: String,
    children: Vec<MenuNode>,
}

fn menu_node(value: &Value<'_>) -> MenuNode {
    let Value::Structure(s) = unwrap_variant(value) else {
        panic!("not a layout: {value:?}")
    };
    let fields = s.fields();
    let Value::I32(id) = fields[0] else {
        panic!("no id: {fields:?}")
    };
    let mut label = String::new();
    if let Value::Dict(props) = &fields[1] {
        for (key, value) in props.iter() {
            if text(key) == "label" {
                label = text(value);
            }
        }
    }
    let children = match &fields[2] {
        Value::Array(children) => children.iter().map(menu_node).collect(),
        _ => Vec::new(),
    };
    MenuNode {
        id,
        label,
        children,
    }
}

/// The item's menu, read with `com.canonical.dbusmenu.GetLayout`.
fn menu(connection: &zbus::blocking::Connection, item: &str) -> MenuNode {
    let reply = connection
        .call_method(
            Some(item),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        )
        .unwrap();
    type Layout = (
        i32,
        std::collections::HashMap<String, OwnedValue>,
        Vec<OwnedValue>,
    );
    let (_revision, (id, props, children)): (u32, Layout) = reply.body().deserialize().unwrap();
    MenuNode {
        id,
        label: props.get("label").map(|v| text(v)).unwrap_or_default(),
        children: children.iter().map(|c| menu_node(c)).collect(),
    }
}

fn find<'a>(node: &'a MenuNode, label: &str) -> Option<&'a MenuNode> {
    if node.label == label {
        return Some(node);
    }
    node.children.iter().find_map(|child| find(child, label))
}

/// Clicks menu item `label` through `com.canonical.dbusmenu.Event`.
fn click(connection: &zbus::blocking::Connection, item: &str, label: &str) {
    let root = menu(connection, item);
    let node = find(&root, label).unwrap_or_else(|| panic!("no {label:?} in {root:?}"));
    connection
        .call_method(
            Some(item),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "Event",
            &(node.id, "clicked", Value::I32(0), 0u32),
        )
        .unwrap();
}

#[test]
fn a_second_backstop_brings_the_first_window_forward_and_exits() {
    let Some(_display) = display() else { return };
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let mut first = start(&home, &[], None);
    wait_for("the first window", Duration::from_secs(60), || {
        !windows(true).is_empty()
    });
    assert!(home.paths().state_dir.join("instance.json").exists());

    let mut second = Killed(
        home.command(&[])
            .env("DISPLAY", DISPLAY)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // A guard against a second window that never exits, not a timing assertion.
    assert_eq!(exit_code(&mut second, Duration::from_secs(30)), Some(0));
    let mut said = String::new();
    std::io::Read::read_to_string(&mut second.0.stdout.take().unwrap(), &mut said).unwrap();
    assert!(
        said.contains("Backstop is already running; its window was brought forward"),
        "{said}"
    );
    // One window, one process: the first is still there and the second opened none.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(windows(false).len(), 1, "{:?}", windows(false));
    assert!(first.0.try_wait().unwrap().is_none());

    // A file given to the second is offered in the first; a missing file is a usage error.
    let missing = home
        .command(&["/nonexistent/shop.zip"])
        .env("DISPLAY", DISPLAY)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));

    close_windows();
    assert_eq!(exit_code(&mut first, Duration::from_secs(30)), Some(0));
    assert!(
        !home.paths().state_dir.join("instance.json").exists(),
        "the record goes with the window"
    );
}

#[test]
fn the_tray_registers_and_its_back_up_now_makes_a_backup_while_the_window_is_hidden() {
    let Some(_display) = display() else { return };
    let bus = private_bus();
    let (connection, items) = watcher(&bus);
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let mut app = start(&home, &["--hidden"], Some(&bus.address));
    wait_for("the tray item to register", Duration::from_secs(60), || {
        !items.lock().unwrap().is_empty()
    });
    let item = items.lock().unwrap()[0].clone();
    wait_for(
        "the tray to name the state",
        Duration::from_secs(60),
        || tooltip(&connection, &item) == "shop is not protected yet",
    );
    assert_eq!(status(&connection, &item), "Active");
    assert!(windows(true).is_empty(), "--hidden: no window shows");

    click(&connection, &item, "Back up now");
    wait_for("the tray's backup", Duration::from_secs(120), || {
        completed(&home, "manual") == 1
    });
    wait_for("the tray to say protected", Duration::from_secs(60), || {
        tooltip(&connection, &item) == "shop is protected"
    });
    assert!(
        windows(true).is_empty(),
        "the backup ran with the window hidden"
    );

    // Pause: the checkmark's click is saved in the config.
    click(&connection, &item, "Pause automatic backups");
    wait_for("the pause to be saved", Duration::from_secs(60), || {
        std::fs::read_to_string(home.home().join("config.toml"))
            .unwrap()
            .contains("automatic_paused = true")
    });
    wait_for("the tooltip to say paused", Duration::from_secs(60), || {
        tooltip(&connection, &item).contains("Automatic backups are paused")
    });

    click(&connection, &item, "Open Backstop");
    wait_for("the window to show", Duration::from_secs(60), || {
        !windows(true).is_empty()
    });
    click(&connection, &item, "Quit");
    assert_eq!(exit_code(&mut app, Duration::from_secs(30)), Some(0));
}

#[test]
fn hidden_in_the_tray_the_scheduler_still_runs_a_due_backup() {
    let Some(_display) = display() else { return };
    let bus = private_bus();
    let (connection, items) = watcher(&bus);
    let home = TestHome::new();
    // Automatic backups on and none yet: due at launch.
    home.sqlite_profile("shop", 10, &[]);
    let mut app = start(&home, &["--hidden"], Some(&bus.address));
    wait_for("the tray item to register", Duration::from_secs(60), || {
        !items.lock().unwrap().is_empty()
    });
    wait_for("the automatic backup", Duration::from_secs(120), || {
        completed(&home, "automatic") == 1
    });
    assert!(windows(true).is_empty(), "made while the window was hidden");
    let item = items.lock().unwrap()[0].clone();
    wait_for("the tray to say protected", Duration::from_secs(60), || {
        tooltip(&connection, &item) == "shop is protected"
    });
    click(&connection, &item, "Quit");
    assert_eq!(exit_code(&mut app, Duration::from_secs(30)), Some(0));
}

#[test]
fn with_no_tray_hidden_shows_the_window_and_closing_quits() {
    let Some(_display) = display() else { return };
    let bus = private_bus();
    for (what, address) in [
        ("a bus with no watcher", Some(bus.address.as_str())),
        ("no bus at all", None),
    ] {
        let home = TestHome::new();
        home.sqlite_profile("shop", 10, &["--no-auto"]);
        let mut app = start(&home, &["--hidden"], address);
        wait_for(
            &format!("{what}: the window to show, since no tray can"),
            Duration::from_secs(60),
            || !windows(true).is_empty(),
        );
        // Let the window settle, then close it as a window manager would.
        std::thread::sleep(Duration::from_secs(1));
        close_windows();
        // The limit guards against a hang; it is no timing assertion.
        assert_eq!(
            exit_code(&mut app, Duration::from_secs(30)),
            Some(0),
            "{what}"
        );
    }
}
