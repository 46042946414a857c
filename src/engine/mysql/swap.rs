//! The swap: a checked staging database `S` takes the place of the target `T`, whose old content is kept as
//! `<T>_pre_restore_<stamp>` (`P`). MySQL and MariaDB have no RENAME DATABASE, so:
//!
//! 1. read every view, trigger, routine and event definition of `S` and of `T` (`SHOW CREATE …`) and every table;
//! 2. write the journal (into the staging record, see `scratch`) — from here a kill is finished or undone;
//! 3. create `P` (or `T`, when it is missing) with the right character set;
//! 4. drop the triggers and views of `T` and `S` (a trigger cannot move between databases, nor can a view);
//! 5. ONE atomic `RENAME TABLE T.a TO P.a, …, S.x TO T.x, …` — the moment the target's data changes;
//! 6. recreate in `T` the views, triggers, routines and events of `S`, and in `P` those of the old `T` (its events
//!    disabled: a kept copy does not run jobs), drop `S`, remove the record.
//!
//! Whether step 5 happened is read from the server (are the new tables still in `S`?), so recovery needs no
//! guess: before it, undo (recreate the old views and triggers in `T`, drop `P` and `S`); after it, finish
//! step 6. A failure in this process does the same: before step 5 it undoes, after it (a definition that
//! cannot be created) it renames everything back in one statement and undoes.

use super::MysqlEngine;
use super::client::{Client, quote_ident, quote_literal};
use super::schema::{self, Definition, ObjectKind};
use super::scratch::Registration;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How far a swap got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Step {
    /// Definitions read; nothing changed yet (or only `P`/`T` created and triggers/views dropped).
    Prepared,
    /// The RENAME TABLE happened.
    Renamed,
}

/// Everything a later start needs to finish or undo a swap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Journal {
    pub step: Step,
    pub target: String,
    /// The copy of the old target, when there was one.
    pub pre: Option<String>,
    /// The target did not exist: the swap created it.
    pub created_target: bool,
    /// Tables of the staging database (moving into the target).
    pub new_tables: Vec<String>,
    /// Tables of the old target (moving into the copy).
    pub old_tables: Vec<String>,
    /// Views, triggers, routines and events of the staging database.
    pub new_defs: Vec<Definition>,
    /// Those of the old target.
    pub old_defs: Vec<Definition>,
}

/// `<db>_pre_restore_`: the start of the names of copies kept by restores of `db`.
pub(super) fn copy_prefix(db: &str) -> String {
    format!("{db}_pre_restore_")
}

/// A name for the copy, `<T>_pre_restore_<stamp>[_N]`, at most 64 characters, that no database has yet.
fn free_copy_name(client: &mut Client, target: &str) -> Result<String> {
    let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S");
    for n in 1..=100u32 {
        let suffix = match n {
            1 => format!("_pre_restore_{stamp}"),
            n => format!("_pre_restore_{stamp}_{n}"),
        };
        let room = 64usize.saturating_sub(suffix.chars().count());
        let name: String = target.chars().take(room).collect::<String>() + &suffix;
        if !schema::database_exists(client, &name)? {
            return Ok(name);
        }
    }
    Err(Error::JobFailed(format!(
        "every name for the copy of {target} kept by this restore is taken ({target}_pre_restore_{stamp}_…); drop old copies and try again; nothing was changed"
    )))
}

/// Other sessions whose default database is `db`: (id, "user@host").
fn sessions_on(client: &mut Client, db: &str) -> Result<Vec<(u64, String)>> {
    let me = client.id();
    Ok(client
        .rows(&format!(
            "SELECT ID, CONCAT(USER, '@', HOST) FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> {me} ORDER BY ID",
            quote_literal(db)
        ))?
        .into_iter()
        .filter_map(|r| {
            let mut r = r.into_iter().map(Option::unwrap_or_default);
            Some((r.next()?.parse().ok()?, r.next()?))
        })
        .collect())
}

/// Swaps staging database `staging` into `target` (see the module comment). On error the target is as it was.
/// Returns the name the old content is kept under (`<target>_pre_restore_<stamp>`), when there was one.
pub(super) fn swap(
    engine: &MysqlEngine,
    staging: &str,
    target: &str,
    terminate_sessions: bool,
    mut registration: Registration,
) -> Result<Option<String>> {
    let mut client = engine.connect(None)?;
    let exists = schema::database_exists(&mut client, target)?;
    if exists {
        let sessions = sessions_on(&mut client, target)?;
        if !sessions.is_empty() && !terminate_sessions {
            let named: Vec<String> = sessions
                .iter()
                .map(|(id, who)| format!("{id} ({who})"))
                .collect();
            engine.drop_scratch(staging, Some(registration));
            return Err(Error::JobFailed(format!(
                "{} other session(s) are connected to {target}: {}; close them (stop the application) or allow ending them with --terminate-sessions; nothing was changed",
                sessions.len(),
                named.join(", ")
            )));
        }
        for (id, _) in sessions {
            // A session that ended by itself meanwhile is fine.
            let _ = client.exec(&format!("KILL CONNECTION {id}"));
        }
    }
    let journal = Journal {
        step: Step::Prepared,
        target: target.to_string(),
        pre: if exists {
            Some(free_copy_name(&mut client, target)?)
        } else {
            None
        },
        created_target: !exists,
        new_tables: schema::movable_tables(&mut client, staging)?,
        old_tables: if exists {
            schema::movable_tables(&mut client, target)?
        } else {
            Vec::new()
        },
        new_defs: schema::definitions(&mut client, staging)?,
        old_defs: if exists {
            schema::definitions(&mut client, target)?
        } else {
            Vec::new()
        },
    };
    registration.write(Some(journal.clone()))?;
    if let Err(e) = prepare_and_rename(&mut client, staging, &journal) {
        return match undo(&mut client, staging, &journal) {
            Ok(()) => {
                registration.dropped();
                Err(e)
            }
            Err(undo_error) => Err(Error::JobFailed(format!(
                "the swap into {target} failed ({e}) and putting back its views and triggers failed too ({undo_error}); Backstop will finish undoing it at its next start"
            ))),
        };
    }
    registration.write(Some(Journal {
        step: Step::Renamed,
        ..journal.clone()
    }))?;
    if let Err(e) = finish(&mut client, staging, &journal) {
        return match rename_back(&mut client, staging, &journal)
            .and_then(|_| undo(&mut client, staging, &journal))
        {
            Ok(()) => {
                registration.dropped();
                Err(Error::JobFailed(format!(
                    "the restored database's views, triggers, routines or events could not be created in {target} ({e}); the old content was put back, nothing was changed"
                )))
            }
            Err(back) => Err(Error::JobFailed(format!(
                "the restored data is in {target} but its views, triggers, routines or events could not be created ({e}), and putting the old content back failed ({back}); Backstop will try again at its next start"
            ))),
        };
    }
    registration.dropped();
    Ok(journal.pre)
}

/// Steps 3 to 5: the databases created, triggers and views dropped, the one RENAME TABLE.
fn prepare_and_rename(client: &mut Client, staging: &str, journal: &Journal) -> Result<()> {
    let target = &journal.target;
    let charset_clause = |db: &str, client: &mut Client| -> Result<String> {
        Ok(match schema::charset_of(client, db)? {
            Some((cs, coll)) => format!(" CHARACTER SET {cs} COLLATE {coll}"),
            None => String::new(),
        })
    };
    if journal.created_target {
        let clause = charset_clause(staging, client)?;
        client.exec(&format!("CREATE DATABASE {}{clause}", quote_ident(target)))?;
    }
    if let Some(pre) = &journal.pre {
        let clause = charset_clause(target, client)?;
        client.exec(&format!("CREATE DATABASE {}{clause}", quote_ident(pre)))?;
    }
    for (db, defs) in [
        (target.as_str(), &journal.old_defs),
        (staging, &journal.new_defs),
    ] {
        for def in defs
            .iter()
            .filter(|d| matches!(d.kind, ObjectKind::Trigger | ObjectKind::View))
        {
            schema::drop_object(client, db, def.kind, &def.name)?;
        }
    }
    let mut pairs = Vec::new();
    if let Some(pre) = &journal.pre {
        for table in &journal.old_tables {
            pairs.push(format!(
                "{}.{t} TO {}.{t}",
                quote_ident(target),
                quote_ident(pre),
                t = quote_ident(table)
            ));
        }
    }
    for table in &journal.new_tables {
        pairs.push(format!(
            "{}.{t} TO {}.{t}",
            quote_ident(staging),
            quote_ident(target),
            t = quote_ident(table)
        ));
    }
    if !pairs.is_empty() {
        client.exec(&format!("RENAME TABLE {}", pairs.join(", ")))?;
    }
    Ok(())
}

/// Step 6: the definitions recreated where they now belong, staging dropped.
fn finish(client: &mut Client, staging: &str, journal: &Journal) -> Result<()> {
    let target = &journal.target;
    for def in journal
        .old_defs
        .iter()
        .filter(|d| !matches!(d.kind, ObjectKind::Trigger | ObjectKind::View))
    {
        schema::drop_object(client, target, def.kind, &def.name)?;
    }
    create_all(client, target, staging, &journal.new_defs)?;
    if let Some(pre) = &journal.pre {
        create_all(client, pre, target, &journal.old_defs)?;
        for def in journal
            .old_defs
            .iter()
            .filter(|d| d.kind == ObjectKind::Event)
        {
            client.exec(&format!(
                "ALTER EVENT {}.{} DISABLE",
                quote_ident(pre),
                quote_ident(&def.name)
            ))?;
        }
    }
    client.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(staging)))
}

/// Creates definitions in `db`: routines first, then views (in as many rounds as views built on views need),
/// then triggers and events.
fn create_all(client: &mut Client, db: &str, from: &str, defs: &[Definition]) -> Result<()> {
    let of = |kinds: &[ObjectKind]| -> Vec<&Definition> {
        defs.iter().filter(|d| kinds.contains(&d.kind)).collect()
    };
    for def in of(&[ObjectKind::Procedure, ObjectKind::Function]) {
        schema::create_object(client, db, from, def)?;
    }
    let mut views = of(&[ObjectKind::View]);
    while !views.is_empty() {
        let mut left = Vec::new();
        let mut last_error = None;
        for def in &views {
            if let Err(e) = schema::create_object(client, db, from, def) {
                last_error = Some(e);
                left.push(*def);
            }
        }
        if left.len() == views.len() {
            return Err(
                last_error.unwrap_or_else(|| Error::JobFailed("internal: no view created".into()))
            );
        }
        views = left;
    }
    for def in of(&[ObjectKind::Trigger, ObjectKind::Event]) {
        schema::create_object(client, db, from, def)?;
    }
    Ok(())
}

/// Undoes step 5 in one statement: the new tables back to staging, the old ones back to the target.
fn rename_back(client: &mut Client, staging: &str, journal: &Journal) -> Result<()> {
    let target = &journal.target;
    // The new definitions created in the target so far go first (a trigger would stop its table moving).
    for def in &journal.new_defs {
        schema::drop_object(client, target, def.kind, &def.name)?;
    }
    let mut pairs = Vec::new();
    for table in &journal.new_tables {
        pairs.push(format!(
            "{}.{t} TO {}.{t}",
            quote_ident(target),
            quote_ident(staging),
            t = quote_ident(table)
        ));
    }
    if let Some(pre) = &journal.pre {
        for def in journal
            .old_defs
            .iter()
            .filter(|d| matches!(d.kind, ObjectKind::Trigger | ObjectKind::View))
        {
            schema::drop_object(client, pre, def.kind, &def.name)?;
        }
        for table in &journal.old_tables {
            pairs.push(format!(
                "{}.{t} TO {}.{t}",
                quote_ident(pre),
                quote_ident(target),
                t = quote_ident(table)
            ));
        }
    }
    if !pairs.is_empty() {
        client.exec(&format!("RENAME TABLE {}", pairs.join(", ")))?;
    }
    Ok(())
}

/// Puts the target back as it was before step 3 (its tables never left, or were renamed back): its old
/// definitions recreated, the copy and staging dropped, a target the swap created dropped again.
fn undo(client: &mut Client, staging: &str, journal: &Journal) -> Result<()> {
    let target = &journal.target;
    if journal.created_target {
        client.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(target)))?;
    } else {
        create_all(client, target, target, &journal.old_defs)?;
    }
    if let Some(pre) = &journal.pre
        && schema::movable_tables(client, pre)?.is_empty()
    {
        client.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(pre)))?;
    }
    client.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(staging)))
}

/// Whether the RENAME TABLE of `journal` happened, read from the server.
fn renamed(client: &mut Client, staging: &str, journal: &Journal) -> Result<bool> {
    let in_staging = schema::movable_tables(client, staging)?;
    if !journal.new_tables.is_empty() {
        return Ok(!journal.new_tables.iter().any(|t| in_staging.contains(t)));
    }
    match &journal.pre {
        Some(pre) if !journal.old_tables.is_empty() => {
            let in_pre = schema::movable_tables(client, pre)?;
            Ok(journal.old_tables.iter().all(|t| in_pre.contains(t)))
        }
        _ => Ok(true),
    }
}

/// After a crash: finishes or undoes the swap a record describes and drops its staging database. A message for
/// the user when there was something to do.
pub(super) fn recover(engine: &MysqlEngine, registration: Registration) -> Result<Option<String>> {
    let mut client = engine.connect(None)?;
    let record = registration.record.clone();
    let staging = &record.staging;
    let server = engine.server();
    let staging_exists = schema::database_exists(&mut client, staging)?;
    let Some(journal) = record.swap else {
        if staging_exists {
            client.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(staging)))?;
        }
        super::scratch::drop_user(&mut client, record.user.as_deref())?;
        registration.dropped();
        let job = if record.user.is_some() {
            "an interrupted import"
        } else {
            "an interrupted restore"
        };
        return Ok(staging_exists.then(|| {
            format!("dropped the staging database {staging} that {job} left on {server}")
        }));
    };
    let target = &journal.target;
    if !staging_exists {
        // The staging database is dropped last: the swap had finished.
        registration.dropped();
        return Ok(None);
    }
    let message = if renamed(&mut client, staging, &journal)? {
        finish(&mut client, staging, &journal)?;
        format!(
            "a restore of {target} on {server} was interrupted during its swap, after the data had been swapped in; it has now been finished{}",
            journal
                .pre
                .as_ref()
                .map(|p| format!(" (the old content is kept as {p})"))
                .unwrap_or_default()
        )
    } else {
        undo(&mut client, staging, &journal)?;
        format!(
            "a restore of {target} on {server} was interrupted during its swap, before the data was swapped in; it was undone and {target} is as it was"
        )
    };
    registration.dropped();
    Ok(Some(message))
}
