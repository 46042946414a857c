//! The restore dialog's tree of a backup's files folder: built once when the manifest arrives, folders open and
//! close, a checkbox per entry (a folder's checks everything beneath it). Pure: no egui, no I/O; unit-tested below.
//!
//! Drawing a frame only touches the rows on screen: [`FileTree::visible`] is the flattened list of rows under
//! open folders, recomputed when a folder opens or closes, and the chosen paths are recomputed on each check.

use crate::archive::{EntryType, FILES_PREFIX, ManifestEntry};
use std::collections::HashMap;

/// One file, folder or link of the files folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The last path component.
    pub name: String,
    /// The archive path without a trailing `/` (`files/photos/a.jpg`), as `RestoreSpec::only` takes it.
    pub path: String,
    /// File, folder or link.
    pub entry_type: EntryType,
    /// A file's size; a folder's: everything beneath it.
    pub size: u64,
    /// A folder's files and links beneath it (a file or link: 1).
    pub files: u64,
    /// A link's target.
    pub target: Option<String>,
    /// How deep it sits (0: directly in the files folder).
    pub depth: usize,
    /// The folder holding it.
    pub parent: Option<usize>,
    /// What a folder holds: folders first, then by name.
    pub children: Vec<usize>,
    /// Chosen for restore.
    pub checked: bool,
    /// A folder not chosen whole with something beneath it chosen (drawn as a half-checked box).
    pub partial: bool,
    /// A folder shows its children.
    pub open: bool,
}

impl Node {
    /// Whether it is a folder.
    pub fn is_dir(&self) -> bool {
        self.entry_type == EntryType::Dir
    }
}

/// The files folder of one backup as a tree with checkboxes.
#[derive(Debug, Clone, Default)]
pub struct FileTree {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    visible: Vec<usize>,
    chosen: Vec<String>,
    chosen_files: u64,
    chosen_bytes: u64,
}

impl FileTree {
    /// Builds the tree from a manifest's files-folder entries (`files::entries_of`); folders missing from the list
    /// are made up from the paths. Everything starts unchecked and closed.
    pub fn build(entries: &[ManifestEntry]) -> FileTree {
        let mut tree = FileTree::default();
        let mut by_path: HashMap<String, usize> = HashMap::with_capacity(entries.len());
        for entry in entries {
            let path = entry.path.trim_end_matches('/');
            let Some(rel) = path.strip_prefix(FILES_PREFIX) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            let parent = tree.folder_of(rel, &mut by_path);
            match by_path.get(path) {
                // A folder made up earlier from a child's path: take the entry's own details.
                Some(&i) => {
                    if let Some(node) = tree.nodes.get_mut(i) {
                        node.entry_type = entry.entry_type;
                        node.target = entry.target.clone();
                    }
                }
                None => {
                    let i = tree.push(parent, path, entry.entry_type);
                    if let Some(node) = tree.nodes.get_mut(i) {
                        node.size = entry.size;
                        node.target = entry.target.clone();
                    }
                    by_path.insert(path.to_string(), i);
                }
            }
        }
        // Parents come before their children, so one pass from the end adds everything up (saturating: the
        // sizes come from an archive's manifest).
        for i in (0..tree.nodes.len()).rev() {
            let Some(node) = tree.nodes.get(i) else {
                continue;
            };
            let (size, files) = if node.is_dir() {
                node.children
                    .iter()
                    .filter_map(|&c| tree.nodes.get(c))
                    .fold((0u64, 0u64), |(s, f), child| {
                        (s.saturating_add(child.size), f.saturating_add(child.files))
                    })
            } else {
                (node.size, 1)
            };
            if let Some(node) = tree.nodes.get_mut(i) {
                node.size = size;
                node.files = files;
            }
        }
        let mut roots = std::mem::take(&mut tree.roots);
        tree.sort(&mut roots);
        tree.roots = roots;
        for i in 0..tree.nodes.len() {
            let Some(mut children) = tree
                .nodes
                .get_mut(i)
                .map(|n| std::mem::take(&mut n.children))
            else {
                continue;
            };
            tree.sort(&mut children);
            if let Some(node) = tree.nodes.get_mut(i) {
                node.children = children;
            }
        }
        tree.refresh_visible();
        tree
    }

    /// The folder node that holds `rel` (creating made-up folders along the way); None at the top.
    fn folder_of(&mut self, rel: &str, by_path: &mut HashMap<String, usize>) -> Option<usize> {
        let (dir, _) = rel.rsplit_once('/')?;
        let path = format!("{FILES_PREFIX}{dir}");
        if let Some(&i) = by_path.get(&path) {
            return Some(i);
        }
        let parent = self.folder_of(dir, by_path);
        let i = self.push(parent, &path, EntryType::Dir);
        by_path.insert(path, i);
        Some(i)
    }

    fn push(&mut self, parent: Option<usize>, path: &str, entry_type: EntryType) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            name: path.rsplit('/').next().unwrap_or(path).to_string(),
            path: path.to_string(),
            entry_type,
            size: 0,
            files: 0,
            target: None,
            depth: parent
                .and_then(|p| self.nodes.get(p))
                .map_or(0, |p| p.depth + 1),
            parent,
            children: Vec::new(),
            checked: false,
            partial: false,
            open: false,
        });
        match parent.and_then(|p| self.nodes.get_mut(p)) {
            Some(p) => p.children.push(i),
            None => self.roots.push(i),
        }
        i
    }

    fn sort(&self, list: &mut [usize]) {
        let key = |i: usize| self.nodes.get(i).map(|n| (!n.is_dir(), n.name.as_str()));
        list.sort_by(|&a, &b| key(a).cmp(&key(b)));
    }

    /// Whether the backup holds any files-folder entry.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node by the index [`FileTree::visible`] lists.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// The rows to draw, in order: the top level and whatever open folders hold.
    pub fn visible(&self) -> &[usize] {
        &self.visible
    }

    /// Opens or closes a folder.
    pub fn set_open(&mut self, i: usize, open: bool) {
        if let Some(node) = self.nodes.get_mut(i)
            && node.is_dir()
            && node.open != open
        {
            node.open = open;
            self.refresh_visible();
        }
    }

    /// Checks or unchecks an entry and everything beneath it; a folder is checked when all it holds is.
    pub fn set_checked(&mut self, i: usize, checked: bool) {
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if let Some(node) = self.nodes.get_mut(n) {
                node.checked = checked;
                node.partial = false;
                stack.extend_from_slice(&node.children);
            }
        }
        let mut up = self.nodes.get(i).and_then(|n| n.parent);
        while let Some(p) = up {
            let Some(folder) = self.nodes.get(p) else {
                break;
            };
            let children = folder.children.iter().filter_map(|&c| self.nodes.get(c));
            let all = children.clone().all(|c| c.checked);
            let some = children.clone().any(|c| c.checked || c.partial);
            up = folder.parent;
            if let Some(folder) = self.nodes.get_mut(p) {
                folder.checked = all;
                folder.partial = some && !all;
            }
        }
        self.refresh_chosen();
    }

    /// The archive paths to restore: a checked folder stands for everything beneath it.
    pub fn chosen(&self) -> &[String] {
        &self.chosen
    }

    /// Files and links chosen, and their bytes.
    pub fn chosen_summary(&self) -> (u64, u64) {
        (self.chosen_files, self.chosen_bytes)
    }

    fn refresh_visible(&mut self) {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            out.push(i);
            if node.open {
                stack.extend(node.children.iter().rev());
            }
        }
        self.visible = out;
    }

    fn refresh_chosen(&mut self) {
        self.chosen.clear();
        self.chosen_files = 0;
        self.chosen_bytes = 0;
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            if node.checked {
                self.chosen.push(node.path.clone());
                self.chosen_files = self.chosen_files.saturating_add(node.files);
                self.chosen_bytes = self.chosen_bytes.saturating_add(node.size);
            } else {
                stack.extend(node.children.iter().rev());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64) -> ManifestEntry {
        let mut e = ManifestEntry::plain(path, size, "00");
        if path.ends_with('/') {
            e.entry_type = EntryType::Dir;
        }
        e
    }

    fn sample() -> FileTree {
        FileTree::build(&[
            entry("files/photos/", 0),
            entry("files/photos/a.jpg", 10),
            entry("files/photos/b.jpg", 20),
            entry("files/photos/2024/c.jpg", 5),
            entry("files/notes.txt", 3),
            // A folder not listed itself: made up from the path.
            entry("files/docs/x/y.pdf", 7),
            entry("files/empty/", 0),
        ])
    }

    fn names(tree: &FileTree) -> Vec<String> {
        tree.visible()
            .iter()
            .map(|&i| {
                let n = tree.node(i).unwrap();
                format!("{}{}", "  ".repeat(n.depth), n.name)
            })
            .collect()
    }

    fn find(tree: &FileTree, path: &str) -> usize {
        (0..tree.nodes.len())
            .find(|&i| tree.node(i).unwrap().path == path)
            .unwrap()
    }

    #[test]
    fn sizes_from_a_crafted_manifest_add_up_without_overflow() {
        let mut tree = FileTree::build(&[
            entry("files/big/a", u64::MAX),
            entry("files/big/b", u64::MAX),
        ]);
        let big = find(&tree, "files/big");
        assert_eq!(tree.node(big).unwrap().size, u64::MAX);
        tree.set_checked(big, true);
        assert_eq!(tree.chosen_summary(), (2, u64::MAX));
        assert!(tree.node(usize::MAX).is_none());
        tree.set_open(usize::MAX, true);
        tree.set_checked(usize::MAX, true);
    }

    #[test]
    fn folders_come_first_and_only_open_folders_show_their_children() {
        let mut tree = sample();
        assert_eq!(names(&tree), ["docs", "empty", "photos", "notes.txt"]);
        let photos = find(&tree, "files/photos");
        assert_eq!(tree.node(photos).unwrap().size, 35);
        assert_eq!(tree.node(photos).unwrap().files, 3);
        tree.set_open(photos, true);
        assert_eq!(
            names(&tree),
            [
                "docs",
                "empty",
                "photos",
                "  2024",
                "  a.jpg",
                "  b.jpg",
                "notes.txt"
            ]
        );
        tree.set_open(photos, false);
        assert_eq!(tree.visible().len(), 4);
    }

    #[test]
    fn a_checked_folder_stands_for_everything_beneath_it() {
        let mut tree = sample();
        let photos = find(&tree, "files/photos");
        tree.set_checked(photos, true);
        assert_eq!(tree.chosen(), ["files/photos"]);
        assert_eq!(tree.chosen_summary(), (3, 35));
        // Unchecking one file leaves its siblings chosen one by one.
        tree.set_checked(find(&tree, "files/photos/a.jpg"), false);
        assert_eq!(tree.chosen(), ["files/photos/2024", "files/photos/b.jpg"]);
        assert!(tree.node(photos).unwrap().partial && !tree.node(photos).unwrap().checked);
        assert_eq!(tree.chosen_summary(), (2, 25));
        // Checking it again makes the folder whole.
        tree.set_checked(find(&tree, "files/photos/a.jpg"), true);
        assert_eq!(tree.chosen(), ["files/photos"]);
        tree.set_checked(photos, false);
        assert!(tree.chosen().is_empty());
        tree.set_checked(find(&tree, "files/docs/x/y.pdf"), true);
        assert_eq!(tree.chosen(), ["files/docs"], "made-up folders fill up too");
        tree.set_checked(find(&tree, "files/photos/2024/c.jpg"), true);
        assert!(
            tree.node(photos).unwrap().partial,
            "a half-chosen folder shows it when closed"
        );
        tree.set_checked(find(&tree, "files/photos/2024/c.jpg"), false);
        assert!(!tree.node(photos).unwrap().partial);
        assert!(tree.node(find(&tree, "files/docs/x")).unwrap().is_dir());
    }

    #[test]
    fn twenty_thousand_entries_build_once_and_show_only_the_top_level() {
        let mut entries = Vec::new();
        for d in 0..100 {
            for f in 0..200 {
                entries.push(entry(&format!("files/d{d:03}/f{f:03}.bin"), 1));
            }
        }
        let mut tree = FileTree::build(&entries);
        assert_eq!(tree.visible().len(), 100);
        let first = tree.visible()[0];
        tree.set_open(first, true);
        assert_eq!(tree.visible().len(), 300);
        tree.set_checked(first, true);
        assert_eq!(tree.chosen_summary(), (200, 200));
    }
}
