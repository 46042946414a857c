//! PostgreSQL as the conformance suite drives it: a database on the real server at 127.0.0.1:5432 (trust auth for
//! `postgres`, a scram-sha-256 password role), psql for the writer, pg_dump for the dumps.

use crate::common::{self, Fingerprint, PASSWORD, PW_ROLE, PgTestDb, TestHome, psql};
use crate::{Broken, OwnDump, PROFILE, ServerFault, ServerSubject, Subject, support};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A database for one test and a home with a profile for it; dropped with every database named after it.
pub struct PostgresSubject {
    home: TestHome,
    db: PgTestDb,
}

impl PostgresSubject {
    fn name(&self) -> &str {
        &self.db.name
    }

    /// A client tool on the test server as postgres (the connection in the environment).
    fn client(program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", "5432")
            .env("PGUSER", "postgres")
            .stdin(Stdio::null());
        cmd
    }
}

/// The folder of the newest installed PostgreSQL client tools.
fn real_tools_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("pg_dump").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    dirs.pop()
        .expect("PostgreSQL client tools in /usr/lib/postgresql")
}

impl Subject for PostgresSubject {
    const ENGINE: &'static str = "postgres";
    const SERVER: bool = true;

    fn fresh(tag: &str) -> Self {
        // Short names: a scratch database's name is the database's name plus about 45 characters, within 63.
        let code: String = hex::encode(sha2::Sha256::digest(tag.as_bytes()))
            .chars()
            .take(4)
            .collect();
        let db = PgTestDb::new(&format!("bkc{code}"));
        let home = TestHome::new();
        home.add_pg_profile(PROFILE, &db.name, &[]);
        PostgresSubject { home, db }
    }

    fn home(&self) -> &TestHome {
        &self.home
    }

    fn fill_rich(&self) {
        psql(
            "postgres",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'backstop_reader') THEN \
             CREATE ROLE backstop_reader NOLOGIN; END IF; END $$",
        );
        psql(
            "postgres",
            &format!("ALTER DATABASE {} SET work_mem = '8MB'", self.name()),
        );
        psql(
            self.name(),
            "CREATE EXTENSION IF NOT EXISTS pgcrypto;
             CREATE SCHEMA shop;
             CREATE TYPE shop.mood AS ENUM ('sad', 'ok', 'happy');
             CREATE DOMAIN shop.positive AS numeric CHECK (VALUE > 0);
             CREATE SEQUENCE invoice_no START 1000;
             CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2), tags text[],
                 meta jsonb, avatar bytea, joined timestamptz DEFAULT now(), token uuid DEFAULT gen_random_uuid(),
                 mood shop.mood, big bigint, small smallint, ratio double precision, born date, wake time,
                 span interval, addr inet, name_len int GENERATED ALWAYS AS (length(name)) STORED,
                 UNIQUE (name), CHECK (balance >= 0));
             CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id) ON DELETE CASCADE,
                 total shop.positive, note text, invoice int DEFAULT nextval('invoice_no'));
             CREATE INDEX orders_customer ON orders(customer_id);
             CREATE INDEX orders_big ON orders(total) WHERE total > 500;
             CREATE TABLE audit (id serial PRIMARY KEY, what text, at timestamptz DEFAULT now());
             CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN INSERT INTO audit(what) VALUES ('order ' || NEW.id); RETURN NEW; END $$;
             CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
             CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
             CREATE MATERIALIZED VIEW order_sums AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;
             CREATE TABLE shop.events (at timestamptz NOT NULL, kind text, payload jsonb, PRIMARY KEY (at, kind));
             INSERT INTO customers (name, balance, tags, meta, avatar, mood, big, small, ratio, born, wake, span, addr)
                 SELECT 'customer ' || g || ' ünïcødé ✓ 日本', g * 1.5, ARRAY['a', 'b' || g],
                     jsonb_build_object('n', g, 'ü', 'ñ'), decode(md5(g::text), 'hex'),
                     (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::shop.mood,
                     CASE g WHEN 1 THEN 9223372036854775807 WHEN 2 THEN -9223372036854775808 ELSE g END,
                     (g % 32767)::smallint, CASE g WHEN 3 THEN 'NaN'::float8 WHEN 4 THEN '-Infinity' ELSE g / 7.0 END,
                     date '2000-01-01' + g, time '08:00' + g * interval '1 minute', g * interval '1 hour',
                     ('10.0.' || g % 255 || '.1')::inet
                 FROM generate_series(1, 500) g;
             INSERT INTO customers (name) VALUES ('nulls '' \" \\ tab\there');
             INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 500, g * 0.37, repeat('x', g % 50)
                 FROM generate_series(1, 3000) g;
             INSERT INTO shop.events SELECT timestamptz '2025-01-01' + g * interval '1 second', 'k' || g % 3,
                 jsonb_build_object('g', g) FROM generate_series(1, 200) g;
             REFRESH MATERIALIZED VIEW order_sums;
             GRANT SELECT ON customers TO backstop_reader;
             GRANT USAGE ON SCHEMA shop TO backstop_reader;",
        );
        // pgbench's tables, as a real workload's schema.
        let status = Self::client("pgbench")
            .args(["-i", "-s", "1", "-q", self.name()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pgbench -i");
    }

    fn damage(&self) {
        psql(
            self.name(),
            "DELETE FROM orders WHERE id % 2 = 0; DROP VIEW IF EXISTS big_orders; UPDATE customers SET name = name || 'x';
             DROP TABLE IF EXISTS pgbench_history; CREATE TABLE IF NOT EXISTS junk (x int);",
        );
    }

    fn create_accounts(&self) {
        psql(
            self.name(),
            &format!(
                "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
                 INSERT INTO accounts VALUES (1, {b}), (2, {b});
                 CREATE TABLE transfers (id serial PRIMARY KEY, amount bigint NOT NULL);",
                b = crate::OPENING_BALANCE
            ),
        );
    }

    fn start_writer(&self, stop: &Path) -> Vec<Child> {
        // Two clients, each one psql per transfer; both lock account 1 first, so they never deadlock. They also
        // stop when the test's folder is gone (a test that failed before stopping them).
        let sql = "BEGIN; INSERT INTO transfers (amount) VALUES (1 + floor(random() * 100)::int); \
                   UPDATE accounts SET balance = balance - (SELECT amount FROM transfers WHERE id = currval('transfers_id_seq')) WHERE id = 1; \
                   UPDATE accounts SET balance = balance + (SELECT amount FROM transfers WHERE id = currval('transfers_id_seq')) WHERE id = 2; \
                   COMMIT;";
        let script = format!(
            "while [ -d '{dir}' ] && [ ! -e '{stop}' ]; do \
               psql -X -q -v ON_ERROR_STOP=1 -d '{db}' -c \"{sql}\" >/dev/null || exit 1; done",
            dir = stop.parent().unwrap().display(),
            stop = stop.display(),
            db = self.name()
        );
        (0..2)
            .map(|_| Self::client("bash").arg("-c").arg(&script).spawn().unwrap())
            .collect()
    }

    fn exec(&self, sql: &str) {
        psql(self.name(), sql);
    }

    fn ints(&self, sql: &str) -> Vec<i64> {
        psql(self.name(), sql)
            .trim()
            .split('|')
            .map(|v| v.parse().unwrap())
            .collect()
    }

    fn fingerprint(&self) -> Fingerprint {
        common::pg_fingerprint(self.name())
    }

    fn drop_database(&self) {
        psql(
            "postgres",
            &format!("DROP DATABASE {} WITH (FORCE)", self.name()),
        );
    }

    fn exists(&self) -> bool {
        psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                self.name()
            ),
        )
        .trim()
            == "1"
    }

    fn leftovers(&self) -> Vec<String> {
        let kept = format!("{}_pre_restore_", self.name());
        psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE starts_with(datname, '{}') ORDER BY 1",
                self.name()
            ),
        )
        .lines()
        .filter(|n| !n.is_empty() && *n != self.name() && *n != self.other_database())
        .filter(|n| !n.starts_with(&kept))
        .map(str::to_string)
        .collect()
    }

    fn kept_copies(&self) -> Vec<String> {
        psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE starts_with(datname, '{}_pre_restore_')",
                self.name()
            ),
        )
        .lines()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
    }

    fn check_dump_with_own_tools(&self, unzipped: &Path, manifest: &serde_json::Value) {
        let dump = unzipped.join(manifest["database"]["entry"].as_str().unwrap());
        let out = Command::new("pg_restore")
            .arg("--list")
            .arg(&dump)
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_restore --list");
        let listing = String::from_utf8_lossy(&out.stdout);
        for table in manifest["database"]["tables"].as_object().unwrap().keys() {
            let (schema, name) = table.split_once('.').unwrap();
            assert!(
                listing.contains(&format!("TABLE DATA {schema} {name} ")),
                "{table} in pg_restore --list: {listing}"
            );
        }
        let version = manifest["database"]["tool_version"].as_str().unwrap();
        assert!(version.contains("pg_dump"), "{version}");
    }

    fn load_failure_words(&self) -> Vec<String> {
        vec![
            "pg_restore".into(),
            "the live database was not touched".into(),
        ]
    }

    fn own_dumps(&self, dir: &Path) -> Vec<OwnDump> {
        std::fs::create_dir_all(dir).unwrap();
        let db = self.name();
        for (options, out) in [
            ("-Fp | gzip -6", "shop_20250301_101500.sql.gz"),
            ("-Fc", "default-2025-03-02-101500.psql.bin"),
            ("-Fp", "default-2025-03-03-101500.psql"),
            ("-Ft", "shop.tar"),
        ] {
            let (format, pipe) = options
                .split_once(" | ")
                .map(|(f, p)| (f, format!("| {p}")))
                .unwrap_or((options, String::new()));
            common::sh(
                dir,
                &format!("pg_dump --no-owner {format} {db} {pipe} > '{out}'"),
            );
        }
        common::sh(dir, &format!("pg_dump --no-owner -Fd -f shop.dir {db}"));
        let dump = |name: &str, detected, created_at| OwnDump {
            path: dir.join(name),
            detected,
            created_at,
        };
        vec![
            dump(
                "shop_20250301_101500.sql.gz",
                "gzipped PostgreSQL plain SQL dump",
                Some("2025-03-01T10:15:00Z"),
            ),
            dump(
                "default-2025-03-02-101500.psql.bin",
                "PostgreSQL custom-format dump",
                Some("2025-03-02T10:15:00Z"),
            ),
            dump(
                "default-2025-03-03-101500.psql",
                "PostgreSQL plain SQL dump",
                Some("2025-03-03T10:15:00Z"),
            ),
            dump("shop.tar", "PostgreSQL tar-format dump", None),
            dump("shop.dir", "PostgreSQL directory-format dump folder", None),
        ]
    }
}

impl ServerSubject for PostgresSubject {
    fn use_password_role(&self) {
        common::password_role();
        common::notes_for_password_role(self.name(), 1000);
        support::log_in_as_password_role(&self.home, PASSWORD);
    }

    fn add_password_profile(
        &self,
        home: &TestHome,
        name: &str,
        password: &str,
        extra: &[&str],
    ) -> std::process::Output {
        common::password_role();
        home.add_pg_password_profile(name, self.name(), password, extra)
    }

    fn other_database(&self) -> String {
        format!("{}_copy", self.name())
    }

    fn fingerprint_of(&self, database: &str) -> Fingerprint {
        common::pg_fingerprint(database)
    }

    fn break_profile(&self, fault: ServerFault) -> Broken {
        let broken = Broken::failing;
        match fault {
            ServerFault::Unreachable => {
                support::edit_profile(&self.home, &["--port", "1"], None);
                broken(&["cannot reach the database server at 127.0.0.1:1"])
            }
            ServerFault::Denied => {
                common::password_role();
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
                        "database {missing} does not exist on 127.0.0.1:5432"
                    )])
                }
            }
            ServerFault::ToolMissing => Broken {
                env: vec![("BACKSTOP_PG_BIN".into(), "/nonexistent".into())],
                ..broken(&["pg_dump cannot be used", "postgresql-client"])
            },
        }
    }

    fn tools(&self) -> Vec<(&'static str, PathBuf)> {
        let dir = real_tools_dir();
        ["pg_dump", "pg_restore", "psql"]
            .into_iter()
            .map(|tool| (tool, dir.join(tool)))
            .collect()
    }

    fn tools_run(&self) -> Vec<&'static str> {
        // The typed client answers the small questions; psql only loads imported plain SQL.
        vec!["pg_dump", "pg_restore"]
    }

    fn tools_env(&self, dir: &Path) -> Vec<(String, String)> {
        vec![("BACKSTOP_PG_BIN".into(), dir.display().to_string())]
    }
}
