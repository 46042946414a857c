//! The Show window: what a backup holds (its database, tables, warnings, and every entry).

use super::local;
use crate::archive::EntryType;
use crate::ui::app::BackstopApp;
use crate::ui::state::human_size;
use egui::{Color32, RichText};
use egui_extras::{Column, TableBuilder};

/// Show's list of entries: path, type, size, mode (octal) and the link target or the checksum's start. Only
/// the rows on screen are built, so a files folder of tens of thousands of entries scrolls smoothly.
fn entries_table(ui: &mut egui::Ui, entries: &[crate::archive::ManifestEntry]) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    TableBuilder::new(ui)
        .id_salt("show-entries")
        .striped(true)
        .max_scroll_height(420.0)
        .column(
            Column::initial(340.0)
                .at_least(120.0)
                .resizable(true)
                .clip(true),
        )
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(140.0))
        .header(20.0, |mut header| {
            for title in ["Path", "Type", "Size", "Mode", "Link target / SHA-256"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(row_height, entries.len(), |mut row| {
                let Some(e) = entries.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    // One line per row (the rows are laid out at a fixed height); elided paths show whole on hover.
                    ui.add(egui::Label::new(&e.path).truncate());
                });
                row.col(|ui| {
                    ui.label(match e.entry_type {
                        EntryType::File => "file",
                        EntryType::Dir => "folder",
                        EntryType::Symlink => "link",
                    });
                });
                row.col(|ui| {
                    ui.label(if e.entry_type == EntryType::Dir {
                        "-".to_string()
                    } else {
                        human_size(e.size)
                    });
                });
                row.col(|ui| {
                    ui.label(
                        RichText::new(
                            e.mode
                                .map(|m| format!("{:04o}", m & 0o7777))
                                .unwrap_or_else(|| "-".into()),
                        )
                        .monospace(),
                    );
                });
                row.col(|ui| {
                    match (&e.entry_type, &e.target) {
                        (EntryType::Symlink, Some(target)) => ui.label(format!("-> {target}")),
                        (EntryType::Dir, _) => ui.label(""),
                        _ => {
                            // By characters, never bytes: the text came from an archive.
                            let short: String = e.sha256.chars().take(16).collect();
                            ui.label(RichText::new(short).monospace())
                        }
                    };
                });
            });
        });
}

impl BackstopApp {
    /// The Show window.
    pub(crate) fn show_window(&mut self, ctx: &egui::Context) {
        if let Some(id) = self.show_open {
            let mut open = true;
            egui::Window::new(format!("Backup {id}"))
                .open(&mut open)
                .default_width(760.0)
                .show(ctx, |ui| {
                    match self.state.shown.as_ref().filter(|(shown, _)| *shown == id) {
                        None => {
                            ui.spinner();
                        }
                        Some((_, manifest)) => {
                            ui.label(format!(
                                "{} backup of {} ({}), taken {}",
                                manifest.kind,
                                manifest.profile,
                                manifest.trigger,
                                local(manifest.created_at)
                            ));
                            if let Some(db) = &manifest.database {
                                ui.label(format!(
                                    "{} database {} ({}), {} at backup time",
                                    db.engine,
                                    db.name,
                                    db.engine_version,
                                    human_size(db.size_bytes)
                                ));
                                for (table, rows) in &db.tables {
                                    ui.label(format!("table {table}: {rows} rows"));
                                }
                            }
                            for warning in &manifest.warnings {
                                ui.label(
                                    RichText::new(warning).color(Color32::from_rgb(190, 120, 0)),
                                );
                            }
                            ui.separator();
                            entries_table(ui, &manifest.entries);
                        }
                    }
                });
            if !open {
                self.show_open = None;
            }
        }
    }
}
