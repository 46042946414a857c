//! MySQL/MariaDB as the conformance suite drives it: a database on the real MariaDB server at 127.0.0.1:3306 (root
//! without a password, a password user that really checks its password), the `mariadb` client for the writer,
//! `mariadb-dump` for the dumps.

use crate::common::mysql::{self as my, MyTestDb};
use crate::common::{self, Fingerprint, PASSWORD, PW_ROLE, TestHome};
use crate::{Broken, OwnDump, PROFILE, ServerFault, ServerSubject, Subject, support};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A database for one test and a home with a profile for it; dropped with every database named after it.
pub struct MysqlSubject {
    home: TestHome,
    db: MyTestDb,
}

impl MysqlSubject {
    fn name(&self) -> &str {
        &self.db.name
    }

    /// The `mariadb` client on the test server as root, on `db`.
    fn client(db: &str) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", db])
            .stdin(Stdio::null());
        cmd
    }

    /// `profile add NAME --mysql` for this database on the local server as `user`, no automatic backups.
    fn add_args<'a>(&'a self, name: &'a str, user: &'a str) -> Vec<&'a str> {
        vec![
            "profile",
            "add",
            name,
            "--mysql",
            "--host",
            "127.0.0.1",
            "--port",
            "3306",
            "--user",
            user,
            "--dbname",
            self.name(),
            "--no-auto",
        ]
    }

    /// The grant pattern for this database and every copy a restore makes of it (`_` matches itself too).
    fn grant_pattern(&self) -> String {
        format!("`{}%`.*", self.name())
    }
}

/// The password user: one that really checks its password. Idempotent; shared by the tests that need it.
fn password_user() {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    my::exec(
        None,
        &format!(
            "CREATE USER IF NOT EXISTS '{PW_ROLE}'@'%' IDENTIFIED BY '{PASSWORD}'; \
             ALTER USER '{PW_ROLE}'@'%' IDENTIFIED BY '{PASSWORD}'"
        ),
    );
}

/// The conformance suite's fingerprint of database `db`: each table's row count and a hash of its sorted rows; the
/// schema as one text, with the database's own character set and collation.
fn fingerprint_of(db: &str) -> Fingerprint {
    let fingerprint = my::fingerprint(db);
    let tables = fingerprint
        .tables
        .into_iter()
        .map(|(table, rows)| {
            let hash = hex::encode(sha2::Sha256::digest(rows.join("\n").as_bytes()));
            (table, (rows.len() as u64, hash))
        })
        .collect();
    let defaults = my::rows(
        None,
        &format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME = '{db}'"
        ),
    );
    let mut schema = format!("DATABASE {}\n", defaults[0].join(" "));
    for (object, create) in fingerprint.schema {
        schema.push_str(&format!("{object}\n{create}\n"));
    }
    (tables, schema)
}

/// The names in `dir` that start with one of `prefixes`.
fn files_starting(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    common::names_in(dir)
        .into_iter()
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .collect()
}

impl Subject for MysqlSubject {
    const ENGINE: &'static str = "mysql";
    const SERVER: bool = true;

    fn fresh(tag: &str) -> Self {
        // Short names: a scratch database's name is the database's name plus about 45 characters, within 64.
        let code: String = hex::encode(sha2::Sha256::digest(tag.as_bytes()))
            .chars()
            .take(4)
            .collect();
        let db = MyTestDb::new(&format!("bkm{code}"));
        let subject = MysqlSubject {
            home: TestHome::new(),
            db,
        };
        subject.home.run_ok(&subject.add_args(PROFILE, "root"));
        subject
    }

    fn home(&self) -> &TestHome {
        &self.home
    }

    fn fill_rich(&self) {
        my::create_rich_schema(self.name());
        // Every column type at its limits, text in several scripts, binary, NULL; a generated column, a check
        // constraint, composite and full-text indexes; some thousands of rows.
        my::exec(
            Some(self.name()),
            "CREATE TABLE readings (id INT UNSIGNED PRIMARY KEY, tiny TINYINT, small SMALLINT UNSIGNED, \
               medium MEDIUMINT, big BIGINT, ubig BIGINT UNSIGNED, ratio DOUBLE, approx FLOAT, exact DECIMAL(30,10), \
               label VARCHAR(200), latin VARCHAR(50) CHARACTER SET latin1, raw VARBINARY(32), fixed BINARY(4), \
               flags BIT(8), kind ENUM('a', 'b', 'c'), tags SET('x', 'y', 'z'), day DATE, at TIMESTAMP(6) NULL, \
               span TIME(3), yr YEAR, doc JSON, label_len INT AS (CHAR_LENGTH(label)) STORED, \
               KEY by_kind_day (kind, day), FULLTEXT KEY words (label), \
               CONSTRAINT small_ok CHECK (small IS NULL OR small >= 0)) ENGINE=InnoDB;
             INSERT INTO readings (id, tiny, small, medium, big, ubig, ratio, approx, exact, label, latin, raw, fixed, \
               flags, kind, tags, day, at, span, yr, doc) \
             SELECT seq, CASE seq WHEN 1 THEN 127 WHEN 2 THEN -128 ELSE seq % 100 END, \
               CASE seq WHEN 1 THEN 65535 ELSE seq END, CASE seq WHEN 1 THEN 8388607 WHEN 2 THEN -8388608 ELSE -seq END, \
               CASE seq WHEN 1 THEN 9223372036854775807 WHEN 2 THEN -9223372036854775808 ELSE seq * 1000003 END, \
               CASE seq WHEN 1 THEN 18446744073709551615 ELSE seq END, \
               CASE seq WHEN 1 THEN 1.7976931348623157e308 WHEN 2 THEN -2.2250738585072014e-308 ELSE seq / 7 END, \
               seq / 8, seq * 12345678.1234567891, \
               CONCAT('reading ', seq, ' ünïcødé ✓ 日本 Ελληνικά العربية 😀'), CONCAT('café ', seq), \
               UNHEX(MD5(seq)), UNHEX(LPAD(HEX(seq), 8, '0')), seq % 256, ELT(1 + seq % 3, 'a', 'b', 'c'), \
               ELT(1 + seq % 4, '', 'x', 'x,y', 'x,y,z'), '2000-01-01' + INTERVAL seq DAY, \
               IF(seq % 10 = 0, NULL, TIMESTAMP '2025-01-01 00:00:00.123456' + INTERVAL seq SECOND), \
               SEC_TO_TIME(seq * 61.125), 1901 + seq % 255, \
               JSON_OBJECT('n', seq, 'ü', 'ñ', 'list', JSON_ARRAY(seq, NULL, TRUE)) \
             FROM seq_1_to_3000;
             INSERT INTO readings (id, label) VALUES (0, 'nulls '' \" \\\\ tab\there');",
        );
    }

    fn damage(&self) {
        my::exec(
            Some(self.name()),
            "DELETE FROM readings WHERE id % 2 = 0; DELETE FROM orders WHERE id % 2 = 0; \
             UPDATE customers SET note = CONCAT(COALESCE(note, ''), 'x'); DROP VIEW IF EXISTS a_view_on_a_view; \
             DROP TABLE IF EXISTS `we``ird name`; CREATE TABLE IF NOT EXISTS junk (x INT) ENGINE=InnoDB",
        );
    }

    fn create_accounts(&self) {
        // No AUTO_INCREMENT on `transfers`: its counter is part of the schema text, and the writer moves it.
        my::exec(
            Some(self.name()),
            &format!(
                "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
                 INSERT INTO accounts VALUES (1, {b}), (2, {b});
                 CREATE TABLE transfers (id BIGINT UNSIGNED PRIMARY KEY, amount BIGINT NOT NULL) ENGINE=InnoDB;",
                b = crate::OPENING_BALANCE
            ),
        );
    }

    fn start_writer(&self, stop: &Path) -> Vec<Child> {
        // Two clients, each one `mariadb` per transfer; both lock account 1 first, so they never deadlock. They
        // also stop when the test's folder is gone (a test that failed before stopping them).
        let sql = "START TRANSACTION; SET @amount = 1 + FLOOR(RAND() * 100); \
                   INSERT INTO transfers (id, amount) VALUES (UUID_SHORT(), @amount); \
                   UPDATE accounts SET balance = balance - @amount WHERE id = 1; \
                   UPDATE accounts SET balance = balance + @amount WHERE id = 2; COMMIT;";
        let script = format!(
            "while [ -d '{dir}' ] && [ ! -e '{stop}' ]; do \
               mariadb -h 127.0.0.1 -P 3306 -u root '{db}' -e '{sql}' || exit 1; done",
            dir = stop.parent().unwrap().display(),
            stop = stop.display(),
            db = self.name()
        );
        (0..2)
            .map(|_| {
                Command::new("bash")
                    .arg("-c")
                    .arg(&script)
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect()
    }

    fn exec(&self, sql: &str) {
        my::exec(Some(self.name()), sql);
    }

    fn ints(&self, sql: &str) -> Vec<i64> {
        my::rows(Some(self.name()), sql)
            .remove(0)
            .iter()
            .map(|v| v.parse().unwrap())
            .collect()
    }

    fn fingerprint(&self) -> Fingerprint {
        fingerprint_of(self.name())
    }

    fn drop_database(&self) {
        my::exec(None, &format!("DROP DATABASE `{}`", self.name()));
    }

    fn exists(&self) -> bool {
        my::databases_like(self.name())
            .iter()
            .any(|d| d == self.name())
    }

    fn leftovers(&self) -> Vec<String> {
        let kept = format!("{}_pre_restore_", self.name());
        let other = self.other_database();
        let mut out: Vec<String> = my::databases_like(self.name())
            .into_iter()
            .filter(|d| *d != self.name() && *d != other && !d.starts_with(&kept))
            .collect();
        let state = self.home.home().join("state");
        out.extend(files_starting(
            &state.join("tmp"),
            &[
                backstop::engine::mysql::OPTION_FILE_PREFIX,
                ".restore-",
                ".import-",
            ],
        ));
        out.extend(common::names_in(&state.join("mysql-scratch")));
        // An import's throwaway user is dropped with its staging database before its record goes, so no record
        // means no user (tests/import_mysql.rs also asks the server, one test at a time).
        out.sort();
        out
    }

    fn kept_copies(&self) -> Vec<String> {
        let mut copies = my::databases_like(&format!("{}_pre_restore_", self.name()));
        copies.sort();
        copies
    }

    fn check_dump_with_own_tools(&self, unzipped: &Path, manifest: &serde_json::Value) {
        // The dump loads with the plain `mariadb` client into any database, and holds the manifest's rows.
        let dump = unzipped.join(manifest["database"]["entry"].as_str().unwrap());
        let copy = format!("{}_own_tools", self.name());
        my::exec(
            None,
            &format!("CREATE DATABASE `{copy}` CHARACTER SET utf8mb4"),
        );
        let out = Self::client(&copy)
            .stdin(std::fs::File::open(&dump).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb < {}: {}",
            dump.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let loaded = fingerprint_of(&copy);
        my::exec(None, &format!("DROP DATABASE `{copy}`"));
        assert_eq!(
            crate::support::counts(&loaded),
            manifest["database"]["tables"],
            "the rows the plain client loaded"
        );
        let version = manifest["database"]["tool_version"].as_str().unwrap();
        assert!(version.contains("mariadb-dump"), "{version}");
    }

    fn load_failure_words(&self) -> Vec<String> {
        vec![
            "mariadb failed".into(),
            "the live database was not touched".into(),
        ]
    }

    fn own_dumps(&self, dir: &Path) -> Vec<OwnDump> {
        std::fs::create_dir_all(dir).unwrap();
        let db = self.name();
        let dump = "mariadb-dump -h 127.0.0.1 -P 3306 -u root --single-transaction --routines --triggers --events";
        common::sh(dir, &format!("{dump} {db} > db_20261130_041500.sql"));
        common::sh(
            dir,
            &format!("{dump} {db} | gzip -6 > db-2026-12-01-041500.sql.gz"),
        );
        common::sh(dir, &format!("{dump} --databases {db} > shop.sql"));
        let dump = |name: &str, detected, created_at| OwnDump {
            path: dir.join(name),
            detected,
            created_at,
        };
        vec![
            dump(
                "db_20261130_041500.sql",
                "MariaDB dump",
                Some("2026-11-30T04:15:00Z"),
            ),
            dump(
                "db-2026-12-01-041500.sql.gz",
                "gzipped MariaDB dump",
                Some("2026-12-01T04:15:00Z"),
            ),
            dump("shop.sql", "MariaDB dump", None),
        ]
    }
}

impl ServerSubject for MysqlSubject {
    fn use_password_role(&self) {
        password_user();
        my::exec(
            None,
            &format!(
                "GRANT ALL PRIVILEGES ON {} TO '{PW_ROLE}'@'%'",
                self.grant_pattern()
            ),
        );
        my::exec(
            Some(self.name()),
            "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT) ENGINE=InnoDB; \
             INSERT INTO notes (body) SELECT CONCAT('note ', seq) FROM seq_1_to_1000",
        );
        support::log_in_as_password_role(&self.home, PASSWORD);
    }

    fn add_password_profile(
        &self,
        home: &TestHome,
        name: &str,
        password: &str,
        extra: &[&str],
    ) -> std::process::Output {
        password_user();
        let mut args = self.add_args(name, PW_ROLE);
        args.push("--password-stdin");
        args.extend_from_slice(extra);
        home.run_with_stdin(&args, &format!("{password}\n"))
    }

    fn other_database(&self) -> String {
        format!("{}_copy", self.name())
    }

    fn fingerprint_of(&self, database: &str) -> Fingerprint {
        fingerprint_of(database)
    }

    fn break_profile(&self, fault: ServerFault) -> Broken {
        let broken = Broken::failing;
        match fault {
            ServerFault::Unreachable => {
                support::edit_profile(&self.home, &["--port", "1"], None);
                broken(&["cannot reach the database server at 127.0.0.1:1"])
            }
            ServerFault::Denied => {
                password_user();
                let wrong = "not-the-password";
                support::log_in_as_password_role(&self.home, wrong);
                Broken {
                    never: vec![wrong.into()],
                    ..broken(&[&format!("refused the password of {PW_ROLE}")])
                }
            }
            ServerFault::UnknownDatabase => {
                let missing = format!("{}_gone", self.name());
                support::edit_profile(&self.home, &["--dbname", &missing], None);
                Broken {
                    restore_fails: false,
                    ..broken(&[&format!(
                        "database {missing} does not exist on 127.0.0.1:3306"
                    )])
                }
            }
            ServerFault::ToolMissing => Broken {
                env: vec![(
                    backstop::engine::mysql::TOOLS_ENV.into(),
                    "/nonexistent".into(),
                )],
                ..broken(&["mariadb-dump cannot be used", "mariadb-client"])
            },
        }
    }

    fn tools(&self) -> Vec<(&'static str, PathBuf)> {
        ["mariadb-dump", "mariadb"]
            .into_iter()
            .map(|tool| (tool, Path::new("/usr/bin").join(tool)))
            .collect()
    }

    fn tools_env(&self, dir: &Path) -> Vec<(String, String)> {
        vec![(
            backstop::engine::mysql::TOOLS_ENV.into(),
            dir.display().to_string(),
        )]
    }
}

impl Drop for MysqlSubject {
    fn drop(&mut self) {
        // The password user's grant for this database goes with it (the database itself goes with `db`).
        let _ = mysql::prelude::Queryable::query_drop(
            &mut my::conn(None),
            format!(
                "REVOKE ALL PRIVILEGES ON {} FROM '{PW_ROLE}'@'%'",
                self.grant_pattern()
            ),
        );
    }
}
