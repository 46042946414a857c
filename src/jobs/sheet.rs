//! The recovery sheet of a profile: where its copies are, and how to get the database back from one of them with
//! stock tools alone (`sha256sum`, `age`, `unzip`, `sqlite3`, `pg_restore`, `mariadb`), or with Backstop on a new
//! machine. Text for the CLI, a printable HTML page for the window. It never holds a secret.

use super::context::Context;
use crate::catalog::CopyStatus;
use crate::error::Result;
use crate::model::{EngineKind, Status};
use crate::storage::{Destination, Target};
use std::fmt::Write as _;

/// The sheet of profile `name` (the only profile when None), as text.
pub fn recovery_sheet(ctx: &Context, name: Option<&str>) -> Result<String> {
    let profile = ctx.config.select(name)?.clone();
    let rows = ctx.catalog.list(Some(&profile.name), false)?;
    let newest = rows
        .iter()
        .filter(|r| r.status == Status::Completed)
        .max_by_key(|r| (r.created_at, r.id));
    let dests: Vec<&Destination> = ctx.config.destinations_of(&profile.name).collect();
    let mut s = String::new();
    let line = "=".repeat(78);
    let _ = writeln!(
        s,
        "{line}\nBACKSTOP RECOVERY SHEET: profile {}\n{line}",
        profile.name
    );
    let _ = writeln!(
        s,
        "Made {} on {}. Keep it away from this computer (printed, or in your password manager's notes).\n\
         It holds no password, passphrase or key: those you keep elsewhere.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        crate::storage::spec::machine_name()
    );

    let _ = writeln!(s, "WHAT IS PROTECTED");
    let _ = writeln!(s, "  Database:      {}", profile.database.describe());
    if let Some(dir) = &profile.files_dir {
        let _ = writeln!(s, "  Files folder:  {}", dir.display());
    }
    let _ = writeln!(s, "  Backups here:  {}", profile.storage_dir.display());
    match newest {
        Some(row) => {
            let _ = writeln!(
                s,
                "  Newest backup: {} (backup {}, {}, {})",
                row.path.file_name().unwrap_or_default().to_string_lossy(),
                row.id,
                row.kind,
                row.created_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        None => {
            let _ = writeln!(s, "  Newest backup: none yet");
        }
    }

    let _ = writeln!(s, "\nWHERE THE COPIES ARE");
    if dests.is_empty() {
        let _ = writeln!(
            s,
            "  No destination: every backup is on this computer only. Add one with `backstop dest add`."
        );
    }
    for (i, dest) in dests.iter().enumerate() {
        let copies: Vec<_> = rows
            .iter()
            .filter_map(|r| {
                r.copies
                    .iter()
                    .find(|c| c.dest == dest.name && c.status == CopyStatus::Copied)
                    .map(|c| (r, c))
            })
            .collect();
        let newest_copy = copies.iter().max_by_key(|(r, _)| (r.created_at, r.id));
        let _ = writeln!(
            s,
            "  {}. {} ({})",
            i + 1,
            dest.name,
            where_text(&dest.target)
        );
        let _ = writeln!(
            s,
            "     {} checked cop{} there; newest: {}",
            copies.len(),
            if copies.len() == 1 { "y" } else { "ies" },
            newest_copy.map_or("none yet".to_string(), |(r, c)| format!(
                "{} ({})",
                c.object,
                r.created_at.format("%Y-%m-%d %H:%M UTC")
            ))
        );
        let _ = writeln!(s, "     Download: {}", download_text(&dest.target));
    }

    let _ = writeln!(s, "\nENCRYPTION");
    let (decrypt, encrypted) = match &profile.encryption {
        None => {
            let _ = writeln!(s, "  Not encrypted: the archives are ordinary zip files.");
            (None, false)
        }
        Some(enc) => {
            let scope = if enc.offsite_only {
                "The copies at destinations are encrypted (NAME.zip.age); the archives on this computer are not."
            } else {
                "Every archive and every copy is encrypted (NAME.zip.age)."
            };
            let _ = writeln!(s, "  {scope}");
            match &enc.passphrase_id {
                Some(id) => {
                    let _ = writeln!(
                        s,
                        "  With a passphrase: key {id}, set {}. Backups made before that need the passphrase they\n  \
                         were made with (`backstop list` shows the key of each). You need the passphrase: it is\n  \
                         not on this sheet.",
                        enc.passphrase_set_at
                            .map_or("(date unknown)".to_string(), |t| t
                                .format("%Y-%m-%d")
                                .to_string())
                    );
                    (Some("age -d -o backup.zip NAME.zip.age          (it asks for the passphrase)".to_string()), true)
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  To recipient keys: only the matching private key decrypts them (not this computer):"
                    );
                    for r in &enc.recipients {
                        let _ = writeln!(s, "    {}", shorten(r, 70));
                    }
                    (
                        Some("age -d -i YOUR-PRIVATE-KEY -o backup.zip NAME.zip.age   (an age key file or SSH key)".to_string()),
                        true,
                    )
                }
            }
        }
    };

    let _ = writeln!(s, "\nRESTORE WITHOUT BACKSTOP (any Linux or macOS machine)");
    let name = if encrypted {
        "NAME.zip.age"
    } else {
        "NAME.zip"
    };
    let _ = writeln!(
        s,
        "  1. Download the newest archive {name} and {name}.sha256 beside it (see above)."
    );
    let _ = writeln!(
        s,
        "  2. Check it:   sha256sum -c {name}.sha256        (must say OK)"
    );
    let mut step = 3;
    if let Some(decrypt) = decrypt {
        let _ = writeln!(s, "  {step}. Decrypt:     {decrypt}");
        step += 1;
    }
    let zip = if encrypted { "backup.zip" } else { "NAME.zip" };
    let _ = writeln!(
        s,
        "  {step}. Unpack:      unzip {zip} -d restored     (manifest.json lists every file and its SHA-256;\n                 README.txt inside says the same steps)"
    );
    step += 1;
    let engine = profile.database.engine();
    let entry = newest
        .and_then(|r| r.database_name.as_deref())
        .map(|db| format!("database/{db}.{}", extension(engine)))
        .unwrap_or_else(|| format!("database/DB.{}", extension(engine)));
    let steps = crate::engine::family(engine).readme_steps(&entry, None);
    let _ = writeln!(s, "  {step}. The database:");
    let live = profile.database.file().map(|p| p.display().to_string());
    for l in steps.lines() {
        // The README's own step number goes; its placeholder becomes this profile's database file.
        let l = l.trim_start();
        let l = match l.split_once(". ") {
            Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => l,
        };
        let l = match &live {
            Some(path) => l.replace("/path/to/live.db", path),
            None => l.to_string(),
        };
        let _ = writeln!(s, "       {l}");
    }
    if profile.files_dir.is_some() {
        let _ = writeln!(
            s,
            "  {}. The files folder is restored/files/: move the live folder aside and put it in its place.",
            step + 1
        );
    }

    let _ = writeln!(s, "\nRESTORE WITH BACKSTOP ON A NEW MACHINE");
    let _ = writeln!(
        s,
        "  backstop profile add {} ...            (the same database settings as above)",
        profile.name
    );
    if let Some(dest) = dests.first() {
        let _ = writeln!(
            s,
            "  backstop dest add {} --profile {} {}",
            dest.name,
            profile.name,
            add_flags(&dest.target)
        );
    }
    if profile
        .encryption
        .as_ref()
        .is_some_and(|e| e.passphrase_id.is_some())
    {
        let _ = writeln!(
            s,
            "  backstop profile edit {} --encrypt-passphrase-stdin",
            profile.name
        );
    }
    if let Some(dest) = dests.first() {
        let _ = writeln!(
            s,
            "  backstop catalog rebuild --from {}       (reads every archive's manifest there)",
            dest.name
        );
        let _ = writeln!(
            s,
            "  backstop list                                  (pick the backup; then:)"
        );
        let _ = writeln!(s, "  backstop restore ID --from {}", dest.name);
    } else {
        let _ = writeln!(s, "  backstop import NAME.zip, then backstop restore ID");
    }
    Ok(s)
}

/// The sheet as a printable HTML page (the text, escaped, in a monospaced block sized for A4 and Letter).
pub fn recovery_sheet_html(text: &str, profile: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Backstop recovery sheet: {}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}pre{{font-size:10.5pt;white-space:pre-wrap}}\
         @media print{{body{{margin:0}}button{{display:none}}}}</style></head>\n<body>\
         <button onclick=\"window.print()\">Print</button>\n<pre>{escaped}</pre>\n</body></html>\n",
        profile
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    )
}

fn extension(engine: EngineKind) -> &'static str {
    match engine {
        EngineKind::Sqlite => "sqlite3",
        EngineKind::Postgres => "dump",
        EngineKind::Mysql => "sql",
    }
}

fn where_text(target: &Target) -> String {
    match target {
        Target::S3 {
            access_key_id,
            region,
            path_style,
            ..
        } => format!(
            "{}, region {region}{}, access key id {access_key_id}; the secret key is not on this sheet",
            target.describe(),
            if *path_style { ", path-style" } else { "" }
        ),
        Target::Webdav { user: Some(u), .. } => format!(
            "{}, user {u}; the password is not on this sheet",
            target.describe()
        ),
        _ => target.describe(),
    }
}

fn download_text(target: &Target) -> String {
    match target {
        Target::Folder { path } => format!("copy it from {}", path.display()),
        Target::S3 {
            endpoint,
            bucket,
            prefix,
            ..
        } => format!(
            "the provider's web console, or `aws s3 cp s3://{bucket}/{prefix}/NAME . --endpoint-url {endpoint}`, or rclone"
        ),
        Target::Sftp {
            user,
            host,
            port,
            path,
            ..
        } => format!("`sftp -P {port} {user}@{host}:{path}/NAME .`"),
        Target::Webdav { url, user } => match user {
            Some(u) => format!("`curl -u {u} -O {url}/NAME`"),
            None => format!("`curl -O {url}/NAME`"),
        },
    }
}

fn add_flags(target: &Target) -> String {
    match target {
        Target::Folder { path } => format!("--folder {}", path.display()),
        Target::S3 {
            endpoint,
            bucket,
            prefix,
            region,
            path_style,
            access_key_id,
        } => format!(
            "--s3 {endpoint} --bucket {bucket} --prefix {prefix} --region {region}{} --access-key-id {access_key_id} --secret-stdin",
            if *path_style { " --path-style" } else { "" }
        ),
        Target::Sftp {
            user,
            host,
            port,
            path,
            ..
        } => format!("--sftp {user}@{host}:{port}{path} --identity YOUR-KEY"),
        Target::Webdav { url, user } => match user {
            Some(u) => format!("--webdav {url} --user {u} --secret-stdin"),
            None => format!("--webdav {url}"),
        },
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}
