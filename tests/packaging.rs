//! The Linux packaging files against the code they describe: the MIME globs against every archive name Backstop
//! writes, the app id in each file, the icons' sizes and the .deb's asset list. The validators and the installed
//! package are checked by `.ci/deb-check`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

use backstop::APP_ID;
use backstop::archive::archive_name;
use backstop::model::{Kind, Trigger};
use chrono::{TimeZone, Utc};
use std::path::PathBuf;

const MIME_TYPE: &str = "application/x-backstop-archive";

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every `attr="…"` value in `xml`, in order.
fn attribute_values(xml: &str, attr: &str) -> Vec<String> {
    let marker = format!("{attr}=\"");
    xml.split(&marker)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

/// The text of the first `<tag …>text</tag>` in `xml`.
fn element_text(xml: &str, tag: &str) -> String {
    let (_, rest) = xml
        .split_once(&format!("<{tag}"))
        .unwrap_or_else(|| panic!("no <{tag}>"));
    let (_, inner) = rest.split_once('>').unwrap();
    let (text, _) = inner.split_once(&format!("</{tag}>")).unwrap();
    text.trim().to_string()
}

/// The desktop entry's value for `key`.
fn desktop_value(entry: &str, key: &str) -> String {
    entry
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the desktop entry"))
        .to_string()
}

/// The MIME file's glob suffixes. GLib tries a glob with `?`, `[` or a second `*` only when no suffix glob (zip's
/// `*.zip`) matched, so such a glob would never name a Backstop archive: each one must be `*` and a literal suffix.
fn glob_suffixes() -> Vec<String> {
    let xml = repo_file("packaging/linux/io.github.backstop.Backstop.xml");
    let globs = attribute_values(&xml, "pattern");
    assert!(!globs.is_empty(), "no globs in the MIME file");
    globs
        .iter()
        .map(|glob| {
            let suffix = glob
                .strip_prefix('*')
                .unwrap_or_else(|| panic!("glob {glob} does not start with *"));
            assert!(
                !suffix.contains(['*', '?', '[']),
                "glob {glob} is not a plain suffix: GLib would never try it for a .zip"
            );
            assert!(suffix.ends_with(".zip"), "glob {glob} does not end in .zip");
            suffix.to_string()
        })
        .collect()
}

#[test]
fn mime_globs_match_every_archive_name_and_not_other_zips() {
    let suffixes = glob_suffixes();
    let matched = |name: &str| suffixes.iter().any(|s| name.ends_with(s.as_str()));
    for kind in Kind::ALL {
        for trigger in Trigger::ALL {
            // Every last digit of the seconds, and every -N up to 9 (two backups in one second).
            for second in 0..10 {
                let at = Utc
                    .with_ymd_and_hms(2026, 12, 3, 14, 5, 50 + second)
                    .unwrap();
                for n in 1..=9 {
                    let name = archive_name("my_shop-1", *kind, at, *trigger, n);
                    assert!(matched(&name), "no glob matches {name}");
                }
            }
        }
    }
    for other in [
        "user_manual.zip",
        "photos.zip",
        "site_2026.zip",
        "release-2.zip",
        "shop_full_20261203_140550_manual.tar.gz",
        "shop_full_20261203_140550_manual.zip.sha256",
    ] {
        assert!(
            !matched(other),
            "a glob matches {other}, which is no Backstop archive"
        );
    }
}

#[test]
fn every_file_names_the_app_id() {
    let entry = repo_file(&format!("packaging/linux/{APP_ID}.desktop"));
    assert_eq!(desktop_value(&entry, "Icon"), APP_ID);
    assert_eq!(
        desktop_value(&entry, "StartupWMClass"),
        APP_ID,
        "the window's app id is its WM_CLASS"
    );
    assert_eq!(desktop_value(&entry, "Exec"), "backstop %f");
    assert_eq!(desktop_value(&entry, "MimeType"), format!("{MIME_TYPE};"));

    let metainfo = repo_file(&format!("packaging/linux/{APP_ID}.metainfo.xml"));
    assert_eq!(element_text(&metainfo, "id"), APP_ID);
    assert_eq!(
        element_text(&metainfo, "launchable"),
        format!("{APP_ID}.desktop")
    );
    assert_eq!(element_text(&metainfo, "mediatype"), MIME_TYPE);
    assert_eq!(element_text(&metainfo, "binary"), "backstop");
    // The newest release listed is the one being built.
    assert_eq!(
        attribute_values(&metainfo, "<release version")
            .first()
            .map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );

    let mime = repo_file(&format!("packaging/linux/{APP_ID}.xml"));
    assert_eq!(
        attribute_values(&mime, "<mime-type type")
            .first()
            .map(String::as_str),
        Some(MIME_TYPE)
    );
    assert_eq!(
        attribute_values(&mime, "<icon name")
            .first()
            .map(String::as_str),
        Some(APP_ID),
        "the MIME type's icon"
    );
}

#[test]
fn icons_have_their_sizes_and_the_deb_installs_them() {
    let cargo = repo_file("Cargo.toml");
    for size in [16u32, 32, 48, 64, 128, 256, 512] {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("assets/icon-{size}.png"));
        let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            &png[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is no PNG",
            path.display()
        );
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size), "{}", path.display());
        let asset = format!(
            "[\"assets/icon-{size}.png\", \"usr/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png\", \"644\"]"
        );
        assert!(
            cargo.contains(&asset),
            "Cargo.toml's deb assets lack {asset}"
        );
    }
    for installed in [
        format!("\"usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg\""),
        format!("\"packaging/linux/{APP_ID}.desktop\", \"usr/share/applications/\""),
        format!("\"packaging/linux/{APP_ID}.metainfo.xml\", \"usr/share/metainfo/\""),
        format!("\"packaging/linux/{APP_ID}.xml\", \"usr/share/mime/packages/\""),
    ] {
        assert!(
            cargo.contains(&installed),
            "Cargo.toml's deb assets lack {installed}"
        );
    }
}
