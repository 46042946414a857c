//! The files-folder part: `backstop backup --kind files`, `verify` and `restore` against `tar -czf` / `zip -qr` and
//! `tar -xzf` / `unzip -q`, on a generated web-app media folder, plus a memory check on a folder 1/8 its size.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, backstop, backup_report, command, env_positive, file_len,
    mib, print_rss_method, progress, require_tool, require_tool_with, rss, sync, warm,
};
use crate::files_tree::{
    Tree, check_tree, create_dir, describe_folder, digest_tree, discard, ensure_folder,
    folder_paths, folder_reusable, link_tree, remove_pre_restore, warm_tree,
};
use rusqlite::Connection;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Changing the folder generator changes this, so folders made by an older version are not reused.
pub(crate) const FILES_GENERATOR: &str = "files-v1";
/// The folder's name in the working copies, so in every archive and restored copy.
pub(crate) const FILES_NAME: &str = "media";
/// The default folder: 2 GiB in 20,000 files.
const FILES_DEFAULT_MIB: u64 = 2048;
const FILES_DEFAULT_COUNT: u64 = 20_000;
/// Free space wanted in the work folder, as a multiple of the folder's size: the source, three archives of nearly
/// its size (most of its bytes are already compressed), a restored copy at a time, and margin.
const FILES_SPACE_FACTOR: u64 = 6;

/// Runs the files-folder part in `work` and prints its results.
pub(crate) fn bench_files(work: &Path) {
    for tool in ["tar", "gzip", "zip"] {
        require_tool(tool);
    }
    require_tool_with("unzip", "-v");
    let (target_mib, count) = files_size(work);
    let (small_mib, small_count) = ((target_mib / 8).max(1), (count / 8).max(1));

    // 1. The source folders: the one measured, and one of 1/8 its size and file count for the memory check.
    let source = ensure_folder(work, target_mib, count);
    let small_source = ensure_folder(work, small_mib, small_count);
    let tree = Tree::list(&source);
    let small_tree = Tree::list(&small_source);
    let bytes = tree.bytes();
    let files = tree.files.len();
    let small_bytes = small_tree.bytes();
    let small_files = small_tree.files.len();
    describe_folder(&source, &tree);
    println!(
        "  small folder:    {} ({} in {small_files} files, {} folders; for the memory check)",
        small_source.display(),
        mib(small_bytes),
        small_tree.dirs.len()
    );
    let start = Instant::now();
    let source_digest = digest_tree(&source);
    let small_digest = digest_tree(&small_source);
    println!(
        "  contents:        SHA-256 of every file taken in {:.1} s, to check the restored copies",
        start.elapsed().as_secs_f64()
    );

    // 2. Working copies made of hard links, so that restores replace them and never touch the sources' files.
    let run = RunDir::create(work.join("files-run"));
    let live_parent = run.path.join("live");
    let live = live_parent.join(FILES_NAME);
    let small_live = run.path.join("small-live").join(FILES_NAME);
    let copied =
        link_tree(&source, &tree, &live) + link_tree(&small_source, &small_tree, &small_live);
    println!(
        "  working copies:  {} and {} ({})",
        live.display(),
        small_live.display(),
        if copied == 0 {
            "hard links to the sources' files".to_string()
        } else {
            format!("hard links to the sources' files, {copied} copied where linking failed")
        }
    );
    let db = run.path.join("app.sqlite3");
    Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); \
                 INSERT INTO settings VALUES ('media_dir', 'media'), ('theme', 'light');",
            )
        })
        .unwrap_or_else(|e| panic!("cannot make {}: {e}", db.display()));
    let home = run.path.join("home");
    let runner = Runner::new(&run.path);
    for (name, folder) in [("bench-files", &live), ("bench-files-small", &small_live)] {
        runner.run(
            "backstop profile add",
            backstop(
                &home,
                [
                    OsStr::new("profile"),
                    OsStr::new("add"),
                    OsStr::new(name),
                    OsStr::new("--sqlite"),
                    db.as_os_str(),
                    OsStr::new("--files"),
                    folder.as_os_str(),
                    OsStr::new("--no-auto"),
                ],
            ),
            None,
        );
    }
    print_rss_method(&runner);
    println!(
        "  page cache:      warm for every step: each file of the folder is read once before each backup, the \
         archive before each verify and restore, then `sync`"
    );
    println!();
    // Same start for every step: what it reads in the page cache, no writeback pending from the step before.
    let settle = |folder: Option<&Path>, file: Option<&Path>| {
        if let Some(folder) = folder {
            warm_tree(folder);
        }
        if let Some(file) = file {
            warm(file);
        }
        sync();
    };
    let sync_step = || runner.run("sync", Command::new("sync"), None);

    // a. backstop backup --kind files
    settle(Some(&live), None);
    progress("backstop backup --profile bench-files --kind files");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(
            &home,
            [
                "backup",
                "--profile",
                "bench-files",
                "--kind",
                "files",
                "--json",
            ],
        ),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. tar -czf, then sync
    settle(Some(&live), None);
    progress("tar -czf");
    let tgz = run.path.join("out.tar.gz");
    let tar_c = runner.run(
        "tar -czf",
        command(
            "tar",
            [
                OsStr::new("-czf"),
                tgz.as_os_str(),
                OsStr::new("-C"),
                live_parent.as_os_str(),
                OsStr::new(FILES_NAME),
            ],
        ),
        None,
    );
    let tar_c_sync = sync_step();
    let tgz_bytes = file_len(&tgz);

    // c. zip -qr (from the folder's parent: Info-ZIP has no -C), then sync
    settle(Some(&live), None);
    progress("zip -qr");
    let zip = run.path.join("out.zip");
    let mut zip_cmd = command(
        "zip",
        [OsStr::new("-qr"), zip.as_os_str(), OsStr::new(FILES_NAME)],
    );
    zip_cmd.current_dir(&live_parent);
    let zip_c = runner.run("zip -qr", zip_cmd, None);
    let zip_c_sync = sync_step();
    let zip_bytes = file_len(&zip);

    // d. backstop verify
    settle(None, Some(&archive));
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // e. backstop restore: extracted beside the folder, checked, swapped in by rename; the replaced folder is kept
    // as `media.pre_restore_<stamp>`, removed here (untimed).
    settle(None, Some(&archive));
    progress("backstop restore --yes --no-safety-backup");
    let bs_restore = runner.run(
        "backstop restore",
        backstop(
            &home,
            [
                "restore",
                &backup_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    remove_pre_restore(&live);
    check_tree("after backstop restore", &source_digest, &live);

    // f. tar -xzf into a fresh folder, then sync
    settle(None, Some(&tgz));
    progress("tar -xzf");
    let by_tar = run.path.join("tar-restored");
    create_dir(&by_tar);
    let tar_x = runner.run(
        "tar -xzf",
        command(
            "tar",
            [
                OsStr::new("-xzf"),
                tgz.as_os_str(),
                OsStr::new("-C"),
                by_tar.as_os_str(),
            ],
        ),
        None,
    );
    let tar_x_sync = sync_step();
    check_tree("after tar -xzf", &source_digest, &by_tar.join(FILES_NAME));
    discard(&by_tar);

    // g. unzip -q into a fresh folder, then sync
    settle(None, Some(&zip));
    progress("unzip -q");
    let by_unzip = run.path.join("unzip-restored");
    create_dir(&by_unzip);
    let unzip = runner.run(
        "unzip -q",
        command(
            "unzip",
            [
                OsStr::new("-q"),
                zip.as_os_str(),
                OsStr::new("-d"),
                by_unzip.as_os_str(),
            ],
        ),
        None,
    );
    let unzip_sync = sync_step();
    check_tree("after unzip -q", &source_digest, &by_unzip.join(FILES_NAME));
    discard(&by_unzip);

    // h. The memory check: the same backstop steps on the folder of 1/8 the size and file count.
    settle(Some(&small_live), None);
    progress("backstop backup --profile bench-files-small --kind files");
    let small_backup = runner.run(
        "backstop backup (small folder)",
        backstop(
            &home,
            [
                "backup",
                "--profile",
                "bench-files-small",
                "--kind",
                "files",
                "--json",
            ],
        ),
        None,
    );
    let (small_id, small_archive) = backup_report(&small_backup);
    let small_archive_bytes = file_len(&small_archive);
    settle(None, Some(&small_archive));
    progress("backstop verify (small folder)");
    let small_verify = runner.run(
        "backstop verify (small folder)",
        backstop(&home, ["verify", &small_id.to_string()]),
        None,
    );
    settle(None, Some(&small_archive));
    progress("backstop restore --yes --no-safety-backup (small folder)");
    let small_restore = runner.run(
        "backstop restore (small folder)",
        backstop(
            &home,
            [
                "restore",
                &small_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    remove_pre_restore(&small_live);
    check_tree(
        "after backstop restore (small folder)",
        &small_digest,
        &small_live,
    );
    println!();

    // 3. The results.
    let tar_c_all = Measured::sum(&tar_c, &tar_c_sync);
    let zip_c_all = Measured::sum(&zip_c, &zip_c_sync);
    let tar_x_all = Measured::sum(&tar_x, &tar_x_sync);
    let unzip_all = Measured::sum(&unzip, &unzip_sync);
    let rate = |m: &Measured| bytes as f64 / MIB / m.secs;
    let small_rate = |m: &Measured| small_bytes as f64 / MIB / m.secs;
    let ratio = |ours: &Measured, theirs: &Measured| ours.secs / theirs.secs;
    println!(
        "Results for a {} folder of {files} files ({bytes} bytes); MiB/s = folder size / time; backstop/alt on each \
         alternative's row",
        mib(bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup --kind files",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        None,
    );
    for (tool, m, out) in [
        ("tar -czf", &tar_c, tgz_bytes),
        ("tar -czf + sync", &tar_c_all, tgz_bytes),
        ("zip -qr", &zip_c, zip_bytes),
        ("zip -qr + sync", &zip_c_all, zip_bytes),
    ] {
        table.row("", tool, m, rate(m), Some(out), Some(ratio(&bs_backup, m)));
    }
    table.row(
        "verify",
        "backstop verify",
        &bs_verify,
        rate(&bs_verify),
        None,
        None,
    );
    table.row(
        "restore",
        "backstop restore",
        &bs_restore,
        rate(&bs_restore),
        Some(bytes),
        None,
    );
    for (tool, m) in [
        ("tar -xzf", &tar_x),
        ("tar -xzf + sync", &tar_x_all),
        ("unzip -q", &unzip),
        ("unzip -q + sync", &unzip_all),
    ] {
        table.row(
            "",
            tool,
            m,
            rate(m),
            Some(bytes),
            Some(ratio(&bs_restore, m)),
        );
    }
    table.print();
    println!();
    println!(
        "Memory check: the same backstop steps on a {} folder of {small_files} files (1/8 the size and file count)",
        mib(small_bytes)
    );
    let mut small_table = Table::default();
    small_table.row(
        "backup",
        "backstop backup --kind files",
        &small_backup,
        small_rate(&small_backup),
        Some(small_archive_bytes),
        None,
    );
    small_table.row(
        "verify",
        "backstop verify",
        &small_verify,
        small_rate(&small_verify),
        None,
        None,
    );
    small_table.row(
        "restore",
        "backstop restore",
        &small_restore,
        small_rate(&small_restore),
        Some(small_bytes),
        None,
    );
    small_table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s); tar -czf {:.2} s ({:.1} MiB/s), ratio {:.2}; zip -qr {:.2} s \
         ({:.1} MiB/s), ratio {:.2}; with a sync after tar / zip: ratio {:.2} / {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        tar_c.secs,
        rate(&tar_c),
        ratio(&bs_backup, &tar_c),
        zip_c.secs,
        rate(&zip_c),
        ratio(&bs_backup, &zip_c),
        ratio(&bs_backup, &tar_c_all),
        ratio(&bs_backup, &zip_c_all)
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s); tar -xzf {:.2} s ({:.1} MiB/s), ratio {:.2}; unzip -q {:.2} s \
         ({:.1} MiB/s), ratio {:.2}; with a sync after tar / unzip: ratio {:.2} / {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        tar_x.secs,
        rate(&tar_x),
        ratio(&bs_restore, &tar_x),
        unzip.secs,
        rate(&unzip),
        ratio(&bs_restore, &unzip),
        ratio(&bs_restore, &tar_x_all),
        ratio(&bs_restore, &unzip_all)
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs .tar.gz {} (archive/.tar.gz {:.3}) vs .zip {} (archive/.zip {:.3}); folder/archive \
         {:.2}x, folder/.tar.gz {:.2}x, folder/.zip {:.2}x",
        mib(archive_bytes),
        mib(tgz_bytes),
        archive_bytes as f64 / tgz_bytes as f64,
        mib(zip_bytes),
        archive_bytes as f64 / zip_bytes as f64,
        bytes as f64 / archive_bytes as f64,
        bytes as f64 / tgz_bytes as f64,
        bytes as f64 / zip_bytes as f64
    );
    println!(
        "memory:  peak RSS of backstop with {files} files ({}): backup {}, verify {}, restore {}; with {small_files} \
         files ({}): backup {}, verify {}, restore {}",
        mib(bytes),
        rss(bs_backup.rss_kib),
        rss(bs_verify.rss_kib),
        rss(bs_restore.rss_kib),
        mib(small_bytes),
        rss(small_backup.rss_kib),
        rss(small_verify.rss_kib),
        rss(small_restore.rss_kib)
    );
    println!(
        "check:   the folders restored by backstop, tar and unzip hold the source's {files} files and {} folders, \
         each file with the source's SHA-256 (the small folder's restore too: {small_files} files)",
        tree.dirs.len()
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each backup every file \
         of the folder is read once, before each verify and restore the archive, and `sync` flushes pending writes; \
         steps run once each, in the order shown. backstop stores already-compressed files (.jpg, .png, .mp4, .zip, \
         ...) as they are, where tar -z deflates every byte and zip every file but the .zip ones (storing what does \
         not shrink); it also fsyncs and re-reads its archive after writing it, and its restore checks each file's \
         SHA-256 as it writes it, extracts beside the folder, syncs that file system once (syncfs) and swaps by \
         rename. tar and unzip do none of that and leave their output to the kernel to write: the `+ sync` rows \
         add the time `sync` then takes to put it on disk."
    );

    // 4. Clean up the run's copies; the source folders stay for the next run.
    drop(run);
    println!(
        "Kept {} and {} for the next run.",
        source.display(),
        small_source.display()
    );
}

/// The folder's size in MiB and its file count: the settings, else 2048 MiB in 20,000 files, smaller when the work
/// folder has less than [`FILES_SPACE_FACTOR`] times that free (a folder cached by an earlier run counts as free).
fn files_size(work: &Path) -> (u64, u64) {
    let count = env_positive("BACKSTOP_BENCH_FILES_COUNT").unwrap_or(FILES_DEFAULT_COUNT);
    let free = backstop::fsutil::available_space(work);
    // The space a cached folder takes is free for this run's purposes: it need not be made again.
    let usable = |mib_: u64| {
        free.map(|f| {
            let cached = folder_paths(work, mib_, count);
            f + folder_reusable(&cached.0, &cached.1)
                .map(|_| mib_ << 20)
                .unwrap_or(0)
        })
    };
    let wanted = |mib_: u64| (mib_ << 20) * FILES_SPACE_FACTOR;
    println!(
        "  disk:            {} free in {}",
        free.map(mib).unwrap_or_else(|| "n/a".into()),
        work.display()
    );
    if let Some(target) = env_positive("BACKSTOP_BENCH_FILES_MB") {
        if let Some(usable) = usable(target)
            && usable < wanted(target)
        {
            println!(
                "  warning:         a {target} MiB folder wants {} free ({FILES_SPACE_FACTOR} times its size); \
                 going on as BACKSTOP_BENCH_FILES_MB asks",
                mib(wanted(target))
            );
        }
        return (target, count);
    }
    match usable(FILES_DEFAULT_MIB) {
        Some(usable) if usable < wanted(FILES_DEFAULT_MIB) => {
            let target = ((usable / FILES_SPACE_FACTOR) >> 20) / 64 * 64;
            assert!(
                target >= 64,
                "only {} free in {}: the files bench needs at least {}",
                mib(usable),
                work.display(),
                mib(wanted(64))
            );
            println!(
                "  size:            {target} MiB instead of {FILES_DEFAULT_MIB}: the default folder wants {} free \
                 ({FILES_SPACE_FACTOR} times its size) and only {} is; set BACKSTOP_BENCH_FILES_MB to choose",
                mib(wanted(FILES_DEFAULT_MIB)),
                mib(usable)
            );
            (target, count)
        }
        _ => (FILES_DEFAULT_MIB, count),
    }
}
