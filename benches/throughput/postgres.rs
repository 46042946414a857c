//! The PostgreSQL part: `backstop backup`, `verify` and `restore` against `pg_dump -Fc`, `pg_dump -Fp | gzip -6`,
//! `createdb` + `pg_restore -j 2` and `createdb` + `gunzip -c | psql`, on a `pgbench` database.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, backstop, backup_report, bash, env_positive, file_len,
    mib, print_rss_method, progress, require_tool, rss, sh_quote, sync, warm,
};
use crate::pg_server::{Pg, PgCleanup, ensure_pg_source, quote_ident};
use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::time::Instant;

/// The reusable pgbench database; the bench's other databases are named after it and dropped at the end.
pub(crate) const PG_SOURCE: &str = "bench_pgbench";
/// The working copy that backstop backs up and restores into, so that restores never touch the source.
pub(crate) const PG_LIVE: &str = "bench_pgbench_live";
/// Where `pg_restore -j 2` restores the `pg_dump -Fc` file.
pub(crate) const PG_BY_PG_RESTORE: &str = "bench_pgbench_pg_restore";
/// Where `gunzip -c | psql` restores the plain dump.
pub(crate) const PG_BY_PSQL: &str = "bench_pgbench_psql";
/// Changing the generation changes this, so databases made by an older version are not reused.
pub(crate) const PG_GENERATOR: &str = "pgbench-v1";
/// After `pgbench -i` every balance is 0: a short standard pgbench run makes `sum(abalance)` worth comparing.
pub(crate) const PG_WORKLOAD_CLIENTS: u32 = 4;
pub(crate) const PG_WORKLOAD_TRANSACTIONS: u32 = 2_500;

/// Runs the PostgreSQL part in `work` and prints its results.
pub(crate) fn bench_postgres(work: &Path) {
    let scale = pg_scale();
    for tool in [
        "psql",
        "pg_dump",
        "pg_restore",
        "pgbench",
        "createdb",
        "bash",
        "gzip",
        "gunzip",
    ] {
        require_tool(tool);
    }
    let pg = Pg::from_env();
    let server_version = pg
        .try_query("postgres", "SHOW server_version")
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach the PostgreSQL server at {}:{} as {} (set BACKSTOP_BENCH_PG_HOST, _PORT, _USER):\n{e}",
                pg.host, pg.port, pg.user
            )
        });
    println!(
        "  server:          PostgreSQL {server_version} at {}:{}, role {}",
        pg.host, pg.port, pg.user
    );

    // Databases left by an earlier run that did not finish are dropped first; the guard drops this run's at the
    // end, also when the bench panics.
    let mut cleanup = PgCleanup::new(&pg);
    let stale = cleanup.sweep();
    if !stale.is_empty() {
        println!(
            "  leftovers:       dropped {} from an earlier run",
            stale.join(", ")
        );
    }
    let run = RunDir::create(work.join("pg-run"));
    let runner = Runner::new(&run.path);

    // 1. The source database.
    ensure_pg_source(&pg, &runner, scale);
    let db_bytes = pg.size(PG_SOURCE);
    let source_print = pg.fingerprint(PG_SOURCE);
    println!(
        "  database:        {PG_SOURCE} ({}, pgbench scale {scale}; pgbench_accounts: {source_print})",
        mib(db_bytes)
    );

    // 2. A working copy, so that restores never touch the reusable source.
    let start = Instant::now();
    pg.query(
        "postgres",
        &format!(
            "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
            quote_ident(PG_LIVE),
            quote_ident(PG_SOURCE)
        ),
    );
    println!(
        "  working copy:    {PG_LIVE} ({}, copied from the source in {:.1} s)",
        mib(pg.size(PG_LIVE)),
        start.elapsed().as_secs_f64()
    );
    let home = run.path.join("home");
    runner.run(
        "backstop profile add",
        backstop(
            &home,
            [
                "profile",
                "add",
                "bench-pg",
                "--postgres",
                "--host",
                &pg.host,
                "--port",
                &pg.port,
                "--user",
                &pg.user,
                "--dbname",
                PG_LIVE,
                "--no-auto",
            ],
        ),
        None,
    );
    // Same start for every step: no dirty buffers or writeback left by the step before, the database read once
    // (the server's files in the page cache), and the file the step reads, if any.
    let settle = |db: &str, file: Option<&Path>| {
        pg.query("postgres", "CHECKPOINT");
        sync();
        pg.query(
            db,
            "SELECT sum(abalance) FROM pgbench_accounts; SELECT sum(tbalance) FROM pgbench_tellers; \
             SELECT sum(bbalance) FROM pgbench_branches; SELECT sum(delta) FROM pgbench_history",
        );
        if let Some(file) = file {
            warm(file);
        }
    };
    print_rss_method(&runner);
    println!();

    // a. backstop backup
    settle(PG_LIVE, None);
    progress("backstop backup --profile bench-pg");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(&home, ["backup", "--profile", "bench-pg", "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. pg_dump -Fc (default compression) to a file
    settle(PG_LIVE, None);
    progress("pg_dump -Fc");
    let dump = run.path.join("x.dump");
    let pg_dump_fc = runner.run(
        "pg_dump -Fc",
        pg.command(
            "pg_dump",
            [
                OsStr::new("-Fc"),
                OsStr::new("-f"),
                dump.as_os_str(),
                OsStr::new("-d"),
                OsStr::new(PG_LIVE),
            ],
        ),
        None,
    );
    let dump_bytes = file_len(&dump);

    // c. pg_dump -Fp | gzip -6 to a file, timed as one pipeline
    settle(PG_LIVE, None);
    progress("pg_dump -Fp | gzip -6");
    let gz = run.path.join("x.sql.gz");
    let out = File::create(&gz).unwrap_or_else(|e| panic!("cannot create {}: {e}", gz.display()));
    let pg_dump_gz = runner.run(
        "pg_dump -Fp | gzip -6",
        bash(&format!(
            "pg_dump {} -Fp -d {} | gzip -6",
            pg.shell_args(),
            sh_quote(PG_LIVE)
        )),
        Some(out),
    );
    let gz_bytes = file_len(&gz);

    // d. backstop verify
    settle(PG_LIVE, Some(&archive));
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // e. backstop restore: a staging database, checked, then swapped in by rename; the old one is kept as
    // `<db>_pre_restore_<stamp>`, dropped here (untimed).
    settle(PG_LIVE, Some(&archive));
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
    let restored_bytes = pg.size(PG_LIVE);
    let kept: Vec<String> = pg
        .databases()
        .into_iter()
        .filter(|d| d.starts_with(&format!("{PG_LIVE}_pre_restore_")))
        .collect();
    assert!(
        !kept.is_empty(),
        "backstop restore kept no {PG_LIVE}_pre_restore_* copy of the database it replaced"
    );
    for db in &kept {
        pg.drop_database(db)
            .unwrap_or_else(|e| panic!("cannot drop {db}: {e}"));
    }

    // f. createdb + pg_restore -j 2
    settle(PG_SOURCE, Some(&dump));
    progress("createdb + pg_restore -j 2");
    let createdb_1 = runner.run("createdb", pg.command("createdb", [PG_BY_PG_RESTORE]), None);
    let pg_restore = runner.run(
        "pg_restore -j 2",
        pg.command(
            "pg_restore",
            [
                OsStr::new("-j"),
                OsStr::new("2"),
                OsStr::new("-d"),
                OsStr::new(PG_BY_PG_RESTORE),
                dump.as_os_str(),
            ],
        ),
        None,
    );
    let pg_restored_bytes = pg.size(PG_BY_PG_RESTORE);

    // g. createdb + gunzip -c | psql, timed as one pipeline
    settle(PG_SOURCE, Some(&gz));
    progress("createdb + gunzip -c | psql");
    let createdb_2 = runner.run("createdb", pg.command("createdb", [PG_BY_PSQL]), None);
    let gunzip_psql = runner.run(
        "gunzip -c | psql",
        bash(&format!(
            "gunzip -c {} | psql {} -X -q -v ON_ERROR_STOP=1 -d {}",
            sh_quote(gz.to_str().expect("the work folder's path must be UTF-8")),
            pg.shell_args(),
            sh_quote(PG_BY_PSQL)
        )),
        None,
    );
    let psql_restored_bytes = pg.size(PG_BY_PSQL);

    // h. The restored databases hold the source's rows.
    for (how, db) in [
        ("backstop restore", PG_LIVE),
        ("pg_restore -j 2", PG_BY_PG_RESTORE),
        ("gunzip -c | psql", PG_BY_PSQL),
    ] {
        let found = pg.fingerprint(db);
        assert!(
            found == source_print,
            "after {how}: pgbench_accounts in {db} differs from the source's\n  source ({PG_SOURCE}): {source_print}\n  restored ({db}): {found}"
        );
    }
    println!();

    // 3. The results.
    let alt_restore_fc = Measured::sum(&createdb_1, &pg_restore);
    let alt_restore_sql = Measured::sum(&createdb_2, &gunzip_psql);
    let rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    let backup_ratio_fc = bs_backup.secs / pg_dump_fc.secs;
    let backup_ratio_gz = bs_backup.secs / pg_dump_gz.secs;
    let restore_ratio_fc = bs_restore.secs / alt_restore_fc.secs;
    let restore_ratio_sql = bs_restore.secs / alt_restore_sql.secs;
    println!(
        "Results for a {} database ({db_bytes} bytes, pg_database_size); MiB/s = database size / time; \
         backstop/alt on each alternative's row",
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        None,
    );
    table.row(
        "",
        "pg_dump -Fc",
        &pg_dump_fc,
        rate(&pg_dump_fc),
        Some(dump_bytes),
        Some(backup_ratio_fc),
    );
    table.row(
        "",
        "pg_dump -Fp | gzip -6",
        &pg_dump_gz,
        rate(&pg_dump_gz),
        Some(gz_bytes),
        Some(backup_ratio_gz),
    );
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
        Some(restored_bytes),
        None,
    );
    table.row("", "createdb", &createdb_1, rate(&createdb_1), None, None);
    table.row(
        "",
        "pg_restore -j 2",
        &pg_restore,
        rate(&pg_restore),
        Some(pg_restored_bytes),
        None,
    );
    table.row(
        "",
        "createdb + pg_restore -j 2",
        &alt_restore_fc,
        rate(&alt_restore_fc),
        Some(pg_restored_bytes),
        Some(restore_ratio_fc),
    );
    table.row("", "createdb", &createdb_2, rate(&createdb_2), None, None);
    table.row(
        "",
        "gunzip -c | psql",
        &gunzip_psql,
        rate(&gunzip_psql),
        Some(psql_restored_bytes),
        None,
    );
    table.row(
        "",
        "createdb + gunzip -c | psql",
        &alt_restore_sql,
        rate(&alt_restore_sql),
        Some(psql_restored_bytes),
        Some(restore_ratio_sql),
    );
    table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s); pg_dump -Fc {:.2} s ({:.1} MiB/s), ratio {:.2}; \
         pg_dump -Fp | gzip -6 {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        pg_dump_fc.secs,
        rate(&pg_dump_fc),
        backup_ratio_fc,
        pg_dump_gz.secs,
        rate(&pg_dump_gz),
        backup_ratio_gz
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s); createdb + pg_restore -j 2 {:.2} s ({:.1} MiB/s), ratio {:.2}; \
         createdb + gunzip -c | psql {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        alt_restore_fc.secs,
        rate(&alt_restore_fc),
        restore_ratio_fc,
        alt_restore_sql.secs,
        rate(&alt_restore_sql),
        restore_ratio_sql
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs pg_dump -Fc {} (archive/dump {:.3}) vs .sql.gz {} (archive/.sql.gz {:.3}); \
         database/archive {:.2}x, database/dump {:.2}x, database/.sql.gz {:.2}x",
        mib(archive_bytes),
        mib(dump_bytes),
        archive_bytes as f64 / dump_bytes as f64,
        mib(gz_bytes),
        archive_bytes as f64 / gz_bytes as f64,
        db_bytes as f64 / archive_bytes as f64,
        db_bytes as f64 / dump_bytes as f64,
        db_bytes as f64 / gz_bytes as f64
    );
    let backstop_rss = [&bs_backup, &bs_verify, &bs_restore]
        .iter()
        .map(|m| m.rss_kib)
        .collect::<Option<Vec<u64>>>();
    match backstop_rss {
        Some(v) => {
            let max = v.iter().copied().max().unwrap_or(0);
            println!(
                "memory:  peak RSS of backstop: backup {}, verify {}, restore {}; max {} = {:.1}% of the database",
                rss(Some(v[0])),
                rss(Some(v[1])),
                rss(Some(v[2])),
                rss(Some(max)),
                100.0 * (max * 1024) as f64 / db_bytes as f64
            );
        }
        None => println!("memory:  peak RSS of backstop: n/a"),
    }
    println!(
        "check:   pgbench_accounts after all three restores equals the source's ({source_print})"
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step a CHECKPOINT \
         and `sync` flush pending writes and the database's tables are read once; steps run once each, in the order \
         shown, against the same server (whose own CPU and memory are not in the peak RSS column: that is the \
         largest client process, e.g. pg_dump or pg_restore under backstop). backstop's backup also counts rows and \
         hashes the schema in the dump's snapshot and fsyncs and re-reads its archive; its restore extracts the dump, \
         runs pg_restore into a staging database, compares row counts and schema, then swaps by rename; pg_dump, \
         pg_restore and psql do none of that."
    );

    // 4. Drop the run's databases and files; the source stays for the next run.
    let dropped = cleanup.finish();
    println!("Dropped the run's databases ({}).", dropped.join(", "));
    drop(run);
    println!(
        "Kept the database {PG_SOURCE} for the next run (drop it with `dropdb -h {} -p {} -U {} {PG_SOURCE}`).",
        pg.host, pg.port, pg.user
    );
}

fn pg_scale() -> u64 {
    env_positive("BACKSTOP_BENCH_PG_SCALE").unwrap_or(50)
}
