//! The confirmations opened from History and Settings: delete a backup, prune, drop a kept database copy,
//! delete a kept files folder, remove a profile.

use crate::ui::app::BackstopApp;
use crate::worker::JobRequest;
use egui::{Color32, RichText};

impl BackstopApp {
    pub(crate) fn confirm_windows(&mut self, ctx: &egui::Context) {
        if let Some(id) = self.delete_confirm {
            let mut decided = false;
            egui::Window::new("Delete backup?")
                .collapsible(false)
                .show(ctx, |ui| {
                    ui.label(format!(
                        "Backup {id} and its archive will be deleted. This cannot be undone."
                    ));
                    ui.horizontal(|ui| {
                        if ui.button(format!("Delete backup {id}")).clicked() {
                            self.submit(JobRequest::Delete { id });
                            decided = true;
                        }
                        if ui.button("Keep it").clicked() {
                            decided = true;
                        }
                    });
                });
            if decided {
                self.delete_confirm = None;
            }
        }
        if self.prune_confirm_open {
            let mut decided = false;
            egui::Window::new("Prune backups?")
                .collapsible(false)
                .default_width(520.0)
                .show(ctx, |ui| match self.state.prune_preview.clone() {
                    None => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Planning…");
                        });
                    }
                    Some(plan) => {
                        let doomed = plan.verdicts.iter().filter(|v| !v.keep).count();
                        let policy = self
                            .state
                            .snapshot
                            .config
                            .profiles
                            .iter()
                            .find(|p| p.name == plan.profile)
                            .map(|p| p.policy.clone());
                        if let Some(policy) = policy {
                            ui.label(crate::retention::describe(&policy));
                        }
                        ui.label(
                            RichText::new(format!(
                                "{} kept, {doomed} to delete",
                                plan.verdicts.len() - doomed
                            ))
                            .strong(),
                        );
                        ui.add_space(4.0);
                        egui::Grid::new("prune-plan")
                            .num_columns(3)
                            .striped(true)
                            .show(ui, |ui| {
                                for v in &plan.verdicts {
                                    ui.label(format!("backup {}", v.id));
                                    ui.label(if v.keep {
                                        RichText::new("keep")
                                    } else {
                                        RichText::new("delete")
                                            .color(Color32::from_rgb(200, 60, 60))
                                    });
                                    ui.add(egui::Label::new(&v.reason).wrap());
                                    ui.end_row();
                                }
                            });
                        ui.horizontal(|ui| {
                            if ui
                                .add_enabled(
                                    doomed > 0,
                                    egui::Button::new(format!("Delete {doomed} backup(s)")),
                                )
                                .clicked()
                            {
                                self.submit(JobRequest::Prune {
                                    profile: plan.profile.clone(),
                                    dry_run: false,
                                });
                                decided = true;
                            }
                            if ui.button("Cancel").clicked() {
                                decided = true;
                            }
                        });
                    }
                });
            if decided {
                self.prune_confirm_open = false;
                self.state.prune_preview = None;
            }
        }
        if let Some((profile, name)) = self.drop_copy_confirm.clone() {
            let mut decided = false;
            egui::Window::new("Delete database copy?").collapsible(false).show(ctx, |ui| {
                ui.label(format!("The database {name} (kept by an earlier restore) will be dropped from the server."));
                ui.horizontal(|ui| {
                    if ui.button(format!("Drop {name}")).clicked() {
                        self.submit(JobRequest::DropCopy { profile: profile.clone(), name: name.clone() });
                        self.details_asked.remove(&profile);
                        decided = true;
                    }
                    if ui.button("Keep it").clicked() {
                        decided = true;
                    }
                });
            });
            if decided {
                self.drop_copy_confirm = None;
            }
        }
        if let Some((profile, path)) = self.kept_folder_confirm.clone() {
            let mut decided = false;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            egui::Window::new("Delete kept folder?")
                .collapsible(false)
                .show(ctx, |ui| {
                    ui.label(format!(
                        "The folder {} (kept by an earlier restore) and everything in it will be deleted. This \
                         cannot be undone.",
                        path.display()
                    ));
                    ui.horizontal(|ui| {
                        if ui.button(format!("Delete {name}")).clicked() {
                            self.submit(JobRequest::DeleteKeptFolder {
                                profile: profile.clone(),
                                path: path.clone(),
                            });
                            decided = true;
                        }
                        if ui.button("Keep it").clicked() {
                            decided = true;
                        }
                    });
                });
            if decided {
                self.kept_folder_confirm = None;
            }
        }
        if let Some((name, mut delete_archives)) = self.remove_profile.clone() {
            let mut decided = false;
            egui::Window::new("Remove profile?")
                .collapsible(false)
                .show(ctx, |ui| {
                    ui.label(format!(
                        "Profile {name} will be removed from Backstop. Its database is not touched."
                    ));
                    ui.checkbox(&mut delete_archives, "Also delete its archives");
                    ui.horizontal(|ui| {
                        if ui.button(format!("Remove {name}")).clicked() {
                            self.submit(JobRequest::RemoveProfile {
                                name: name.clone(),
                                delete_archives,
                            });
                            decided = true;
                        }
                        if ui.button("Cancel").clicked() {
                            decided = true;
                        }
                    });
                });
            self.remove_profile = if decided {
                None
            } else {
                Some((name, delete_archives))
            };
        }
    }
}
