//! The ways the grader changes the watched file, each as a user or a tool
//! does it. `sed -i` and `cp` are the real programs, found on the `PATH`.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// `touch FILE`: opens it for writing and sets its modification time, a
/// whole second past both the current one and the clock, so the change is
/// visible on file systems with coarse timestamps.
pub fn touch(file: &Path) -> io::Result<()> {
    let current = fs::metadata(file)?.modified()?;
    let later = current.max(SystemTime::now()) + Duration::from_secs(1);
    File::options()
        .write(true)
        .open(file)?
        .set_times(FileTimes::new().set_modified(later))
}

/// `echo LINE >> FILE`: opens, appends one line, closes.
pub fn append(file: &Path, line: &str) -> io::Result<()> {
    let mut opened = OpenOptions::new().append(true).open(file)?;
    writeln!(opened, "{line}")
}

/// An editor's atomic save: writes the new content to a temporary file
/// beside it, then renames that over the file. The file's inode changes.
pub fn atomic_save(file: &Path, content: &str) -> io::Result<()> {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = file.with_file_name(format!(".{name}.save-tmp"));
    let mut new = File::create(&temporary)?;
    new.write_all(content.as_bytes())?;
    new.sync_all()?;
    drop(new);
    fs::rename(&temporary, file)
}

/// `sed -i -e 's/line/LINE/' FILE`: sed writes the result to a temporary
/// file in the same directory and renames it over the file, as an atomic
/// save does.
pub fn sed_in_place(file: &Path) -> io::Result<()> {
    run(
        "sed",
        &[
            "-i".as_ref(),
            "-e".as_ref(),
            "s/line/LINE/".as_ref(),
            file.as_os_str(),
        ],
    )
}

/// `cp OTHER FILE`, with OTHER a new file beside it: cp truncates FILE and
/// writes into it, keeping its inode.
pub fn copy_over(file: &Path, content: &str) -> io::Result<()> {
    let source = file.with_file_name("copy-source.txt");
    fs::write(&source, content)?;
    run("cp", &[source.as_os_str(), file.as_os_str()])
}

fn run(program: &str, args: &[&std::ffi::OsStr]) -> io::Result<()> {
    let output = Command::new(program).args(args).output().map_err(|error| {
        io::Error::new(error.kind(), format!("cannot run `{program}`: {error}"))
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{program}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn file_with(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("target.txt");
        fs::write(&file, content).unwrap();
        (dir, file)
    }

    #[test]
    fn a_touch_moves_the_modification_time_a_second_past_the_clock() {
        let (_dir, file) = file_with("x\n");
        let before = SystemTime::now();
        touch(&file).unwrap();
        let modified = fs::metadata(&file).unwrap().modified().unwrap();
        assert!(modified >= before + Duration::from_secs(1), "{modified:?}");
        touch(&file).unwrap();
        let again = fs::metadata(&file).unwrap().modified().unwrap();
        assert!(again >= modified + Duration::from_secs(1), "{again:?}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "x\n");
        assert!(touch(&file.with_file_name("missing")).is_err());
    }

    #[test]
    fn an_append_adds_a_line() {
        let (_dir, file) = file_with("x\n");
        append(&file, "y").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "x\ny\n");
        assert!(append(&file.with_file_name("missing"), "y").is_err());
    }

    #[test]
    fn saves_by_rename_give_the_file_a_new_inode_and_a_copy_keeps_it() {
        let (dir, file) = file_with("a line\n");
        let inode = || fs::metadata(&file).unwrap().ino();
        let first = inode();
        atomic_save(&file, "saved\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "saved\n");
        let saved = inode();
        assert_ne!(saved, first);
        assert!(!dir.path().join(".target.txt.save-tmp").exists());
        fs::write(&file, "a line\n").unwrap();
        sed_in_place(&file).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "a LINE\n");
        let sedded = inode();
        assert_ne!(sedded, saved);
        copy_over(&file, "copied\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "copied\n");
        assert_eq!(inode(), sedded);
    }

    #[test]
    fn a_tool_that_fails_or_is_missing_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let error = sed_in_place(&missing).unwrap_err();
        assert!(
            error.to_string().starts_with("`sed` failed (exit status: "),
            "{error}"
        );
        assert!(error.to_string().contains("missing.txt"), "{error}");
        let error = run("no-such-tool-anywhere", &[]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(
            error
                .to_string()
                .starts_with("cannot run `no-such-tool-anywhere`: "),
            "{error}"
        );
        assert!(copy_over(&dir.path().join("no/such/dir/file"), "x").is_err());
    }
}
