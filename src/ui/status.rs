//! The status header every panel starts with, and the coloured dot the profile list shows: a profile's state
//! ([`crate::status`]) in words and colour, with the one button that fixes it.

use crate::status::{Fix, ProfileStatus, Tone};
use egui::{Color32, RichText};

/// The colour of a state, readable on light and dark backgrounds.
pub fn tone_color(tone: Tone, dark: bool) -> Color32 {
    match (tone, dark) {
        (Tone::Protected, false) => Color32::from_rgb(30, 130, 60),
        (Tone::Protected, true) => Color32::from_rgb(90, 200, 120),
        (Tone::Working, false) => Color32::from_rgb(30, 100, 190),
        (Tone::Working, true) => Color32::from_rgb(110, 170, 255),
        (Tone::Attention, false) => Color32::from_rgb(190, 90, 0),
        (Tone::Attention, true) => Color32::from_rgb(255, 170, 70),
        (Tone::Unprotected, false) => Color32::from_rgb(110, 110, 110),
        (Tone::Unprotected, true) => Color32::from_rgb(170, 170, 170),
    }
}

/// A filled dot of the state's colour, as tall as a line of text.
pub fn dot(ui: &mut egui::Ui, tone: Tone) -> egui::Response {
    let size = ui.text_style_height(&egui::TextStyle::Body);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let color = tone_color(tone, ui.visuals().dark_mode);
    ui.painter()
        .circle_filled(rect.center(), size * 0.32, color);
    response
}

/// Draws the header for `status`: the dot, the headline in the state's colour, the detail (wrapped), a progress bar
/// while a job runs, and the fix's button. Returns the fix when its button was clicked.
pub fn header(ui: &mut egui::Ui, status: &ProfileStatus, fraction: Option<f32>) -> Option<Fix> {
    let color = tone_color(status.tone, ui.visuals().dark_mode);
    let mut clicked = None;
    egui::Frame::new()
        .fill(color.gamma_multiply(0.12))
        .stroke(egui::Stroke::new(1.0, color.gamma_multiply(0.5)))
        .inner_margin(egui::Margin::symmetric(10, 8))
        .corner_radius(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                dot(ui, status.tone);
                ui.label(
                    RichText::new(&status.headline)
                        .strong()
                        .size(16.0)
                        .color(color),
                );
                if let Some(fix) = status.fix {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.button(RichText::new(fix.label()).strong()).clicked() {
                            clicked = Some(fix);
                        }
                    });
                }
            });
            if !status.detail.is_empty() {
                ui.add(egui::Label::new(first_upper(&status.detail)).wrap());
            }
            if status.tone == Tone::Working {
                let bar = match fraction {
                    Some(f) => egui::ProgressBar::new(f),
                    None => egui::ProgressBar::new(0.0).animate(true),
                };
                ui.add(bar.desired_height(6.0));
            }
        });
    clicked
}

fn first_upper(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
