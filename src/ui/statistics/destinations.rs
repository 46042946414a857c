//! The Statistics panel's Destinations section: for each of the profile's destinations, what it holds, what
//! waits, what failed, when it last took a copy and whether it is up to date or how far behind, with the last
//! error; and Sync now. The words are pure ([`rows`], tested below); [`show`] draws them.

use super::card_frame;
use crate::health::{DEST_BEHIND_LIMIT, behind_words};
use crate::jobs::DestInfo;
use crate::status::{Tone, ago};
use crate::ui::status::tone_color;
use chrono::{DateTime, Utc};
use egui::RichText;

/// One destination in words.
#[derive(Debug, Clone, PartialEq)]
pub struct DestRow {
    /// Its name.
    pub name: String,
    /// folder, s3, sftp, webdav.
    pub kind: String,
    /// Where.
    pub location: String,
    /// Copies there.
    pub copied: String,
    /// Copies waiting.
    pub waiting: String,
    /// Copies whose last try failed.
    pub failed: String,
    /// "3 h ago", "never".
    pub last_copied: String,
    /// "up to date", "behind by 2 days", with its state.
    pub state: (String, Tone),
    /// Why the last try failed, when a copy's did.
    pub error: Option<String>,
}

/// The section's rows, from the destinations as the worker last saw them.
pub fn rows<'a>(dests: impl IntoIterator<Item = &'a DestInfo>, now: DateTime<Utc>) -> Vec<DestRow> {
    dests
        .into_iter()
        .map(|d| {
            let state = match d.waiting_since {
                None => ("up to date".to_string(), Tone::Protected),
                Some(since) => {
                    let behind = now - since;
                    let words = format!("behind by {}", behind_words(behind.num_seconds()));
                    let tone = if d.failed > 0 || behind > DEST_BEHIND_LIMIT {
                        Tone::Attention
                    } else {
                        Tone::Working
                    };
                    (words, tone)
                }
            };
            DestRow {
                name: d.name.clone(),
                kind: d.kind.clone(),
                location: d.location.clone(),
                copied: d.copied.to_string(),
                waiting: d.pending.to_string(),
                failed: d.failed.to_string(),
                last_copied: d
                    .last_copied_at
                    .map(|t| ago(now - t))
                    .unwrap_or_else(|| "never".into()),
                state,
                error: (d.failed > 0).then(|| {
                    d.last_error
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into())
                }),
            }
        })
        .collect()
}

/// The longest "Where" the table shows whole; a longer one keeps its start and its end.
const WHERE_CHARS: usize = 48;

/// `location` cut in the middle to [`WHERE_CHARS`] characters (the whole of it on hover).
fn shortened(location: &str) -> String {
    let chars: Vec<char> = location.chars().collect();
    if chars.len() <= WHERE_CHARS {
        return location.to_string();
    }
    let head: String = chars.iter().take(20).collect();
    let tail: String = chars
        .iter()
        .skip(chars.len() - (WHERE_CHARS - 21))
        .collect();
    format!("{head}…{tail}")
}

/// What a click in the section asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestClick {
    /// Sync now.
    Sync,
    /// The recovery sheet.
    Sheet,
}

/// Draws the section; what was clicked (`busy`: a copy job is queued or running already).
pub fn show(ui: &mut egui::Ui, rows: &[DestRow], busy: bool) -> Option<DestClick> {
    let mut click = None;
    ui.horizontal(|ui| {
        ui.label(RichText::new("Destinations").strong());
        if ui
            .add_enabled(!busy, egui::Button::new("Sync now"))
            .on_hover_text(
                "Copy every backup that waits to this profile's destinations now, without waiting for the next retry",
            )
            .on_disabled_hover_text("Copying to the destinations is queued or running")
            .clicked()
        {
            click = Some(DestClick::Sync);
        }
        if ui
            .button("Recovery sheet")
            .on_hover_text(
                "A printable page: where the copies are and how to restore from one with stock tools, without Backstop",
            )
            .clicked()
        {
            click = Some(DestClick::Sheet);
        }
    });
    let dark = ui.visuals().dark_mode;
    card_frame(ui).show(ui, |ui| {
        ui.set_width(ui.available_width());
        egui::Grid::new("statistics-destinations")
            .num_columns(8)
            .spacing([18.0, 6.0])
            .show(ui, |ui| {
                for title in [
                    "Destination",
                    "Kind",
                    "Where",
                    "Copies there",
                    "Waiting",
                    "Failed",
                    "Last copied",
                    "State",
                ] {
                    ui.label(RichText::new(title).weak());
                }
                ui.end_row();
                for row in rows {
                    ui.label(RichText::new(&row.name).strong());
                    ui.label(&row.kind);
                    ui.label(shortened(&row.location))
                        .on_hover_text(&row.location);
                    ui.label(&row.copied);
                    ui.label(&row.waiting);
                    ui.label(&row.failed);
                    ui.label(&row.last_copied);
                    ui.label(RichText::new(&row.state.0).color(tone_color(row.state.1, dark)));
                    ui.end_row();
                }
            });
        for row in rows {
            if let Some(error) = &row.error {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("{}: last error: {error}", row.name))
                            .color(tone_color(Tone::Attention, dark)),
                    )
                    .wrap(),
                );
            }
        }
    });
    click
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use chrono::{Duration, TimeZone};

    fn dest(failed: usize, waiting_hours: Option<i64>, copied_hours: Option<i64>) -> DestInfo {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        DestInfo {
            name: "usb".into(),
            profile: "shop".into(),
            kind: "folder".into(),
            location: "/media/usb/backstop".into(),
            keep_last: 7,
            max_age_days: 0,
            copied: 4,
            pending: usize::from(waiting_hours.is_some() && failed == 0),
            failed,
            last_copied_at: copied_hours.map(|h| now - Duration::hours(h)),
            last_error: (failed > 0).then(|| "folder /media/usb is missing".to_string()),
            behind_secs: None,
            waiting_since: waiting_hours.map(|h| now - Duration::hours(h)),
            next_try_at: None,
            other_home: None,
        }
    }

    #[test]
    fn each_destination_in_words() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let cases = [
            (
                "up to date",
                dest(0, None, Some(3)),
                ("up to date", Tone::Protected),
                "3 h ago",
                None,
            ),
            (
                "a copy waits for two hours",
                dest(0, Some(2), Some(3)),
                ("behind by 2 hours", Tone::Working),
                "3 h ago",
                None,
            ),
            (
                "waiting for two days",
                dest(0, Some(49), Some(50)),
                ("behind by 2 days", Tone::Attention),
                "2 days ago",
                None,
            ),
            (
                "failing, never copied",
                dest(1, Some(1), None),
                ("behind by 1 hour", Tone::Attention),
                "never",
                Some("folder /media/usb is missing"),
            ),
        ];
        for (what, d, state, last, error) in cases {
            let row = &rows([&d], now)[0];
            assert_eq!((row.state.0.as_str(), row.state.1), state, "{what}");
            assert_eq!(row.last_copied, last, "{what}");
            assert_eq!(row.error.as_deref(), error, "{what}");
            assert_eq!(
                (
                    row.kind.as_str(),
                    row.location.as_str(),
                    row.copied.as_str()
                ),
                ("folder", "/media/usb/backstop", "4"),
                "{what}"
            );
        }
    }

    #[test]
    fn a_long_where_keeps_its_start_and_end() {
        assert_eq!(shortened("/media/usb/backstop"), "/media/usb/backstop");
        let long = "s3://backups/shop/Ünïcode-prefix at https://s3.eu-central-1.example.com";
        let short = shortened(long);
        assert_eq!(short.chars().count(), WHERE_CHARS);
        assert!(
            short.starts_with("s3://backups/shop/Ün") && short.ends_with("central-1.example.com"),
            "{short}"
        );
    }
}
