//! A sample database, so that a fresh install has something real to back up (the README's first command, the
//! window's demo profile, tests and the benchmark all use it).

use rusqlite::{Connection, params};
use std::path::Path;

/// Creates (or extends) a shop-like SQLite database in WAL mode with customers, products and orders.
///
/// `orders` rows are generated; text lengths vary so the file compresses like real data, not like zeros.
pub fn make_sample_database(path: &Path, orders: u64) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS customers (
             id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, notes TEXT, created_at TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS products (
             id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, description TEXT, price_cents INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS orders (
             id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
             product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
             comment TEXT, placed_at TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer_id, placed_at);
         CREATE INDEX IF NOT EXISTS orders_product ON orders(product_id);
         CREATE VIEW IF NOT EXISTS order_totals AS
             SELECT o.id, o.quantity * p.price_cents AS total_cents FROM orders o JOIN products p ON p.id = o.product_id;",
    )?;
    let words = [
        "backup",
        "restore",
        "archive",
        "verified",
        "quarterly",
        "invoice",
        "shipping",
        "delayed",
        "express",
        "customer",
        "reorder",
        "gift",
        "wrapped",
        "fragile",
        "handle",
        "with",
        "care",
        "the",
        "and",
        "of",
    ];
    // A small deterministic generator keeps the data varied but reproducible.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let tx = conn.transaction()?;
    let customers: i64 = tx.query_row("SELECT count(*) FROM customers", [], |r| r.get(0))?;
    let products: i64 = tx.query_row("SELECT count(*) FROM products", [], |r| r.get(0))?;
    let existing: i64 = tx.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO customers (name, email, notes, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in customers..1_000 {
            let notes: Vec<&str> = (0..(next() % 12))
                .filter_map(|_| words.get((next() % 20) as usize).copied())
                .collect();
            insert.execute(params![
                format!("Customer {i}"),
                format!("customer{i}@example.com"),
                notes.join(" "),
                format!("2025-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28)
            ])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO products (sku, title, description, price_cents) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in products..200 {
            let description: Vec<&str> = (0..(5 + next() % 40))
                .filter_map(|_| words.get((next() % 20) as usize).copied())
                .collect();
            insert.execute(params![
                format!("SKU-{i:05}"),
                format!("Product {i}"),
                description.join(" "),
                (next() % 10_000) as i64
            ])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO orders (customer_id, product_id, quantity, comment, placed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for i in 0..orders {
            let comment: Vec<&str> = (0..(next() % 25))
                .filter_map(|_| words.get((next() % 20) as usize).copied())
                .collect();
            let n = existing as u64 + i;
            insert.execute(params![
                (1 + next() % 1_000) as i64,
                (1 + next() % 200) as i64,
                (1 + next() % 5) as i64,
                comment.join(" "),
                format!(
                    "2026-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + n % 12,
                    1 + n % 28,
                    n % 24,
                    n % 60
                )
            ])?;
        }
    }
    tx.commit()
}

/// Creates a small media folder beside the sample database, as a web app keeps its uploads: product pictures,
/// invoices, and a cache folder the demo profile excludes. Existing files are left as they are.
pub fn make_sample_media(dir: &Path) -> std::io::Result<()> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for sub in ["products", "invoices/2026", "cache"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        if path.exists() {
            Ok(())
        } else {
            std::fs::write(path, bytes)
        }
    };
    for i in 1..=12 {
        // Picture files hold incompressible bytes, as real JPEGs do.
        write(
            &dir.join(format!("products/sku-{i:04}.jpg")),
            &noise(20_000 + i * 3_000),
        )?;
    }
    for i in 1..=30 {
        let text = format!(
            "Invoice {i:05}\nCustomer: {}\nTotal: {}.{:02} EUR\n{}",
            1000 + i,
            i * 17,
            i % 100,
            "Thank you for your order.\n".repeat(20)
        );
        write(
            &dir.join(format!("invoices/2026/invoice-{i:05}.txt")),
            text.as_bytes(),
        )?;
    }
    write(&dir.join("cache/thumbnail-index.tmp"), &noise(4_096))?;
    Ok(())
}
