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
