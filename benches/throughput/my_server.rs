//! The MariaDB (or MySQL) server as the bench reaches it: the client tools, row counts and checksums of a database,
//! and the guard that drops the run's databases.

use crate::common::{command, sh_quote};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// The reusable source database; the bench's other databases are named `bench_mysql_*` and dropped at the end.
pub(crate) const MY_SOURCE: &str = "bench_mysql";

/// The server, reached with the client tools over TCP (`-h`, `-P`, `-u` in argv; no password).
pub(crate) struct My {
    /// Host name or address.
    pub(crate) host: String,
    /// Port number.
    pub(crate) port: String,
    /// User name.
    pub(crate) user: String,
}

impl My {
    /// The server named by `BACKSTOP_BENCH_MY_HOST`, `_PORT` and `_USER` (127.0.0.1, 3306, root).
    pub(crate) fn from_env() -> My {
        let setting = |key: &str, default: &str| {
            std::env::var(key)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let port = setting("BACKSTOP_BENCH_MY_PORT", "3306");
        assert!(
            port.parse::<u16>().is_ok(),
            "BACKSTOP_BENCH_MY_PORT must be a port number, not {port:?}"
        );
        My {
            host: setting("BACKSTOP_BENCH_MY_HOST", "127.0.0.1"),
            port,
            user: setting("BACKSTOP_BENCH_MY_USER", "root"),
        }
    }

    /// A client tool (`mariadb`, `mariadb-dump`) with the connection options first, then `args`.
    pub(crate) fn command<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(
            program,
            [
                "--protocol=TCP",
                "-h",
                &self.host,
                "-P",
                &self.port,
                "-u",
                &self.user,
            ],
        );
        cmd.args(args);
        // Nothing from the caller's environment picks another server, user or password.
        for key in [
            "MYSQL_HOST",
            "MYSQL_TCP_PORT",
            "MYSQL_PWD",
            "MYSQL_UNIX_PORT",
        ] {
            cmd.env_remove(key);
        }
        cmd
    }

    /// The connection options for a `bash -c` command line.
    pub(crate) fn shell_args(&self) -> String {
        format!(
            "--protocol=TCP -h {} -P {} -u {}",
            sh_quote(&self.host),
            sh_quote(&self.port),
            sh_quote(&self.user)
        )
    }

    /// One SQL script through `mariadb` (no database chosen: name tables as `db`.`t`); its tab-separated output
    /// without column names, or the command and its stderr.
    pub(crate) fn try_query(&self, sql: &str) -> Result<String, String> {
        let mut cmd = self.command("mariadb", ["--batch", "--skip-column-names", "-e", sql]);
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

    /// Like [`My::try_query`]; panics on failure.
    pub(crate) fn query(&self, sql: &str) -> String {
        self.try_query(sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The server's databases.
    pub(crate) fn databases(&self) -> Vec<String> {
        lines(&self.query("SHOW DATABASES"))
    }

    /// Whether `db` exists.
    pub(crate) fn exists(&self, db: &str) -> bool {
        self.databases().iter().any(|d| d == db)
    }

    /// Drops `db` if it exists.
    pub(crate) fn drop_database(&self, db: &str) -> Result<(), String> {
        self.try_query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(db)))
            .map(|_| ())
    }

    /// The base tables of `db`, sorted.
    pub(crate) fn tables(&self, db: &str) -> Vec<String> {
        lines(&self.query(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
             AND table_type = 'BASE TABLE' ORDER BY 1",
            quote_literal(db)
        )))
    }

    /// Table data and index bytes of `db` as InnoDB counts them, after `ANALYZE TABLE` brought them up to date.
    pub(crate) fn size(&self, db: &str) -> (u64, u64) {
        let tables = self.tables(db);
        if !tables.is_empty() {
            let list = tables
                .iter()
                .map(|t| format!("{}.{}", quote_ident(db), quote_ident(t)))
                .collect::<Vec<_>>()
                .join(", ");
            self.query(&format!("ANALYZE TABLE {list}"));
        }
        let text = self.query(&format!(
            "SELECT coalesce(sum(data_length), 0), coalesce(sum(index_length), 0) FROM information_schema.tables \
             WHERE table_schema = {}",
            quote_literal(db)
        ));
        let (data, index) = text
            .split_once('\t')
            .unwrap_or_else(|| panic!("the size query on {db} returned {text:?}"));
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("the size query on {db} returned {text:?}: {e}"))
        };
        (number(data), number(index))
    }

    /// What `db` holds: each base table's row count and `CHECKSUM TABLE` value (equal for two databases with the
    /// same rows in tables of the same definitions), and its views, triggers, routines and events by name.
    pub(crate) fn fingerprint(&self, db: &str) -> Fingerprint {
        let tables = self.tables(db);
        assert!(!tables.is_empty(), "{db} has no tables");
        let qualified = |t: &String| format!("{}.{}", quote_ident(db), quote_ident(t));
        let counts = self.query(
            &tables
                .iter()
                .map(|t| {
                    format!(
                        "SELECT {}, count(*) FROM {}",
                        quote_literal(t),
                        qualified(t)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
        );
        let sums = self.query(&format!(
            "CHECKSUM TABLE {}",
            tables.iter().map(qualified).collect::<Vec<_>>().join(", ")
        ));
        let mut sums = sums.lines().filter_map(|l| l.split_once('\t'));
        let tables = counts
            .lines()
            .map(|line| {
                let (table, n) = line
                    .split_once('\t')
                    .unwrap_or_else(|| panic!("a row count of {db} reads {line:?}"));
                let n = n
                    .trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("a row count of {db} reads {line:?}: {e}"));
                let (name, sum) = sums
                    .next()
                    .unwrap_or_else(|| panic!("CHECKSUM TABLE on {db} left out {table}"));
                assert!(
                    name == format!("{db}.{table}"),
                    "CHECKSUM TABLE on {db} answered for {name} where {table} was expected"
                );
                (table.to_string(), (n, sum.trim().to_string()))
            })
            .collect();
        let schema = quote_literal(db);
        let objects = lines(&self.query(&format!(
            "SELECT concat('view ', table_name) FROM information_schema.views WHERE table_schema = {schema} \
             UNION ALL SELECT concat('trigger ', trigger_name) FROM information_schema.triggers \
             WHERE trigger_schema = {schema} \
             UNION ALL SELECT concat(lower(routine_type), ' ', routine_name) FROM information_schema.routines \
             WHERE routine_schema = {schema} \
             UNION ALL SELECT concat('event ', event_name) FROM information_schema.events \
             WHERE event_schema = {schema} ORDER BY 1"
        )));
        Fingerprint { tables, objects }
    }
}

/// What a database holds, to compare a restored copy with the source.
#[derive(Debug, PartialEq)]
pub(crate) struct Fingerprint {
    /// Each base table's row count and checksum.
    pub(crate) tables: BTreeMap<String, (u64, String)>,
    /// Its views, triggers, routines and events (`view order_totals`), sorted.
    pub(crate) objects: Vec<String>,
}

/// The non-empty lines of a query's output.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Databases this bench makes on the server (never the reusable source): every `bench_mysql_*`.
fn made_by_bench(db: &str) -> bool {
    db.strip_prefix(MY_SOURCE)
        .is_some_and(|rest| rest.starts_with('_'))
}

/// Drops the bench's databases when dropped (also when the bench panics), unless `finish` did already.
pub(crate) struct MyCleanup<'a> {
    my: &'a My,
    done: bool,
}

impl MyCleanup<'_> {
    /// A guard for the bench's databases on `my`.
    pub(crate) fn new(my: &My) -> MyCleanup<'_> {
        MyCleanup { my, done: false }
    }

    /// Drops every database of [`made_by_bench`]; returns their names. Failures are printed, not raised.
    pub(crate) fn sweep(&self) -> Vec<String> {
        let names = match self.my.try_query("SHOW DATABASES") {
            Ok(text) => lines(&text)
                .into_iter()
                .filter(|d| made_by_bench(d))
                .collect::<Vec<_>>(),
            Err(e) => {
                eprintln!("cannot list the databases to drop the bench's: {e}");
                return Vec::new();
            }
        };
        let mut dropped = Vec::new();
        for db in names {
            match self.my.drop_database(&db) {
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
            .my
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

impl Drop for MyCleanup<'_> {
    fn drop(&mut self) {
        if !self.done {
            let dropped = self.sweep();
            if !dropped.is_empty() {
                println!("Dropped the run's databases ({}).", dropped.join(", "));
            }
        }
    }
}

/// A MariaDB identifier.
pub(crate) fn quote_ident(text: &str) -> String {
    format!("`{}`", text.replace('`', "``"))
}

/// A MariaDB string literal (backslashes are escapes in the default SQL mode).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}
