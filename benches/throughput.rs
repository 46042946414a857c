//! Throughput of `backstop backup`, `verify` and `restore` against the tools a user would otherwise run:
//! - SQLite: `sqlite3 .backup` + `gzip -6`, and `gunzip -c` + `sqlite3 .restore`, on a realistic database;
//! - PostgreSQL: `pg_dump -Fc` and `pg_dump -Fp | gzip -6`, and `createdb` + `pg_restore -j 2` and
//!   `createdb` + `gunzip -c | psql`, on a `pgbench` database;
//! - MariaDB/MySQL: `mariadb-dump --single-transaction --routines --triggers --events --hex-blob | gzip -6`, and
//!   `gunzip` + `mariadb newdb < dump.sql` and `gunzip -c | mariadb newdb`, on a generated shop database (plus
//!   sysbench's tables when sysbench is installed);
//! - files folder: `backstop backup --kind files` against `tar -czf` and `zip -qr`, and `backstop restore` against
//!   `tar -xzf` and `unzip -q`, on a generated web-app media folder of mixed sizes and kinds;
//! - off-site copies (issue 14): `backstop dest sync` to a real S3 server on loopback (s3s-fs) against `rclone
//!   copyto` of the same archive to the same server, and to a folder against `cp` (+ `sync`), on the archive of a
//!   database of random blobs (incompressible).
//!
//! Run it with `cargo bench --bench throughput`. Settings (environment):
//! - `BACKSTOP_BENCH_ONLY`: `sqlite`, `postgres`, `mysql`, `files` or `offsite` runs only that part (default: all
//!   five, in that order);
//! - `BACKSTOP_BENCH_MB`: size of the SQLite database in MiB (default 512; 64 makes a quick run);
//! - `BACKSTOP_BENCH_PG_SCALE`: pgbench scale of the PostgreSQL database (default 50, about 750 MiB; 5 is quick);
//! - `BACKSTOP_BENCH_MY_MB`: MiB of table data (without indexes) in the MariaDB database (default 512; 32 is quick);
//! - `BACKSTOP_BENCH_FILES_MB`, `BACKSTOP_BENCH_FILES_COUNT`: size in MiB and file count of the files folder (default
//!   2048 and 20000; less than 2048 MiB when the work folder has under 6 times that free); the memory check also
//!   backs up a folder of 1/8 of both (which needs at least 100 files: a count of 800 or more);
//! - `BACKSTOP_BENCH_OFFSITE_MB`: size in MiB of the database of random blobs whose archive the off-site part
//!   copies (default 1024; 128 is quick); that part needs `rclone` and `s3s-fs` (`cargo install s3s-fs@0.14.1
//!   --features binary --locked`);
//! - `BACKSTOP_BENCH_PG_HOST`, `BACKSTOP_BENCH_PG_PORT`, `BACKSTOP_BENCH_PG_USER`: the server (default
//!   127.0.0.1, 5432, postgres); the role must be able to create databases and connect without a password;
//! - `BACKSTOP_BENCH_MY_HOST`, `BACKSTOP_BENCH_MY_PORT`, `BACKSTOP_BENCH_MY_USER`: the MariaDB server (default
//!   127.0.0.1, 3306, root); the user must be able to create databases and connect without a password;
//! - `BACKSTOP_BENCH_DIR`: the work folder (default `target/bench-data`);
//! - `BACKSTOP_BENCH_KEEP=1`: keep the run's copies (archive, .gz, restored files) for inspection.
//!
//! The sources are generated once per size and reused by later runs: the SQLite files and the files folders (each
//! with a `.done` file beside it) in the work folder, the PostgreSQL database `bench_pgbench` and the MariaDB database
//! `bench_mysql` on their servers (how they were made recorded in their `bench_meta` tables). Everything else is
//! made in `run` / `pg-run` / `my-run` / `files-run` / `offsite-run` folders beside them (the S3 server's objects in
//! a temporary folder) and in databases named `bench_pgbench_*` and `bench_mysql_*`, all removed at the end (also
//! when the bench panics). Timing is wall clock; nothing is asserted about it. Any failing command panics with its
//! output; the restored databases must hold the same rows as the source, the restored folders the same files with
//! the same contents, and every off-site copy the archive's bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

#[path = "throughput/common.rs"]
mod common;
#[path = "throughput/datagen.rs"]
mod datagen;
#[path = "throughput/files.rs"]
mod files;
#[path = "throughput/files_gen.rs"]
mod files_gen;
#[path = "throughput/files_tree.rs"]
mod files_tree;
#[path = "throughput/my_server.rs"]
mod my_server;
#[path = "throughput/my_source.rs"]
mod my_source;
#[path = "throughput/mysql.rs"]
mod mysql;
#[path = "throughput/offsite.rs"]
mod offsite;
#[path = "throughput/pg_server.rs"]
mod pg_server;
#[path = "throughput/postgres.rs"]
mod postgres;
/// The destination tests' loopback servers (the off-site part uses their S3 server).
#[path = "../tests/common/servers.rs"]
mod servers;
#[path = "throughput/sqlite.rs"]
mod sqlite;

use common::{BACKSTOP, work_dir};
use files::bench_files;
use mysql::bench_mysql;
use offsite::bench_offsite;
use postgres::bench_postgres;
use sqlite::bench_sqlite;
use std::path::Path;

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: skipped (run it with `cargo bench --bench throughput`)");
        return;
    }
    let parts = selection();
    let work = work_dir();

    println!("Backstop throughput benchmark");
    println!("  backstop binary: {BACKSTOP}");
    println!("  work folder:     {}", work.display());
    for (part, title, bench) in [
        (Part::Sqlite, "SQLite", bench_sqlite as fn(&Path)),
        (Part::Postgres, "PostgreSQL", bench_postgres),
        (Part::Mysql, "MariaDB", bench_mysql),
        (Part::Files, "Files folder", bench_files),
        (Part::Offsite, "Off-site copies", bench_offsite),
    ] {
        if parts.contains(&part) {
            println!();
            println!("== {title} ==");
            bench(&work);
        }
    }
}

/// One part of the bench.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Sqlite,
    Postgres,
    Mysql,
    Files,
    Offsite,
}

/// Which parts run: `BACKSTOP_BENCH_ONLY=sqlite`, `postgres`, `mysql`, `files` or `offsite`; all five when it is
/// unset or empty.
fn selection() -> Vec<Part> {
    let value = std::env::var("BACKSTOP_BENCH_ONLY").unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "" => vec![
            Part::Sqlite,
            Part::Postgres,
            Part::Mysql,
            Part::Files,
            Part::Offsite,
        ],
        "sqlite" => vec![Part::Sqlite],
        "postgres" | "postgresql" => vec![Part::Postgres],
        "mysql" | "mariadb" => vec![Part::Mysql],
        "files" => vec![Part::Files],
        "offsite" => vec![Part::Offsite],
        _ => panic!(
            "BACKSTOP_BENCH_ONLY must be sqlite, postgres, mysql, files or offsite (or unset for all five), not \
             {value:?}"
        ),
    }
}
