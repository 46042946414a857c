//! The figures on top of the Statistics panel: the few numbers a person reads at a glance (when the last backup
//! was, how often backups worked lately, what is kept, how big the database is), each in a card. Which figures and
//! their words are pure ([`figures`], tested below); [`show`] lays the cards out in even rows.

use super::charts::duration_words;
use crate::catalog::BackupRow;
use crate::jobs::{RECENT_DAYS, Stats};
use crate::model::{Status, Trigger};
use crate::progress::human_size;
use crate::status::{Tone, ago};
use crate::ui::status::tone_color;
use chrono::{DateTime, Utc};
use egui::RichText;

/// One line of a figure, with the state colour it is drawn in (none: the ordinary text colour).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The words.
    pub text: String,
    /// Its colour's state.
    pub tone: Option<Tone>,
}

impl Line {
    fn plain(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            tone: None,
        }
    }

    fn toned(text: impl Into<String>, tone: Tone) -> Line {
        Line {
            text: text.into(),
            tone: Some(tone),
        }
    }
}

/// A figure: a caption, a value in large type, and a line or two of detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// "Last backup".
    pub caption: String,
    /// "3 h ago".
    pub value: Line,
    /// "2026-12-03 14:29", "2.4 MiB · took 0.5 s".
    pub details: Vec<Line>,
    /// More words on hover.
    pub hover: Option<String>,
}

/// The size of the live database, as far as the window knows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DatabaseSize {
    /// Read.
    Known(u64),
    /// A server was asked and has not answered yet.
    Asking,
    /// It cannot be read (a missing file, a server that refused).
    Unknown,
}

fn when(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// "1 archive", "3 archives".
fn archives(n: u64) -> String {
    format!("{n} archive{}", if n == 1 { "" } else { "s" })
}

/// The first line of a message, for a card; the whole message goes to the hover text.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The figures of a profile: its `stats`, its catalog `rows` (deleted ones left out), the database size now.
pub fn figures(
    stats: &Stats,
    rows: &[&BackupRow],
    database: DatabaseSize,
    now: DateTime<Utc>,
) -> Vec<Figure> {
    let last_completed = rows
        .iter()
        .filter(|r| r.status == Status::Completed && r.trigger != Trigger::Uploaded)
        .max_by_key(|r| (r.created_at, r.id));
    vec![
        last_backup(stats.last_backup.as_ref(), last_completed.copied(), now),
        recent(stats),
        kept(stats),
        database_now(database, last_completed.and_then(|r| r.database_size_bytes)),
        restorable(),
    ]
}

fn last_backup(
    last: Option<&BackupRow>,
    last_completed: Option<&BackupRow>,
    now: DateTime<Utc>,
) -> Figure {
    let caption = "Last backup".to_string();
    let completed_line = || match last_completed {
        Some(b) => Line::plain(format!("last completed {}", ago(now - b.created_at))),
        None => Line::plain("no completed backup yet"),
    };
    let Some(b) = last else {
        return Figure {
            caption,
            value: Line::plain("none made here"),
            details: vec![Line::plain("only imported archives so far")],
            hover: None,
        };
    };
    let at = ago(now - b.created_at);
    let mut hover = None;
    let (value, details) = match b.status {
        Status::Failed => {
            let why = b.error.as_deref().unwrap_or("no reason was recorded");
            hover = Some(format!(
                "The backup of {} failed: {why}",
                when(b.created_at)
            ));
            (
                Line::toned(format!("failed {at}"), Tone::Attention),
                vec![
                    Line::toned(first_line(why), Tone::Attention),
                    completed_line(),
                ],
            )
        }
        Status::Cancelled => (
            Line::plain(format!("cancelled {at}")),
            vec![completed_line()],
        ),
        Status::Running => (
            Line::toned("running now", Tone::Working),
            vec![completed_line()],
        ),
        Status::Deleted => (Line::plain(format!("deleted {at}")), vec![completed_line()]),
        Status::Completed | Status::Corrupted => {
            let mut details = vec![
                // The id History shows.
                Line::plain(format!("{}, backup #{}", when(b.created_at), b.id)),
                Line::plain(format!(
                    "{} · took {}",
                    human_size(b.size_bytes.unwrap_or(0)),
                    duration_words(b.duration_ms.unwrap_or(0))
                )),
            ];
            if b.status == Status::Corrupted {
                details.push(Line::toned("found damaged by Verify", Tone::Attention));
            } else if !b.warnings.is_empty() {
                hover = Some(b.warnings.join("\n"));
                details.push(Line::toned("flagged: see History", Tone::Attention));
            }
            (Line::plain(at), details)
        }
    };
    Figure {
        caption,
        value,
        details,
        hover,
    }
}

fn recent(stats: &Stats) -> Figure {
    let recent = stats.last_30_days;
    let (value, detail) = if recent.finished == 0 {
        (
            Line::plain("none"),
            Line::plain(format!("no backup in {RECENT_DAYS} days")),
        )
    } else if recent.failed() == 0 {
        (
            Line::toned(recent.words(), Tone::Protected),
            Line::plain("none failed"),
        )
    } else {
        (
            Line::plain(recent.words()),
            Line::toned(format!("{} failed", recent.failed()), Tone::Attention),
        )
    };
    Figure {
        caption: format!("Last {RECENT_DAYS} days"),
        value,
        details: vec![detail],
        hover: Some(
            "Backups that ended in the last 30 days, automatic, manual and safety ones; cancelled ones do not count"
                .into(),
        ),
    }
}

fn kept(stats: &Stats) -> Figure {
    let count = stats.by_status.get("completed").copied().unwrap_or(0);
    let details = if count == 0 {
        vec![Line::plain("no completed backup yet")]
    } else {
        vec![Line::plain(format!(
            "{} in all",
            human_size(stats.total_size_bytes)
        ))]
    };
    Figure {
        caption: "Archives".into(),
        value: Line::plain(archives(count)),
        details,
        hover: Some(format!(
            "Completed backups kept in the storage folder; {} each on average",
            human_size(stats.average_size_bytes)
        )),
    }
}

fn database_now(database: DatabaseSize, at_last_backup: Option<u64>) -> Figure {
    let value = match database {
        DatabaseSize::Known(bytes) => Line::plain(human_size(bytes)),
        DatabaseSize::Asking => Line::plain("asking the server…"),
        DatabaseSize::Unknown => Line::toned("cannot be read", Tone::Attention),
    };
    Figure {
        caption: "Database now".into(),
        value,
        details: at_last_backup
            .map(|bytes| Line::plain(format!("{} at the last backup", human_size(bytes))))
            .into_iter()
            .collect(),
        hover: None,
    }
}

/// The place for the last restore drill's result. Backstop runs no drills yet: the card says so and shows no
/// number until there is one to show.
fn restorable() -> Figure {
    Figure {
        caption: "Proven restorable".into(),
        value: Line::plain("Not measured yet"),
        details: vec![Line::plain("Backstop runs no restore drills yet")],
        hover: Some(
            "Every backup is read back and checked when it is made, and Verify checks the archives again. A restore \
             drill (a full trial restore into a scratch copy) would prove more; Backstop does not run one yet."
                .into(),
        ),
    }
}

/// The narrowest a card shrinks to before the row wraps, and the gap between cards.
const CARD_MIN_WIDTH: f32 = 190.0;
const CARD_GAP: f32 = 10.0;

/// Lays `figures` out in even rows of equal cards: as many per row as fit, the rows balanced (5 cards on a narrow
/// panel make rows of 3 and 2, not 4 and 1).
pub fn show(ui: &mut egui::Ui, figures: &[Figure]) {
    let width = ui.available_width();
    let fit = (((width + CARD_GAP) / (CARD_MIN_WIDTH + CARD_GAP)) as usize)
        .clamp(1, figures.len().max(1));
    let rows = figures.len().div_ceil(fit);
    let per_row = figures.len().div_ceil(rows.max(1)).max(1);
    let card_width = (width - CARD_GAP * (per_row as f32 - 1.0)) / per_row as f32;
    for row in figures.chunks(per_row) {
        // Cards of a row stand as tall as the one with the most lines.
        let lines = row.iter().map(|f| f.details.len()).max().unwrap_or(0);
        ui.horizontal_top(|ui| {
            ui.spacing_mut().item_spacing.x = CARD_GAP;
            for figure in row {
                card(ui, figure, card_width, lines);
            }
        });
        ui.add_space(CARD_GAP);
    }
}

fn card(ui: &mut egui::Ui, figure: &Figure, width: f32, lines: usize) {
    let dark = ui.visuals().dark_mode;
    let color = |tone: Option<Tone>| tone.map(|t| tone_color(t, dark));
    let margin = 10.0;
    let response = egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .stroke(ui.visuals().widgets.noninteractive.bg_stroke)
        .corner_radius(8.0)
        .inner_margin(egui::Margin::same(margin as i8))
        .show(ui, |ui| {
            ui.vertical(|ui| {
                // The frame's stroke is drawn inside its margin.
                ui.set_width(width - 2.0 * margin - 2.0);
                ui.spacing_mut().item_spacing.y = 3.0;
                let line = ui.text_style_height(&egui::TextStyle::Body) + 3.0;
                // The caption, the value (19 pt) and the detail lines.
                ui.set_min_height(line + 26.0 + line * lines as f32);
                ui.label(RichText::new(&figure.caption).weak());
                let mut value = RichText::new(&figure.value.text).size(19.0).strong();
                if let Some(c) = color(figure.value.tone) {
                    value = value.color(c);
                }
                ui.add(egui::Label::new(value).wrap());
                for line in &figure.details {
                    let mut text = RichText::new(&line.text);
                    if let Some(c) = color(line.tone) {
                        text = text.color(c);
                    }
                    ui.add(egui::Label::new(text).truncate());
                }
            });
        })
        .response;
    if let Some(hover) = &figure.hover {
        response.on_hover_text(hover);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use crate::jobs::Outcomes;
    use crate::model::Kind;
    use chrono::{Duration, TimeZone};
    use std::collections::BTreeMap;

    fn row(id: i64, status: Status, at: DateTime<Utc>) -> BackupRow {
        BackupRow {
            size_bytes: Some(2 << 20),
            duration_ms: Some(500),
            database_size_bytes: Some(7 << 20),
            error: (status == Status::Failed)
                .then(|| "database file not found: /x\ncheck the path".to_string()),
            ..BackupRow::for_test(id, at, Kind::Full, Trigger::Manual, status)
        }
    }

    fn stats(last: Option<BackupRow>, recent: Outcomes, completed: u64) -> Stats {
        Stats {
            profile: "p".into(),
            by_trigger: BTreeMap::new(),
            by_status: BTreeMap::from([("completed".to_string(), completed)]),
            total_size_bytes: completed * (2 << 20),
            average_size_bytes: 2 << 20,
            database_size_bytes: None,
            details: None,
            last_backup: last,
            last_automatic_at: None,
            next_automatic_at: None,
            success_rate_percent: None,
            last_30_days: recent,
            destinations: Vec::new(),
        }
    }

    fn words(figure: &Figure) -> Vec<&str> {
        std::iter::once(figure.value.text.as_str())
            .chain(figure.details.iter().map(|l| l.text.as_str()))
            .collect()
    }

    #[test]
    fn figures_after_a_good_backup_and_after_a_failed_one() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let good = row(1, Status::Completed, now - Duration::hours(3));
        let failed = row(2, Status::Failed, now - Duration::hours(1));
        let recent = Outcomes {
            finished: 30,
            succeeded: 29,
        };
        let all = stats(Some(good.clone()), recent, 1);
        let shown = figures(&all, &[&good], DatabaseSize::Known(8 << 20), now);
        let captions: Vec<&str> = shown.iter().map(|f| f.caption.as_str()).collect();
        assert_eq!(
            captions,
            [
                "Last backup",
                "Last 30 days",
                "Archives",
                "Database now",
                "Proven restorable"
            ]
        );
        assert_eq!(words(&shown[0])[0], "3 h ago");
        assert!(words(&shown[0])[1].ends_with(", backup #1"));
        assert_eq!(words(&shown[0])[2], "2.0 MiB · took 0.5 s");
        assert_eq!(words(&shown[1]), ["29 of 30 succeeded", "1 failed"]);
        assert_eq!(shown[1].details[0].tone, Some(Tone::Attention));
        assert_eq!(words(&shown[2]), ["1 archive", "2.0 MiB in all"]);
        assert_eq!(words(&shown[3]), ["8.0 MiB", "7.0 MiB at the last backup"]);
        assert_eq!(words(&shown[4])[0], "Not measured yet");

        let all = stats(Some(failed.clone()), recent, 1);
        let shown = figures(&all, &[&good, &failed], DatabaseSize::Unknown, now);
        assert_eq!(
            words(&shown[0]),
            [
                "failed 1 h ago",
                "database file not found: /x",
                "last completed 3 h ago"
            ]
        );
        assert_eq!(shown[0].value.tone, Some(Tone::Attention));
        assert!(
            shown[0]
                .hover
                .as_deref()
                .unwrap()
                .ends_with("check the path")
        );
        assert_eq!(words(&shown[3])[0], "cannot be read");
    }

    #[test]
    fn quiet_weeks_and_no_archives_say_so() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let all = stats(None, Outcomes::default(), 0);
        let shown = figures(&all, &[], DatabaseSize::Asking, now);
        assert_eq!(words(&shown[1]), ["none", "no backup in 30 days"]);
        assert_eq!(words(&shown[2]), ["0 archives", "no completed backup yet"]);
        assert_eq!(words(&shown[3]), ["asking the server…"]);
        let all_good = stats(
            None,
            Outcomes {
                finished: 4,
                succeeded: 4,
            },
            4,
        );
        let shown = figures(&all_good, &[], DatabaseSize::Asking, now);
        assert_eq!(words(&shown[1]), ["4 of 4 succeeded", "none failed"]);
        assert_eq!(shown[1].value.tone, Some(Tone::Protected));
    }
}
