//! The PostgreSQL server as the bench reaches it: the client tools, the reusable `bench_pgbench` source and the
//! guard that drops the run's databases.

use crate::common::{MIB, Runner, command, mib, sh_quote};
use crate::postgres::{
    PG_BY_PG_RESTORE, PG_BY_PSQL, PG_GENERATOR, PG_LIVE, PG_SOURCE, PG_WORKLOAD_CLIENTS,
    PG_WORKLOAD_TRANSACTIONS,
};
use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Reuses `bench_pgbench` when an earlier run made it at this scale, else (re)generates it: `pgbench -i`, a short
/// pgbench run, and the `bench_meta` table that records how it was made.
pub(crate) fn ensure_pg_source(pg: &Pg, runner: &Runner, scale: u64) {
    if let Some(secs) = pg_reusable(pg, scale) {
        println!(
            "  generation:      reused {PG_SOURCE} made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    if pg.exists(PG_SOURCE) {
        println!("  generation:      {PG_SOURCE} is stale or of another scale; making it again");
        pg.drop_database(PG_SOURCE)
            .unwrap_or_else(|e| panic!("cannot drop {PG_SOURCE}: {e}"));
    }
    println!("  generation:      making a pgbench database of scale {scale} ...");
    let start = Instant::now();
    pg.query(
        "postgres",
        &format!("CREATE DATABASE {}", quote_ident(PG_SOURCE)),
    );
    let scale_arg = scale.to_string();
    let init = runner.run(
        "pgbench -i",
        pg.command("pgbench", ["-i", "-s", &scale_arg, "-q", PG_SOURCE]),
        None,
    );
    let clients = PG_WORKLOAD_CLIENTS.to_string();
    let transactions = PG_WORKLOAD_TRANSACTIONS.to_string();
    let mut workload = pg.command(
        "pgbench",
        [
            "-n",
            "-c",
            &clients,
            "-j",
            "2",
            "-t",
            &transactions,
            PG_SOURCE,
        ],
    );
    // Only for generating: commits need not wait for the disk.
    workload.env("PGOPTIONS", "-c synchronous_commit=off");
    let workload = runner.run("pgbench (workload)", workload, None);
    pg.query(
        PG_SOURCE,
        "CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)",
    );
    // `psql -c` runs several statements in one transaction, where VACUUM cannot run.
    pg.query(PG_SOURCE, "VACUUM ANALYZE");
    let secs = start.elapsed().as_secs_f64();
    pg.query(
        PG_SOURCE,
        &format!(
            "INSERT INTO bench_meta (key, value) VALUES ('generator', {}), ('scale', {}), ('generation_secs', {})",
            quote_literal(PG_GENERATOR),
            quote_literal(&scale.to_string()),
            quote_literal(&format!("{secs:.1}"))
        ),
    );
    let bytes = pg.size(PG_SOURCE);
    println!(
        "  generation:      {} in {secs:.1} s ({:.1} MiB/s): pgbench -i -s {scale} {:.1} s, then {} pgbench \
         transactions ({PG_WORKLOAD_CLIENTS} clients) {:.1} s",
        mib(bytes),
        bytes as f64 / MIB / secs,
        init.secs,
        PG_WORKLOAD_CLIENTS * PG_WORKLOAD_TRANSACTIONS,
        workload.secs
    );
}

/// The generation time recorded in `bench_pgbench`, if this generator completed it at this scale.
fn pg_reusable(pg: &Pg, scale: u64) -> Option<f64> {
    if !pg.exists(PG_SOURCE) {
        return None;
    }
    let meta = |key: &str| {
        pg.try_query(
            PG_SOURCE,
            &format!(
                "SELECT value FROM bench_meta WHERE key = {}",
                quote_literal(key)
            ),
        )
        .ok()
        .filter(|v| !v.is_empty())
    };
    if meta("generator")? != PG_GENERATOR || meta("scale")? != scale.to_string() {
        return None;
    }
    meta("generation_secs")?.parse().ok()
}

/// The server, reached with the client tools (`-h`, `-p`, `-U` in argv; no password).
pub(crate) struct Pg {
    /// Host name or address.
    pub(crate) host: String,
    /// Port number.
    pub(crate) port: String,
    /// Role name.
    pub(crate) user: String,
}

impl Pg {
    /// The server named by `BACKSTOP_BENCH_PG_HOST`, `_PORT` and `_USER` (127.0.0.1, 5432, postgres).
    pub(crate) fn from_env() -> Pg {
        let setting = |key: &str, default: &str| {
            std::env::var(key)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let port = setting("BACKSTOP_BENCH_PG_PORT", "5432");
        assert!(
            port.parse::<u16>().is_ok(),
            "BACKSTOP_BENCH_PG_PORT must be a port number, not {port:?}"
        );
        Pg {
            host: setting("BACKSTOP_BENCH_PG_HOST", "127.0.0.1"),
            port,
            user: setting("BACKSTOP_BENCH_PG_USER", "postgres"),
        }
    }

    /// A client tool with the connection options first, then `args`.
    pub(crate) fn command<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(
            program,
            ["-h", &self.host, "-p", &self.port, "-U", &self.user],
        );
        cmd.args(args);
        // Nothing from the caller's environment picks another database or server setting.
        cmd.env_remove("PGDATABASE")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// The connection options for a `bash -c` command line.
    pub(crate) fn shell_args(&self) -> String {
        format!(
            "-h {} -p {} -U {}",
            sh_quote(&self.host),
            sh_quote(&self.port),
            sh_quote(&self.user)
        )
    }

    /// One SQL script through psql; its unaligned, tuples-only output, or the command and its stderr.
    pub(crate) fn try_query(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.command(
            "psql",
            [
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ],
        );
        cmd.stdin(Stdio::null());
        let output = cmd
            .output()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{cmd:?} failed ({})\n--- stderr ---\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Like [`Pg::try_query`]; panics on failure.
    pub(crate) fn query(&self, db: &str, sql: &str) -> String {
        self.try_query(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The server's databases.
    pub(crate) fn databases(&self) -> Vec<String> {
        self.query("postgres", "SELECT datname FROM pg_database ORDER BY 1")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn exists(&self, db: &str) -> bool {
        self.databases().iter().any(|d| d == db)
    }

    /// `pg_database_size` of `db`.
    pub(crate) fn size(&self, db: &str) -> u64 {
        let text = self.query(
            "postgres",
            &format!("SELECT pg_database_size({})", quote_literal(db)),
        );
        text.parse()
            .unwrap_or_else(|e| panic!("pg_database_size({db}) returned {text:?}: {e}"))
    }

    /// Drops `db` if it exists, ending its sessions.
    pub(crate) fn drop_database(&self, db: &str) -> Result<(), String> {
        self.try_query(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(db)),
        )
        .map(|_| ())
    }

    /// Row count and balance total of `pgbench_accounts`.
    pub(crate) fn fingerprint(&self, db: &str) -> String {
        self.query(
            db,
            "SELECT count(*) || ' rows, sum(abalance) ' || coalesce(sum(abalance), 0) FROM pgbench_accounts",
        )
    }
}

/// Databases this bench makes (never the reusable source): the working copy, the alternatives' targets, and the
/// staging and pre-restore databases of backstop's restore into the working copy.
fn made_by_bench(db: &str) -> bool {
    db == PG_LIVE
        || db == PG_BY_PG_RESTORE
        || db == PG_BY_PSQL
        || db
            .strip_prefix(PG_LIVE)
            .is_some_and(|rest| rest.starts_with("_restore_") || rest.starts_with("_pre_restore_"))
}

/// Drops the bench's databases when dropped (also when the bench panics), unless `finish` did already.
pub(crate) struct PgCleanup<'a> {
    pg: &'a Pg,
    done: bool,
}

impl PgCleanup<'_> {
    /// A guard for the bench's databases on `pg`.
    pub(crate) fn new(pg: &Pg) -> PgCleanup<'_> {
        PgCleanup { pg, done: false }
    }

    /// Drops every database of [`made_by_bench`]; returns their names. Failures are printed, not raised.
    pub(crate) fn sweep(&self) -> Vec<String> {
        let names = match self
            .pg
            .try_query("postgres", "SELECT datname FROM pg_database")
        {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|d| made_by_bench(d))
                .map(str::to_string)
                .collect::<Vec<_>>(),
            Err(e) => {
                eprintln!("cannot list the databases to drop the bench's: {e}");
                return Vec::new();
            }
        };
        let mut dropped = Vec::new();
        for db in names {
            match self.pg.drop_database(&db) {
                Ok(()) => dropped.push(db),
                Err(e) => eprintln!("cannot drop the bench's database {db}: {e}"),
            }
        }
        dropped
    }

    /// Drops the run's databases and checks that none is left.
    pub(crate) fn finish(&mut self) -> Vec<String> {
        self.done = true;
        let dropped = self.sweep();
        let left: Vec<String> = self
            .pg
            .databases()
            .into_iter()
            .filter(|d| made_by_bench(d))
            .collect();
        assert!(
            left.is_empty(),
            "cannot drop the bench's databases {left:?}"
        );
        dropped
    }
}

impl Drop for PgCleanup<'_> {
    fn drop(&mut self) {
        if !self.done {
            let dropped = self.sweep();
            if !dropped.is_empty() {
                println!("Dropped the run's databases ({}).", dropped.join(", "));
            }
        }
    }
}

/// A SQL identifier.
pub(crate) fn quote_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
