//! The reusable MariaDB source, `bench_mysql`: a shop's database (customers, products, orders, their lines and
//! events, invoices as PDF BLOBs) from the bench's own generator, fed to the `mariadb` client as multi-row INSERTs,
//! plus sysbench's `sbtest` tables when sysbench is installed; its `bench_meta` table records how it was made.

use crate::common::{MIB, Runner, mib};
use crate::datagen::{
    CATEGORIES, COUNTRIES, DOMAINS, EVENT_KINDS, FIRST_NAMES, Gen, LAST_NAMES, STATUSES, timestamp,
};
use crate::my_server::{MY_SOURCE, My, quote_ident, quote_literal};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Stdio;
use std::time::Instant;

/// Changing the generation changes this, so databases made by an older version are not reused.
const MY_GENERATOR: &str = "mysql-v1";
/// sysbench's tables take about this share (in percent) of the target size.
const SYSBENCH_PERCENT: u64 = 20;
/// sysbench's `oltp_*` tables, each with rows of about 240 bytes in InnoDB.
const SYSBENCH_TABLES: u64 = 4;
/// One INSERT statement stops growing past this many bytes (the server's `max_allowed_packet` is 16 MiB).
const STATEMENT_BYTES: usize = 512 << 10;

/// The tables with their primary keys only; the secondary indexes and foreign keys come after the rows
/// ([`INDEXES`]), which is faster than maintaining them row by row.
const SCHEMA: &str = "
CREATE TABLE customers (
    id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(190) NOT NULL,
    phone VARCHAR(32) NULL, street VARCHAR(200) NOT NULL, city VARCHAR(100) NOT NULL, country CHAR(2) NOT NULL,
    notes TEXT NULL, balance DECIMAL(12,2) NOT NULL DEFAULT 0, created_at DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE products (
    id INT UNSIGNED NOT NULL PRIMARY KEY, sku VARCHAR(32) NOT NULL, title VARCHAR(200) NOT NULL,
    category VARCHAR(32) NOT NULL, description TEXT NULL, price DECIMAL(10,2) NOT NULL, stock INT NOT NULL,
    weight_grams MEDIUMINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY, customer_id INT UNSIGNED NOT NULL, status VARCHAR(16) NOT NULL,
    placed_at DATETIME NOT NULL, shipping_address VARCHAR(255) NOT NULL, total DECIMAL(12,2) NOT NULL,
    currency CHAR(3) NOT NULL, comment TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE order_items (
    order_id BIGINT UNSIGNED NOT NULL, line SMALLINT UNSIGNED NOT NULL, product_id INT UNSIGNED NOT NULL,
    quantity SMALLINT UNSIGNED NOT NULL, unit_price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, line)
) ENGINE=InnoDB;
CREATE TABLE order_events (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY, order_id BIGINT UNSIGNED NOT NULL, at DATETIME NOT NULL,
    kind VARCHAR(32) NOT NULL, payload TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE invoices (
    id INT UNSIGNED NOT NULL PRIMARY KEY, order_id BIGINT UNSIGNED NOT NULL, issued_on DATE NOT NULL,
    amount DECIMAL(12,2) NOT NULL, pdf MEDIUMBLOB NOT NULL
) ENGINE=InnoDB;
";

/// Secondary indexes, foreign keys, a view, a trigger, a procedure and a (disabled) event, made after the rows.
const INDEXES: &str = "
ALTER TABLE customers ADD UNIQUE KEY customers_email (email), ADD KEY customers_place (country, city);
ALTER TABLE products ADD UNIQUE KEY products_sku (sku), ADD KEY products_category (category, price);
ALTER TABLE orders ADD KEY orders_customer (customer_id, placed_at), ADD KEY orders_status (status, placed_at),
    ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_items ADD KEY order_items_product (product_id),
    ADD CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id),
    ADD CONSTRAINT order_items_product_fk FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE order_events ADD KEY order_events_order (order_id, at);
ALTER TABLE invoices ADD UNIQUE KEY invoices_order (order_id),
    ADD CONSTRAINT invoices_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);
CREATE VIEW order_totals AS
    SELECT o.id, o.customer_id, sum(i.quantity * i.unit_price) AS total
    FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.customer_id;
CREATE TRIGGER orders_total_check BEFORE UPDATE ON orders FOR EACH ROW
    SET NEW.total = greatest(NEW.total, 0);
CREATE PROCEDURE customer_orders(IN customer INT UNSIGNED)
    SELECT id, status, placed_at, total FROM orders WHERE customer_id = customer ORDER BY placed_at;
CREATE EVENT purge_old_events ON SCHEDULE EVERY 1 DAY DISABLE
    DO DELETE FROM order_events WHERE at < now() - INTERVAL 10 YEAR;
CREATE TABLE bench_meta (k VARCHAR(64) NOT NULL PRIMARY KEY, v VARCHAR(255) NOT NULL) ENGINE=InnoDB;
";

/// The size in MiB that `BACKSTOP_BENCH_MY_MB` asks for (default 512): the table data (rows, without the
/// secondary indexes) reaches at least that much.
pub(crate) fn my_target_mib() -> u64 {
    crate::common::env_positive("BACKSTOP_BENCH_MY_MB").unwrap_or(512)
}

/// Reuses `bench_mysql` when an earlier run made it for this size, else (re)generates it.
pub(crate) fn ensure_my_source(my: &My, runner: &Runner, target_mib: u64) {
    if let Some(secs) = my_reusable(my, target_mib) {
        println!(
            "  generation:      reused {MY_SOURCE} made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    if my.exists(MY_SOURCE) {
        println!("  generation:      {MY_SOURCE} is stale or of another size; making it again");
        my.drop_database(MY_SOURCE)
            .unwrap_or_else(|e| panic!("cannot drop {MY_SOURCE}: {e}"));
    }
    println!("  generation:      making a database of {target_mib} MiB of table data ...");
    let start = Instant::now();
    my.query(&format!(
        "CREATE DATABASE {} CHARACTER SET utf8mb4",
        quote_ident(MY_SOURCE)
    ));
    let sysbench = sysbench(my, runner, target_mib);
    feed(my, "the schema", SCHEMA);
    let shop = generate_shop(my, target_mib << 20);
    feed(my, "the indexes", INDEXES);
    let secs = start.elapsed().as_secs_f64();
    feed(
        my,
        "bench_meta",
        &format!(
            "INSERT INTO bench_meta (k, v) VALUES ('generator', {}), ('target_mib', {}), ('generation_secs', {});",
            quote_literal(MY_GENERATOR),
            quote_literal(&target_mib.to_string()),
            quote_literal(&format!("{secs:.1}"))
        ),
    );
    let (data, index) = my.size(MY_SOURCE);
    println!(
        "  generation:      {} of table data and {} of indexes in {secs:.1} s ({:.1} MiB/s): {sysbench}; {shop}",
        mib(data),
        mib(index),
        (data + index) as f64 / MIB / secs,
    );
}

/// The generation time recorded in `bench_mysql`, if this generator completed it for this size.
fn my_reusable(my: &My, target_mib: u64) -> Option<f64> {
    if !my.exists(MY_SOURCE) {
        return None;
    }
    let text = my
        .try_query(&format!(
            "SELECT k, v FROM {}.bench_meta",
            quote_ident(MY_SOURCE)
        ))
        .ok()?;
    let meta = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    if meta("generator")? != MY_GENERATOR || meta("target_mib")? != target_mib.to_string() {
        return None;
    }
    meta("generation_secs")?.parse().ok()
}

/// sysbench's `oltp_read_write prepare` tables in the source, about [`SYSBENCH_PERCENT`] of the size, when sysbench
/// is installed; says what it made.
fn sysbench(my: &My, runner: &Runner, target_mib: u64) -> String {
    let installed = std::process::Command::new("sysbench")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return "no sbtest tables (sysbench is not installed)".to_string();
    }
    let rows = ((target_mib << 20) * SYSBENCH_PERCENT / 100 / 240 / SYSBENCH_TABLES).max(1_000);
    let started = Instant::now();
    let mut prepare = std::process::Command::new("sysbench");
    prepare.args([
        "oltp_read_write".to_string(),
        "--db-driver=mysql".to_string(),
        format!("--mysql-host={}", my.host),
        format!("--mysql-port={}", my.port),
        format!("--mysql-user={}", my.user),
        "--mysql-password=".to_string(),
        format!("--mysql-db={MY_SOURCE}"),
        format!("--tables={SYSBENCH_TABLES}"),
        format!("--table-size={rows}"),
        "prepare".to_string(),
    ]);
    runner.run("sysbench oltp_read_write prepare", prepare, None);
    format!(
        "sysbench prepare of {SYSBENCH_TABLES} sbtest tables of {rows} rows {:.1} s",
        started.elapsed().as_secs_f64()
    )
}

/// Runs one SQL script in the source through the `mariadb` client's standard input.
fn feed(my: &My, what: &str, sql: &str) {
    let mut client = Client::start(my);
    client.write(what, sql.as_bytes());
    client.finish(what);
}

/// A `mariadb` client reading SQL from its standard input, in the source database.
struct Client {
    child: std::process::Child,
}

impl Client {
    fn start(my: &My) -> Client {
        let mut cmd = my.command("mariadb", ["--batch", MY_SOURCE]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Client { child }
    }

    /// Sends `sql`; when the client has stopped reading (an SQL error), panics with its stderr.
    fn write(&mut self, what: &str, sql: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        if let Err(e) = stdin.write_all(sql) {
            let _ = self.child.stdin.take();
            let output = self.child_output();
            panic!("mariadb stopped reading {what} ({e}):\n{output}");
        }
    }

    /// Closes the input and waits; panics with the client's stderr if it failed.
    fn finish(mut self, what: &str) {
        drop(self.child.stdin.take());
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait for mariadb ({what}): {e}"));
        if !status.success() {
            panic!(
                "mariadb failed on {what} ({status}):\n{}",
                self.child_output()
            );
        }
    }

    fn child_output(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        let _ = self.child.wait();
        text
    }
}

/// A multi-row INSERT being built: rows are added until [`STATEMENT_BYTES`], then it goes to the client.
struct Insert {
    head: &'static str,
    sql: String,
    rows: u64,
}

impl Insert {
    fn new(head: &'static str) -> Insert {
        Insert {
            head,
            sql: String::new(),
            rows: 0,
        }
    }

    /// Adds one row, `values` without the parentheses; sends the statement once it is large enough.
    fn row(&mut self, client: &mut Client, values: &str) {
        self.sql
            .push_str(if self.sql.is_empty() { self.head } else { "," });
        self.sql.push('(');
        self.sql.push_str(values);
        self.sql.push(')');
        self.rows += 1;
        if self.sql.len() >= STATEMENT_BYTES {
            self.flush(client);
        }
    }

    fn flush(&mut self, client: &mut Client) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
            client.write(self.head, self.sql.as_bytes());
            self.sql.clear();
        }
    }
}

/// A price in cents as a DECIMAL literal.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Text as a string literal, or NULL.
fn text_or_null(text: Option<&str>) -> String {
    text.map_or_else(|| "NULL".to_string(), quote_literal)
}

/// The shop's rows, in rounds of one transaction each until the table data (with sysbench's) reaches
/// `target_bytes`; says how many rows of each kind it wrote.
fn generate_shop(my: &My, target_bytes: u64) -> String {
    let mut g = Gen::new();
    let target_mib = target_bytes >> 20;
    let products = (target_mib * 40).clamp(2_000, 50_000);
    let orders_per_round = (target_mib * 40).max(2_000);
    let mut prices = Vec::with_capacity(products as usize);
    let mut text = String::new();
    let mut values = String::new();

    let mut client = Client::start(my);
    let mut insert = Insert::new(
        "INSERT INTO products (id, sku, title, category, description, price, stock, weight_grams) VALUES ",
    );
    for id in 1..=products {
        let price = 99 + g.skewed(50_000) as i64 * 7;
        prices.push(price);
        let words = 15 + g.skewed(400);
        g.prose(&mut text, words);
        values.clear();
        let _ = write!(
            values,
            "{id},'SKU-{:02}-{id:06}',{},'{}',{},{},{},{}",
            g.below(100),
            quote_literal(&format!("{} {}", g.capitalized(), g.word_string())),
            CATEGORIES[g.below(CATEGORIES.len() as u64) as usize],
            quote_literal(&text),
            money(price),
            g.below(500),
            50 + g.skewed(20_000)
        );
        insert.row(&mut client, &values);
    }
    insert.flush(&mut client);
    client.finish("products");

    let mut shop = Shop::default();
    loop {
        let mut client = Client::start(my);
        client.write(
            "a round",
            b"SET SESSION unique_checks = 0, foreign_key_checks = 0; START TRANSACTION;\n",
        );
        shop.round(&mut g, &mut client, orders_per_round, &prices);
        client.write("a round", b"COMMIT;\n");
        client.finish("a round of orders");
        let (data, _) = my.size(MY_SOURCE);
        if data >= target_bytes {
            break;
        }
    }
    format!(
        "{products} products, {} customers, {} orders, {} order lines, {} order events, {} invoices",
        shop.customers, shop.orders, shop.items, shop.events, shop.invoices
    )
}

/// Where the generation of orders stands: the last id of each kind, and the clock.
#[derive(Default)]
struct Shop {
    customers: u64,
    orders: u64,
    items: u64,
    events: u64,
    invoices: u64,
    clock: i64,
}

impl Shop {
    /// `count` more orders, with their new customers, lines, events and invoices.
    fn round(&mut self, g: &mut Gen, client: &mut Client, count: u64, prices: &[i64]) {
        if self.clock == 0 {
            // Orders start in 2019 and move forward by a few minutes each.
            self.clock = 1_546_300_800;
        }
        let mut customers = Insert::new(
            "INSERT INTO customers (id, name, email, phone, street, city, country, notes, balance, created_at) VALUES ",
        );
        let mut orders = Insert::new(
            "INSERT INTO orders (id, customer_id, status, placed_at, shipping_address, total, currency, comment) VALUES ",
        );
        let mut items = Insert::new(
            "INSERT INTO order_items (order_id, line, product_id, quantity, unit_price) VALUES ",
        );
        let mut events =
            Insert::new("INSERT INTO order_events (id, order_id, at, kind, payload) VALUES ");
        let mut invoices =
            Insert::new("INSERT INTO invoices (id, order_id, issued_on, amount, pdf) VALUES ");
        let (mut text, mut address, mut values) = (String::new(), String::new(), String::new());
        let mut blob = Vec::new();
        for _ in 0..count {
            self.orders += 1;
            self.clock += 10 + g.below(400) as i64;
            // Roughly one new customer for every four orders; the first order makes the first customer.
            if self.customers == 0 || g.below(4) == 0 {
                self.customers += 1;
                let first = FIRST_NAMES[g.below(FIRST_NAMES.len() as u64) as usize];
                let last = LAST_NAMES[g.below(LAST_NAMES.len() as u64) as usize];
                let notes = (g.below(10) >= 4).then(|| {
                    let words = g.skewed(120);
                    g.prose(&mut text, words);
                    text.clone()
                });
                g.address(&mut address);
                values.clear();
                let _ = write!(
                    values,
                    "{id},'{first} {last}','{}.{}{id}@{}',{},{},{},'{}',{},{},'{}'",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    DOMAINS[g.skewed(DOMAINS.len() as u64) as usize],
                    text_or_null(
                        (g.below(10) < 8)
                            .then(|| format!(
                                "+{} {:03} {:07}",
                                1 + g.below(60),
                                g.below(1000),
                                g.below(10_000_000)
                            ))
                            .as_deref()
                    ),
                    quote_literal(&address),
                    quote_literal(&g.capitalized()),
                    COUNTRIES[g.skewed(COUNTRIES.len() as u64) as usize],
                    text_or_null(notes.as_deref()),
                    money(g.skewed(100_000) as i64),
                    timestamp(self.clock - g.below(86_400 * 30) as i64),
                    id = self.customers,
                );
                customers.row(client, &values);
            }
            // Recent customers order more often.
            let customer = self.customers - g.skewed(self.customers);
            let lines = 1 + g.skewed(6);
            let mut total = 0;
            for line in 1..=lines {
                let product = 1 + g.skewed(prices.len() as u64);
                let quantity = 1 + g.skewed(5) as i64;
                let price = prices[product as usize - 1];
                total += quantity * price;
                self.items += 1;
                values.clear();
                let _ = write!(
                    values,
                    "{},{line},{product},{quantity},{}",
                    self.orders,
                    money(price)
                );
                items.row(client, &values);
            }
            let comment = (g.below(10) >= 7).then(|| {
                let words = 1 + g.skewed(60);
                g.prose(&mut text, words);
                text.clone()
            });
            g.address(&mut address);
            values.clear();
            let _ = write!(
                values,
                "{},{customer},'{}','{}',{},{},'{}',{}",
                self.orders,
                STATUSES[g.skewed(STATUSES.len() as u64) as usize],
                timestamp(self.clock),
                quote_literal(&address),
                money(total),
                ["EUR", "USD", "GBP"][g.skewed(3) as usize],
                text_or_null(comment.as_deref())
            );
            orders.row(client, &values);
            let mut at = self.clock;
            for _ in 0..1 + g.skewed(5) {
                self.events += 1;
                at += 60 + g.below(86_400 * 3) as i64;
                let words = g.skewed(50);
                g.prose(&mut text, words);
                let payload = format!(
                    "{{\"by\":\"{}\",\"ip\":\"10.{}.{}.{}\",\"tracking\":\"{:016x}\",\"note\":\"{}\"}}",
                    if g.below(3) == 0 { "system" } else { "staff" },
                    g.below(256),
                    g.below(256),
                    g.below(256),
                    g.next(),
                    text
                );
                values.clear();
                let _ = write!(
                    values,
                    "{},{},'{}','{}',{}",
                    self.events,
                    self.orders,
                    timestamp(at),
                    EVENT_KINDS[g.below(EVENT_KINDS.len() as u64) as usize],
                    quote_literal(&payload)
                );
                events.row(client, &values);
            }
            // About one order in twelve has an invoice: a PDF of 1 to 16 KiB (its streams compressed, so random).
            if g.below(12) == 0 {
                self.invoices += 1;
                let size = (g.log_uniform(1.0, 16.0) * 1024.0) as usize;
                blob.clear();
                blob.extend_from_slice(b"%PDF-1.7\n");
                let start = blob.len();
                blob.resize(start + size, 0);
                g.fill(&mut blob[start..]);
                values.clear();
                let _ = write!(
                    values,
                    "{},{},'{}',{},0x{}",
                    self.invoices,
                    self.orders,
                    timestamp(at).split_once(' ').map_or("", |(day, _)| day),
                    money(total),
                    hex::encode(&blob)
                );
                invoices.row(client, &values);
            }
        }
        // What is left of each statement.
        for insert in [
            &mut customers,
            &mut orders,
            &mut items,
            &mut events,
            &mut invoices,
        ] {
            insert.flush(client);
        }
    }
}
