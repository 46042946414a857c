//! The SQLite part: `backstop backup`, `verify` and `restore` against `sqlite3 .backup` + `gzip -6` and
//! `gunzip -c` + `sqlite3 .restore`, on a generated shop database.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, backstop, backup_report, command, env_positive, file_len,
    mib, print_rss_method, progress, require_tool, rss, sync, warm,
};
use crate::datagen::{
    CATEGORIES, COUNTRIES, DOMAINS, EVENT_KINDS, FIRST_NAMES, Gen, LAST_NAMES, STATUSES, timestamp,
};
use rusqlite::{Connection, OpenFlags, params};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Changing the generator changes this, so databases made by an older version are not reused.
const GENERATOR: &str = "throughput-v1";

/// Runs the SQLite part in `work` and prints its results.
pub(crate) fn bench_sqlite(work: &Path) {
    let target_mib = target_mib();
    for tool in ["sqlite3", "gzip", "gunzip"] {
        require_tool(tool);
    }

    // 1. The source database.
    let source = work.join(format!("source-{target_mib}mib.sqlite3"));
    ensure_source(&source, target_mib);
    let db_bytes = file_len(&source);
    let source_counts = row_counts(&source);
    let total_rows: u64 = source_counts.values().sum();
    println!(
        "  database:        {} ({}, {} tables, {} rows: {})",
        source.display(),
        mib(db_bytes),
        source_counts.len(),
        total_rows,
        source_counts
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 2. A working copy, so that restores never touch the reusable source.
    let run = RunDir::create(work.join("run"));
    let live = run.path.join("live.sqlite3");
    std::fs::copy(&source, &live).unwrap_or_else(|e| {
        panic!(
            "cannot copy {} to {}: {e}",
            source.display(),
            live.display()
        )
    });
    let home = run.path.join("home");
    let runner = Runner::new(&run.path);
    runner.run(
        "backstop profile add",
        backstop(
            &home,
            [
                OsStr::new("profile"),
                OsStr::new("add"),
                OsStr::new("bench"),
                OsStr::new("--sqlite"),
                live.as_os_str(),
                OsStr::new("--no-auto"),
            ],
        ),
        None,
    );
    let settle = || {
        // Same start for every step: the database in the page cache, no writeback pending from the step before.
        warm(&live);
        sync();
    };
    print_rss_method(&runner);
    println!();

    // a. backstop backup
    settle();
    progress("backstop backup --profile bench");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(&home, ["backup", "--profile", "bench", "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. sqlite3 .backup, then gzip -6
    settle();
    let copy = run.path.join("x.sqlite3");
    progress("sqlite3 .backup");
    let sq_backup = runner.run(
        "sqlite3 .backup",
        sqlite3(&live, &format!(".backup {}", dot_arg(&copy))),
        None,
    );
    let copy_bytes = file_len(&copy);
    sync();
    progress("gzip -6");
    let gz = run.path.join("x.sqlite3.gz");
    let gzip = runner.run(
        "gzip -6",
        command("gzip", [OsStr::new("-6"), copy.as_os_str()]),
        None,
    );
    let gz_bytes = file_len(&gz);

    // d. backstop verify
    settle();
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // c. backstop restore, then gunzip -c + sqlite3 .restore
    settle();
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
    let restored_bytes = file_len(&live);
    check_counts("after backstop restore", &source_counts, &live);

    settle();
    progress("gunzip -c");
    let unzipped = run.path.join("y.sqlite3");
    let out = File::create(&unzipped)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", unzipped.display()));
    let gunzip = runner.run(
        "gunzip -c",
        command("gunzip", [OsStr::new("-c"), gz.as_os_str()]),
        Some(out),
    );
    let unzipped_bytes = file_len(&unzipped);
    sync();
    progress("sqlite3 .restore");
    let sq_restore = runner.run(
        "sqlite3 .restore",
        sqlite3(&live, &format!(".restore {}", dot_arg(&unzipped))),
        None,
    );
    let alt_restored_bytes = file_len(&live);
    check_counts("after sqlite3 .restore", &source_counts, &live);
    println!();

    // 3. The results.
    let alt_backup = Measured::sum(&sq_backup, &gzip);
    let alt_restore = Measured::sum(&gunzip, &sq_restore);
    let rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    let backup_ratio = bs_backup.secs / alt_backup.secs;
    let restore_ratio = bs_restore.secs / alt_restore.secs;
    println!(
        "Results for a {} database ({db_bytes} bytes); MiB/s = database size / time",
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        Some(backup_ratio),
    );
    table.row(
        "",
        "sqlite3 .backup",
        &sq_backup,
        rate(&sq_backup),
        Some(copy_bytes),
        None,
    );
    table.row("", "gzip -6", &gzip, rate(&gzip), Some(gz_bytes), None);
    table.row(
        "",
        "sqlite3 .backup + gzip -6",
        &alt_backup,
        rate(&alt_backup),
        Some(gz_bytes),
        None,
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
        Some(restore_ratio),
    );
    table.row(
        "",
        "gunzip -c",
        &gunzip,
        rate(&gunzip),
        Some(unzipped_bytes),
        None,
    );
    table.row(
        "",
        "sqlite3 .restore",
        &sq_restore,
        rate(&sq_restore),
        Some(alt_restored_bytes),
        None,
    );
    table.row(
        "",
        "gunzip -c + sqlite3 .restore",
        &alt_restore,
        rate(&alt_restore),
        Some(alt_restored_bytes),
        None,
    );
    table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s), sqlite3 .backup + gzip -6 {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        alt_backup.secs,
        rate(&alt_backup),
        backup_ratio
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s), gunzip -c + sqlite3 .restore {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        alt_restore.secs,
        rate(&alt_restore),
        restore_ratio
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs .gz {} (archive/.gz {:.3}); database/archive {:.2}x, database/.gz {:.2}x",
        mib(archive_bytes),
        mib(gz_bytes),
        archive_bytes as f64 / gz_bytes as f64,
        db_bytes as f64 / archive_bytes as f64,
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
        "check:   row counts after both restores equal the source's ({} tables, {total_rows} rows)",
        source_counts.len()
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step the database \
         file is read once and `sync` flushes pending writes; steps run once each, in the order shown. backstop also \
         fsyncs and re-reads its archive after writing it, and its restore runs a full integrity_check and compares \
         row counts and schema before writing; gzip and sqlite3 do neither."
    );

    // 4. Clean up the run's copies; the source stays for the next run.
    drop(run);
    println!("Kept {} for the next run.", source.display());
}

fn target_mib() -> u64 {
    env_positive("BACKSTOP_BENCH_MB").unwrap_or(512)
}

/// A path as one argument of a sqlite3 dot-command (single quotes take everything literally).
fn dot_arg(path: &Path) -> String {
    let text = path.to_str().expect("the work folder's path must be UTF-8");
    assert!(
        !text.contains('\''),
        "the work folder's path must not contain a single quote: {text}"
    );
    format!("'{text}'")
}

fn sqlite3(db: &Path, dot_command: &str) -> Command {
    command("sqlite3", [db.as_os_str(), OsStr::new(dot_command)])
}

/// Every ordinary table's row count.
fn row_counts(db: &Path) -> BTreeMap<String, u64> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", db.display()));
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_else(|e| panic!("cannot list the tables of {}: {e}", db.display()));
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("cannot count {t} in {}: {e}", db.display()));
            (t, n as u64)
        })
        .collect()
}

fn check_counts(when: &str, expected: &BTreeMap<String, u64>, db: &Path) {
    let found = row_counts(db);
    assert!(
        &found == expected,
        "{when}: the row counts of {} differ from the source's\n  source:   {expected:?}\n  restored: {found:?}",
        db.display()
    );
}

/// Reuses the database at `path` when an earlier run made it for this size, else generates it.
fn ensure_source(path: &Path, target_mib: u64) {
    if let Some(secs) = reusable(path, target_mib) {
        println!(
            "  generation:      reused the database made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    if path.exists() {
        println!(
            "  generation:      {} is stale; making it again",
            path.display()
        );
        remove_db_files(path);
    }
    let partial = path.with_extension("sqlite3.partial");
    remove_db_files(&partial);
    println!("  generation:      making a {target_mib} MiB database ...");
    let start = Instant::now();
    let rows = generate(&partial, target_mib, &start);
    let secs = start.elapsed().as_secs_f64();
    std::fs::rename(&partial, path).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    });
    let bytes = file_len(path);
    println!(
        "  generation:      {} in {secs:.1} s ({:.1} MiB/s, {rows} rows)",
        mib(bytes),
        bytes as f64 / MIB / secs
    );
}

/// The generation time recorded in the database, if it was completed by this generator for this size.
fn reusable(path: &Path, target_mib: u64) -> Option<f64> {
    if !path.is_file() || file_len(path) < target_mib * 1024 * 1024 {
        return None;
    }
    // Opening and closing it also checkpoints any WAL left behind, so a plain copy of the file is complete.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
    let meta = |key: &str| -> Option<String> {
        conn.query_row("SELECT value FROM bench_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .ok()
    };
    if meta("generator")? != GENERATOR || meta("target_mib")? != target_mib.to_string() {
        return None;
    }
    meta("generation_secs")?.parse().ok()
}

fn remove_db_files(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

const SCHEMA: &str = "
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, phone TEXT, street TEXT NOT NULL,
    city TEXT NOT NULL, country TEXT NOT NULL, notes TEXT, created_at TEXT NOT NULL);
CREATE INDEX customers_place ON customers(country, city);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, category TEXT NOT NULL,
    description TEXT, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL);
CREATE INDEX products_category ON products(category, price_cents);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), status TEXT NOT NULL,
    placed_at TEXT NOT NULL, shipping_address TEXT NOT NULL, total_cents INTEGER NOT NULL, comment TEXT);
CREATE INDEX orders_customer ON orders(customer_id, placed_at);
CREATE INDEX orders_status ON orders(status, placed_at);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id), line INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, line)) WITHOUT ROWID;
CREATE INDEX order_items_product ON order_items(product_id);
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), at TEXT NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX order_events_order ON order_events(order_id, at);
CREATE VIEW order_totals AS
    SELECT o.id, o.customer_id, sum(i.quantity * i.unit_price_cents) AS total_cents
    FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id;
CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Generates the database at `path` (one transaction, no journal, no syncs), then switches it to WAL mode.
/// Returns the number of rows written.
fn generate(path: &Path, target_mib: u64, start: &Instant) -> u64 {
    generate_into(path, target_mib, start)
        .unwrap_or_else(|e| panic!("cannot generate {}: {e}", path.display()))
}

fn generate_into(path: &Path, target_mib: u64, start: &Instant) -> rusqlite::Result<u64> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; \
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.execute_batch(SCHEMA)?;
    let target_bytes = target_mib * 1024 * 1024;
    let mut g = Gen::new();
    let mut rows = 0u64;
    let tx = conn.transaction()?;
    {
        let page_size: u64 = tx.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
        let mut insert_customer = tx
            .prepare(
                "INSERT INTO customers (id, name, email, phone, street, city, country, notes, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
        let mut insert_product = tx.prepare(
            "INSERT INTO products (id, sku, title, category, description, price_cents, stock) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_order = tx
            .prepare(
                "INSERT INTO orders (id, customer_id, status, placed_at, shipping_address, total_cents, comment) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
        let mut insert_item = tx.prepare(
            "INSERT INTO order_items (order_id, line, product_id, quantity, unit_price_cents) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut insert_event = tx.prepare(
            "INSERT INTO order_events (id, order_id, at, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;

        // A catalogue that grows with the database, but stays a small part of it.
        let products = (target_mib * 40).clamp(2_000, 50_000);
        let mut prices = Vec::with_capacity(products as usize);
        let mut text = String::new();
        for id in 1..=products {
            let price = 99 + g.skewed(50_000) as i64 * 7;
            prices.push(price);
            let title = format!("{} {}", g.capitalized(), g.word_string());
            let category = CATEGORIES[g.below(CATEGORIES.len() as u64) as usize];
            let words = 15 + g.skewed(400);
            g.prose(&mut text, words);
            insert_product.execute(params![
                id as i64,
                format!("SKU-{:02}-{id:06}", g.below(100)),
                title,
                category,
                text,
                price,
                g.below(500) as i64
            ])?;
            rows += 1;
        }

        let mut customers = 0i64;
        let mut order_id = 0i64;
        let mut event_id = 0i64;
        // Seconds since the epoch: orders start in 2019 and move forward by a few minutes each.
        let mut clock: i64 = 1_546_300_800;
        let mut address = String::new();
        let mut items: Vec<(i64, i64, i64)> = Vec::new();
        loop {
            for _ in 0..2_000 {
                order_id += 1;
                clock += 10 + g.below(400) as i64;
                // Roughly one new customer for every four orders; the first order makes the first customer.
                if customers == 0 || g.below(4) == 0 {
                    customers += 1;
                    let first = FIRST_NAMES[g.below(FIRST_NAMES.len() as u64) as usize];
                    let last = LAST_NAMES[g.below(LAST_NAMES.len() as u64) as usize];
                    let notes = if g.below(10) < 4 {
                        None
                    } else {
                        let words = g.skewed(120);
                        g.prose(&mut text, words);
                        Some(text.clone())
                    };
                    g.address(&mut address);
                    let country = COUNTRIES[g.skewed(COUNTRIES.len() as u64) as usize];
                    insert_customer.execute(params![
                        customers,
                        format!("{first} {last}"),
                        format!(
                            "{}.{}{customers}@{}",
                            first.to_lowercase(),
                            last.to_lowercase(),
                            DOMAINS[g.skewed(DOMAINS.len() as u64) as usize]
                        ),
                        (g.below(10) < 8).then(|| format!(
                            "+{} {:03} {:07}",
                            1 + g.below(60),
                            g.below(1000),
                            g.below(10_000_000)
                        )),
                        address,
                        g.capitalized(),
                        country,
                        notes,
                        timestamp(clock - g.below(86_400 * 30) as i64)
                    ])?;
                    rows += 1;
                }
                // Recent customers order more often.
                let customer = customers - g.skewed(customers as u64) as i64;
                // The order row first: the bundled SQLite enforces the foreign keys.
                let lines = 1 + g.skewed(6);
                items.clear();
                for _ in 0..lines {
                    let product = 1 + g.skewed(products);
                    let quantity = 1 + g.skewed(5) as i64;
                    items.push((product as i64, quantity, prices[product as usize - 1]));
                }
                let total: i64 = items.iter().map(|(_, q, p)| q * p).sum();
                let status = STATUSES[g.skewed(STATUSES.len() as u64) as usize];
                let comment = if g.below(10) < 7 {
                    None
                } else {
                    let words = 1 + g.skewed(60);
                    g.prose(&mut text, words);
                    Some(text.clone())
                };
                g.address(&mut address);
                insert_order.execute(params![
                    order_id,
                    customer,
                    status,
                    timestamp(clock),
                    address,
                    total,
                    comment
                ])?;
                rows += 1;
                for (line, (product, quantity, price)) in items.iter().enumerate() {
                    insert_item.execute(params![
                        order_id,
                        line as i64 + 1,
                        product,
                        quantity,
                        price
                    ])?;
                    rows += 1;
                }
                let events = 1 + g.skewed(5);
                let mut at = clock;
                for _ in 0..events {
                    event_id += 1;
                    at += 60 + g.below(86_400 * 3) as i64;
                    let kind = EVENT_KINDS[g.below(EVENT_KINDS.len() as u64) as usize];
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
                    insert_event.execute(params![
                        event_id,
                        order_id,
                        timestamp(at),
                        kind,
                        payload
                    ])?;
                    rows += 1;
                }
            }
            let pages: u64 = tx.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64;
            if pages * page_size >= target_bytes {
                break;
            }
        }
        tx.execute(
            "INSERT INTO bench_meta (key, value) VALUES ('generator', ?1), ('target_mib', ?2)",
            params![GENERATOR, target_mib.to_string()],
        )?;
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    conn.execute(
        "INSERT INTO bench_meta (key, value) VALUES ('generation_secs', ?1)",
        [format!("{:.1}", start.elapsed().as_secs_f64())],
    )?;
    drop(conn);
    Ok(rows + 3)
}
