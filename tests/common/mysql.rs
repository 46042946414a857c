//! MySQL/MariaDB helpers for the integration tests (and the cross-engine conformance suite): a test database on the
//! real server at 127.0.0.1:3306 (root, no password), a rich schema, a fingerprint of a database (each table's
//! rows and the schema text), and profiles written straight into the config.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

use super::TestHome;
use mysql::prelude::Queryable;
use std::collections::BTreeMap;

/// A root connection to the test server, on `db` when given.
pub fn conn(db: Option<&str>) -> mysql::Conn {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"))
        .prefer_socket(false)
        .db_name(db);
    mysql::Conn::new(opts).expect("the MariaDB test server runs on 127.0.0.1:3306")
}

/// Runs statements (several, separated by `;`) as root.
pub fn exec(db: Option<&str>, sql: &str) {
    conn(db)
        .query_drop(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The rows of a query as text (NULL as "NULL").
pub fn rows(db: Option<&str>, sql: &str) -> Vec<Vec<String>> {
    let result: Vec<mysql::Row> = conn(db).query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    result
        .into_iter()
        .map(|row| row.unwrap().into_iter().map(text).collect())
        .collect()
}

fn text(value: mysql::Value) -> String {
    match value {
        mysql::Value::NULL => "NULL".into(),
        mysql::Value::Bytes(b) => match String::from_utf8(b.clone()) {
            Ok(s) => s,
            Err(_) => format!("0x{}", hex::encode(b)),
        },
        other => other.as_sql(true),
    }
}

/// Databases whose name starts with `prefix`.
pub fn databases_like(prefix: &str) -> Vec<String> {
    rows(None, "SHOW DATABASES")
        .into_iter()
        .map(|r| r[0].clone())
        .filter(|d| d.starts_with(prefix))
        .collect()
}

/// A database for one test, `<prefix>_<pid>`, dropped at the end with every database whose name starts with it
/// (kept copies, staging databases, restores into another name).
pub struct MyTestDb {
    pub name: String,
}

impl MyTestDb {
    pub fn new(prefix: &str) -> MyTestDb {
        let name = format!("{prefix}_{}", std::process::id());
        for db in databases_like(&name) {
            exec(None, &format!("DROP DATABASE `{db}`"));
        }
        exec(
            None,
            &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
        );
        MyTestDb { name }
    }

    /// Other databases this test's database made (copies, staging), sorted.
    pub fn others(&self) -> Vec<String> {
        let mut names: Vec<String> = databases_like(&self.name)
            .into_iter()
            .filter(|d| *d != self.name)
            .collect();
        names.sort();
        names
    }
}

impl Drop for MyTestDb {
    fn drop(&mut self) {
        for db in databases_like(&self.name) {
            let _ = conn(None).query_drop(format!("DROP DATABASE IF EXISTS `{db}`"));
        }
    }
}

/// A schema with what a faithful restore must carry: several tables, utf8mb4 text with emoji, BLOBs, DECIMAL,
/// DATETIME, JSON, a foreign key, a view on a view, two triggers, a procedure, a function, an event, and
/// AUTO_INCREMENT counters ahead of the rows.
pub fn create_rich_schema(db: &str) {
    exec(
        Some(db),
        "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, \
           note TEXT, created DATETIME(3) NOT NULL, UNIQUE KEY name_u (name)) ENGINE=InnoDB;
         CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, \
           total DECIMAL(12,2) NOT NULL, attrs JSON, photo LONGBLOB, \
           KEY by_customer (customer_id), \
           CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE) ENGINE=InnoDB;
         CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(200)) ENGINE=InnoDB;
         CREATE TABLE `we``ird name` (`select` INT PRIMARY KEY, `text` VARCHAR(10)) ENGINE=InnoDB;
         INSERT INTO customers (name, note, created) VALUES \
           ('Ada', 'smile 😀 and quotes \\' \" and a backslash \\\\ and a tab\\t', '2024-01-02 03:04:05.678'), \
           ('Bob', NULL, '1999-12-31 23:59:59'), ('Zoë', 'line1\\nline2; (not a statement)', NOW());
         INSERT INTO orders (customer_id, total, attrs, photo) VALUES \
           (1, 12.50, '{\"tags\": [\"a\", \"b\"], \"n\": 1}', UNHEX('00FF10270A0D5C')), \
           (1, 99999.99, NULL, NULL), (2, 0.01, '{}', REPEAT(UNHEX('DEADBEEF'), 1000));
         INSERT INTO `we``ird name` VALUES (1, 'x'), (2, NULL);
         ALTER TABLE customers AUTO_INCREMENT = 100;
         ALTER TABLE orders AUTO_INCREMENT = 500;
         CREATE VIEW big_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > 10;
         CREATE VIEW a_view_on_a_view AS SELECT name FROM big_orders;
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id));
         CREATE TRIGGER customers_upper BEFORE INSERT ON customers FOR EACH ROW SET NEW.name = TRIM(NEW.name);
         CREATE PROCEDURE add_order(IN c INT, IN t DECIMAL(12,2)) BEGIN INSERT INTO orders (customer_id, total) VALUES (c, t); END;
         CREATE FUNCTION order_count(c INT) RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = c);
         CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0;",
    );
}

/// What a database holds, compared after a restore: each table's rows (sorted, as text) and the schema text
/// (SHOW CREATE of every table with its AUTO_INCREMENT, view, trigger, routine and event; the database's own
/// name taken out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyFingerprint {
    pub tables: BTreeMap<String, Vec<String>>,
    pub schema: BTreeMap<String, String>,
}

/// The fingerprint of database `db`.
pub fn fingerprint(db: &str) -> MyFingerprint {
    let mut c = conn(Some(db));
    let list = |c: &mut mysql::Conn, sql: String| -> Vec<String> {
        let rows: Vec<mysql::Row> = c.query(sql).unwrap();
        rows.into_iter()
            .map(|r| text(r.unwrap().remove(0)))
            .collect()
    };
    let own = format!("`{db}`.");
    let mut tables = BTreeMap::new();
    let mut schema = BTreeMap::new();
    let table_names = list(
        &mut c,
        format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE'"
        ),
    );
    for table in &table_names {
        let q = table.replace('`', "``");
        let rows: Vec<mysql::Row> = c.query(format!("SELECT * FROM `{q}`")).unwrap();
        let mut lines: Vec<String> = rows
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(text)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        lines.sort();
        tables.insert(table.clone(), lines);
    }
    let kinds = [
        (
            "TABLE",
            format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE'"
            ),
            1,
        ),
        (
            "VIEW",
            format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}'"),
            1,
        ),
        (
            "TRIGGER",
            format!(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}'"
            ),
            2,
        ),
        (
            "PROCEDURE",
            format!(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' AND ROUTINE_TYPE = 'PROCEDURE'"
            ),
            2,
        ),
        (
            "FUNCTION",
            format!(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' AND ROUTINE_TYPE = 'FUNCTION'"
            ),
            2,
        ),
        (
            "EVENT",
            format!("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db}'"),
            3,
        ),
    ];
    for (kind, listing, column) in kinds {
        for name in list(&mut c, listing) {
            let q = name.replace('`', "``");
            let rows: Vec<mysql::Row> = c.query(format!("SHOW CREATE {kind} `{q}`")).unwrap();
            let row = rows.into_iter().next().unwrap().unwrap();
            let create = text(row[column].clone()).replace(&own, "");
            schema.insert(format!("{kind} {name}"), create);
        }
    }
    MyFingerprint { tables, schema }
}

impl TestHome {
    /// A MySQL/MariaDB profile written straight into the config (the CLI's `--mysql` comes later): root on
    /// 127.0.0.1:`port`, database `dbname`, no automatic backups; `user` replaces root when given.
    pub fn add_my_profile(&self, profile: &str, dbname: &str, port: u16, user: Option<&str>) {
        let config = self.home().join("config.toml");
        std::fs::create_dir_all(self.home()).unwrap();
        let mut text = std::fs::read_to_string(&config).unwrap_or_default();
        let storage = self.home().join("archives").join(profile);
        std::fs::create_dir_all(&storage).unwrap();
        text.push_str(&format!(
            "\n[[profile]]\nname = \"{profile}\"\nstorage_dir = \"{}\"\n\n[profile.database]\nengine = \"mysql\"\n\
             host = \"127.0.0.1\"\nport = {port}\nuser = \"{}\"\ndbname = \"{dbname}\"\nsslmode = \"prefer\"\n\
             has_password = false\nsecret_store = \"file\"\n\n[profile.policy]\nauto_enabled = false\n",
            storage.display(),
            user.unwrap_or("root")
        ));
        std::fs::write(&config, text).unwrap();
    }
}
