//! The rows the Settings forms are made of: a label column (with the mark of a changed field), the field, an
//! optional button, a line of help and the field's problem in red; and the sections that group them.
//!
//! Every row allocates the same widgets whatever it shows (the mark's slot is there unmarked too): a mark or a
//! problem appearing must not move the ids of the fields below (their focus, while the user types).

use egui::{Color32, RichText};

/// What a row says besides its field: whether it differs from the saved value (and what that was), and a line of
/// help (usually the default).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Note<'a> {
    /// The saved value, when the draft differs from it.
    pub changed: Option<&'a str>,
    /// One line of help under the field.
    pub help: Option<&'a str>,
}

impl<'a> Note<'a> {
    /// A row with a line of help, marked when `draft` differs from `saved`.
    pub fn of(draft: &str, saved: &'a str, help: Option<&'a str>) -> Note<'a> {
        Note {
            changed: (draft != saved).then_some(saved),
            help,
        }
    }
}

/// A section of the form: a header open by default, its rows below.
pub(super) fn section(ui: &mut egui::Ui, title: &str, body: impl FnOnce(&mut egui::Ui)) {
    ui.add_space(4.0);
    egui::CollapsingHeader::new(RichText::new(title).strong().size(16.0))
        .id_salt(("settings-section", title))
        .default_open(true)
        .show(ui, body);
}

/// The colour of the changed-field mark: the theme's link colour, readable in light and dark.
fn accent(ui: &egui::Ui) -> Color32 {
    ui.visuals().hyperlink_color
}

/// The slot left of a label: a dot when the field differs from what is saved, labelled "<label>: changed" for
/// screen readers (and tests); empty otherwise.
fn mark(ui: &mut egui::Ui, label: &str, changed: Option<&str>) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(10.0, 16.0), egui::Sense::hover());
    if let Some(saved) = changed {
        ui.painter().circle_filled(rect.center(), 3.5, accent(ui));
        let saved = if saved.is_empty() { "empty" } else { saved };
        response
            .on_hover_text(format!("Changed, not saved yet (saved: {saved})"))
            .widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Label, true, format!("{label}: changed"))
            });
    }
}

/// The fixed-width label that starts every form row (so the fields line up), after the changed mark's slot.
pub(super) fn form_label(ui: &mut egui::Ui, text: &str, changed: Option<&str>) -> egui::Response {
    let width = label_width(ui);
    ui.allocate_ui_with_layout(
        egui::vec2(width, 20.0),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_width(width);
            ui.set_max_width(width);
            mark(ui, text, changed);
            ui.add(egui::Label::new(text).wrap())
        },
    )
    .inner
}

/// The labels' column: 300 points, less in a narrow window (labels wrap then).
fn label_width(ui: &egui::Ui) -> f32 {
    (ui.available_width() * 0.32).clamp(150.0, 300.0)
}

/// A text field's width beside a label (and a button of about `button` points): 380 points, less in a narrow
/// window, so that the row's button stays on screen.
pub(super) fn field_width(ui: &egui::Ui, button: f32) -> f32 {
    (ui.available_width() - button - 16.0).clamp(140.0, 380.0)
}

/// A field's problem in red under it, wrapped to the window.
pub(super) fn problem_line(ui: &mut egui::Ui, problem: &str) {
    ui.add(egui::Label::new(RichText::new(problem).color(Color32::from_rgb(200, 60, 60))).wrap());
}

/// A line of help under a field, small and quiet.
pub(super) fn help_line(ui: &mut egui::Ui, help: &str) {
    ui.add(egui::Label::new(RichText::new(help).weak()).wrap());
}

/// What goes under a field: its line of help, then its problem in red.
fn below(ui: &mut egui::Ui, note: Note<'_>, problem: Option<&String>) {
    if let Some(help) = note.help {
        help_line(ui, help);
    }
    if let Some(problem) = problem {
        problem_line(ui, problem);
    }
}

/// A masked password row.
pub(super) fn password_field(ui: &mut egui::Ui, label: &str, value: &mut String, note: Note<'_>) {
    ui.horizontal(|ui| {
        let label = form_label(ui, label, note.changed);
        ui.vertical(|ui| {
            let width = field_width(ui, 0.0);
            ui.add(
                egui::TextEdit::singleline(value)
                    .password(true)
                    .desired_width(width),
            )
            .labelled_by(label.id);
            below(ui, note, None);
        });
    });
}

/// One form row: a label, a text field labelled by it, an optional button, a line of help and the field's
/// problem in red. Returns whether the button was clicked.
pub(super) fn field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    problem: Option<&String>,
    button: Option<&str>,
    note: Note<'_>,
) -> bool {
    path_field(ui, label, value, problem, button, note).0
}

/// [`field`], also handing back the text field's response (for the no-dialog fallback of a path with a Choose…
/// button).
pub(super) fn path_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    problem: Option<&String>,
    button: Option<&str>,
    note: Note<'_>,
) -> (bool, egui::Response) {
    let mut clicked = false;
    let response = ui
        .horizontal(|ui| {
            let label = form_label(ui, label, note.changed);
            ui.vertical(|ui| {
                let text = ui
                    .horizontal(|ui| {
                        let width = field_width(ui, if button.is_some() { 150.0 } else { 0.0 });
                        let text = ui
                            .add(egui::TextEdit::singleline(value).desired_width(width))
                            .labelled_by(label.id);
                        if let Some(button) = button {
                            clicked = ui.button(button).clicked();
                        }
                        text
                    })
                    .inner;
                below(ui, note, problem);
                text
            })
            .inner
        })
        .inner;
    (clicked, response)
}

/// A multi-line form row: a label, the text labelled by it, a line of help and the field's problem in red.
pub(super) fn multiline_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    problem: Option<&String>,
    hint: &str,
    note: Note<'_>,
) {
    ui.horizontal(|ui| {
        let label = form_label(ui, label, note.changed);
        ui.vertical(|ui| {
            let width = field_width(ui, 0.0);
            ui.add(
                egui::TextEdit::multiline(value)
                    .desired_rows(3)
                    .desired_width(width)
                    .hint_text(hint),
            )
            .labelled_by(label.id);
            below(ui, note, problem);
        });
    });
}

/// A checkbox row: the changed mark's slot, the checkbox, and its line of help.
pub(super) fn checkbox(ui: &mut egui::Ui, value: &mut bool, label: &str, saved: bool, help: &str) {
    ui.horizontal(|ui| {
        let saved = if saved { "on" } else { "off" };
        mark(ui, label, (*value != (saved == "on")).then_some(saved));
        ui.vertical(|ui| {
            ui.checkbox(value, label);
            help_line(ui, help);
        });
    });
}
