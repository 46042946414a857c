//! The generated folder: a web app's media folder. Most files by count are small text (pages, JSON sidecars, CSV,
//! styles, scripts); most bytes are photos, videos and zips (random bytes, as incompressible as real ones); exports,
//! logs and dumps make medium and large compressible files.

use crate::datagen::{COUNTRIES, DOMAINS, FIRST_NAMES, Gen, LAST_NAMES, STATUSES, timestamp};
use crate::files_tree::create_dir;
use chrono::{Datelike, Timelike};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

/// One kind of file: its extension, how often it is picked within its class, the folders it goes into
/// (`MONTH`: one of `uploads/<year>/<month>`, `THUMBS`: one of `cache/thumbs/<xx>`), and its size relative to
/// the class's other files (between the two, spread on a log scale).
struct FileKind {
    ext: &'static str,
    weight: u64,
    dirs: &'static [&'static str],
    sizes: (f64, f64),
}

/// A share of the folder: how many of its files (per 10,000, or exactly `fixed`) and what percent of its bytes.
struct FileClass {
    per_10k: u64,
    fixed: u64,
    percent: u64,
    /// Picked in turn (for the few large files) instead of by weight.
    in_turn: bool,
    kinds: &'static [FileKind],
}

const fn kind(
    ext: &'static str,
    weight: u64,
    dirs: &'static [&'static str],
    sizes: (f64, f64),
) -> FileKind {
    FileKind {
        ext,
        weight,
        dirs,
        sizes,
    }
}

/// The classes; the first takes the files the others leave. Compressible: 5 + 18 + 12 = 35% of the bytes.
const FILE_CLASSES: [FileClass; 5] = [
    // Small text: a few KiB each.
    FileClass {
        per_10k: 0,
        fixed: 0,
        percent: 5,
        in_turn: false,
        kinds: &[
            kind("json", 30, &["MONTH", "exports/json"], (1.0, 16.0)),
            kind(
                "html",
                25,
                &["pages/blog", "pages/docs", "pages/help"],
                (1.0, 16.0),
            ),
            kind("txt", 10, &["MONTH"], (1.0, 16.0)),
            kind("md", 10, &["pages/docs", "pages/help"], (1.0, 16.0)),
            kind("csv", 8, &["exports/csv"], (1.0, 16.0)),
            kind("js", 7, &["static/js"], (1.0, 16.0)),
            kind("css", 5, &["static/css"], (1.0, 16.0)),
            kind("svg", 5, &["static/img"], (1.0, 16.0)),
        ],
    },
    // Images: thumbnails and avatars of a few KiB, photos of tens to hundreds of KiB.
    FileClass {
        per_10k: 2_500,
        fixed: 0,
        percent: 27,
        in_turn: false,
        kinds: &[
            kind("jpg", 50, &["MONTH"], (4.0, 40.0)),
            kind("jpg", 35, &["THUMBS"], (1.0, 3.0)),
            kind("png", 10, &["MONTH", "static/img"], (2.0, 20.0)),
            kind("png", 5, &["uploads/avatars"], (1.0, 2.0)),
        ],
    },
    // Medium text: exports, reports and logs of tens of KiB to a few MiB.
    FileClass {
        per_10k: 400,
        fixed: 0,
        percent: 18,
        in_turn: false,
        kinds: &[
            kind("csv", 30, &["exports/csv"], (1.0, 32.0)),
            kind("json", 30, &["exports/json"], (1.0, 32.0)),
            kind("log", 25, &["logs"], (1.0, 32.0)),
            kind("html", 15, &["exports/reports"], (1.0, 32.0)),
        ],
    },
    // Large text: an access log, a database dump and an export, tens of MiB each at the default size.
    FileClass {
        per_10k: 0,
        fixed: 3,
        percent: 12,
        in_turn: true,
        kinds: &[
            kind("log", 1, &["logs"], (1.0, 3.0)),
            kind("sql", 1, &["db-dumps"], (1.0, 3.0)),
            kind("csv", 1, &["exports/csv"], (1.0, 3.0)),
        ],
    },
    // Large media: videos and zips, about a hundred MiB each at the default size.
    FileClass {
        per_10k: 0,
        fixed: 6,
        percent: 38,
        in_turn: true,
        kinds: &[
            kind("mp4", 1, &["videos/raw"], (1.0, 4.0)),
            kind("mp4", 1, &["videos/web"], (1.0, 4.0)),
            kind("zip", 1, &["archives"], (1.0, 4.0)),
        ],
    },
];

/// Writes the folder at `root`: `total` bytes in `count` files, always the same for the same two numbers.
pub(crate) fn generate_folder(root: &Path, total: u64, count: u64) {
    let fixed: u64 = FILE_CLASSES.iter().map(|c| c.fixed).sum();
    let counts: Vec<u64> = FILE_CLASSES
        .iter()
        .map(|c| c.fixed + count * c.per_10k / 10_000)
        .collect();
    let rest = count.saturating_sub(counts.iter().sum());
    assert!(
        count >= 100 && rest > 0 && total >= 1 << 20,
        "the files folder needs at least 100 files and 1 MiB (asked: {count} files, {total} bytes; {fixed} are large)"
    );

    // The folders: uploads by year and month, static assets, pages, exports, videos, archives, logs, dumps and
    // a thumbnail cache.
    let mut dirs: Vec<String> = [
        "uploads",
        "uploads/avatars",
        "static",
        "static/css",
        "static/js",
        "static/img",
        "pages",
        "pages/blog",
        "pages/docs",
        "pages/help",
        "exports",
        "exports/csv",
        "exports/json",
        "exports/reports",
        "videos",
        "videos/raw",
        "videos/web",
        "archives",
        "logs",
        "db-dumps",
        "cache",
        "cache/thumbs",
    ]
    .map(String::from)
    .to_vec();
    let mut months = Vec::new();
    for year in 2019..=2024 {
        dirs.push(format!("uploads/{year}"));
        for month in 1..=12 {
            months.push(format!("uploads/{year}/{month:02}"));
        }
    }
    let thumbs: Vec<String> = (0..16).map(|i| format!("cache/thumbs/{i:02x}")).collect();
    dirs.extend(months.iter().cloned());
    dirs.extend(thumbs.iter().cloned());
    for dir in &dirs {
        create_dir(&root.join(dir));
    }

    // The plan: each file's path, extension and size; sizes in a class share its bytes by their weights.
    let mut g = Gen::new();
    let mut plan: Vec<(String, &'static str, u64)> = Vec::with_capacity(count as usize);
    let mut index = 0u64;
    for (class_index, class) in FILE_CLASSES.iter().enumerate() {
        let files = if class_index == 0 {
            rest
        } else {
            counts[class_index]
        };
        let class_bytes = total * class.percent / 100;
        let all_weight: u64 = class.kinds.iter().map(|k| k.weight).sum();
        let mut picked = Vec::with_capacity(files as usize);
        for i in 0..files {
            let kind = if class.in_turn {
                &class.kinds[i as usize % class.kinds.len()]
            } else {
                let mut draw = g.below(all_weight);
                class
                    .kinds
                    .iter()
                    .find(|k| {
                        let hit = draw < k.weight;
                        draw = draw.saturating_sub(k.weight);
                        hit
                    })
                    .expect("the draw is below the total weight")
            };
            let dir = match kind.dirs[g.below(kind.dirs.len() as u64) as usize] {
                "MONTH" => &months[g.below(months.len() as u64) as usize],
                "THUMBS" => &thumbs[g.below(thumbs.len() as u64) as usize],
                other => other,
            };
            index += 1;
            let stem = match (kind.ext, dir.starts_with("cache/")) {
                ("jpg", true) => "thumb".to_string(),
                ("jpg", false) => "IMG".to_string(),
                _ => g.word_string(),
            };
            let weight = g.log_uniform(kind.sizes.0, kind.sizes.1);
            picked.push((
                format!("{dir}/{stem}-{index:05}.{}", kind.ext),
                kind.ext,
                weight,
            ));
        }
        let sum: f64 = picked.iter().map(|p| p.2).sum();
        plan.extend(
            picked
                .into_iter()
                .map(|(rel, ext, w)| (rel, ext, ((class_bytes as f64 * w / sum) as u64).max(1))),
        );
    }
    // Rounding leaves a few bytes over (or short): the largest file takes the difference.
    let planned: u64 = plan.iter().map(|p| p.2).sum();
    if let Some(largest) = plan.iter_mut().max_by_key(|p| p.2) {
        largest.2 = (largest.2 + total).saturating_sub(planned);
    }

    for (rel, ext, size) in &plan {
        let path = root.join(rel);
        write_generated(&mut g, &path, ext, *size)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

fn write_generated(g: &mut Gen, path: &Path, ext: &str, size: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    if backstop::files::already_compressed(&format!("x.{ext}")) {
        // The format's signature, then random bytes.
        let magic: &[u8] = match ext {
            "jpg" => b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
            "png" => b"\x89PNG\r\n\x1a\n",
            "mp4" => b"\x00\x00\x00\x20ftypisom",
            "zip" => b"PK\x03\x04",
            _ => b"",
        };
        let head = magic.len().min(size as usize);
        out.write_all(&magic[..head])?;
        let mut left = size - head as u64;
        let mut buf = vec![0u8; 64 << 10];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            g.fill(&mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
    } else {
        // Records of the file's kind until the size is reached; the last one is cut off there.
        let mut record = String::new();
        let mut text = String::new();
        let mut clock: i64 = 1_546_300_800 + g.below(86_400 * 365 * 5) as i64;
        let mut left = size;
        let mut n = 0u64;
        while left > 0 {
            record.clear();
            text_record(g, ext, n, &mut clock, &mut record, &mut text);
            let take = (record.len() as u64).min(left) as usize;
            out.write_all(&record.as_bytes()[..take])?;
            left -= take as u64;
            n += 1;
        }
    }
    out.flush()
}

/// Appends record `n` of a text file of kind `ext` to `out` (a line, a paragraph, a rule; `n == 0` starts with the
/// file's header where the kind has one). `clock` moves forward through the file.
fn text_record(
    g: &mut Gen,
    ext: &str,
    n: u64,
    clock: &mut i64,
    out: &mut String,
    text: &mut String,
) {
    *clock += 1 + g.below(90) as i64;
    let first = FIRST_NAMES[g.below(FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[g.below(LAST_NAMES.len() as u64) as usize];
    match ext {
        "html" => {
            if n == 0 {
                let _ = write!(
                    out,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} {}</title>\n\
                     <link rel=\"stylesheet\" href=\"/static/css/site.css\">\n</head>\n<body>\n",
                    g.capitalized(),
                    g.word_string()
                );
            }
            let words = 20 + g.skewed(150);
            g.prose(text, words);
            let _ = write!(
                out,
                "<article class=\"post\" id=\"post-{n}\">\n  <h2>{} {}</h2>\n  <p class=\"meta\">by {first} {last}, \
                 {}</p>\n  <p>{text}</p>\n  <p><a href=\"/pages/{}-{}.html\">Read more</a></p>\n</article>\n",
                g.capitalized(),
                g.word_string(),
                timestamp(*clock),
                g.word_string(),
                g.below(100_000)
            );
        }
        "md" => {
            let words = 20 + g.skewed(150);
            g.prose(text, words);
            let _ = write!(
                out,
                "## {} {}\n\n{text}\n\n- {} {}\n- {}\n\n",
                g.capitalized(),
                g.word_string(),
                g.capitalized(),
                g.word_string(),
                g.capitalized()
            );
        }
        "json" => {
            let words = 5 + g.skewed(40);
            g.prose(text, words);
            let _ = writeln!(
                out,
                "{{\"id\":{},\"file\":\"IMG-{:05}.jpg\",\"title\":\"{} {}\",\"author\":\"{first} {last}\",\
                 \"taken_at\":\"{}\",\"width\":{},\"height\":{},\"tags\":[\"{}\",\"{}\"],\"caption\":\"{text}\"}}",
                n + 1,
                g.below(100_000),
                g.capitalized(),
                g.word_string(),
                timestamp(*clock),
                320 * (1 + g.below(12)),
                240 * (1 + g.below(12)),
                g.word_string(),
                g.word_string()
            );
        }
        "csv" => {
            if n == 0 {
                out.push_str("id,date,customer,email,city,country,amount_cents,status\n");
            }
            let _ = writeln!(
                out,
                "{},{},{first} {last},{}.{}@{},{},{},{},{}",
                n + 1,
                timestamp(*clock),
                first.to_lowercase(),
                last.to_lowercase(),
                DOMAINS[g.skewed(DOMAINS.len() as u64) as usize],
                g.capitalized(),
                COUNTRIES[g.skewed(COUNTRIES.len() as u64) as usize],
                99 + g.skewed(50_000) * 7,
                STATUSES[g.skewed(STATUSES.len() as u64) as usize]
            );
        }
        "css" => {
            let _ = write!(
                out,
                ".{}-{} {{\n  color: #{:06x};\n  margin: {}px {}px;\n  font-size: {}px;\n}}\n",
                g.word_string(),
                g.word_string(),
                g.below(1 << 24),
                g.below(5) * 4,
                g.below(5) * 8,
                12 + g.below(6) * 2
            );
        }
        "js" => {
            let (name, field, local) = (g.word_string(), g.word_string(), g.word_string());
            let _ = write!(
                out,
                "export function {name}{}(a, b) {{\n  const {local} = a.{field} + b * {};\n  \
                 return {local} > {} ? \"{}\" : null;\n}}\n",
                g.capitalized(),
                g.below(1000),
                g.below(10_000),
                g.word_string()
            );
        }
        "svg" => {
            if n == 0 {
                let _ = writeln!(
                    out,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {0}\">",
                    16 * (1 + g.below(8))
                );
            }
            let _ = writeln!(
                out,
                "  <path d=\"M{} {} L{} {} Q{} {} {} {} Z\" fill=\"#{:06x}\"/>",
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(1 << 24)
            );
        }
        "log" => {
            let t = chrono::DateTime::from_timestamp(*clock, 0)
                .expect("timestamps stay in range")
                .naive_utc();
            let _ = writeln!(
                out,
                "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z INFO 10.{}.{}.{} \"GET /uploads/{}/{:02}/IMG-{:05}.jpg HTTP/1.1\" \
                 {} {} {}ms \"{}\"",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                g.below(256),
                g.below(256),
                g.below(256),
                2019 + g.below(6),
                1 + g.below(12),
                g.below(100_000),
                [200, 200, 200, 200, 304, 404][g.below(6) as usize],
                g.skewed(2_000_000),
                1 + g.skewed(900),
                USER_AGENTS[g.below(USER_AGENTS.len() as u64) as usize]
            );
        }
        "sql" => {
            if n == 0 {
                out.push_str(
                    "-- media app dump\nCREATE TABLE uploads (id integer PRIMARY KEY, owner text NOT NULL, \
                     path text NOT NULL, uploaded_at timestamp NOT NULL, address text, bytes bigint NOT NULL);\n",
                );
            }
            let mut address = String::new();
            g.address(&mut address);
            let _ = writeln!(
                out,
                "INSERT INTO uploads VALUES ({}, '{first} {last}', 'uploads/{}/{:02}/IMG-{:05}.jpg', '{}', '{address}', {});",
                n + 1,
                2019 + g.below(6),
                1 + g.below(12),
                g.below(100_000),
                timestamp(*clock),
                g.skewed(5_000_000)
            );
        }
        _ => {
            let words = 20 + g.skewed(200);
            g.prose(text, words);
            out.push_str(text);
            out.push_str("\n\n");
        }
    }
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0",
];
