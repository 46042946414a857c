//! Dispatch: each command builds a spec, calls a job and prints its report.

use super::args::{CatalogCommand, Cli, Command, absolute};
use super::output;
use super::print::{
    TerminalProgress, archive_diff_empty, confirm_restore, print_json, print_stats, row_marks,
};
use super::profile::profile_command;
use crate::archive::EntryType;
use crate::config::Paths;
use crate::error::{Error, Result};
use crate::jobs::{self, BackupRef, BackupSpec, Context, RestoreSpec, VerifyTarget};
use crate::model::Trigger;
use crate::progress::{CancelToken, JobControl, NoProgress, ProgressSink, human_size};
use chrono::Utc;
use std::io::{IsTerminal, Write};

/// Runs the CLI; returns the process exit code.
pub fn run(cli: Cli, cancel: CancelToken) -> i32 {
    let Some(command) = cli.command else {
        return 2;
    };
    let show_progress = std::io::stderr().is_terminal();
    let sink: &dyn ProgressSink = if show_progress {
        &TerminalProgress
    } else {
        &NoProgress
    };
    let job = JobControl::new(sink, cancel);
    let result = dispatch(command, &job);
    if show_progress {
        // The one escape sequence meant for the terminal: clear the progress line (not through `eprint!`, which
        // escapes control characters on a terminal).
        let _ = std::io::stderr().write_all(b"\r\x1b[K");
    }
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    match output::finish() {
        Some(e) if code == 0 => {
            eprintln!("error: cannot write the output: {e}");
            1
        }
        _ => code,
    }
}

pub(super) fn open_context() -> Result<Context> {
    let ctx = Context::open(Paths::from_env()?)?;
    for line in &ctx.recovered {
        eprintln!("note: {line}");
    }
    Ok(ctx)
}

fn dispatch(command: Command, job: &JobControl) -> Result<i32> {
    match command {
        Command::Profile(cmd) => profile_command(*cmd),
        Command::Catalog(CatalogCommand::Rebuild {
            from: Some(dest),
            unlock,
        }) => {
            let ctx = open_context()?;
            let report = jobs::rebuild_from(&ctx, &dest, unlock.read()?.as_ref(), job)?;
            println!(
                "catalog rebuilt from {}: {} backup(s) added, {} known already",
                report.dest,
                report.added.len(),
                report.known
            );
            if let Some(whose) = &report.took_over_from {
                println!("  the folder was another home's ({whose}); it is this home's now");
            }
            for damaged in &report.damaged {
                println!("  unreadable: {damaged}");
            }
            if let Some(id) = report.added.last() {
                println!(
                    "  restore one with `backstop restore {id} --from {}`",
                    report.dest
                );
            }
            Ok(if report.damaged.is_empty() { 0 } else { 1 })
        }
        Command::Catalog(CatalogCommand::Rebuild { from: None, .. }) => {
            let report = jobs::rebuild_catalog(&Paths::from_env()?, job)?;
            println!("catalog rebuilt: {} archive(s) catalogued", report.archives);
            for damaged in &report.damaged {
                println!("  damaged: {damaged}");
            }
            if let Some(old) = report.old_catalog {
                println!("  the old catalog was kept as {}", old.display());
            }
            Ok(0)
        }
        Command::Demo => demo(job),
        Command::Pause => pause(true),
        Command::Resume => pause(false),
        Command::Background(cmd) => super::background::background_command(cmd),
        Command::Dest(cmd) => {
            let mut ctx = open_context()?;
            super::dest::dest_command(&mut ctx, cmd, job)
        }
        Command::RecoverySheet { profile, html } => {
            let ctx = open_context()?;
            let text = jobs::recovery_sheet(&ctx, profile.as_deref())?;
            if let Some(file) = html {
                let file = absolute(file)?;
                let name = ctx.config.select(profile.as_deref())?.name.clone();
                crate::fsutil::atomic_write(
                    &file,
                    jobs::recovery_sheet_html(&text, &name).as_bytes(),
                )?;
                eprintln!("printable page written to {}", file.display());
            }
            print!("{text}");
            Ok(0)
        }
        other => {
            let mut ctx = open_context()?;
            job_command(&mut ctx, other, job)
        }
    }
}

fn job_command(ctx: &mut Context, command: Command, job: &JobControl) -> Result<i32> {
    match command {
        Command::Backup {
            profile,
            kind,
            json,
        } => {
            let spec = BackupSpec {
                profile,
                kind,
                trigger: Trigger::Manual,
            };
            let report = jobs::backup(ctx, &spec, job)?;
            if json {
                print_json(&report)?;
            } else {
                println!("{}", report.path.display());
                eprintln!(
                    "backup {} completed: {} in {:.1} s{}",
                    report.id,
                    human_size(report.size_bytes),
                    report.duration_ms as f64 / 1000.0,
                    if report.pruned.is_empty() {
                        String::new()
                    } else {
                        format!("; retention deleted {} old backup(s)", report.pruned.len())
                    }
                );
            }
            // On stderr with --json too: a script that reads only the JSON still leaves a trace in its log.
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if let Some(why) = &report.retention_skipped {
                eprintln!("flagged: {why}");
            }
            super::dest::print_copies(&report.copies);
            Ok(0)
        }
        Command::List { profile, all, json } => {
            if let Some(name) = &profile {
                ctx.config.profile(name)?;
            }
            let rows = ctx.catalog.list(profile.as_deref(), all)?;
            if json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no backups yet; make one with `backstop backup`");
            } else {
                println!(
                    "{:>4}  {:<10} {:<9} {:<9} {:<20} {:>10}  PATH",
                    "ID", "STATUS", "TRIGGER", "KIND", "CREATED (UTC)", "SIZE"
                );
                for r in rows {
                    println!(
                        "{:>4}  {:<10} {:<9} {:<9} {:<20} {:>10}  {}{}{}",
                        r.id,
                        r.status.as_str(),
                        r.trigger.as_str(),
                        r.kind.as_str(),
                        r.created_at.format("%Y-%m-%d %H:%M:%S"),
                        r.size_bytes.map(human_size).unwrap_or_else(|| "-".into()),
                        r.path.display(),
                        if r.pinned { "  (pinned)" } else { "" },
                        row_marks(&r)
                    );
                }
            }
            Ok(0)
        }
        Command::Verify {
            target,
            all,
            profile,
            json,
        } => {
            let target = match (target, all) {
                (Some(t), false) => VerifyTarget::One(BackupRef::parse(&t)),
                (None, true) => VerifyTarget::All(profile),
                _ => {
                    return Err(Error::Usage(
                        "say what to verify: an ID, a PATH, or --all".into(),
                    ));
                }
            };
            let outcomes = jobs::verify(ctx, &target, job)?;
            let damaged = outcomes.iter().filter(|o| !o.report.ok()).count();
            if json {
                print_json(&outcomes)?;
            } else {
                for o in &outcomes {
                    let name =
                        o.id.map(|id| format!("backup {id}"))
                            .unwrap_or_else(|| o.report.path.display().to_string());
                    if o.report.ok() {
                        println!(
                            "ok       {name}: {} entries, {}",
                            o.report.entries_checked,
                            human_size(o.report.bytes_checked)
                        );
                    } else {
                        println!("DAMAGED  {name}: {}", o.report.problems.join("; "));
                    }
                }
                if outcomes.is_empty() {
                    println!("nothing to verify");
                }
            }
            Ok(if damaged > 0 { 1 } else { 0 })
        }
        Command::Restore {
            source,
            profile,
            validate_only,
            no_safety_backup,
            yes,
            to_database,
            terminate_sessions,
            allow_other_profile,
            only,
            to,
            from,
            unlock,
            json,
        } => {
            let spec = RestoreSpec {
                source: BackupRef::parse(&source),
                profile,
                validate_only,
                safety_backup: !no_safety_backup,
                target_database: to_database,
                terminate_sessions,
                only,
                to: to.map(absolute).transpose()?,
                allow_other_profile,
                from,
                unlock: unlock.read()?,
            };
            if !validate_only && !yes && spec.only.is_empty() {
                let plan = jobs::plan_restore(ctx, &spec)?;
                confirm_restore(&plan)?;
            }
            let report = jobs::restore(ctx, &spec, job)?;
            if json {
                print_json(&report)?;
            } else {
                println!("{}", report.message);
            }
            Ok(0)
        }
        Command::Show { target, json } => {
            let manifest = jobs::show(ctx, &BackupRef::parse(&target))?;
            if json {
                print_json(&manifest)?;
            } else {
                println!(
                    "{} backup of profile {} ({}), taken {}",
                    manifest.kind,
                    manifest.profile,
                    manifest.trigger,
                    manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                if let Some(db) = &manifest.database {
                    println!(
                        "database: {} {} ({}), {} at backup time",
                        db.engine,
                        db.name,
                        db.engine_version,
                        human_size(db.size_bytes)
                    );
                    for (table, rows) in &db.tables {
                        println!("  table {table}: {rows} rows");
                    }
                }
                if let Some(from) = &manifest.imported_from {
                    println!("imported from: {from}");
                }
                let folder = crate::files::entries_of(&manifest.entries);
                if !folder.is_empty() {
                    let files = folder
                        .iter()
                        .filter(|e| e.entry_type == EntryType::File)
                        .count();
                    let bytes: u64 = folder
                        .iter()
                        .filter(|e| e.entry_type == EntryType::File)
                        .map(|e| e.size)
                        .sum();
                    println!(
                        "files folder: {files} files, {} folders, {} links, {}",
                        folder
                            .iter()
                            .filter(|e| e.entry_type == EntryType::Dir)
                            .count(),
                        folder
                            .iter()
                            .filter(|e| e.entry_type == EntryType::Symlink)
                            .count(),
                        human_size(bytes)
                    );
                }
                for warning in &manifest.warnings {
                    println!("warning: {warning}");
                }
                println!("entries:");
                for e in &manifest.entries {
                    let mode = e.mode.map(|m| format!("{m:04o}")).unwrap_or_default();
                    let link = match &e.target {
                        Some(target) => format!(" -> {target}"),
                        None => String::new(),
                    };
                    println!(
                        "  {:>12}  {}  {mode:>4}  {}{link}",
                        human_size(e.size),
                        e.sha256.chars().take(12).collect::<String>(),
                        e.path
                    );
                }
            }
            Ok(0)
        }
        Command::Diff {
            before,
            after,
            json,
        } => {
            let diff = jobs::diff(ctx, &BackupRef::parse(&before), &BackupRef::parse(&after))?;
            if json {
                print_json(&diff)?;
            } else {
                for path in &diff.added {
                    println!("added    {path}");
                }
                for path in &diff.removed {
                    println!("removed  {path}");
                }
                for path in &diff.changed {
                    println!("changed  {path}");
                }
                if let (Some(a), Some(b)) = (diff.database_size_before, diff.database_size_after) {
                    println!(
                        "database size: {} -> {} ({:+} bytes)",
                        human_size(a),
                        human_size(b),
                        b as i64 - a as i64
                    );
                }
                for (table, (a, b)) in &diff.tables {
                    println!("table {table}: {a} -> {b} rows");
                }
                if diff == archive_diff_empty(&diff) {
                    println!("no difference");
                }
            }
            Ok(0)
        }
        Command::Prune {
            profile,
            dry_run,
            json,
        } => {
            let report = jobs::prune(ctx, profile.as_deref(), dry_run)?;
            if json {
                print_json(&report)?;
            } else {
                let verb = if dry_run { "would delete" } else { "deleted" };
                for v in &report.verdicts {
                    println!(
                        "{:>4}  {:<12} {}",
                        v.id,
                        if v.keep { "keep" } else { verb },
                        v.reason
                    );
                }
                let n = report.verdicts.iter().filter(|v| !v.keep).count();
                println!("{} {n} backup(s) of profile {}", verb, report.profile);
            }
            Ok(0)
        }
        Command::Import {
            files,
            profile,
            json,
        } => {
            let batch = jobs::import_batch(ctx, &files, profile.as_deref(), job)?;
            if json {
                print_json(&batch)?;
            } else {
                for report in &batch.imported {
                    println!(
                        "imported {} ({}) as backup {}: {}",
                        report.source.display(),
                        report.describe(),
                        report.backup.id,
                        report.backup.path.display()
                    );
                }
                for note in batch.imported.iter().flat_map(|r| &r.notes) {
                    eprintln!("note: {note}");
                }
                for duplicate in &batch.duplicates {
                    println!("{}", duplicate.message());
                }
                for skipped in &batch.skipped {
                    println!("{}", skipped.message);
                }
            }
            for refused in &batch.refused {
                eprintln!("error: {}", refused.message);
            }
            // A refused import is a failed job (exit 1); a duplicate is not: the file is there already.
            Ok(if batch.refused.is_empty() { 0 } else { 1 })
        }
        Command::Export { id, to } => {
            let dest = jobs::export(ctx, id, &to, job)?;
            println!("{}", dest.display());
            Ok(0)
        }
        Command::Delete { id } => {
            let row = jobs::delete(ctx, id)?;
            println!("deleted backup {} ({})", row.id, row.path.display());
            Ok(0)
        }
        Command::Pin { id } => {
            jobs::pin(ctx, id, true)?;
            println!("backup {id} pinned: retention will keep it");
            Ok(0)
        }
        Command::Unpin { id } => {
            jobs::pin(ctx, id, false)?;
            println!("backup {id} unpinned");
            Ok(0)
        }
        Command::RunDue { json } => {
            let outcomes = jobs::run_due(ctx, job, Utc::now())?;
            if ctx.config.settings.automatic_paused {
                // Said once, not once per profile; exit 0: a pause is what the user asked for.
                match json {
                    true => print_json(&outcomes)?,
                    false => println!("{}", jobs::PAUSED),
                }
                return Ok(0);
            }
            let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
            // Scheduled runs have no window: tell the desktop, when there is one, what happened.
            if ctx.config.settings.notifications {
                for o in &outcomes {
                    let (summary, body) = match (&o.backup, &o.error) {
                        (Some(b), _) if b.retention_skipped.is_some() => (
                            format!("Backstop: {} backed up, but flagged", o.profile),
                            b.flagged_text().unwrap_or_default(),
                        ),
                        (Some(b), _) => (
                            format!("Backstop: {} backed up", o.profile),
                            format!("{} ({} bytes)", b.path.display(), b.size_bytes),
                        ),
                        (None, Some(e)) => (
                            format!("Backstop: automatic backup of {} failed", o.profile),
                            e.clone(),
                        ),
                        (None, None) => continue,
                    };
                    crate::notify::notify_and_wait(
                        &summary,
                        &body,
                        std::time::Duration::from_secs(2),
                    );
                }
            }
            if json {
                print_json(&outcomes)?;
            } else {
                for o in &outcomes {
                    match (&o.backup, &o.error) {
                        (Some(b), _) => println!(
                            "{}: backed up ({}){}",
                            o.profile,
                            b.path.display(),
                            if o.missed > 0 {
                                format!(
                                    "; {} automatic backup(s) were missed, one catch-up backup was made",
                                    o.missed
                                )
                            } else {
                                String::new()
                            }
                        ),
                        (None, Some(e)) => eprintln!("{}: automatic backup FAILED: {e}", o.profile),
                        (None, None) => match &o.skipped {
                            Some(why) => println!("{}: skipped: {why}", o.profile),
                            None => println!("{}: {}", o.profile, o.reason),
                        },
                    }
                    if let Some(b) = &o.backup {
                        for warning in &b.warnings {
                            eprintln!("{}: warning: {warning}", o.profile);
                        }
                        if let Some(why) = &b.retention_skipped {
                            eprintln!("{}: flagged: {why}", o.profile);
                        }
                    }
                }
                if outcomes.is_empty() {
                    println!("no profiles");
                }
            }
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Command::Stats { profile, json } => {
            let stats = jobs::stats(ctx, profile.as_deref(), Utc::now(), true)?;
            if json {
                print_json(&stats)?;
            } else {
                print_stats(&stats);
            }
            Ok(0)
        }
        Command::Log {
            profile,
            limit,
            json,
        } => {
            let (restores, jobs_log) = jobs::history(ctx, profile.as_deref(), limit)?;
            if json {
                print_json(&serde_json::json!({ "restores": restores, "jobs": jobs_log }))?;
            } else {
                println!("Restores:");
                for r in &restores {
                    println!(
                        "  {} {:<9} {} from {}{}",
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.outcome,
                        r.profile,
                        r.backup_id
                            .map(|id| format!("backup {id}"))
                            .unwrap_or_else(|| r.archive_path.display().to_string()),
                        r.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
                println!("Jobs:");
                for j in &jobs_log {
                    println!(
                        "  {} {:<9} {:<8} {}{}",
                        j.started_at.format("%Y-%m-%d %H:%M:%S"),
                        j.outcome,
                        j.job,
                        j.profile.as_deref().unwrap_or("-"),
                        j.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        Command::Profile(_)
        | Command::Catalog(_)
        | Command::Dest(_)
        | Command::RecoverySheet { .. }
        | Command::Demo
        | Command::Pause
        | Command::Resume
        | Command::Background(_) => Err(Error::JobFailed("internal: not a job".into())),
    }
}

/// `backstop pause` / `backstop resume`.
fn pause(paused: bool) -> Result<i32> {
    let changed = jobs::set_automatic_paused(&Paths::from_env()?, paused)?;
    println!(
        "{}",
        match (paused, changed) {
            (true, true) =>
                "automatic backups paused: neither the window nor run-due starts one until \
                             `backstop resume`; backups you ask for still run",
            (true, false) =>
                "automatic backups were paused already; `backstop resume` resumes them",
            (false, true) => "automatic backups resumed",
            (false, false) => "automatic backups were not paused",
        }
    );
    Ok(0)
}

fn demo(job: &JobControl) -> Result<i32> {
    let paths = Paths::from_env()?;
    for line in jobs::ensure_demo(&paths)? {
        println!("{line}");
    }
    let mut ctx = open_context()?;
    let report = jobs::backup(
        &ctx,
        &BackupSpec {
            profile: Some("demo".into()),
            kind: None,
            trigger: Trigger::Manual,
        },
        job,
    )?;
    println!(
        "backed up to {} ({})",
        report.path.display(),
        human_size(report.size_bytes)
    );
    println!();
    job_command(
        &mut ctx,
        Command::List {
            profile: Some("demo".into()),
            all: false,
            json: false,
        },
        job,
    )?;
    println!();
    println!(
        "Next: `backstop verify --all`, `backstop restore {} --validate-only`, `backstop stats`",
        report.id
    );
    Ok(0)
}
