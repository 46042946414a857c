//! The files folders on disk: the cached sources, listing, warming, linking, digesting and checking a folder.

use crate::common::{MIB, keep_run, mib, sync, warm};
use crate::files::{FILES_GENERATOR, FILES_NAME};
use crate::files_gen::generate_folder;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The cached folder of this size and count, and the `.done` file beside it that records how it was made.
pub(crate) fn folder_paths(work: &Path, target_mib: u64, count: u64) -> (PathBuf, PathBuf) {
    let name = format!("files-{target_mib}mib-{count}");
    (work.join(&name), work.join(format!("{name}.done")))
}

/// Reuses the folder an earlier run made for this size and count, else generates it; returns its path.
pub(crate) fn ensure_folder(work: &Path, target_mib: u64, count: u64) -> PathBuf {
    let (path, done) = folder_paths(work, target_mib, count);
    if let Some(secs) = folder_reusable(&path, &done) {
        println!(
            "  generation:      reused {} made by an earlier run (it took {secs:.1} s to generate)",
            path.display()
        );
        return path;
    }
    if path.exists() || done.exists() {
        println!(
            "  generation:      {} is stale; making it again",
            path.display()
        );
        let _ = std::fs::remove_file(&done);
        remove_tree(&path);
    }
    let partial = path.with_extension("partial");
    remove_tree(&partial);
    println!("  generation:      making a {target_mib} MiB folder of {count} files ...");
    let start = Instant::now();
    generate_folder(&partial, target_mib << 20, count);
    std::fs::rename(&partial, &path).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    });
    sync();
    let secs = start.elapsed().as_secs_f64();
    let tree = Tree::list(&path);
    std::fs::write(
        &done,
        format!(
            "generator {FILES_GENERATOR}\nfiles {}\nbytes {}\ngeneration_secs {secs:.1}\n",
            tree.files.len(),
            tree.bytes()
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", done.display()));
    println!(
        "  generation:      {} in {} files in {secs:.1} s ({:.1} MiB/s)",
        mib(tree.bytes()),
        tree.files.len(),
        tree.bytes() as f64 / MIB / secs
    );
    path
}

/// The generation time recorded beside the folder, if this generator completed it and it still holds what it
/// made (same number of files, same total size).
pub(crate) fn folder_reusable(path: &Path, done: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(done).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::to_string)
    };
    if field("generator")? != FILES_GENERATOR || !path.is_dir() {
        return None;
    }
    let tree = Tree::list(path);
    if field("files")? != tree.files.len().to_string()
        || field("bytes")? != tree.bytes().to_string()
    {
        return None;
    }
    field("generation_secs")?.parse().ok()
}

fn remove_tree(path: &Path) {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
    }
}

/// Makes a folder and its parents.
pub(crate) fn create_dir(path: &Path) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
}

/// Removes a restored copy once it is checked, unless `BACKSTOP_BENCH_KEEP=1` (then the run's folder keeps it).
pub(crate) fn discard(path: &Path) {
    if !keep_run() {
        remove_tree(path);
    }
}

/// Prints the folder's size, file count, layout and its split into compressible and already-compressed files.
pub(crate) fn describe_folder(path: &Path, tree: &Tree) {
    let bytes = tree.bytes();
    let (packed, text): (Vec<_>, Vec<_>) = tree
        .files
        .iter()
        .partition(|(rel, _)| backstop::files::already_compressed(rel));
    let sum = |v: &[&(String, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
    let exts = |v: &[&(String, u64)]| {
        let mut by_ext: BTreeMap<&str, u64> = BTreeMap::new();
        for (rel, _) in v {
            *by_ext
                .entry(rel.rsplit_once('.').map_or("", |(_, e)| e))
                .or_default() += 1;
        }
        by_ext
            .iter()
            .map(|(e, n)| format!("{n} .{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let share = |n: u64| 100.0 * n as f64 / bytes as f64;
    let band = |lo: u64, hi: u64| {
        tree.files
            .iter()
            .filter(|(_, n)| (lo..hi).contains(n))
            .count()
    };
    let largest = tree.files.iter().map(|(_, n)| *n).max().unwrap_or(0);
    println!(
        "  folder:          {} ({}, {} files in {} folders, {} levels deep)",
        path.display(),
        mib(bytes),
        tree.files.len(),
        tree.dirs.len(),
        tree.depth()
    );
    println!(
        "  compressible:    {} ({:.1}%) in {} files: {}",
        mib(sum(&text)),
        share(sum(&text)),
        text.len(),
        exts(&text)
    );
    println!(
        "  incompressible:  {} ({:.1}%) in {} files (random bytes, already-compressed kinds): {}",
        mib(sum(&packed)),
        share(sum(&packed)),
        packed.len(),
        exts(&packed)
    );
    println!(
        "  file sizes:      {} under 16 KiB, {} of 16 KiB-1 MiB, {} of 1-10 MiB, {} of 10 MiB or more (largest {})",
        band(0, 16 << 10),
        band(16 << 10, 1 << 20),
        band(1 << 20, 10 << 20),
        band(10 << 20, u64::MAX),
        mib(largest)
    );
}

/// A folder's sub-folders and files (paths relative to it, with `/`, sorted); the generator makes nothing else.
pub(crate) struct Tree {
    /// The sub-folders.
    pub(crate) dirs: Vec<String>,
    /// The files with their sizes.
    pub(crate) files: Vec<(String, u64)>,
}

impl Tree {
    /// Lists the folder at `root`; panics on anything but folders and files.
    pub(crate) fn list(root: &Path) -> Tree {
        let mut tree = Tree {
            dirs: Vec::new(),
            files: Vec::new(),
        };
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel_dir)) = stack.pop() {
            let listing = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
            for entry in listing {
                let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
                let path = entry.path();
                let name = entry
                    .file_name()
                    .into_string()
                    .unwrap_or_else(|_| panic!("{} is not a UTF-8 name", path.display()));
                let rel = if rel_dir.is_empty() {
                    name
                } else {
                    format!("{rel_dir}/{name}")
                };
                let meta = std::fs::symlink_metadata(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                if meta.is_dir() {
                    tree.dirs.push(rel.clone());
                    stack.push((path, rel));
                } else if meta.is_file() {
                    tree.files.push((rel, meta.len()));
                } else {
                    panic!("{} is neither a folder nor a file", path.display());
                }
            }
        }
        tree.dirs.sort();
        tree.files.sort();
        tree
    }

    /// The total size of the files.
    pub(crate) fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }

    fn depth(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.split('/').count())
            .max()
            .unwrap_or(0)
    }
}

/// Reads every file of a folder once, so that they are in the page cache.
pub(crate) fn warm_tree(root: &Path) {
    for (rel, _) in &Tree::list(root).files {
        warm(&root.join(rel));
    }
}

/// A folder in hard links to `source`'s files (a copy where linking fails); returns how many were copied.
pub(crate) fn link_tree(source: &Path, tree: &Tree, dest: &Path) -> usize {
    create_dir(dest);
    for dir in &tree.dirs {
        create_dir(&dest.join(dir));
    }
    let mut copied = 0;
    for (rel, _) in &tree.files {
        let (from, to) = (source.join(rel), dest.join(rel));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap_or_else(|e| {
                panic!("cannot copy {} to {}: {e}", from.display(), to.display())
            });
            copied += 1;
        }
    }
    copied
}

/// What a folder holds: its folders, and each file's path, size and SHA-256, summed up in one SHA-256.
#[derive(Debug, PartialEq)]
pub(crate) struct TreeDigest {
    files: usize,
    dirs: usize,
    bytes: u64,
    sha256: String,
}

/// The folder's [`TreeDigest`].
pub(crate) fn digest_tree(root: &Path) -> TreeDigest {
    let tree = Tree::list(root);
    let mut all = Sha256::new();
    for dir in &tree.dirs {
        all.update(format!("d {dir}\n"));
    }
    for (rel, size) in &tree.files {
        let path = root.join(rel);
        let mut file =
            File::open(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut one = Sha256::new();
        std::io::copy(&mut file, &mut one)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        all.update(format!("f {rel} {size} {}\n", hex::encode(one.finalize())));
    }
    TreeDigest {
        files: tree.files.len(),
        dirs: tree.dirs.len(),
        bytes: tree.bytes(),
        sha256: hex::encode(all.finalize()),
    }
}

/// Panics when the folder at `root` does not hold what `expected` describes.
pub(crate) fn check_tree(when: &str, expected: &TreeDigest, root: &Path) {
    let found = digest_tree(root);
    assert!(
        &found == expected,
        "{when}: {} differs from the source\n  source:   {expected:?}\n  restored: {found:?}",
        root.display()
    );
}

/// Removes the `<folder>.pre_restore_<stamp>` copy that a restore keeps beside the folder it replaced.
pub(crate) fn remove_pre_restore(live: &Path) {
    let parent = live.parent().expect("the working copy has a parent");
    let prefix = format!("{FILES_NAME}.pre_restore_");
    let kept: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", parent.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(
        !kept.is_empty(),
        "backstop restore kept no {prefix}* copy of the folder it replaced in {}",
        parent.display()
    );
    for path in &kept {
        remove_tree(path);
    }
}
