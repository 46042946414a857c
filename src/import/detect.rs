//! What an imported file is, by content, and what it is called: MySQL/MariaDB dumps, pg_dump's tar and
//! directory formats, and the one rule that unwraps a container's single top folder (zips and tars alike).
//!
//! Pure functions over leading bytes and entry names, so every rule is a case table below.

/// A SQL dump written by MySQL's or MariaDB's dump tool. Backstop has no engine for them: it names them and
/// refuses them, rather than feed them to another engine's loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlFlavor {
    /// `-- MySQL dump …` (mysqldump).
    Mysql,
    /// `-- MariaDB dump …` or MariaDB's `/*M!…` sandbox line (mariadb-dump).
    Mariadb,
    /// MySQL's conditional comments (`/*!40101 …`) or table options without a header saying which.
    Either,
}

impl MysqlFlavor {
    /// The format's name in messages.
    pub fn format_name(self) -> &'static str {
        match self {
            MysqlFlavor::Mysql => "MySQL dump",
            MysqlFlavor::Mariadb => "MariaDB dump",
            MysqlFlavor::Either => "MySQL/MariaDB dump",
        }
    }

    /// The engine that wrote it.
    pub fn engine_name(self) -> &'static str {
        match self {
            MysqlFlavor::Mysql => "MySQL",
            MysqlFlavor::Mariadb => "MariaDB",
            MysqlFlavor::Either => "MySQL or MariaDB",
        }
    }
}

/// Recognises a MySQL/MariaDB dump by its first bytes: the header comment the dump tools write, MariaDB's
/// sandbox line, MySQL's versioned comments (`/*!40101 SET …`), or a table's `ENGINE=` option. None of these
/// appear in what pg_dump or SQLite write.
pub fn mysql_dump(head: &[u8]) -> Option<MysqlFlavor> {
    let head = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(head);
    if head.contains(&0) {
        return None;
    }
    let text = String::from_utf8_lossy(head);
    let start = text.trim_start();
    if start.starts_with("/*M!") || text.contains("-- MariaDB dump") {
        return Some(MysqlFlavor::Mariadb);
    }
    if text.contains("-- MySQL dump") {
        return Some(MysqlFlavor::Mysql);
    }
    let versioned_comment = text.match_indices("/*!").any(|(at, _)| {
        let digits = text
            .get(at + 3..)
            .unwrap_or_default()
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        digits == 5
    });
    let engine_option = text.contains(") ENGINE=");
    (versioned_comment || engine_option).then_some(MysqlFlavor::Either)
}

/// The first bytes of every pg_dump archive's table of contents (custom format, and `toc.dat` in the tar and
/// directory formats).
pub const PG_DUMP_MAGIC: &[u8] = b"PGDMP";

/// Whether a tar starts the way `pg_dump -Ft` writes one: its first entry is `toc.dat` holding a pg_dump table
/// of contents.
pub fn is_pg_tar(head: &[u8]) -> bool {
    head.len() >= 512 + PG_DUMP_MAGIC.len()
        && head.starts_with(b"toc.dat\0")
        && head.get(257..262) == Some(b"ustar".as_slice())
        && head
            .get(512..)
            .is_some_and(|toc| toc.starts_with(PG_DUMP_MAGIC))
}

/// Whether a file name belongs in a `pg_dump -Fd` folder: `toc.dat`, table data `<oid>.dat` (compressed
/// `.gz`, `.lz4`, `.zst`), large objects `blob_<oid>.dat…` with their `blobs.toc` (or `blobs_<oid>.toc`).
pub fn is_pg_directory_member(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if name == "toc.dat" || name == "blobs.toc" {
        return true;
    }
    if let Some(oid) = name
        .strip_prefix("blobs_")
        .and_then(|r| r.strip_suffix(".toc"))
    {
        return digits(oid);
    }
    let data = [".gz", ".lz4", ".zst"]
        .iter()
        .find_map(|z| name.strip_suffix(z))
        .unwrap_or(name);
    let Some(stem) = data.strip_suffix(".dat") else {
        return false;
    };
    digits(stem.strip_prefix("blob_").unwrap_or(stem))
}

/// One entry of a container, as the survey sees it: its name without `./` or a trailing `/`, whether it is a
/// folder, and (for a file named `toc.dat`) whether it starts like a pg_dump table of contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surveyed {
    pub name: String,
    pub is_dir: bool,
    pub pg_toc: bool,
}

/// The entries of a zip or tar, listed before anything is unpacked, so that one rule decides what it holds.
#[derive(Debug, Default)]
pub struct Survey {
    /// Every entry but the root (`./`), in order.
    pub entries: Vec<Surveyed>,
    /// The container names its root (`./`, as `tar -C folder .` writes it): its entries are the folder's content.
    pub root_marked: bool,
}

/// What a container holds, by its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// A `pg_dump -Fd` folder, at the root or inside the single top folder `top`.
    PgDirectory { top: Option<String> },
    /// Files (a media folder, or another layout), with the single top folder to unwrap, if any.
    Files { unwrap: Option<String> },
}

impl Survey {
    /// Adds one entry (named as in the container; `./` and a trailing `/` are dropped here).
    pub fn add(&mut self, raw: &str, is_dir: bool, pg_toc: bool) {
        let name = normalize(raw).trim_end_matches('/');
        if name.is_empty() || name == "." {
            self.root_marked = true;
            return;
        }
        self.entries.push(Surveyed {
            name: name.to_string(),
            is_dir,
            pg_toc,
        });
    }

    /// The one rule for a single top folder, the same for zips and tars: when every entry lies inside one
    /// folder, and the container has that folder's own entry (as `tar czf x.tar.gz media` and `zip -r x.zip
    /// media` write it) or the folder is called `media`, the container holds that folder and it is unwrapped.
    /// A container that names its root (`./`) holds the folder's content as it is; so does one without folder
    /// entries whose one folder is not `media` (django-dbbackup's mediabackup of a media root holding
    /// `uploads/` only).
    pub fn single_top_folder(&self) -> Option<String> {
        if self.root_marked {
            return None;
        }
        let first = self.entries.first()?;
        let top = first.name.split('/').next()?.to_string();
        let inside = format!("{top}/");
        let mut own_entry = false;
        for entry in &self.entries {
            if entry.name == top {
                if !entry.is_dir {
                    return None;
                }
                own_entry = true;
            } else if !entry.name.starts_with(&inside) {
                return None;
            }
        }
        (own_entry || top == "media").then_some(top)
    }

    /// What the container holds: a pg_dump directory-format dump when its folder (the root, or the single top
    /// folder) holds a pg_dump `toc.dat` and nothing but the files such a dump is made of; else files, with the
    /// single top folder rule.
    pub fn holds(&self) -> Holds {
        let top = self.entries.first().and_then(|first| {
            let top = first.name.split('/').next()?;
            let inside = format!("{top}/");
            self.entries
                .iter()
                .all(|e| (e.name == top && e.is_dir) || e.name.starts_with(&inside))
                .then(|| top.to_string())
        });
        let pg_folder = |top: Option<&str>| {
            let mut toc = false;
            for entry in &self.entries {
                let name = match top {
                    None => entry.name.as_str(),
                    Some(top) if entry.name == top && entry.is_dir => continue,
                    Some(top) => match entry
                        .name
                        .strip_prefix(top)
                        .and_then(|r| r.strip_prefix('/'))
                    {
                        Some(name) => name,
                        None => return false,
                    },
                };
                if entry.is_dir || name.contains('/') || !is_pg_directory_member(name) {
                    return false;
                }
                toc |= name == "toc.dat" && entry.pg_toc;
            }
            toc
        };
        if pg_folder(None) {
            return Holds::PgDirectory { top: None };
        }
        if let Some(top) = top
            && !self.root_marked
            && pg_folder(Some(&top))
        {
            return Holds::PgDirectory { top: Some(top) };
        }
        Holds::Files {
            unwrap: self.single_top_folder(),
        }
    }
}

/// GNU tar writes `./a`; the entry `./` itself is the root.
pub fn normalize(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name
}

/// A container's name in messages: `zip`, `tar` or `tar.gz`.
pub fn container_name(tar: bool, gz: bool) -> &'static str {
    match (tar, gz) {
        (true, true) => "tar.gz",
        (true, false) => "tar",
        (false, _) => "zip",
    }
}

/// What the import reports it did with a single top folder.
pub fn unwrapped_note(top: &str) -> String {
    format!("unwrapped its top folder {top}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_mariadb_dumps_by_their_first_bytes() {
        use MysqlFlavor::*;
        #[rustfmt::skip]
        let cases: [(&[u8], Option<MysqlFlavor>); 10] = [
            // mariadb-dump 10.11 (and mysqldump, its link), with and without --compact.
            (b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n", Some(Mariadb)),
            (b"/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET @saved_cs_client     = @@character_set_client */;\n", Some(Mariadb)),
            (b"-- MariaDB dump 10.19  Distrib 10.6.12-MariaDB, for Linux (x86_64)\n--\n-- Host: localhost\n", Some(Mariadb)),
            // MySQL 8's mysqldump.
            (b"-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n-- Host: 127.0.0.1    Database: shop\n", Some(Mysql)),
            (b"\n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n", Some(Either)),
            (b"DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (\n  `id` int NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n", Some(Either)),
            // What pg_dump and SQLite write is not.
            (b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n", None),
            (b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE `t`(x);\n", None),
            (b"/* a comment */ CREATE TABLE t (x int);\n", None),
            (b"PGDMP\x01\x0e\x00/*!40101", None),
        ];
        for (head, expected) in cases {
            assert_eq!(
                mysql_dump(head),
                expected,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn pg_dump_tar_by_its_first_entry() {
        let mut tar = vec![0u8; 1024];
        tar[..7].copy_from_slice(b"toc.dat");
        tar[257..263].copy_from_slice(b"ustar\0");
        tar[512..517].copy_from_slice(b"PGDMP");
        assert!(is_pg_tar(&tar));
        let mut other = tar.clone();
        other[..7].copy_from_slice(b"toc.txt");
        assert!(!is_pg_tar(&other));
        let mut not_toc = tar.clone();
        not_toc[512..517].copy_from_slice(b"hello");
        assert!(!is_pg_tar(&not_toc));
        assert!(!is_pg_tar(&tar[..600][..515]));
    }

    #[test]
    fn pg_directory_members() {
        for name in [
            "toc.dat",
            "3340.dat",
            "3340.dat.gz",
            "3341.dat.lz4",
            "3342.dat.zst",
            "blobs.toc",
            "blob_16384.dat",
            "blob_16384.dat.gz",
            "blobs_3350.toc",
        ] {
            assert!(is_pg_directory_member(name), "{name}");
        }
        for name in [
            "restore.sql",
            "x.dat",
            ".dat",
            "3340.dat.bz2",
            "blob_.dat",
            "a/3340.dat",
            "toc.dat.gz",
        ] {
            assert!(!is_pg_directory_member(name), "{name}");
        }
    }

    fn survey(entries: &[(&str, bool)]) -> Survey {
        let mut survey = Survey::default();
        for (name, is_dir) in entries {
            let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            survey.add(name, *is_dir, base == "toc.dat");
        }
        survey
    }

    #[test]
    fn one_rule_for_a_single_top_folder() {
        let unwrap = |top: &str| Holds::Files {
            unwrap: Some(top.to_string()),
        };
        let keep = Holds::Files { unwrap: None };
        #[rustfmt::skip]
        let cases: Vec<(&[(&str, bool)], Holds)> = vec![
            // `tar czf media.tar.gz media` and `zip -r media.zip media`: the folder's own entry first.
            (&[("media/", true), ("media/a.txt", false), ("media/b/", true), ("media/b/c.txt", false)], unwrap("media")),
            (&[("photos/", true), ("photos/a.jpg", false)], unwrap("photos")),
            // Web-app zips write `media/…` without the folder's entry: still the media folder.
            (&[("media/a.txt", false), ("media/b/c.txt", false)], unwrap("media")),
            // `tar -C media .` names the root: kept as it is.
            (&[("./", true), ("./uploads/", true), ("./uploads/a.txt", false)], keep.clone()),
            // mediabackup of a media root holding `uploads/` only, no folder entries: kept.
            (&[("uploads/a.txt", false), ("uploads/b/c.txt", false)], keep.clone()),
            // More than one top entry, or a file at the top: kept.
            (&[("media/", true), ("media/a.txt", false), ("other.txt", false)], keep.clone()),
            (&[("a.txt", false)], keep.clone()),
            (&[("media", false)], keep.clone()),
            // The folder's own entry after its content (zip -r of a folder written by some tools).
            (&[("media/a.txt", false), ("media/", true)], unwrap("media")),
        ];
        for (entries, expected) in cases {
            assert_eq!(survey(entries).holds(), expected, "{entries:?}");
        }
    }

    #[test]
    fn pg_directory_dumps_inside_containers() {
        let in_top = Holds::PgDirectory {
            top: Some("shop".to_string()),
        };
        let at_root = Holds::PgDirectory { top: None };
        #[rustfmt::skip]
        let cases: Vec<(&[(&str, bool)], Holds)> = vec![
            // `tar cf shop.tar shop` of a `pg_dump -Fd -f shop` folder: the data files may come first.
            (&[("shop/", true), ("shop/3340.dat.gz", false), ("shop/toc.dat", false)], in_top.clone()),
            (&[("shop/toc.dat", false), ("shop/3340.dat", false)], in_top.clone()),
            // `tar cf x.tar -C shop .` and a zip of the folder's files.
            (&[("./", true), ("./toc.dat", false), ("./3340.dat.gz", false)], at_root.clone()),
            (&[("toc.dat", false), ("3340.dat.gz", false), ("blobs.toc", false), ("blob_5.dat", false)], at_root),
            // Anything else beside the dump: a folder of files.
            (&[("shop/", true), ("shop/toc.dat", false), ("shop/notes.txt", false)], Holds::Files { unwrap: Some("shop".to_string()) }),
            // No table of contents: files.
            (&[("shop/", true), ("shop/3340.dat", false)], Holds::Files { unwrap: Some("shop".to_string()) }),
            // A nested folder: files.
            (&[("a/", true), ("a/b/", true), ("a/b/toc.dat", false)], Holds::Files { unwrap: Some("a".to_string()) }),
        ];
        for (entries, expected) in cases {
            assert_eq!(survey(entries).holds(), expected, "{entries:?}");
        }
        // A `toc.dat` that is not pg_dump's: files.
        let mut fake = Survey::default();
        fake.add("toc.dat", false, false);
        fake.add("3340.dat", false, false);
        assert_eq!(fake.holds(), Holds::Files { unwrap: None });
    }
}
