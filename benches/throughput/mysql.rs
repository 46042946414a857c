//! The MariaDB part: `backstop backup`, `verify` and `restore` (into a new database, and by swap into a copy)
//! against the tools a user would otherwise run, `mariadb-dump --single-transaction ... | gzip -6` and `gunzip` +
//! `mariadb newdb < dump.sql` / `gunzip -c | mariadb newdb`, on a generated shop database of at least 500 MiB of
//! table data (by default), every restored copy checked against the source.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, backstop, backup_report, bash, file_len, mib,
    print_rss_method, progress, require_tool, rss, sh_quote, sync, warm,
};
use crate::my_server::{Fingerprint, MY_SOURCE, My, MyCleanup, quote_ident};
use crate::my_source::{ensure_my_source, my_target_mib};
use std::fs::File;
use std::path::Path;

/// backstop's profile of the source.
const MY_PROFILE: &str = "bench-my";
/// backstop's profile of the copy that `gunzip -c | mariadb` made, restored into by swap.
const MY_COPY_PROFILE: &str = "bench-my-copy";
/// Where `backstop restore --to-database` restores the archive.
const MY_RESTORED: &str = "bench_mysql_restored";
/// Where `mariadb newdb < dump.sql` restores the dump (after `gunzip`).
const MY_BY_FILE: &str = "bench_mysql_from_file";
/// Where `gunzip -c | mariadb newdb` restores the dump.
const MY_BY_PIPE: &str = "bench_mysql_from_pipe";
/// The options of a faithful, consistent dump of one database, as the peers and Backstop use them.
const DUMP_OPTIONS: &str = "--single-transaction --routines --triggers --events --hex-blob";

/// Runs the MariaDB part in `work` and prints its results.
pub(crate) fn bench_mysql(work: &Path) {
    let target_mib = my_target_mib();
    for tool in ["mariadb", "mariadb-dump", "bash", "gzip", "gunzip"] {
        require_tool(tool);
    }
    let my = My::from_env();
    let version = my.try_query("SELECT version()").unwrap_or_else(|e| {
        panic!(
            "cannot reach the MariaDB server at {}:{} as {} (set BACKSTOP_BENCH_MY_HOST, _PORT, _USER):\n{e}",
            my.host, my.port, my.user
        )
    });
    println!(
        "  server:          MariaDB/MySQL {version} at {}:{}, user {}",
        my.host, my.port, my.user
    );

    // Databases left by an earlier run that did not finish are dropped first; the guard drops this run's at the
    // end, also when the bench panics.
    let mut cleanup = MyCleanup::new(&my);
    let stale = cleanup.sweep();
    if !stale.is_empty() {
        println!(
            "  leftovers:       dropped {} from an earlier run",
            stale.join(", ")
        );
    }
    let run = RunDir::create(work.join("my-run"));
    let runner = Runner::new(&run.path);

    // 1. The source database; it is only read: backstop's restores go into a new database and into the copy that
    // gunzip | mariadb made.
    ensure_my_source(&my, &runner, target_mib);
    let (data_bytes, index_bytes) = my.size(MY_SOURCE);
    let db_bytes = data_bytes + index_bytes;
    let source_print = my.fingerprint(MY_SOURCE);
    let total_rows: u64 = source_print.tables.values().map(|(n, _)| n).sum();
    println!(
        "  database:        {MY_SOURCE} ({} = {} of table data + {} of indexes; {} tables, {total_rows} rows: {}; \
         {})",
        mib(db_bytes),
        mib(data_bytes),
        mib(index_bytes),
        source_print.tables.len(),
        source_print
            .tables
            .iter()
            .map(|(t, (n, _))| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        source_print.objects.join(", ")
    );
    let home = run.path.join("home");
    add_profile(&my, &runner, &home, MY_PROFILE, MY_SOURCE);
    print_rss_method(&runner);
    println!();

    let steps = run_steps(&my, &runner, &run.path, &home, &source_print);
    let sizes = Sizes {
        db: db_bytes,
        restored: sum_size(my.size(MY_RESTORED)),
        by_file: sum_size(my.size(MY_BY_FILE)),
        by_pipe: sum_size(my.size(MY_BY_PIPE)),
    };
    for (how, db) in [
        ("backstop restore --to-database", MY_RESTORED),
        ("mariadb newdb < dump.sql", MY_BY_FILE),
        ("backstop restore (swap into the copy)", MY_BY_PIPE),
    ] {
        check_fingerprint(&my, how, db, &source_print);
    }
    println!();
    report(&steps, &sizes);
    println!(
        "check:   the databases restored by backstop (into a new database and by swap into a copy), by mariadb < \
         dump.sql and by gunzip -c | mariadb hold the source's {} tables with the same row counts ({total_rows} \
         rows) and CHECKSUM TABLE values, and its {}",
        source_print.tables.len(),
        source_print.objects.join(", ")
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step `sync` \
         flushes pending writes and the file the step reads is read once; InnoDB reads its own files through its \
         buffer pool. Steps run once each, in the order shown, against the same server, whose own CPU and memory \
         are not in the peak RSS column (that is the largest client process, e.g. mariadb-dump or mariadb under \
         backstop). backstop's backup also counts rows and hashes the schema in the dump's consistent view and \
         fsyncs and re-reads its archive; its restore loads the dump into a staging database, compares row counts \
         and schema with the manifest, then moves the tables in by RENAME TABLE; mariadb-dump and mariadb do none \
         of that."
    );

    // 4. Drop the run's databases and files; the source stays for the next run.
    let dropped = cleanup.finish();
    println!("Dropped the run's databases ({}).", dropped.join(", "));
    drop(run);
    println!(
        "Kept the database {MY_SOURCE} for the next run (drop it with `mariadb -h {} -P {} -u {} -e 'DROP DATABASE \
         {MY_SOURCE}'`).",
        my.host, my.port, my.user
    );
}

/// The timed steps of one run.
struct Steps {
    bs_backup: Measured,
    archive_bytes: u64,
    dump_gz: Measured,
    gz_bytes: u64,
    bs_verify: Measured,
    bs_restore: Measured,
    bs_swap: Measured,
    gunzip: Measured,
    sql_bytes: u64,
    create_1: Measured,
    from_file: Measured,
    create_2: Measured,
    from_pipe: Measured,
}

/// Sizes (table data and indexes) of the source and of the restored databases.
struct Sizes {
    db: u64,
    restored: u64,
    by_file: u64,
    by_pipe: u64,
}

fn sum_size((data, index): (u64, u64)) -> u64 {
    data + index
}

/// `backstop profile add NAME --mysql` for `db` on the server, no password.
fn add_profile(my: &My, runner: &Runner, home: &Path, name: &str, db: &str) {
    runner.run(
        "backstop profile add",
        backstop(
            home,
            [
                "profile",
                "add",
                name,
                "--mysql",
                "--host",
                &my.host,
                "--port",
                &my.port,
                "--user",
                &my.user,
                "--dbname",
                db,
                "--no-auto",
            ],
        ),
        None,
    );
}

/// Runs every step, backstop's and the peers', in turn; each starts settled.
fn run_steps(my: &My, runner: &Runner, run: &Path, home: &Path, source: &Fingerprint) -> Steps {
    // Same start for every step: no writeback pending from the step before, and the file the step reads, if any,
    // in the page cache.
    let settle = |file: Option<&Path>| {
        if let Some(file) = file {
            warm(file);
        }
        sync();
    };

    // a. backstop backup
    settle(None);
    progress(&format!("backstop backup --profile {MY_PROFILE}"));
    let bs_backup = runner.run(
        "backstop backup",
        backstop(home, ["backup", "--profile", MY_PROFILE, "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. mariadb-dump | gzip -6 to a file, timed as one pipeline
    settle(None);
    progress(&format!("mariadb-dump {DUMP_OPTIONS} | gzip -6"));
    let gz = run.join("x.sql.gz");
    let out = File::create(&gz).unwrap_or_else(|e| panic!("cannot create {}: {e}", gz.display()));
    let dump_gz = runner.run(
        "mariadb-dump | gzip -6",
        bash(&format!(
            "mariadb-dump {} {DUMP_OPTIONS} {} | gzip -6",
            my.shell_args(),
            sh_quote(MY_SOURCE)
        )),
        Some(out),
    );
    let gz_bytes = file_len(&gz);

    // c. backstop verify
    settle(Some(&archive));
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(home, ["verify", &backup_id.to_string()]),
        None,
    );

    // d. backstop restore into a new database
    settle(Some(&archive));
    progress(&format!("backstop restore --to-database {MY_RESTORED}"));
    let bs_restore = runner.run(
        "backstop restore --to-database",
        backstop(
            home,
            [
                "restore",
                &backup_id.to_string(),
                "--yes",
                "--to-database",
                MY_RESTORED,
            ],
        ),
        None,
    );

    // e. gunzip -c to a file, then CREATE DATABASE + mariadb newdb < dump.sql
    settle(Some(&gz));
    progress("gunzip -c");
    let sql = run.join("x.sql");
    let out = File::create(&sql).unwrap_or_else(|e| panic!("cannot create {}: {e}", sql.display()));
    let gunzip = runner.run(
        "gunzip -c",
        bash(&format!("gunzip -c {}", sh_quote(&path_text(&gz)))),
        Some(out),
    );
    let sql_bytes = file_len(&sql);
    settle(Some(&sql));
    progress("CREATE DATABASE + mariadb newdb < dump.sql");
    let create_1 = create_database(my, runner, MY_BY_FILE);
    let from_file = runner.run(
        "mariadb newdb < dump.sql",
        bash(&format!(
            "mariadb {} {} < {}",
            my.shell_args(),
            sh_quote(MY_BY_FILE),
            sh_quote(&path_text(&sql))
        )),
        None,
    );

    // f. CREATE DATABASE + gunzip -c | mariadb newdb, timed as one pipeline
    settle(Some(&gz));
    progress("CREATE DATABASE + gunzip -c | mariadb newdb");
    let create_2 = create_database(my, runner, MY_BY_PIPE);
    let from_pipe = runner.run(
        "gunzip -c | mariadb newdb",
        bash(&format!(
            "gunzip -c {} | mariadb {} {}",
            sh_quote(&path_text(&gz)),
            my.shell_args(),
            sh_quote(MY_BY_PIPE)
        )),
        None,
    );
    check_fingerprint(my, "gunzip -c | mariadb newdb", MY_BY_PIPE, source);

    add_profile(my, runner, home, MY_COPY_PROFILE, MY_BY_PIPE);
    // g. backstop restore into the copy gunzip | mariadb made: staging database, checks, swap by RENAME TABLE;
    // the replaced tables are kept in `bench_mysql_from_pipe_pre_restore_*`, dropped with the run's databases.
    settle(Some(&archive));
    progress(&format!(
        "backstop restore --profile {MY_COPY_PROFILE} --allow-other-profile --yes --no-safety-backup"
    ));
    let bs_swap = runner.run(
        "backstop restore (swap into the copy)",
        backstop(
            home,
            [
                "restore",
                &backup_id.to_string(),
                "--profile",
                MY_COPY_PROFILE,
                "--allow-other-profile",
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    let kept_prefix = format!("{MY_BY_PIPE}_pre_restore_");
    assert!(
        my.databases().iter().any(|d| d.starts_with(&kept_prefix)),
        "backstop restore kept no {kept_prefix}* copy of the tables it replaced"
    );
    Steps {
        bs_backup,
        archive_bytes,
        dump_gz,
        gz_bytes,
        bs_verify,
        bs_restore,
        bs_swap,
        gunzip,
        sql_bytes,
        create_1,
        from_file,
        create_2,
        from_pipe,
    }
}

/// Prints the table of results and the summary lines with the ratios.
fn report(s: &Steps, sizes: &Sizes) {
    let alt_restore_file = Measured::sum(&Measured::sum(&s.gunzip, &s.create_1), &s.from_file);
    let alt_restore_pipe = Measured::sum(&s.create_2, &s.from_pipe);
    let rate = |m: &Measured| sizes.db as f64 / MIB / m.secs;
    let ratio = |ours: &Measured, theirs: &Measured| ours.secs / theirs.secs;
    println!(
        "Results for a {} database ({} bytes of table data and indexes, information_schema after ANALYZE TABLE); \
         MiB/s = database size / time; backstop/alt on each alternative's row",
        mib(sizes.db),
        sizes.db
    );
    let mut table = Table::default();
    let mut row = |op: &str, tool: &str, m: &Measured, out: Option<u64>, r: Option<f64>| {
        table.row(op, tool, m, rate(m), out, r);
    };
    row(
        "backup",
        "backstop backup",
        &s.bs_backup,
        Some(s.archive_bytes),
        None,
    );
    row(
        "",
        "mariadb-dump | gzip -6",
        &s.dump_gz,
        Some(s.gz_bytes),
        Some(ratio(&s.bs_backup, &s.dump_gz)),
    );
    row("verify", "backstop verify", &s.bs_verify, None, None);
    row(
        "restore",
        "backstop restore --to-database",
        &s.bs_restore,
        Some(sizes.restored),
        None,
    );
    row(
        "",
        "backstop restore (swap into a copy)",
        &s.bs_swap,
        Some(sizes.by_pipe),
        None,
    );
    row("", "gunzip -c", &s.gunzip, Some(s.sql_bytes), None);
    row("", "CREATE DATABASE", &s.create_1, None, None);
    row(
        "",
        "mariadb newdb < dump.sql",
        &s.from_file,
        Some(sizes.by_file),
        None,
    );
    row(
        "",
        "gunzip + CREATE + mariadb < dump.sql",
        &alt_restore_file,
        Some(sizes.by_file),
        Some(ratio(&s.bs_restore, &alt_restore_file)),
    );
    row("", "CREATE DATABASE", &s.create_2, None, None);
    row(
        "",
        "gunzip -c | mariadb newdb",
        &s.from_pipe,
        Some(sizes.by_pipe),
        None,
    );
    row(
        "",
        "CREATE + gunzip -c | mariadb newdb",
        &alt_restore_pipe,
        Some(sizes.by_pipe),
        Some(ratio(&s.bs_restore, &alt_restore_pipe)),
    );
    table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s); mariadb-dump | gzip -6 {:.2} s ({:.1} MiB/s), ratio {:.2}",
        s.bs_backup.secs,
        rate(&s.bs_backup),
        s.dump_gz.secs,
        rate(&s.dump_gz),
        ratio(&s.bs_backup, &s.dump_gz)
    );
    println!(
        "restore: backstop --to-database {:.2} s ({:.1} MiB/s), by swap into a copy {:.2} s ({:.1} MiB/s); \
         gunzip + mariadb newdb < dump.sql {:.2} s ({:.1} MiB/s), ratio {:.2} / {:.2}; gunzip -c | mariadb newdb \
         {:.2} s ({:.1} MiB/s), ratio {:.2} / {:.2}",
        s.bs_restore.secs,
        rate(&s.bs_restore),
        s.bs_swap.secs,
        rate(&s.bs_swap),
        alt_restore_file.secs,
        rate(&alt_restore_file),
        ratio(&s.bs_restore, &alt_restore_file),
        ratio(&s.bs_swap, &alt_restore_file),
        alt_restore_pipe.secs,
        rate(&alt_restore_pipe),
        ratio(&s.bs_restore, &alt_restore_pipe),
        ratio(&s.bs_swap, &alt_restore_pipe)
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        s.bs_verify.secs,
        rate(&s.bs_verify)
    );
    println!(
        "size:    archive {} vs .sql.gz {} (archive/.sql.gz {:.3}; dump.sql {}); database/archive {:.2}x, \
         database/.sql.gz {:.2}x",
        mib(s.archive_bytes),
        mib(s.gz_bytes),
        s.archive_bytes as f64 / s.gz_bytes as f64,
        mib(s.sql_bytes),
        sizes.db as f64 / s.archive_bytes as f64,
        sizes.db as f64 / s.gz_bytes as f64
    );
    println!(
        "memory:  peak RSS (largest process): backstop backup {}, verify {}, restore {} / {}; mariadb-dump | gzip \
         {}, gunzip + mariadb < dump.sql {}, gunzip -c | mariadb {}",
        rss(s.bs_backup.rss_kib),
        rss(s.bs_verify.rss_kib),
        rss(s.bs_restore.rss_kib),
        rss(s.bs_swap.rss_kib),
        rss(s.dump_gz.rss_kib),
        rss(alt_restore_file.rss_kib),
        rss(alt_restore_pipe.rss_kib)
    );
}

/// `CREATE DATABASE db`, timed (the counterpart of `createdb`).
fn create_database(my: &My, runner: &Runner, db: &str) -> Measured {
    runner.run(
        "CREATE DATABASE",
        my.command(
            "mariadb",
            [
                "-e",
                &format!("CREATE DATABASE {} CHARACTER SET utf8mb4", quote_ident(db)),
            ],
        ),
        None,
    )
}

/// Panics unless `db` holds the same tables, row counts and checksums as the source.
fn check_fingerprint(my: &My, how: &str, db: &str, expected: &Fingerprint) {
    let found = my.fingerprint(db);
    assert!(
        &found == expected,
        "after {how}: {db} differs from the source (rows and checksum of each table; views, triggers, routines, events)\n  source ({MY_SOURCE}): \
         {expected:?}\n  restored ({db}): {found:?}"
    );
}

/// A path for a `bash -c` command line.
fn path_text(path: &Path) -> String {
    path.to_str()
        .expect("the work folder's path must be UTF-8")
        .to_string()
}
