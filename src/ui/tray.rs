//! The tray icon: a StatusNotifierItem (the `ksni` crate over D-Bus; Linux only, elsewhere there is no tray) with
//! the overall state (all protected, a job running, needs attention) as a coloured mark on the app's icon and in
//! words in its tooltip, and a menu: Open Backstop, Back up now, Pause automatic backups, Quit.
//!
//! Nothing here runs on the UI thread but [`Tray::poll`] and [`Tray::show`], which only use channels: the item is
//! registered on a thread of its own (`backstop-tray`), which says "ready" or "unavailable" (no session bus, no
//! StatusNotifierWatcher) and then applies the views the window sends it, only when they change. Menu clicks
//! arrive on ksni's thread and come back to the window as [`TrayEvent`]s, with a repaint.

use crate::status::{Overall, Tone};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

/// What the tray asks of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayEvent {
    /// The item is registered with the desktop's tray.
    Ready,
    /// There is no tray (no session bus, no StatusNotifierWatcher, not Linux), and why.
    Unavailable(String),
    /// The desktop's tray went away (it may come back).
    HostGone,
    /// The desktop's tray is back.
    HostBack,
    /// Open Backstop (the menu item, or a click on the icon).
    Open,
    /// Back up now this profile.
    BackUp(String),
    /// Pause (true) or resume automatic backups.
    Pause(bool),
    /// Quit, as Ctrl+Q does.
    Quit,
}

/// What the tray shows. The window sends a new one only when it differs from the last.
#[derive(Debug, Clone, PartialEq)]
pub struct TrayView {
    /// Every profile's state in one.
    pub overall: Overall,
    /// The profiles "Back up now" offers, in config order.
    pub profiles: Vec<String>,
    /// Whether automatic backups are paused (the menu's checkmark).
    pub paused: bool,
}

impl Default for TrayView {
    fn default() -> Self {
        TrayView {
            overall: Overall {
                tone: Tone::Unprotected,
                words: "Starting…".into(),
            },
            profiles: Vec::new(),
            paused: false,
        }
    }
}

/// Whether a tray shows Backstop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Still registering (since then).
    Starting(Instant),
    /// Registered, and the desktop's tray is there.
    Shown,
    /// No tray (or it went away), and why.
    Unavailable(String),
}

/// The window's side of the tray.
pub struct Tray {
    events: Receiver<TrayEvent>,
    /// Kept so that a tray that never started still has a live channel (tests, other systems).
    _events_tx: Option<Sender<TrayEvent>>,
    views: Option<Sender<TrayView>>,
    availability: Availability,
    shown: Option<TrayView>,
}

impl Tray {
    /// Registers the tray item on a thread of its own; `repaint` wakes the window when the tray has news.
    pub fn start(repaint: Arc<dyn Fn() + Send + Sync>) -> Tray {
        let (events_tx, events) = channel();
        let (views_tx, views_rx) = channel();
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("backstop-tray".into())
            .spawn({
                let events_tx = events_tx.clone();
                move || run(events_tx, views_rx, repaint)
            });
        let availability = match spawned {
            Ok(_) => Availability::Starting(started),
            Err(e) => Availability::Unavailable(format!("cannot start the tray's thread: {e}")),
        };
        Tray {
            events,
            _events_tx: None,
            views: Some(views_tx),
            availability,
            shown: None,
        }
    }

    /// No tray at all (the headless tests' windows; `present` true pretends the desktop had one, so that the close
    /// question can be tested without a session bus).
    pub fn none(present: bool) -> Tray {
        let (events_tx, events) = channel();
        Tray {
            events,
            _events_tx: Some(events_tx),
            views: None,
            availability: if present {
                Availability::Shown
            } else {
                Availability::Unavailable("no tray in this window".into())
            },
            shown: None,
        }
    }

    /// Whether the tray shows Backstop now.
    pub fn shown(&self) -> bool {
        self.availability == Availability::Shown
    }

    /// Whether a real tray takes views (the headless ones do not).
    pub fn wants_views(&self) -> bool {
        self.views.is_some()
    }

    /// Whether the tray is still registering (and since when).
    pub fn starting_since(&self) -> Option<Instant> {
        match self.availability {
            Availability::Starting(at) => Some(at),
            _ => None,
        }
    }

    /// Gives up waiting for a tray that does not answer (`why` says so).
    pub fn give_up(&mut self, why: &str) {
        if self.starting_since().is_some() {
            self.availability = Availability::Unavailable(why.to_string());
        }
    }

    /// The tray's news since the last frame; availability is kept up to date here.
    pub fn poll(&mut self) -> Vec<TrayEvent> {
        let events: Vec<TrayEvent> = self.events.try_iter().collect();
        for event in &events {
            match event {
                TrayEvent::Ready | TrayEvent::HostBack => self.availability = Availability::Shown,
                TrayEvent::Unavailable(why) => {
                    self.availability = Availability::Unavailable(why.clone());
                }
                TrayEvent::HostGone => {
                    self.availability =
                        Availability::Unavailable("the desktop's tray went away".into());
                }
                _ => {}
            }
        }
        events
    }

    /// Sends `view` to the tray when it differs from what it shows (never blocks).
    pub fn show(&mut self, view: TrayView) {
        if self.shown.as_ref() == Some(&view) {
            return;
        }
        if let Some(views) = &self.views
            && views.send(view.clone()).is_err()
        {
            self.views = None;
        }
        self.shown = Some(view);
    }
}

/// The tray thread: registers the item, reports, then applies views until the window goes.
#[cfg(target_os = "linux")]
fn run(events: Sender<TrayEvent>, views: Receiver<TrayView>, repaint: Arc<dyn Fn() + Send + Sync>) {
    use ksni::blocking::TrayMethods;
    let item = sni::Item::new(events.clone(), repaint.clone());
    match item.spawn() {
        Err(e) => {
            let _ = events.send(TrayEvent::Unavailable(sni::why(&e)));
            repaint();
        }
        Ok(handle) => {
            let _ = events.send(TrayEvent::Ready);
            repaint();
            while let Ok(view) = views.recv() {
                // Only the newest of several queued views matters.
                let view = views.try_iter().last().unwrap_or(view);
                handle.update(|item| item.view = view);
            }
            handle.shutdown().wait();
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn run(
    events: Sender<TrayEvent>,
    _views: Receiver<TrayView>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    let _ = events.send(TrayEvent::Unavailable(
        "the tray is only offered on Linux desktops so far".into(),
    ));
    repaint();
}

/// The colour of the tray's mark for a state (sRGB).
pub fn mark_color(tone: Tone) -> [u8; 3] {
    match tone {
        // The window's colours for the same states (ui/status.rs), bright enough to read on a dark or light panel;
        // the running mark is a light sky blue so that it stands out on the icon's own blue.
        Tone::Protected => [40, 170, 80],
        Tone::Working => [0, 190, 255],
        Tone::Attention => [235, 130, 0],
        Tone::Unprotected => [150, 150, 150],
    }
}

/// The app's icon (`rgba`, `size`×`size`) as an ARGB32 pixmap (network byte order, as StatusNotifierItem wants it)
/// with a round mark of `color` in its bottom-right corner, ringed in white so it reads on any panel.
pub fn marked_argb(rgba: &[u8], size: usize, color: [u8; 3]) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    let radius = size as f32 * 0.22;
    let ring = radius + (size as f32 * 0.06).max(1.0);
    let centre = size as f32 - ring - 0.5;
    let mut out = Vec::with_capacity(rgba.len());
    for (i, pixel) in rgba.chunks_exact(4).enumerate() {
        let (x, y) = ((i % size) as f32, (i / size) as f32);
        let distance = ((x - centre).powi(2) + (y - centre).powi(2)).sqrt();
        let [r, g, b, a] = <[u8; 4]>::try_from(pixel).unwrap_or_default();
        let argb = if distance <= radius {
            [255, color[0], color[1], color[2]]
        } else if distance <= ring {
            [255, 255, 255, 255]
        } else {
            [a, r, g, b]
        };
        out.extend_from_slice(&argb);
    }
    out
}

#[cfg(target_os = "linux")]
mod sni {
    use super::{TrayEvent, TrayView, mark_color, marked_argb};
    use crate::status::Tone;
    use std::sync::Arc;
    use std::sync::mpsc::Sender;

    /// The app's icon at two sizes, decoded once: (size, RGBA).
    fn base_icons() -> Vec<(usize, Vec<u8>)> {
        [
            &include_bytes!("../../assets/icon-32.png")[..],
            &include_bytes!("../../assets/icon-64.png")[..],
        ]
        .into_iter()
        .filter_map(|png| eframe::icon_data::from_png_bytes(png).ok())
        .filter(|icon| icon.width == icon.height)
        .map(|icon| (icon.width as usize, icon.rgba))
        .collect()
    }

    /// The StatusNotifierItem.
    pub(super) struct Item {
        pub(super) view: TrayView,
        events: Sender<TrayEvent>,
        repaint: Arc<dyn Fn() + Send + Sync>,
        icons: Vec<(usize, Vec<u8>)>,
    }

    impl Item {
        pub(super) fn new(events: Sender<TrayEvent>, repaint: Arc<dyn Fn() + Send + Sync>) -> Item {
            Item {
                view: TrayView::default(),
                events,
                repaint,
                icons: base_icons(),
            }
        }

        fn send(&self, event: TrayEvent) {
            let _ = self.events.send(event);
            (self.repaint)();
        }
    }

    /// Why the tray cannot show, in the user's words.
    pub(super) fn why(error: &ksni::Error) -> String {
        match error {
            ksni::Error::Dbus(e) => format!("no session bus ({e})"),
            ksni::Error::Watcher(e) => format!("the desktop shows no tray icons ({e})"),
            other => format!("the desktop shows no tray icons ({other})"),
        }
    }

    impl ksni::Tray for Item {
        fn id(&self) -> String {
            "backstop".into()
        }

        fn title(&self) -> String {
            "Backstop".into()
        }

        fn category(&self) -> ksni::Category {
            ksni::Category::ApplicationStatus
        }

        fn status(&self) -> ksni::Status {
            match self.view.overall.tone {
                Tone::Attention => ksni::Status::NeedsAttention,
                _ => ksni::Status::Active,
            }
        }

        fn icon_pixmap(&self) -> Vec<ksni::Icon> {
            let color = mark_color(self.view.overall.tone);
            self.icons
                .iter()
                .map(|(size, rgba)| ksni::Icon {
                    width: i32::try_from(*size).unwrap_or(0),
                    height: i32::try_from(*size).unwrap_or(0),
                    data: marked_argb(rgba, *size, color),
                })
                .collect()
        }

        fn tool_tip(&self) -> ksni::ToolTip {
            ksni::ToolTip {
                title: "Backstop".into(),
                description: self.view.overall.words.clone(),
                icon_name: String::new(),
                icon_pixmap: Vec::new(),
            }
        }

        fn activate(&mut self, _x: i32, _y: i32) {
            self.send(TrayEvent::Open);
        }

        fn watcher_online(&self) {
            self.send(TrayEvent::HostBack);
        }

        fn watcher_offline(&self, _reason: ksni::OfflineReason) -> bool {
            self.send(TrayEvent::HostGone);
            true
        }

        fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
            use ksni::menu::{CheckmarkItem, StandardItem, SubMenu};
            let back_up = |profile: &str, label: String| -> ksni::MenuItem<Self> {
                let profile = profile.to_string();
                StandardItem {
                    label,
                    activate: Box::new(move |item: &mut Self| {
                        item.send(TrayEvent::BackUp(profile.clone()));
                    }),
                    ..Default::default()
                }
                .into()
            };
            let back_up_now = match self.view.profiles.as_slice() {
                [] => StandardItem {
                    label: "Back up now".into(),
                    enabled: false,
                    ..Default::default()
                }
                .into(),
                [only] => back_up(only, "Back up now".into()),
                several => SubMenu {
                    label: "Back up now".into(),
                    submenu: several.iter().map(|p| back_up(p, p.clone())).collect(),
                    ..Default::default()
                }
                .into(),
            };
            let paused = self.view.paused;
            vec![
                StandardItem {
                    label: "Open Backstop".into(),
                    activate: Box::new(|item: &mut Self| item.send(TrayEvent::Open)),
                    ..Default::default()
                }
                .into(),
                back_up_now,
                CheckmarkItem {
                    label: "Pause automatic backups".into(),
                    checked: paused,
                    activate: Box::new(move |item: &mut Self| {
                        item.send(TrayEvent::Pause(!paused));
                    }),
                    ..Default::default()
                }
                .into(),
                ksni::MenuItem::Separator,
                StandardItem {
                    label: "Quit".into(),
                    activate: Box::new(|item: &mut Self| item.send(TrayEvent::Quit)),
                    ..Default::default()
                }
                .into(),
            ]
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test that meets the unexpected should stop loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_sits_in_the_corner_and_the_rest_is_the_icon_in_argb() {
        let size = 32;
        let rgba: Vec<u8> = (0..size * size).flat_map(|_| [10, 20, 30, 200]).collect();
        let argb = marked_argb(&rgba, size, mark_color(Tone::Working));
        assert_eq!(argb.len(), rgba.len());
        let at = |x: usize, y: usize| &argb[(y * size + x) * 4..(y * size + x) * 4 + 4];
        assert_eq!(at(0, 0), [200, 10, 20, 30], "the icon, alpha first");
        assert_eq!(at(size - 7, size - 7), [255, 0, 190, 255], "the mark");
        let green = marked_argb(&rgba, size, mark_color(Tone::Protected));
        assert_ne!(green, argb, "each state has its own mark");
    }

    #[test]
    fn a_view_is_sent_only_when_it_changes() {
        let (views_tx, views_rx) = channel();
        let mut tray = Tray::none(true);
        tray.views = Some(views_tx);
        let view = TrayView::default();
        tray.show(view.clone());
        tray.show(view.clone());
        let mut paused = view.clone();
        paused.paused = true;
        tray.show(paused.clone());
        let sent: Vec<TrayView> = views_rx.try_iter().collect();
        assert_eq!(sent, vec![view, paused]);
    }
}
