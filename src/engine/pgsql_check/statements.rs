//! Statement-level rules of the plain-SQL check: what a statement acts on, read from its first words and its last
//! ones, and pg_dump's `--create`/`--clean` preamble.
//!
//! Statements on databases, roles or the server are refused at their line, with one exception: the preamble that
//! `pg_dump --create [--clean]` writes for the dumped database (`DROP DATABASE`, `CREATE DATABASE`, `ALTER
//! DATABASE`, `COMMENT ON DATABASE` of that one database, and its `\connect`) is skipped, so that such a dump
//! imports the data it holds into the staging database. Ownership (`ALTER … OWNER TO`) and privilege statements
//! (`GRANT`/`REVOKE … ON`, `ALTER DEFAULT PRIVILEGES`) that stand on a line of their own are skipped too, as
//! `pg_restore --no-owner --no-privileges` skips them for the other formats: the import role could not run them,
//! and the imported objects belong to the profile's role. Skipping only ever removes SQL; it never lets anything
//! run that would not otherwise, and the privilege boundary (a throwaway role) holds for whatever is missed here.

/// A keyword as the lexer saw it (lower-cased, up to 24 bytes); empty for anything that is not a plain word.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kw {
    len: u8,
    bytes: [u8; 24],
}

impl Kw {
    pub(super) fn of(word: Option<&[u8]>) -> Kw {
        let mut kw = Kw::default();
        if let Some(word) = word.filter(|w| w.len() <= kw.bytes.len()) {
            kw.bytes[..word.len()].copy_from_slice(word);
            kw.len = word.len() as u8;
        }
        kw
    }

    fn is(&self, word: &str) -> bool {
        &self.bytes[..usize::from(self.len)] == word.as_bytes()
    }

    fn is_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.is(w))
    }
}

/// What is remembered of a statement's words (outside parentheses).
#[derive(Debug, Default, Clone)]
pub(super) struct Words {
    first: [Kw; 4],
    count: usize,
    /// The last three tokens, oldest first.
    tail: [Kw; 3],
    has_on: bool,
}

impl Words {
    pub(super) fn push(&mut self, kw: Kw) {
        if let Some(slot) = self.first.get_mut(self.count) {
            *slot = kw;
        }
        self.count = self.count.saturating_add(1);
        self.tail = [self.tail[1], self.tail[2], kw];
        self.has_on |= kw.is("on") && self.count > 1;
    }
}

/// What a statement does, for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Runs as written.
    Run,
    /// `SET …` or `SELECT …` (pg_dump's session settings before its preamble).
    Setting,
    /// Acts on a database: only pg_dump's preamble for the dumped database may stand (and is skipped).
    Database,
    /// `ALTER … OWNER TO …`: skipped when on a line of its own.
    Owner,
    /// `GRANT`/`REVOKE … ON`, `ALTER DEFAULT PRIVILEGES`: skipped when on a line of its own.
    Privileges,
    /// `COMMENT ON EXTENSION plpgsql` (pg_dump 10 and older write it; only the extension's owner, a superuser, may
    /// run it, and pg_dump 11 and later leave it out): skipped when on a line of its own.
    BuiltinComment,
    /// Refused with this reason.
    Refused(&'static str),
}

pub(super) const ROLES: &str = "statements on roles (CREATE, ALTER or DROP ROLE, USER or GROUP, role memberships, \
     REASSIGN or DROP OWNED) are not allowed in an imported dump: an import loads one database's data";
pub(super) const ROLE_SWITCH: &str = "switching roles (SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE) is not \
     allowed in an imported dump; make the dump without --role and --use-set-session-authorization";
pub(super) const SYSTEM: &str =
    "ALTER SYSTEM is not allowed in an imported dump: it changes the server's configuration";
pub(super) const TABLESPACES: &str =
    "statements on tablespaces are not allowed in an imported dump: they act on the server";
pub(super) const DATABASES: &str = "statements on databases are not allowed in an imported dump, except the \
     preamble pg_dump --create/--clean writes for the dumped database (DROP and CREATE DATABASE before anything \
     else, ALTER and COMMENT ON DATABASE of that database)";
pub(super) const DATABASE_NOT_ALONE: &str = "a statement on a database must stand on a line of its own in an \
     imported dump, as pg_dump writes it";
pub(super) const PG_DUMPALL: &str = "this is a whole-cluster dump made by pg_dumpall (every database and role of a \
     server), and Backstop imports one database. Restore the file into a scratch server (psql -f FILE) and \
     import a pg_dump --dbname NAME of the database you need, or copy the part from the comment \
     `-- Database \"NAME\" dump` up to the next such comment into a file of its own and import that";

/// The first line of a pg_dumpall file's header comment.
pub(super) const PG_DUMPALL_HEADER: &[u8] = b"-- PostgreSQL database cluster dump";

/// What a statement with these words does.
pub(super) fn classify(words: &Words) -> Class {
    let [f0, f1, f2, f3] = words.first;
    let ddl = f0.is_any(&["create", "drop", "alter"]);
    if ddl && f1.is("database") || (f0.is("comment") && f1.is("on") && f2.is("database")) {
        return Class::Database;
    }
    if ddl && f1.is_any(&["role", "user", "group"]) && !(f1.is("user") && f2.is("mapping")) {
        return Class::Refused(ROLES);
    }
    if (f0.is("reassign") || f0.is("drop")) && f1.is("owned") {
        return Class::Refused(ROLES);
    }
    if f0.is("alter") && f1.is("system") {
        return Class::Refused(SYSTEM);
    }
    if ddl && f1.is("tablespace") {
        return Class::Refused(TABLESPACES);
    }
    let authorization = |a: Kw, b: Kw| a.is("session") && b.is("authorization");
    if f0.is("set")
        && (f1.is("role")
            || (f1.is_any(&["session", "local"]) && f2.is("role"))
            || authorization(f1, f2)
            || (f1.is_any(&["session", "local"]) && authorization(f2, f3)))
    {
        return Class::Refused(ROLE_SWITCH);
    }
    if f0.is("reset") && (f1.is("role") || authorization(f1, f2)) {
        return Class::Refused(ROLE_SWITCH);
    }
    if f0.is_any(&["grant", "revoke"]) {
        return if words.has_on {
            Class::Privileges
        } else {
            Class::Refused(ROLES)
        };
    }
    if f0.is("alter") && f1.is("default") && f2.is("privileges") {
        return Class::Privileges;
    }
    let [t0, t1, _] = words.tail;
    if f0.is("alter") && words.count >= 5 && t0.is("owner") && t1.is("to") {
        return Class::Owner;
    }
    if f0.is("comment") && f1.is("on") && f2.is("extension") && f3.is("plpgsql") {
        return Class::BuiltinComment;
    }
    if f0.is_any(&["set", "select"]) {
        return Class::Setting;
    }
    Class::Run
}

/// What a database statement of pg_dump's preamble does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DbVerb {
    /// `DROP DATABASE` or `CREATE DATABASE`: only before anything else.
    DropOrCreate,
    /// `ALTER DATABASE` or `COMMENT ON DATABASE`: only of the dumped database.
    Alter,
}

/// Reads a whole-line database statement the way pg_dump writes it: the verb and the database's name (quotes
/// removed, an unquoted name folded to lower case as the server folds it).
pub(super) fn database_statement(line: &[u8]) -> Option<(DbVerb, Vec<u8>)> {
    let start = line.iter().position(|c| !c.is_ascii_whitespace())?;
    let text = &line[start..];
    let forms: [(&[u8], DbVerb); 5] = [
        (b"drop database if exists ", DbVerb::DropOrCreate),
        (b"drop database ", DbVerb::DropOrCreate),
        (b"create database ", DbVerb::DropOrCreate),
        (b"alter database ", DbVerb::Alter),
        (b"comment on database ", DbVerb::Alter),
    ];
    let (prefix, verb) = forms.iter().find(|(prefix, _)| {
        text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
    })?;
    let rest = &text[prefix.len()..];
    let rest = &rest[rest.iter().position(|c| !c.is_ascii_whitespace())?..];
    let name = if rest.first() == Some(&b'"') {
        let mut name = Vec::new();
        let mut i = 1;
        loop {
            match (rest.get(i), rest.get(i + 1)) {
                (Some(b'"'), Some(b'"')) => {
                    name.push(b'"');
                    i += 2;
                }
                (Some(b'"'), _) => break,
                (Some(&c), _) => {
                    name.push(c);
                    i += 1;
                }
                (None, _) => return None,
            }
        }
        name
    } else {
        let len = rest
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
            .count();
        rest[..len].to_ascii_lowercase()
    };
    (!name.is_empty()).then_some((*verb, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Words {
        let mut words = Words::default();
        for w in text.split_whitespace() {
            let kw = if w.starts_with('"') {
                Kw::default()
            } else {
                Kw::of(Some(w.to_ascii_lowercase().as_bytes()))
            };
            words.push(kw);
        }
        words
    }

    #[test]
    fn statements_are_classed_by_their_words() {
        let cases: &[(&str, Class)] = &[
            ("DROP DATABASE IF EXISTS shop", Class::Database),
            (
                "create database shop with template = template0",
                Class::Database,
            ),
            ("ALTER DATABASE shop OWNER TO app", Class::Database),
            ("COMMENT ON DATABASE shop IS 'x'", Class::Database),
            ("CREATE ROLE evil SUPERUSER", Class::Refused(ROLES)),
            ("ALTER USER postgres NOSUPERUSER", Class::Refused(ROLES)),
            ("DROP GROUP g", Class::Refused(ROLES)),
            ("CREATE USER MAPPING FOR app SERVER s", Class::Run),
            ("GRANT postgres TO evil", Class::Refused(ROLES)),
            (
                "GRANT SELECT ON TABLE public.t TO PUBLIC",
                Class::Privileges,
            ),
            ("REVOKE ALL ON SCHEMA public FROM PUBLIC", Class::Privileges),
            (
                "ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO x",
                Class::Privileges,
            ),
            ("REASSIGN OWNED BY a TO b", Class::Refused(ROLES)),
            ("DROP OWNED BY a", Class::Refused(ROLES)),
            ("ALTER SYSTEM SET work_mem = '1MB'", Class::Refused(SYSTEM)),
            (
                "CREATE TABLESPACE x LOCATION '/tmp'",
                Class::Refused(TABLESPACES),
            ),
            ("SET ROLE postgres", Class::Refused(ROLE_SWITCH)),
            ("SET LOCAL ROLE postgres", Class::Refused(ROLE_SWITCH)),
            (
                "SET SESSION AUTHORIZATION postgres",
                Class::Refused(ROLE_SWITCH),
            ),
            (
                "SET SESSION SESSION AUTHORIZATION postgres",
                Class::Refused(ROLE_SWITCH),
            ),
            ("RESET ROLE", Class::Refused(ROLE_SWITCH)),
            ("RESET SESSION AUTHORIZATION", Class::Refused(ROLE_SWITCH)),
            ("SET search_path = public", Class::Setting),
            (
                "SELECT pg_catalog.set_config('search_path', '', false)",
                Class::Setting,
            ),
            ("ALTER TABLE public.t OWNER TO postgres", Class::Owner),
            ("ALTER TABLE public.t OWNER TO \"Bob\"", Class::Owner),
            (
                "ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY",
                Class::Run,
            ),
            ("CREATE TABLE owner (to_ int)", Class::Run),
            (
                "COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language'",
                Class::BuiltinComment,
            ),
            ("COMMENT ON EXTENSION pgcrypto IS 'x'", Class::Run),
        ];
        for (text, class) in cases {
            assert_eq!(classify(&words(text)), *class, "{text}");
        }
    }

    #[test]
    fn database_statements_name_their_database() {
        type Case<'a> = (&'a [u8], Option<(DbVerb, &'a [u8])>);
        let cases: &[Case] = &[
            (
                b"DROP DATABASE IF EXISTS shop;",
                Some((DbVerb::DropOrCreate, b"shop")),
            ),
            (
                b"DROP DATABASE Shop;",
                Some((DbVerb::DropOrCreate, b"shop")),
            ),
            (
                b"CREATE DATABASE \"My \"\"Shop\"\"\" WITH TEMPLATE = template0;",
                Some((DbVerb::DropOrCreate, b"My \"Shop\"")),
            ),
            (
                b"  ALTER DATABASE shop SET work_mem TO '8MB';",
                Some((DbVerb::Alter, b"shop")),
            ),
            (
                b"COMMENT ON DATABASE shop IS 'x';",
                Some((DbVerb::Alter, b"shop")),
            ),
            (b"ALTER TABLE shop OWNER TO x;", None),
            (b"DROP DATABASE \"unclosed;", None),
        ];
        for (line, expected) in cases {
            let got = database_statement(line);
            assert_eq!(
                got.as_ref().map(|(v, n)| (*v, n.as_slice())),
                *expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    fn filter(input: &str) -> Result<(String, super::super::Checked), super::super::Refusal> {
        let mut out = Vec::new();
        let checked =
            super::super::filter_plain_sql(&mut std::io::Cursor::new(input), &mut out, "appdb")?;
        Ok((String::from_utf8(out).unwrap(), checked))
    }

    #[test]
    fn the_create_clean_preamble_and_whole_line_ownership_are_left_out_line_for_line() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\n\
            SELECT pg_catalog.set_config('search_path', '', false);\n\nDROP DATABASE IF EXISTS shop;\n\
            CREATE DATABASE shop WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'C.UTF-8';\n\n\
            ALTER DATABASE shop OWNER TO postgres;\n\n\\unrestrict abc\n\\connect shop\n\\restrict abc\n\n\
            SET statement_timeout = 0;\nALTER DATABASE shop SET work_mem TO '8MB';\n\
            CREATE EXTENSION IF NOT EXISTS plpgsql WITH SCHEMA pg_catalog;\n\
            COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language';\n\
            CREATE TABLE public.t (\n    id integer\n);\nALTER TABLE public.t OWNER TO postgres;\n\
            COPY public.t (id) FROM stdin;\n1\n\\.\n\nGRANT SELECT ON TABLE public.t TO PUBLIC;\n\
            ALTER TABLE public.t OWNER TO app; SELECT 1;\n\\unrestrict abc\n";
        let (out, checked) = filter(dump).unwrap();
        assert_eq!(
            out.lines().count(),
            dump.lines().count(),
            "line numbers hold"
        );
        let kept: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        for gone in [
            "DROP DATABASE IF EXISTS shop;",
            "ALTER DATABASE shop OWNER TO postgres;",
            "\\connect shop",
            "ALTER DATABASE shop SET work_mem TO '8MB';",
            "ALTER TABLE public.t OWNER TO postgres;",
            "GRANT SELECT ON TABLE public.t TO PUBLIC;",
            "COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language';",
        ] {
            assert!(!kept.contains(&gone), "{gone} is left out:\n{out}");
        }
        assert!(!out.contains("CREATE DATABASE"));
        for stays in [
            "COPY public.t (id) FROM stdin;",
            "1",
            "\\.",
            "ALTER TABLE public.t OWNER TO app; SELECT 1;",
        ] {
            assert!(kept.contains(&stays), "{stays} stays:\n{out}");
        }
        assert_eq!(checked.preamble_database.as_deref(), Some("shop"));
        assert_eq!(
            (checked.ownership_skipped, checked.privileges_skipped),
            (1, 1)
        );
        assert!(
            checked
                .note()
                .is_some_and(|n| n.contains("--create") && n.contains("shop"))
        );
    }

    #[test]
    fn database_statements_outside_the_preamble_are_refused() {
        let cases: &[(&str, u64, &str)] = &[
            (
                "CREATE TABLE t (x int);\nDROP DATABASE IF EXISTS shop;\n",
                2,
                DATABASES,
            ),
            ("DROP DATABASE a;\nCREATE DATABASE b;\n", 2, DATABASES),
            ("CREATE DATABASE shop; SELECT 1;\n", 1, DATABASE_NOT_ALONE),
            (
                "CREATE DATABASE shop\n  WITH OWNER x;\n",
                2,
                DATABASE_NOT_ALONE,
            ),
            (
                "CREATE DATABASE shop;\n\\connect postgres\n",
                2,
                "\\connect to another database than shop",
            ),
            ("ALTER DATABASE appdb SET work_mem = '1MB';\n", 1, DATABASES),
            (
                "CREATE DATABASE shop;\n\\connect shop\nDROP DATABASE shop;\n",
                3,
                DATABASES,
            ),
            (
                "--\n-- PostgreSQL database cluster dump\n--\n",
                2,
                "pg_dumpall",
            ),
            ("SELECT 1;\nGRANT pg_read_server_files TO app;\n", 2, ROLES),
        ];
        for (input, line, reason) in cases {
            match filter(input) {
                Err(refusal) => assert!(
                    refusal.line == *line && refusal.reason.contains(reason),
                    "{input:?}: {refusal}"
                ),
                Ok(_) => panic!("{input:?} was accepted"),
            }
        }
    }
}
