//! The Statistics panel's charts: archive size and backup duration over one shared time axis (dates along x, units
//! on y), one point per completed backup, failed backups marked; and the pure parts they stand on (which backups,
//! the time range, the date marks, the units), tested below.

use crate::catalog::BackupRow;
use crate::model::{Kind, Status, Trigger};
use crate::status::Tone;
use crate::ui::status::tone_color;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use egui::{Color32, RichText};
use egui_plot::{GridMark, HoverPosition, Line, LineStyle, Plot, PlotPoints, Points, VLine};

/// The egui id of the archive-size chart (its memory holds the range it shows).
pub const SIZE_CHART_ID: &str = "statistics-size-chart";
/// The egui id of the duration chart.
pub const DURATION_CHART_ID: &str = "statistics-duration-chart";

/// The name under which failed backups appear in the charts' legends.
const FAILED: &str = "failed backup";
const SECS_PER_DAY: f64 = 86_400.0;
/// Below this width the charts stand one above the other, above it side by side.
const SIDE_BY_SIDE_WIDTH: f32 = 720.0;

/// A moment as the charts' x: days since 1970-01-01 UTC.
pub fn day_of(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 / SECS_PER_DAY
}

fn time_of(x: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp((x * SECS_PER_DAY).round() as i64, 0)
}

/// One completed backup on the charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartPoint {
    /// When it was taken ([`day_of`]).
    pub x: f64,
    /// Its archive's size.
    pub bytes: u64,
    /// How long it took.
    pub ms: u64,
}

/// What the charts of one profile show.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    /// Completed backups by kind (full, database only, files only differ in size), oldest first; only kinds
    /// that have any.
    pub series: Vec<(Kind, Vec<ChartPoint>)>,
    /// When backups failed ([`day_of`]).
    pub failed: Vec<f64>,
    /// The x range both charts share: from the first backup shown to now, with a margin so that no point sits on
    /// the border.
    pub range: (f64, f64),
    /// Backups dated in the future (a clock that was ahead), left out: they would stretch the axis over years.
    pub left_out: usize,
}

impl ChartData {
    /// The charts of `rows` (one profile's backups) at `now`. Imported archives are not charted: their dates and
    /// durations are not this machine's.
    pub fn of(rows: &[&BackupRow], now: DateTime<Utc>) -> ChartData {
        let mut series: Vec<(Kind, Vec<ChartPoint>)> = Vec::new();
        let mut failed = Vec::new();
        let mut left_out = 0;
        let mut sorted: Vec<&&BackupRow> = rows
            .iter()
            .filter(|r| r.trigger != Trigger::Uploaded)
            .filter(|r| matches!(r.status, Status::Completed | Status::Failed))
            .collect();
        sorted.sort_by_key(|r| (r.created_at, r.id));
        for row in sorted {
            if row.clock_ahead_secs.is_some() {
                left_out += 1;
                continue;
            }
            let x = day_of(row.created_at);
            if row.status == Status::Failed {
                failed.push(x);
                continue;
            }
            let point = ChartPoint {
                x,
                bytes: row.size_bytes.unwrap_or(0),
                ms: row.duration_ms.unwrap_or(0),
            };
            match series.iter_mut().find(|(kind, _)| *kind == row.kind) {
                Some((_, points)) => points.push(point),
                None => series.push((row.kind, vec![point])),
            }
        }
        series.sort_by_key(|(kind, _)| Kind::ALL.iter().position(|k| k == kind));
        let xs = || {
            series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|p| p.x))
                .chain(failed.iter().copied())
        };
        let now_x = day_of(now);
        let first = xs().fold(now_x, f64::min);
        let last = xs().fold(now_x, f64::max);
        // A twentieth of the span on each side, at least an hour.
        let pad = ((last - first) / 20.0).max(1.0 / 24.0);
        ChartData {
            series,
            failed,
            range: (first - pad, last + pad),
            left_out,
        }
    }

    /// How many completed backups are charted.
    pub fn completed(&self) -> usize {
        self.series.iter().map(|(_, points)| points.len()).sum()
    }

    /// The one completed backup, when there is exactly one.
    pub fn single(&self) -> Option<ChartPoint> {
        match self.series.as_slice() {
            [(_, points)] if points.len() == 1 => points.first().copied(),
            _ => None,
        }
    }
}

/// A unit to show values in: its name (the axis label) and how many base units (bytes, milliseconds) it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// "MiB", "seconds".
    pub name: &'static str,
    /// Base units per unit.
    pub per: f64,
}

/// The unit that shows sizes up to `max_bytes` with a few digits: KiB, MiB or GiB.
pub fn size_unit(max_bytes: u64) -> Unit {
    const KIB: f64 = 1024.0;
    let max = max_bytes as f64;
    if max < KIB * KIB {
        Unit {
            name: "KiB",
            per: KIB,
        }
    } else if max < KIB * KIB * KIB {
        Unit {
            name: "MiB",
            per: KIB * KIB,
        }
    } else {
        Unit {
            name: "GiB",
            per: KIB * KIB * KIB,
        }
    }
}

/// The unit that shows durations up to `max_ms`: seconds up to two minutes, minutes up to two hours, then hours.
pub fn duration_unit(max_ms: u64) -> Unit {
    if max_ms < 120_000 {
        Unit {
            name: "seconds",
            per: 1000.0,
        }
    } else if max_ms < 7_200_000 {
        Unit {
            name: "minutes",
            per: 60_000.0,
        }
    } else {
        Unit {
            name: "hours",
            per: 3_600_000.0,
        }
    }
}

/// A duration for people: "0.4 s", "12 s", "3 min 5 s", "1 h 20 min".
pub fn duration_words(ms: u64) -> String {
    let secs = ms / 1000;
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        match secs % 60 {
            0 => format!("{} min", secs / 60),
            s => format!("{} min {s} s", secs / 60),
        }
    } else {
        format!("{} h {} min", secs / 3600, secs % 3600 / 60)
    }
}

/// Grid marks for a time axis of days since 1970 from `min` to `max`, in `tz`'s local time, at most `most` of
/// them: on whole hours every 1, 2, 3, 6 or 12 hours, or on midnights every 1, 2, 7 or 14 days (weeks start on
/// Monday), then every 4, 8, … weeks.
pub fn time_marks<Tz: TimeZone>(min: f64, max: f64, most: usize, tz: &Tz) -> Vec<GridMark> {
    let (Some(start), Some(end)) = (time_of(min), time_of(max)) else {
        return Vec::new();
    };
    if max <= min || most == 0 {
        return Vec::new();
    }
    let span_hours = (max - min) * 24.0;
    let mut step_hours: i64 = 1;
    for step in [1, 2, 3, 6, 12, 24, 48, 168, 336] {
        step_hours = step;
        // Strictly fewer steps than marks: both ends may carry one.
        if span_hours / (step as f64) < most as f64 {
            break;
        }
    }
    while span_hours / (step_hours as f64) >= most as f64 {
        step_hours *= 2;
    }
    let step_size = step_hours as f64 / 24.0;
    let first_day = start.with_timezone(tz).date_naive();
    let last_day = end.with_timezone(tz).date_naive();
    let midnight = |day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
    };
    let mut marks = Vec::new();
    let mut push = |t: DateTime<Tz>| {
        let x = day_of(t.with_timezone(&Utc));
        if (min..=max).contains(&x) {
            marks.push(GridMark {
                value: x,
                step_size,
            });
        }
    };
    let mut day = first_day;
    while day <= last_day {
        if step_hours < 24 {
            if let Some(start_of_day) = midnight(day) {
                for hour in (0..24).step_by(step_hours as usize) {
                    push(start_of_day.clone() + Duration::hours(hour));
                }
            }
        } else {
            // Days since 0001-01-01, a Monday: multiples of 7 are Mondays.
            let ordinal = i64::from(day.num_days_from_ce()) - 1;
            if ordinal % (step_hours / 24) == 0
                && let Some(t) = midnight(day)
            {
                push(t);
            }
        }
        let Some(next) = day.succ_opt() else {
            break;
        };
        day = next;
    }
    marks
}

/// Grid marks for a value axis from `min` to `max`: steps of 1, 2 or 5 times a power of ten, at most `most` of
/// them, so that every chart, however short, labels its values.
pub fn value_marks(min: f64, max: f64, most: usize) -> Vec<GridMark> {
    if !min.is_finite() || !max.is_finite() || max <= min || most < 2 {
        return Vec::new();
    }
    let span = |step: f64| ((min / step).ceil() as i64, (max / step).floor() as i64);
    // The smallest step that fits: a tenth of the range's power of ten and up.
    let power = 10f64.powf(((max - min) / most as f64).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| {
            let (first, last) = span(*step);
            last - first < most as i64
        })
        .unwrap_or(100.0 * power);
    let (first, last) = span(step);
    (first..=last)
        .map(|i| GridMark {
            value: i as f64 * step,
            step_size: step,
        })
        .collect()
}

/// The text beside a mark of [`value_marks`]: as many decimals as its step needs ("0.5", "200").
pub fn value_label(mark: GridMark) -> String {
    let decimals = if mark.step_size >= 1.0 {
        0
    } else {
        (-mark.step_size.log10()).ceil() as usize
    };
    format!("{:.*}", decimals, mark.value)
}

/// The text under a mark of [`time_marks`]: "Dec 3" on a midnight or when marks are days apart, "Dec 3, 2026"
/// when they are weeks apart, else "14:00".
pub fn mark_label<Tz: TimeZone>(mark: GridMark, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Some(t) = time_of(mark.value) else {
        return String::new();
    };
    let local = t.with_timezone(tz);
    let format = if mark.step_size >= 28.0 {
        "%b %-d, %Y"
    } else if mark.step_size >= 1.0 || local.format("%H:%M").to_string() == "00:00" {
        "%b %-d"
    } else {
        "%H:%M"
    };
    local.format(format).to_string()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Full => "full backups",
        Kind::Database => "database only",
        Kind::Files => "files only",
    }
}

fn kind_color(kind: Kind, dark: bool) -> Color32 {
    match (kind, dark) {
        (Kind::Full, _) => tone_color(Tone::Working, dark),
        (Kind::Database, false) => Color32::from_rgb(0, 130, 130),
        (Kind::Database, true) => Color32::from_rgb(80, 200, 200),
        (Kind::Files, false) => Color32::from_rgb(130, 70, 170),
        (Kind::Files, true) => Color32::from_rgb(190, 140, 240),
    }
}

/// Which value of a backup a chart shows.
#[derive(Clone, Copy)]
enum Measure {
    Size,
    Duration,
}

impl Measure {
    fn title(self) -> &'static str {
        match self {
            Measure::Size => "Archive size over time",
            Measure::Duration => "Backup duration over time",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Measure::Size => SIZE_CHART_ID,
            Measure::Duration => DURATION_CHART_ID,
        }
    }

    fn raw(self, point: &ChartPoint) -> u64 {
        match self {
            Measure::Size => point.bytes,
            Measure::Duration => point.ms,
        }
    }

    fn unit(self, data: &ChartData) -> Unit {
        let max = data
            .series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| self.raw(p)))
            .max()
            .unwrap_or(0);
        match self {
            Measure::Size => size_unit(max),
            Measure::Duration => duration_unit(max),
        }
    }
}

/// Draws both charts over `data.range`: side by side when the panel is wide, else one above the other.
pub fn show(ui: &mut egui::Ui, data: &ChartData) {
    legend(ui, data);
    if ui.available_width() >= SIDE_BY_SIDE_WIDTH {
        // Side by side they may fill the height left (what is left of the window under the figures).
        let height = (ui.available_height() - 90.0).clamp(170.0, 260.0);
        ui.columns(2, |columns| {
            if let [left, right] = columns {
                chart(left, data, Measure::Size, height);
                chart(right, data, Measure::Duration, height);
            }
        });
    } else {
        chart(ui, data, Measure::Size, 180.0);
        ui.add_space(8.0);
        chart(ui, data, Measure::Duration, 180.0);
    }
}

/// One legend for both charts, above them (inside a chart it would hide the points under it): each kind's colour,
/// and the mark of a failed backup when there is one.
fn legend(ui: &mut egui::Ui, data: &ChartData) {
    let dark = ui.visuals().dark_mode;
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        let size = ui.text_style_height(&egui::TextStyle::Body);
        for (kind, _) in &data.series {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
            let color = kind_color(*kind, dark);
            ui.painter().line_segment(
                [rect.left_center(), rect.right_center()],
                egui::Stroke::new(1.5, color),
            );
            ui.painter().circle_filled(rect.center(), 3.5, color);
            ui.label(kind_name(*kind));
            ui.add_space(12.0);
        }
        if !data.failed.is_empty() {
            let (rect, _) =
                ui.allocate_exact_size(egui::vec2(size * 0.6, size), egui::Sense::hover());
            let color = tone_color(Tone::Attention, dark);
            let x = rect.center().x;
            let mut y = rect.top();
            while y < rect.bottom() {
                ui.painter().line_segment(
                    [
                        egui::pos2(x, y),
                        egui::pos2(x, (y + 3.0).min(rect.bottom())),
                    ],
                    egui::Stroke::new(1.5, color),
                );
                y += 5.0;
            }
            ui.label(FAILED);
        }
    });
}

fn chart(ui: &mut egui::Ui, data: &ChartData, measure: Measure, height: f32) {
    let dark = ui.visuals().dark_mode;
    let unit = measure.unit(data);
    let top = data
        .series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| measure.raw(p) as f64 / unit.per))
        .fold(0.0, f64::max);
    let most_marks = ((ui.available_width() / 90.0) as usize).clamp(2, 12);
    let failed_color = tone_color(Tone::Attention, dark);
    ui.label(RichText::new(measure.title()).strong());
    let plot = Plot::new(measure.id())
        .id(egui::Id::unique(measure.id()))
        .height(height)
        // Quieter than the default: the grid helps reading, the points carry the news.
        .grid_color(ui.visuals().weak_text_color())
        .default_x_bounds(data.range.0, data.range.1)
        .include_y(0.0)
        // A little room above the highest point.
        .include_y(top * 1.1)
        .set_margin_fraction(egui::vec2(0.0, 0.0))
        .x_axis_label("Date")
        .y_axis_label(unit.name)
        .x_grid_spacer(move |input| {
            time_marks(input.bounds.0, input.bounds.1, most_marks, &chrono::Local)
        })
        .x_axis_formatter(|mark, _| mark_label(mark, &chrono::Local))
        // A label every 30 points or so (the axes and the title take about 50 of the height).
        .y_grid_spacer(move |input| {
            value_marks(
                input.bounds.0,
                input.bounds.1,
                ((height - 50.0) / 30.0) as usize,
            )
        })
        .y_axis_formatter(|mark, _| value_label(mark))
        .label_formatter(move |position| match position {
            HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => Some(format!(
                "{plot_name}\n{}\n{:.1} {}",
                time_of(position.x)
                    .map(|t| t
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string())
                    .unwrap_or_default(),
                position.y,
                unit.name
            )),
            HoverPosition::Elsewhere { .. } => None,
        })
        .show_crosshair(false)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false);
    plot.show(ui, |plot| {
        for x in &data.failed {
            plot.vline(
                VLine::new(FAILED, *x)
                    .color(failed_color)
                    .width(1.5)
                    .style(LineStyle::dashed_dense()),
            );
        }
        for (kind, points) in &data.series {
            let values: Vec<[f64; 2]> = points
                .iter()
                .map(|p| [p.x, measure.raw(p) as f64 / unit.per])
                .collect();
            let color = kind_color(*kind, dark);
            plot.line(
                Line::new(kind_name(*kind), PlotPoints::from(values.clone()))
                    .color(color)
                    .width(1.5),
            );
            plot.points(
                Points::new(kind_name(*kind), PlotPoints::from(values))
                    .color(color)
                    .radius(3.5),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    fn row(id: i64, kind: Kind, status: Status, at: DateTime<Utc>, bytes: u64) -> BackupRow {
        BackupRow {
            size_bytes: (status == Status::Completed).then_some(bytes),
            duration_ms: Some(1000),
            ..BackupRow::for_test(id, at, kind, Trigger::Manual, status)
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_charts_hold_completed_backups_by_kind_mark_failures_and_share_a_range_up_to_now() {
        let mut uploaded = row(5, Kind::Full, Status::Completed, at(1, 0), 9);
        uploaded.trigger = Trigger::Uploaded;
        let mut ahead = row(6, Kind::Full, Status::Completed, at(30, 0), 9);
        ahead.clock_ahead_secs = Some(86_400);
        let rows = [
            row(3, Kind::Full, Status::Completed, at(5, 12), 300),
            row(1, Kind::Full, Status::Completed, at(3, 12), 100),
            row(2, Kind::Database, Status::Completed, at(4, 12), 50),
            row(4, Kind::Full, Status::Failed, at(6, 12), 0),
            row(7, Kind::Full, Status::Cancelled, at(6, 13), 0),
            uploaded,
            ahead,
        ];
        let refs: Vec<&BackupRow> = rows.iter().collect();
        let now = at(8, 12);
        let data = ChartData::of(&refs, now);
        let full: Vec<u64> = data.series[0].1.iter().map(|p| p.bytes).collect();
        assert_eq!(data.series[0].0, Kind::Full);
        assert_eq!(full, [100, 300], "oldest first");
        assert_eq!(data.series[1].0, Kind::Database);
        assert_eq!(data.failed, [day_of(at(6, 12))]);
        assert_eq!(data.left_out, 1);
        assert_eq!(data.completed(), 3);
        assert_eq!(data.single(), None);
        // From the first backup (Dec 3) to now (Dec 8), a twentieth of the 5 days on each side.
        assert_eq!(data.range, (day_of(at(3, 12)) - 0.25, day_of(now) + 0.25));
    }

    #[test]
    fn one_backup_is_a_single_value_and_the_range_is_at_least_hours_wide() {
        let rows = [row(1, Kind::Full, Status::Completed, at(3, 12), 100)];
        let refs: Vec<&BackupRow> = rows.iter().collect();
        let data = ChartData::of(&refs, at(3, 12));
        assert_eq!(data.single().map(|p| p.bytes), Some(100));
        let (min, max) = data.range;
        assert!((max - min - 2.0 / 24.0).abs() < 1e-9, "{min} {max}");
    }

    #[test]
    fn units_fit_the_largest_value() {
        assert_eq!(size_unit(900 * 1024).name, "KiB");
        assert_eq!(size_unit(5 * 1024 * 1024).name, "MiB");
        assert_eq!(size_unit(3 << 30).name, "GiB");
        assert_eq!(duration_unit(500).name, "seconds");
        assert_eq!(duration_unit(119_000).name, "seconds");
        assert_eq!(duration_unit(600_000).name, "minutes");
        assert_eq!(duration_unit(9_000_000).name, "hours");
        for (ms, words) in [
            (420, "0.4 s"),
            (12_400, "12 s"),
            (180_000, "3 min"),
            (185_000, "3 min 5 s"),
            (4_800_000, "1 h 20 min"),
        ] {
            assert_eq!(duration_words(ms), words);
        }
    }

    #[test]
    fn value_marks_step_by_one_two_or_five() {
        let values = |min, max, most| {
            value_marks(min, max, most)
                .into_iter()
                .map(|m| m.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(values(0.0, 600.0, 4), [0.0, 200.0, 400.0, 600.0]);
        assert_eq!(values(0.0, 0.7, 4), [0.0, 0.2, 0.4, 0.6000000000000001]);
        assert_eq!(values(0.0, 2.6, 7), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(values(-0.1, 3.0, 3), [0.0, 2.0]);
        assert!(values(1.0, 1.0, 4).is_empty());
        let labels: Vec<String> = value_marks(0.0, 0.7, 4)
            .into_iter()
            .map(value_label)
            .collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6"]);
        let labels: Vec<String> = value_marks(0.0, 2600.0, 4)
            .into_iter()
            .map(value_label)
            .collect();
        assert_eq!(labels, ["0", "1000", "2000"]);
    }

    #[test]
    fn time_marks_fall_on_midnights_or_whole_hours_and_are_few() {
        let labels = |min: DateTime<Utc>, max: DateTime<Utc>, most| {
            time_marks(day_of(min), day_of(max), most, &Utc)
                .into_iter()
                .map(|m| mark_label(m, &Utc))
                .collect::<Vec<_>>()
        };
        // Five days, up to 8 marks: every day at midnight.
        assert_eq!(
            labels(at(3, 12), at(8, 12), 8),
            ["Dec 4", "Dec 5", "Dec 6", "Dec 7", "Dec 8"]
        );
        // Five days, up to 3 marks: every second day (days counted from a Monday, so always the same days).
        assert_eq!(labels(at(3, 12), at(8, 12), 3), ["Dec 5", "Dec 7"]);
        // Six hours: whole hours; a midnight reads as its day.
        assert_eq!(labels(at(3, 21), at(4, 3), 6), ["22:00", "Dec 4", "02:00"]);
        // A month, up to 6 marks: Mondays.
        let monday = |m: &GridMark| time_of(m.value).unwrap().weekday() == chrono::Weekday::Mon;
        let marks = time_marks(day_of(at(1, 0)), day_of(at(31, 0)), 6, &Utc);
        assert!(marks.len() <= 6 && marks.len() >= 2, "{marks:?}");
        assert!(marks.iter().all(monday), "{marks:?}");
        // Two years, up to 8 marks: never more.
        let two_years = time_marks(day_of(at(1, 0)) - 730.0, day_of(at(1, 0)), 8, &Utc);
        assert!(
            two_years.len() <= 8 && two_years.len() >= 2,
            "{}",
            two_years.len()
        );
    }
}
