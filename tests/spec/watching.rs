//! describe: watching that users can trust.
//!
//! Every way a tool changes a file gives each subscriber exactly one
//! notification, and the watch keeps working afterwards; reading the file or
//! touching its neighbours gives none. That holds whatever name the change
//! goes through: the watched one, a hard link in another directory, a bind
//! mount. Each case runs against its own in-process server, with two
//! subscribers, in its own temporary directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::future::join_all;
use net_watcher::console::ConsoleEvent;
use net_watcher::protocol::Protocol;
use net_watcher::watching::settle::DEFAULT_WINDOW;
use rstest::rstest;
use tempfile::TempDir;

use crate::support::in_process::{InProcessServer, Options, Subscriber, expect_change_on_each};
use crate::support::target::{TargetFile, target};

/// Two greeted subscribers of a fresh server for `target`.
async fn two_subscribers(target: &TargetFile) -> (InProcessServer, Vec<Subscriber>) {
    two_subscribers_settling(target, DEFAULT_WINDOW).await
}

/// Two greeted subscribers of a fresh server for `target` whose settle
/// window is `window` (`--debounce-ms`; zero notifies on every OS event).
async fn two_subscribers_settling(
    target: &TargetFile,
    window: Duration,
) -> (InProcessServer, Vec<Subscriber>) {
    let options = Options {
        debounce: window,
        ..Options::speaking(Protocol::Text)
    };
    let server = InProcessServer::start_with(target, options).await;
    let subscribers = server.subscribe_greeted_many(2).await;
    (server, subscribers)
}

/// A hard link to `target` in a directory of its own, which the caller
/// keeps as long as the link is needed.
fn hard_link_elsewhere(target: &TargetFile) -> (TempDir, TargetFile) {
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let link = elsewhere.path().join("hard.txt");
    fs::hard_link(target.path(), &link).expect("a hard link on the same file system");
    (elsewhere, TargetFile::at(link))
}

/// `mount --bind SOURCE AT`, undone when dropped.
struct BindMount {
    at: PathBuf,
}

impl BindMount {
    /// Mounts `source` onto the existing file `at`; `None` (and a visible
    /// note) where this machine does not let the test mount (no `mount`
    /// program, not root, a container without the privilege), so the case
    /// is skipped rather than failed.
    fn new(source: &Path, at: &Path) -> Option<Self> {
        match Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(at)
            .output()
        {
            Ok(output) if output.status.success() => Some(BindMount { at: at.to_owned() }),
            Ok(output) => {
                eprintln!(
                    "SKIPPED: `mount --bind` is not permitted here ({}: {}), so this case was not run",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: `mount` is not installed, so this case was not run");
                None
            }
            Err(error) => panic!("cannot run `mount`: {error}"),
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.at)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Busy: detach it now, the kernel finishes when it can, and the
            // temporary directory can go.
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

/// Each subscriber receives one notification, and then nothing more for the
/// quiet period.
async fn expect_exactly_one(subscribers: &mut [Subscriber], what: &str) {
    expect_change_on_each(subscribers, what).await;
    let after = format!("the one notification of {what}");
    join_all(
        subscribers
            .iter_mut()
            .map(|subscriber| subscriber.expect_silence(&after)),
    )
    .await;
}

/// No subscriber receives anything for the quiet period.
async fn expect_none(subscribers: &mut [Subscriber], what: &str) {
    join_all(
        subscribers
            .iter_mut()
            .map(|subscriber| subscriber.expect_silence(what)),
    )
    .await;
}

/// Runs `program` with `args`; `false` (and a visible note) if the program
/// is not installed, so the case is skipped rather than failed.
fn run_tool(program: &str, args: &[&str], dir: &Path) -> bool {
    match Command::new(program).args(args).current_dir(dir).status() {
        Ok(status) => {
            assert!(
                status.success(),
                "`{program} {}` failed: {status}",
                args.join(" ")
            );
            true
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: `{program}` is not installed, so this case was not run");
            false
        }
        Err(error) => panic!("cannot run `{program}`: {error}"),
    }
}

/// One operation a user or a tool performs on the watched file.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Write,
    Append,
    Truncate,
    Touch,
    TouchWithoutOpening,
    Chmod,
    Remove,
    RenameAway,
    AtomicSave,
    BackupAndWrite,
    CopyOver,
    ToolTouch,
    ToolSedInPlace,
    ToolCp,
    ToolMv,
}

impl Operation {
    /// Performs the operation; `false` if a tool it needs is missing.
    fn perform(self, target: &TargetFile) -> bool {
        let path = target.path();
        let dir = target.dir();
        match self {
            Operation::Write => fs::write(path, "overwritten\n").unwrap(),
            Operation::Append => target.append("appended"),
            Operation::Truncate => {
                let file = fs::OpenOptions::new().write(true).open(path).unwrap();
                file.set_len(0).unwrap();
            }
            Operation::Touch => target.touch(),
            Operation::TouchWithoutOpening => {
                // Setting times on a read-only handle: the OS reports only a
                // metadata change, with no close-after-write to finish it.
                let file = fs::File::open(path).unwrap();
                let later = file.metadata().unwrap().modified().unwrap()
                    + std::time::Duration::from_secs(5);
                file.set_times(fs::FileTimes::new().set_modified(later))
                    .unwrap();
            }
            Operation::Chmod => {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap()
            }
            Operation::Remove => fs::remove_file(path).unwrap(),
            Operation::RenameAway => fs::rename(path, dir.join("target.txt.moved")).unwrap(),
            Operation::AtomicSave => {
                let temporary = dir.join(".target.txt.tmp123");
                fs::write(&temporary, "saved atomically\n").unwrap();
                fs::rename(&temporary, path).unwrap();
            }
            Operation::BackupAndWrite => {
                // What an editor with backups does: keep the old file as a
                // backup, write the new one in its place, give it the old
                // file's mode back, and drop the backup.
                let backup = dir.join("target.txt~");
                let mode = fs::metadata(path).unwrap().permissions();
                fs::rename(path, &backup).unwrap();
                fs::write(path, "saved by an editor\n").unwrap();
                fs::set_permissions(path, mode).unwrap();
                fs::remove_file(&backup).unwrap();
            }
            Operation::CopyOver => {
                let source = dir.join("source.txt");
                fs::write(&source, "copied\n").unwrap();
                fs::copy(&source, path).unwrap();
            }
            Operation::ToolTouch => return run_tool("touch", &["target.txt"], dir),
            Operation::ToolSedInPlace => {
                return run_tool("sed", &["-i", "s/first/second/", "target.txt"], dir);
            }
            Operation::ToolCp => {
                fs::write(dir.join("source.txt"), "copied by cp\n").unwrap();
                return run_tool("cp", &["source.txt", "target.txt"], dir);
            }
            Operation::ToolMv => {
                fs::write(dir.join("new.txt"), "moved by mv\n").unwrap();
                return run_tool("mv", &["new.txt", "target.txt"], dir);
            }
        }
        true
    }
}

mod for_each_way_of_changing_the_file {
    use super::*;

    #[rstest]
    #[case::writing_over_it(Operation::Write)]
    #[case::appending(Operation::Append)]
    #[case::truncating(Operation::Truncate)]
    #[case::touching(Operation::Touch)]
    #[case::setting_its_times_without_opening_it_for_writing(Operation::TouchWithoutOpening)]
    #[case::chmod(Operation::Chmod)]
    #[case::removing_it(Operation::Remove)]
    #[case::renaming_it_away(Operation::RenameAway)]
    #[case::an_atomic_save(Operation::AtomicSave)]
    #[case::an_editors_backup_and_write_save(Operation::BackupAndWrite)]
    #[case::copying_over_it(Operation::CopyOver)]
    #[case::gnu_touch(Operation::ToolTouch)]
    #[case::sed_in_place(Operation::ToolSedInPlace)]
    #[case::cp(Operation::ToolCp)]
    #[case::mv_over_it(Operation::ToolMv)]
    #[tokio::test]
    async fn notifies_each_subscriber_exactly_once_and_keeps_watching(
        target: TargetFile,
        #[case] operation: Operation,
    ) {
        fs::write(target.path(), "first line\n").unwrap();
        let (_server, mut subscribers) = two_subscribers(&target).await;
        if !operation.perform(&target) {
            return;
        }
        expect_exactly_one(&mut subscribers, &format!("{operation:?}")).await;

        // The watch survives: bring the file back if the operation took it
        // away, then touch it.
        if !target.path().exists() {
            fs::write(target.path(), "back again\n").unwrap();
            expect_exactly_one(&mut subscribers, "creating it again").await;
        }
        target.touch();
        expect_exactly_one(&mut subscribers, "a touch afterwards").await;
    }

    /// With `--debounce-ms 0` every OS event is a notification at once,
    /// and a change through the watched name is heard twice, by the
    /// directory's watch and by the inode's. These operations are one OS
    /// change each (writing over the file is two: the truncation when it is
    /// opened, then the write), and each still gives one notification.
    #[rstest]
    #[case::appending(Operation::Append)]
    #[case::truncating(Operation::Truncate)]
    #[case::touching(Operation::Touch)]
    #[case::setting_its_times_without_opening_it_for_writing(Operation::TouchWithoutOpening)]
    #[case::chmod(Operation::Chmod)]
    #[case::removing_it(Operation::Remove)]
    #[case::renaming_it_away(Operation::RenameAway)]
    #[case::an_atomic_save(Operation::AtomicSave)]
    #[case::gnu_touch(Operation::ToolTouch)]
    #[case::mv_over_it(Operation::ToolMv)]
    #[tokio::test]
    async fn with_no_settle_window_notifies_each_subscriber_once_per_os_change(
        target: TargetFile,
        #[case] operation: Operation,
    ) {
        fs::write(target.path(), "first line\n").unwrap();
        let (_server, mut subscribers) = two_subscribers_settling(&target, Duration::ZERO).await;
        if !operation.perform(&target) {
            return;
        }
        expect_exactly_one(&mut subscribers, &format!("{operation:?}")).await;

        if !target.path().exists() {
            // Created empty: one OS change, where writing would add a second.
            fs::File::create(target.path()).unwrap();
            expect_exactly_one(&mut subscribers, "creating it again").await;
        }
        target.touch();
        expect_exactly_one(&mut subscribers, "a touch afterwards").await;
    }

    #[rstest]
    #[tokio::test]
    async fn notifies_once_when_it_is_created_again_after_a_removal(target: TargetFile) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        fs::remove_file(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "the removal").await;
        fs::write(target.path(), "created\n").unwrap();
        expect_exactly_one(&mut subscribers, "the creation").await;
    }

    #[rstest]
    #[tokio::test]
    async fn notifies_once_when_it_is_moved_away_and_once_when_it_is_moved_back(
        target: TargetFile,
    ) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        let elsewhere = target.dir().join("elsewhere.txt");
        fs::rename(target.path(), &elsewhere).unwrap();
        expect_exactly_one(&mut subscribers, "moving it away").await;
        fs::rename(&elsewhere, target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "moving it back").await;
    }
}

mod for_what_is_not_a_change {
    use super::*;

    #[rstest]
    #[case::reading_it(|t: &TargetFile| { fs::read_to_string(t.path()).unwrap(); })]
    #[case::opening_and_closing_it_without_writing(|t: &TargetFile| {
        drop(fs::OpenOptions::new().write(true).open(t.path()).unwrap());
    })]
    #[case::chmod_to_the_mode_it_already_has(|t: &TargetFile| {
        let mode = fs::metadata(t.path()).unwrap().permissions();
        fs::set_permissions(t.path(), mode).unwrap();
    })]
    #[case::writing_a_swap_file_beside_it(|t: &TargetFile| {
        fs::write(t.dir().join("target.txt.swp"), "swap").unwrap();
    })]
    #[case::writing_a_hidden_temporary_beside_it(|t: &TargetFile| {
        fs::write(t.dir().join(".target.txt.tmp123"), "tmp").unwrap();
    })]
    #[case::writing_a_backup_beside_it(|t: &TargetFile| {
        fs::write(t.dir().join("target.txt~"), "backup").unwrap();
    })]
    #[case::touching_a_file_whose_name_it_starts(|t: &TargetFile| {
        fs::write(t.dir().join("target.txt.old"), "").unwrap();
        fs::remove_file(t.dir().join("target.txt.old")).unwrap();
    })]
    #[case::linking_it_from_another_directory_and_unlinking_it(|t: &TargetFile| {
        // The link count changes, and the inode's watch hears it; nothing
        // `stat` shows of the file does.
        let (elsewhere, link) = hard_link_elsewhere(t);
        fs::read_to_string(link.path()).unwrap();
        drop(elsewhere);
    })]
    #[case::removing_a_file_beside_it(|t: &TargetFile| {
        fs::write(t.dir().join("notes.txt"), "").unwrap();
        fs::remove_file(t.dir().join("notes.txt")).unwrap();
    })]
    #[tokio::test]
    async fn notifies_nobody_and_logs_no_problem(
        target: TargetFile,
        #[case] operation: fn(&TargetFile),
    ) {
        fs::write(target.path(), "first line\n").unwrap();
        let (mut server, mut subscribers) = two_subscribers(&target).await;
        operation(&target);
        expect_none(&mut subscribers, "an operation that is not a change").await;
        assert_eq!(
            server.problems_so_far(),
            [],
            "expected no problem on the console after an operation that is not a change"
        );
        target.touch();
        expect_exactly_one(&mut subscribers, "a touch afterwards").await;
    }
}

mod through_symlinks {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn watches_a_path_given_through_a_symlinked_directory(target: TargetFile) {
        let alias = target.dir().join("alias");
        symlink(target.dir(), &alias).unwrap();
        let through_alias = TargetFile::at(alias.join("target.txt"));
        let server = InProcessServer::start(&through_alias, Protocol::Text).await;
        let mut subscriber = server.subscribe().await;
        assert_eq!(
            subscriber.next_line("the greeting").await,
            format!(
                "Now watching \"{}\" for changes...\n",
                through_alias.path_str()
            ),
            "the greeting shows the path as typed"
        );
        target.touch();
        expect_exactly_one(std::slice::from_mut(&mut subscriber), "a touch").await;
    }

    #[rstest]
    #[tokio::test]
    async fn follows_a_watched_symlink_to_its_file_and_to_a_new_target(target: TargetFile) {
        let link = TargetFile::at(target.dir().join("link.txt"));
        symlink("target.txt", link.path()).unwrap();
        let server = InProcessServer::start(&link, Protocol::Text).await;
        let mut subscribers = server.subscribe_greeted_many(2).await;

        target.append("a change to the file it points to");
        expect_exactly_one(&mut subscribers, "an append to the target").await;

        // `ln -sfn other.txt link.txt`: a new link renamed over the old one.
        let other = target.dir().join("other.txt");
        fs::write(&other, "other\n").unwrap();
        symlink("other.txt", target.dir().join("link.txt.tmp")).unwrap();
        fs::rename(target.dir().join("link.txt.tmp"), link.path()).unwrap();
        expect_exactly_one(&mut subscribers, "pointing the link elsewhere").await;

        fs::write(&other, "changed\n").unwrap();
        expect_exactly_one(&mut subscribers, "a write to the new target").await;
        target.append("the old target is no longer watched");
        expect_none(&mut subscribers, "a write to the old target").await;
    }

    #[rstest]
    #[tokio::test]
    async fn tells_subscribers_once_when_the_watched_symlink_is_removed(target: TargetFile) {
        let link = TargetFile::at(target.dir().join("link.txt"));
        symlink("target.txt", link.path()).unwrap();
        let server = InProcessServer::start(&link, Protocol::Text).await;
        let mut subscribers = server.subscribe_greeted_many(2).await;

        fs::remove_file(link.path()).unwrap();
        expect_exactly_one(&mut subscribers, "removing the link").await;
        target.append("the file it pointed to is no longer the watched path");
        expect_none(&mut subscribers, "a write to the former target").await;
    }

    /// A Kubernetes ConfigMap volume: `app.yaml -> ..data/app.yaml`,
    /// `..data -> ..<timestamp>`, and each update swaps `..data` atomically.
    #[rstest]
    #[tokio::test]
    async fn sees_every_configmap_update_exactly_once(target: TargetFile) {
        let root = target.dir();
        let write_version = |name: &str, content: &str| {
            fs::create_dir(root.join(name)).unwrap();
            fs::write(root.join(name).join("app.yaml"), content).unwrap();
        };
        write_version("..2026_11_27_v1", "version: 1\n");
        symlink("..2026_11_27_v1", root.join("..data")).unwrap();
        symlink("..data/app.yaml", root.join("app.yaml")).unwrap();
        let app = TargetFile::at(root.join("app.yaml"));
        let server = InProcessServer::start(&app, Protocol::Text).await;
        let mut subscribers = server.subscribe_greeted_many(2).await;

        for (old, new) in [
            ("..2026_11_27_v1", "..2026_11_27_v2"),
            ("..2026_11_27_v2", "..2026_11_27_v3"),
        ] {
            write_version(new, &format!("version: {new}\n"));
            symlink(new, root.join("..data_tmp")).unwrap();
            fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
            fs::remove_dir_all(root.join(old)).unwrap();
            expect_exactly_one(&mut subscribers, &format!("the swap to {new}")).await;
        }
    }
}

/// The name may come to lead to a directory: one made in the file's place,
/// or a symlink to a directory. A directory is not the watched file: what
/// is done inside it is nobody's change, and the watch still hears the
/// name's changes, and the file's once it is back.
mod when_the_name_leads_to_a_directory {
    use super::*;

    /// Back to a file, which is heard as before.
    async fn a_file_again(target: &TargetFile, subscribers: &mut [Subscriber]) {
        fs::write(target.path(), "a file again\n").unwrap();
        expect_exactly_one(subscribers, "a file in its place again").await;
        target.append("appended");
        expect_exactly_one(subscribers, "an append").await;
        Operation::Chmod.perform(target);
        expect_exactly_one(subscribers, "a chmod").await;
    }

    #[rstest]
    #[tokio::test]
    async fn writes_inside_a_directory_made_in_its_place_notify_nobody(target: TargetFile) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        fs::remove_file(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "the removal").await;
        fs::create_dir(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "a directory made in its place").await;

        let inside = target.path().join("child.txt");
        fs::write(&inside, "inside\n").unwrap();
        fs::write(&inside, "written again\n").unwrap();
        expect_none(&mut subscribers, "writes inside the directory").await;

        fs::remove_dir_all(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "the directory removed").await;
        a_file_again(&target, &mut subscribers).await;
    }

    #[rstest]
    #[tokio::test]
    async fn a_symlink_to_the_watched_directory_itself_leaves_the_watch_hearing(
        target: TargetFile,
    ) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        fs::remove_file(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "the removal").await;
        // `target.txt -> ../<its own directory>`.
        let own_dir = target.dir().file_name().expect("a named directory");
        symlink(Path::new("..").join(own_dir), target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "a link to its own directory").await;

        fs::remove_file(target.path()).unwrap();
        expect_exactly_one(&mut subscribers, "the link removed").await;
        a_file_again(&target, &mut subscribers).await;
    }
}

/// Another name of the watched file, which a change can go through.
#[derive(Debug, Clone, Copy)]
enum AnotherName {
    /// A hard link in a directory of its own; the server watches
    /// `target.txt`, whose directory hears nothing of a change made through
    /// the link.
    HardLinkInAnotherDirectory,
    /// `target.txt` bind-mounted onto a path in another directory, as
    /// `docker run -v /etc/app.conf:/app/app.conf` or a Kubernetes `subPath`
    /// volume does. The server watches the mounted path, the container's
    /// view; the host changes the file through its own path. No directory
    /// on the watched path hears of a change to the file's content,
    /// whichever path it is made through.
    HostPathOfABindMount,
}

/// What keeps another name alive: its directory, and the mount if any
/// (dropped first, so that the directory can go).
struct Kept {
    _mount: Option<BindMount>,
    _dir: TempDir,
}

impl AnotherName {
    /// Gives `target` this other name: returns the path the server watches,
    /// the path the change goes through, and what keeps them; `None` where
    /// this machine does not let the test make it (a mount not permitted).
    fn give(self, target: &TargetFile) -> Option<(TargetFile, TargetFile, Kept)> {
        let watched_name = TargetFile::at(target.path().to_owned());
        match self {
            AnotherName::HardLinkInAnotherDirectory => {
                let (dir, link) = hard_link_elsewhere(target);
                let kept = Kept {
                    _mount: None,
                    _dir: dir,
                };
                Some((watched_name, link, kept))
            }
            AnotherName::HostPathOfABindMount => {
                let container = tempfile::tempdir().expect("a temporary directory");
                let mounted = TargetFile::at(container.path().join("app.conf"));
                fs::write(mounted.path(), "").expect("a file to mount onto");
                let mount = BindMount::new(target.path(), mounted.path())?;
                let kept = Kept {
                    _mount: Some(mount),
                    _dir: container,
                };
                Some((mounted, watched_name, kept))
            }
        }
    }
}

/// A change made through another name of the file: the watch on the
/// file's inode hears it.
mod through_another_name {
    use super::*;

    async fn changed_through(
        target: TargetFile,
        name: AnotherName,
        operation: Operation,
        window: Duration,
    ) {
        fs::write(target.path(), "first line\n").unwrap();
        let Some((watched, other, _kept)) = name.give(&target) else {
            return;
        };
        let (_server, mut subscribers) = two_subscribers_settling(&watched, window).await;
        assert!(operation.perform(&other));
        expect_exactly_one(&mut subscribers, &format!("{operation:?} through {name:?}")).await;
        // And through the watched path itself, as before.
        watched.touch();
        expect_exactly_one(&mut subscribers, "a touch of the watched path").await;
    }

    #[rstest]
    #[case::writing_over_it(Operation::Write)]
    #[case::appending(Operation::Append)]
    #[case::truncating(Operation::Truncate)]
    #[case::chmod(Operation::Chmod)]
    #[case::touching(Operation::Touch)]
    #[tokio::test]
    async fn notifies_each_subscriber_exactly_once(
        target: TargetFile,
        #[case] operation: Operation,
        #[values(
            AnotherName::HardLinkInAnotherDirectory,
            AnotherName::HostPathOfABindMount
        )]
        name: AnotherName,
    ) {
        changed_through(target, name, operation, DEFAULT_WINDOW).await;
    }

    /// One OS change each (see
    /// `for_each_way_of_changing_the_file::with_no_settle_window_…`).
    #[rstest]
    #[case::appending(Operation::Append)]
    #[case::truncating(Operation::Truncate)]
    #[case::chmod(Operation::Chmod)]
    #[case::touching(Operation::Touch)]
    #[tokio::test]
    async fn with_no_settle_window_notifies_each_subscriber_exactly_once(
        target: TargetFile,
        #[case] operation: Operation,
        #[values(
            AnotherName::HardLinkInAnotherDirectory,
            AnotherName::HostPathOfABindMount
        )]
        name: AnotherName,
    ) {
        changed_through(target, name, operation, Duration::ZERO).await;
    }
}

/// An atomic save puts a new file under the watched name. The old one may
/// live on: an editor that still holds it open, a hard link made before
/// the save. It is no longer the watched file.
mod after_an_atomic_save {
    use super::*;

    async fn the_replaced_file_is_no_longer_watched(target: TargetFile, window: Duration) {
        fs::write(target.path(), "first line\n").unwrap();
        let (_elsewhere, old_link) = hard_link_elsewhere(&target);
        let mut still_open = fs::OpenOptions::new()
            .append(true)
            .open(target.path())
            .unwrap();
        let (_server, mut subscribers) = two_subscribers_settling(&target, window).await;

        Operation::AtomicSave.perform(&target);
        expect_exactly_one(&mut subscribers, "the atomic save").await;

        writeln!(still_open, "written to the replaced file").unwrap();
        drop(still_open);
        old_link.append("appended through a link to the replaced file");
        Operation::Chmod.perform(&old_link);
        expect_none(&mut subscribers, "changes to the replaced file").await;

        target.append("appended to the new file");
        expect_exactly_one(&mut subscribers, "an append to the new file").await;
        let (_elsewhere_too, new_link) = hard_link_elsewhere(&target);
        // Waited out on its own: with no settle window, the link's metadata
        // event is judged when it is read, and an append made meanwhile
        // would make it a change.
        expect_none(&mut subscribers, "a hard link made to the new file").await;
        new_link.append("appended through a link to the new file");
        expect_exactly_one(&mut subscribers, "an append through a link to the new file").await;
    }

    #[rstest]
    #[tokio::test]
    async fn changes_to_the_replaced_file_notify_nobody_and_the_new_file_is_heard(
        target: TargetFile,
    ) {
        the_replaced_file_is_no_longer_watched(target, DEFAULT_WINDOW).await;
    }

    #[rstest]
    #[tokio::test]
    async fn with_no_settle_window_changes_to_the_replaced_file_notify_nobody_too(
        target: TargetFile,
    ) {
        the_replaced_file_is_no_longer_watched(target, Duration::ZERO).await;
    }
}

mod when_the_directory_goes_away {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn tells_subscribers_the_file_is_gone_logs_the_failure_and_keeps_serving(
        target: TargetFile,
    ) {
        let dir = target.dir().join("sub");
        fs::create_dir(&dir).unwrap();
        let inner = TargetFile::at(dir.join("target.txt"));
        fs::write(inner.path(), "x\n").unwrap();
        let mut server = InProcessServer::start(&inner, Protocol::Text).await;
        let mut subscriber = server.subscribe_greeted().await;

        fs::remove_dir_all(&dir).unwrap();
        subscriber
            .expect_change("the notification of the removal")
            .await;
        server
            .expect_event_matching("the watch failure", |event| {
                matches!(event, ConsoleEvent::WatchFailed(reason) if reason.contains("was removed"))
            })
            .await;
        // The server neither crashes nor hangs: it still greets newcomers.
        let mut late = server.subscribe().await;
        let reply = late.next_line("the greeting of a late subscriber").await;
        assert!(reply.starts_with("Now watching"), "got {reply:?}");
    }
}

mod when_the_directory_is_gone_before_anyone_subscribes {
    use super::*;

    #[rstest]
    #[case::in_plain_text(Protocol::Text, "Error: cannot watch \"")]
    #[case::in_json(Protocol::Json, "{\"type\":\"error\",\"message\":\"cannot watch \\\"")]
    #[tokio::test]
    async fn tells_a_newcomer_why_with_one_line_and_closes(
        target: TargetFile,
        #[case] protocol: Protocol,
        #[case] opening: &str,
    ) {
        let dir = target.dir().join("sub");
        fs::create_dir(&dir).unwrap();
        let inner = TargetFile::at(dir.join("target.txt"));
        fs::write(inner.path(), "x\n").unwrap();
        let mut server = InProcessServer::start(&inner, protocol).await;
        fs::remove_dir_all(&dir).unwrap();

        let mut newcomer = server.subscribe().await;
        let line = newcomer.next_line("the error line").await;
        assert!(
            line.starts_with(&format!("{opening}{}", inner.path_str())),
            "expected a line starting {opening:?} and the path, got {line:?}"
        );
        let reason = format!("the directory {} does not exist", dir.display());
        assert!(
            line.contains(&reason),
            "expected the reason {reason:?}, got {line:?}"
        );
        newcomer.expect_end("the connection to close").await;
        server
            .expect_event_matching("the watch failure", |event| {
                matches!(event, ConsoleEvent::WatchFailed(_))
            })
            .await;
        assert_eq!(server.notifier.subscriber_count(), 0);
    }
}

mod for_operations_in_quick_succession {
    use super::*;
    use std::time::Instant;

    /// Counts the notifications one subscriber receives until a quiet period
    /// passes with none.
    async fn count_until_quiet(subscriber: &mut Subscriber) -> usize {
        let mut count = 0;
        while subscriber
            .try_next_line_within_quiet_period()
            .await
            .is_some()
        {
            count += 1;
        }
        count
    }

    #[rstest]
    #[tokio::test]
    async fn fifty_appends_give_one_notification_at_once_and_one_when_they_settle(
        target: TargetFile,
    ) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        let started = Instant::now();
        for i in 0..50 {
            target.append(&format!("line {i}"));
        }
        let took = started.elapsed();
        // One notification at once and one per window that the series
        // spans: two when it takes less than a window, as it does unless
        // the machine stalls this thread.
        let allowed = 2 + (took.as_millis() / DEFAULT_WINDOW.as_millis()) as usize;
        for (index, subscriber) in subscribers.iter_mut().enumerate() {
            let count = count_until_quiet(subscriber).await;
            assert!(
                (1..=allowed).contains(&count),
                "subscriber {index}: {count} notifications for 50 appends in {took:?} (allowed 1 to {allowed})"
            );
        }
    }

    /// An append and then, with no pause, a change of the name: two
    /// operations, two notifications, though the append's events may be
    /// read only after the name has gone or leads to another file.
    #[rstest]
    #[case::a_removal(Operation::Remove)]
    #[case::an_atomic_save(Operation::AtomicSave)]
    #[tokio::test]
    async fn an_append_right_before_a_change_of_the_name_is_not_lost(
        target: TargetFile,
        #[case] then: Operation,
        #[values(DEFAULT_WINDOW, Duration::ZERO)] window: Duration,
    ) {
        fs::write(target.path(), "first line\n").unwrap();
        let (_server, mut subscribers) = two_subscribers_settling(&target, window).await;
        target.append("appended");
        then.perform(&target);
        expect_change_on_each(&mut subscribers, "the append").await;
        expect_exactly_one(&mut subscribers, &format!("{then:?} after the append")).await;
    }

    #[rstest]
    #[tokio::test]
    async fn a_steady_writer_gets_a_notification_for_every_append(target: TargetFile) {
        let (_server, mut subscribers) = two_subscribers(&target).await;
        for i in 0..5 {
            target.append(&format!("line {i}"));
            expect_change_on_each(&mut subscribers, &format!("append {i}")).await;
        }
        expect_none(&mut subscribers, "the last append").await;
    }
}
