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
                    tree.nodes[i].entry_type = entry.entry_type;
                    tree.nodes[i].target = entry.target.clone();
                }
                None => {
                    let i = tree.push(parent, path, entry.entry_type);
                    let node = &mut tree.nodes[i];
                    node.size = entry.size;
                    node.target = entry.target.clone();
                    by_path.insert(path.to_string(), i);
                }
            }
        }
        // Parents come before their children, so one pass from the end adds everything up.
        for i in (0..tree.nodes.len()).rev() {
            if !tree.nodes[i].is_dir() {
                tree.nodes[i].files = 1;
            } else {
                tree.nodes[i].size = 0;
                let (size, files) = tree.nodes[i].children.iter().fold((0, 0), |(s, f), &c| {
                    (s + tree.nodes[c].size, f + tree.nodes[c].files)
                });
                tree.nodes[i].size = size;
                tree.nodes[i].files = files;
            }
        }
        let mut roots = std::mem::take(&mut tree.roots);
        tree.sort(&mut roots);
        tree.roots = roots;
        for i in 0..tree.nodes.len() {
            let mut children = std::mem::take(&mut tree.nodes[i].children);
            tree.sort(&mut children);
            tree.nodes[i].children = children;
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
            depth: parent.map(|p| self.nodes[p].depth + 1).unwrap_or(0),
            parent,
            children: Vec::new(),
            checked: false,
            partial: false,
            open: false,
        });
        match parent {
            Some(p) => self.nodes[p].children.push(i),
            None => self.roots.push(i),
        }
        i
    }

    fn sort(&self, list: &mut [usize]) {
        list.sort_by(|&a, &b| {
            let (a, b) = (&self.nodes[a], &self.nodes[b]);
            b.is_dir()
                .cmp(&a.is_dir())
                .then_with(|| a.name.cmp(&b.name))
        });
    }

    /// Whether the backup holds any files-folder entry.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node (index as in [`FileTree::visible`]).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The rows to draw, in order: the top level and whatever open folders hold.
    pub fn visible(&self) -> &[usize] {
        &self.visible
    }

    /// Opens or closes a folder.
    pub fn set_open(&mut self, i: usize, open: bool) {
        if self.nodes[i].is_dir() && self.nodes[i].open != open {
            self.nodes[i].open = open;
            self.refresh_visible();
        }
    }

    /// Checks or unchecks an entry and everything beneath it; a folder is checked when all it holds is.
    pub fn set_checked(&mut self, i: usize, checked: bool) {
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            self.nodes[n].checked = checked;
            self.nodes[n].partial = false;
            stack.extend_from_slice(&self.nodes[n].children);
        }
        let mut up = self.nodes[i].parent;
        while let Some(p) = up {
            let children = &self.nodes[p].children;
            let all = children.iter().all(|&c| self.nodes[c].checked);
            let some = children
                .iter()
                .any(|&c| self.nodes[c].checked || self.nodes[c].partial);
            self.nodes[p].checked = all;
            self.nodes[p].partial = some && !all;
            up = self.nodes[p].parent;
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
            out.push(i);
            let node = &self.nodes[i];
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
            let node = &self.nodes[i];
            if node.checked {
                self.chosen.push(node.path.clone());
                self.chosen_files += node.files;
                self.chosen_bytes += node.size;
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
                let n = tree.node(i);
                format!("{}{}", "  ".repeat(n.depth), n.name)
            })
            .collect()
    }

    fn find(tree: &FileTree, path: &str) -> usize {
        (0..tree.nodes.len())
            .find(|&i| tree.node(i).path == path)
            .unwrap()
    }

    #[test]
    fn folders_come_first_and_only_open_folders_show_their_children() {
        let mut tree = sample();
        assert_eq!(names(&tree), ["docs", "empty", "photos", "notes.txt"]);
        let photos = find(&tree, "files/photos");
        assert_eq!(tree.node(photos).size, 35);
        assert_eq!(tree.node(photos).files, 3);
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
        assert!(tree.node(photos).partial && !tree.node(photos).checked);
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
            tree.node(photos).partial,
            "a half-chosen folder shows it when closed"
        );
        tree.set_checked(find(&tree, "files/photos/2024/c.jpg"), false);
        assert!(!tree.node(photos).partial);
        assert!(tree.node(find(&tree, "files/docs/x")).is_dir());
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
