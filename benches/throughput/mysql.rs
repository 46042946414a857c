//! The MariaDB part: the tools a user would otherwise run, `mariadb-dump --single-transaction ... | gzip -6` and
//! `gunzip` + `mariadb newdb < dump.sql` / `gunzip -c | mariadb newdb`, on a generated shop database of at least
//! 500 MiB of table data (by default), every restored copy checked against the source.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, bash, file_len, mib, print_rss_method, progress,
    require_tool, rss, sh_quote, sync, warm,
};
use crate::my_server::{Fingerprint, MY_SOURCE, My, MyCleanup, quote_ident};
use crate::my_source::{ensure_my_source, my_target_mib};
use std::fs::File;
use std::path::Path;

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

    // 1. The source database; it is only read: every restore goes into a database of its own.
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
    print_rss_method(&runner);
    println!();
    // Same start for every step: no writeback pending from the step before, and the file the step reads, if any,
    // in the page cache.
    let settle = |file: Option<&Path>| {
        if let Some(file) = file {
            warm(file);
        }
        sync();
    };

    // a. mariadb-dump | gzip -6 to a file, timed as one pipeline
    settle(None);
    progress(&format!("mariadb-dump {DUMP_OPTIONS} | gzip -6"));
    let gz = run.path.join("x.sql.gz");
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

    // b. gunzip -c to a file, then CREATE DATABASE + mariadb newdb < dump.sql
    settle(Some(&gz));
    progress("gunzip -c");
    let sql = run.path.join("x.sql");
    let out = File::create(&sql).unwrap_or_else(|e| panic!("cannot create {}: {e}", sql.display()));
    let gunzip = runner.run(
        "gunzip -c",
        bash(&format!("gunzip -c {}", sh_quote(&path_text(&gz)))),
        Some(out),
    );
    let sql_bytes = file_len(&sql);
    settle(Some(&sql));
    progress("CREATE DATABASE + mariadb newdb < dump.sql");
    let create_1 = create_database(&my, &runner, MY_BY_FILE);
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

    // c. CREATE DATABASE + gunzip -c | mariadb newdb, timed as one pipeline
    settle(Some(&gz));
    progress("CREATE DATABASE + gunzip -c | mariadb newdb");
    let create_2 = create_database(&my, &runner, MY_BY_PIPE);
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

    // d. The restored databases hold the source's rows.
    for (how, db) in [
        ("mariadb newdb < dump.sql", MY_BY_FILE),
        ("gunzip -c | mariadb newdb", MY_BY_PIPE),
    ] {
        check_fingerprint(&my, how, db, &source_print);
    }
    let (file_data, file_index) = my.size(MY_BY_FILE);
    let (pipe_data, pipe_index) = my.size(MY_BY_PIPE);
    println!();

    // 3. The results.
    let alt_restore_file = Measured::sum(&Measured::sum(&gunzip, &create_1), &from_file);
    let alt_restore_pipe = Measured::sum(&create_2, &from_pipe);
    let rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    println!(
        "Results for a {} database ({db_bytes} bytes of table data and indexes, information_schema after ANALYZE \
         TABLE); MiB/s = database size / time",
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "mariadb-dump | gzip -6",
        &dump_gz,
        rate(&dump_gz),
        Some(gz_bytes),
        None,
    );
    table.row(
        "restore",
        "gunzip -c",
        &gunzip,
        rate(&gunzip),
        Some(sql_bytes),
        None,
    );
    table.row(
        "",
        "CREATE DATABASE",
        &create_1,
        rate(&create_1),
        None,
        None,
    );
    table.row(
        "",
        "mariadb newdb < dump.sql",
        &from_file,
        rate(&from_file),
        Some(file_data + file_index),
        None,
    );
    table.row(
        "",
        "gunzip + mariadb < dump.sql",
        &alt_restore_file,
        rate(&alt_restore_file),
        Some(file_data + file_index),
        None,
    );
    table.row(
        "",
        "CREATE DATABASE",
        &create_2,
        rate(&create_2),
        None,
        None,
    );
    table.row(
        "",
        "gunzip -c | mariadb newdb",
        &from_pipe,
        rate(&from_pipe),
        Some(pipe_data + pipe_index),
        None,
    );
    table.print();
    println!();
    println!(
        "backup:  mariadb-dump | gzip -6 {:.2} s ({:.1} MiB/s)",
        dump_gz.secs,
        rate(&dump_gz)
    );
    println!(
        "restore: gunzip + mariadb newdb < dump.sql {:.2} s ({:.1} MiB/s); gunzip -c | mariadb newdb {:.2} s \
         ({:.1} MiB/s)",
        alt_restore_file.secs,
        rate(&alt_restore_file),
        alt_restore_pipe.secs,
        rate(&alt_restore_pipe)
    );
    println!(
        "size:    .sql.gz {} (dump.sql {}); database/.sql.gz {:.2}x, dump.sql/.sql.gz {:.2}x",
        mib(gz_bytes),
        mib(sql_bytes),
        db_bytes as f64 / gz_bytes as f64,
        sql_bytes as f64 / gz_bytes as f64
    );
    println!(
        "memory:  peak RSS (largest process): mariadb-dump | gzip {}, gunzip + mariadb < dump.sql {}, gunzip -c | \
         mariadb {}",
        rss(dump_gz.rss_kib),
        rss(alt_restore_file.rss_kib),
        rss(alt_restore_pipe.rss_kib)
    );
    println!(
        "check:   both restored copies hold the source's {} tables with the same row counts ({total_rows} rows) \
         and CHECKSUM TABLE values, and its {}",
        source_print.tables.len(),
        source_print.objects.join(", ")
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step `sync` \
         flushes pending writes and the file the step reads is read once; InnoDB reads its own files through its \
         buffer pool. Steps run once each, in the order shown, against the same server, whose own CPU and memory \
         are not in the peak RSS column (that is the largest client process)."
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
