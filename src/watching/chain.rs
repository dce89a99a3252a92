//! The directory entries a path's meaning depends on.
//!
//! `app.yaml` in a Kubernetes ConfigMap volume is a symlink to
//! `..data/app.yaml`, and `..data` is a symlink to a timestamped directory
//! that is swapped for a new one, atomically, on every update. The name
//! `app.yaml` itself never changes, so a watcher that looks only at it misses
//! every update. What changes is one link in the chain that leads from the
//! name to the file.
//!
//! [`resolve`] walks the path as the kernel does, component by component,
//! following each symlink, and records every entry it depends on: each
//! symlink met on the way, and the final entry (the real file, or where it
//! would be). The watch places one OS watch on the directory of each entry,
//! and one on the inode of the file the chain ends at; a change to a link
//! entry means "the path now points elsewhere": the chain is resolved again,
//! and the inode watch moves to the file it now ends at.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up, as Linux's own limit (`ELOOP`).
const MAX_LINKS: usize = 40;

/// One entry of the chain from a name to its file: a directory entry the
/// path depends on, either a symlink on the way or the final entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The directory holding the entry, with every symlink before it resolved.
    pub dir: PathBuf,
    /// The entry's name in `dir`.
    pub name: OsString,
    /// True for a symlink on the way; false for the final entry.
    pub is_link: bool,
}

impl ChainEntry {
    /// `dir` joined with `name`: the entry's own path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// The entries absolute path `path` depends on, links first, the final entry
/// last. A missing component ends the walk: what follows it cannot be
/// resolved until it exists, and the final entry is then taken lexically.
pub fn resolve(path: &Path) -> Vec<ChainEntry> {
    let mut entries = Vec::new();
    let mut current = PathBuf::from("/");
    let mut remaining: VecDeque<OsString> = VecDeque::new();
    push_front(&mut remaining, path);
    let mut links = 0;

    while let Some(component) = remaining.pop_front() {
        if component == "/" {
            current = PathBuf::from("/");
            continue;
        }
        if component == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&component);
        let is_last = remaining.is_empty();
        let is_link = std::fs::symlink_metadata(&next)
            .map(|metadata| metadata.file_type().is_symlink())
            .unwrap_or(false);
        if is_link && links < MAX_LINKS {
            links += 1;
            entries.push(ChainEntry {
                dir: current.clone(),
                name: component.clone(),
                is_link: true,
            });
            if let Ok(target) = std::fs::read_link(&next) {
                // The link's target replaces it: an absolute target restarts
                // from the root, a relative one goes on from this directory.
                push_front(&mut remaining, &target);
                continue;
            }
        }
        if is_last {
            entries.push(ChainEntry {
                dir: current.clone(),
                name: component,
                is_link: false,
            });
        }
        current = next;
    }
    entries
}

/// Puts the components of `path` in front of `queue`, in order; the root is
/// written as `/`, and `.` components are dropped.
fn push_front(queue: &mut VecDeque<OsString>, path: &Path) {
    let components: Vec<OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::RootDir => Some(OsString::from("/")),
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(name) => Some(name.to_owned()),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for component in components.into_iter().rev() {
        queue.push_front(component);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::os::unix::fs::symlink;

    fn entry(dir: &Path, name: &str, is_link: bool) -> ChainEntry {
        ChainEntry {
            dir: dir.to_path_buf(),
            name: name.into(),
            is_link,
        }
    }

    #[test]
    fn a_plain_file_depends_on_its_own_entry_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("target.txt"), "").unwrap();
        assert_eq!(
            resolve(&root.join("target.txt")),
            [entry(&root, "target.txt", false)]
        );
    }

    #[test]
    fn a_missing_file_still_has_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&root.join("gone.txt")),
            [entry(&root, "gone.txt", false)]
        );
    }

    #[test]
    fn a_configmap_layout_depends_on_both_links_and_the_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let version = root.join("..2026_11_27_v1");
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("app.yaml"), "a: 1").unwrap();
        symlink("..2026_11_27_v1", root.join("..data")).unwrap();
        symlink("..data/app.yaml", root.join("app.yaml")).unwrap();
        assert_eq!(
            resolve(&root.join("app.yaml")),
            [
                entry(&root, "app.yaml", true),
                entry(&root, "..data", true),
                entry(&version, "app.yaml", false),
            ]
        );
    }

    #[test]
    fn a_path_through_a_symlinked_directory_depends_on_that_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/target.txt"), "").unwrap();
        symlink(root.join("real"), root.join("alias")).unwrap();
        assert_eq!(
            resolve(&root.join("alias/target.txt")),
            [
                entry(&root, "alias", true),
                entry(&root.join("real"), "target.txt", false),
            ]
        );
    }

    #[test]
    fn a_symlink_loop_ends_after_the_limit_instead_of_spinning() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let entries = resolve(&root.join("a"));
        assert_eq!(entries.len(), MAX_LINKS + 1, "{entries:?}");
    }
}
