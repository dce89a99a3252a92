//! The processes running on the machine, found in `/proc` by a variable
//! of their environment: how a spec finds what a program under test (or
//! a browser) started, wherever it went (another process group, another
//! session), to check that nothing is left running.

/// Every living process whose environment holds a variable that starts
/// with `prefix` (`NAME=VALUE`, or its start), each as its pid and its
/// command line. A zombie has given up its environment: only living
/// ones count.
pub fn living_processes_with(prefix: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let ours = environ
                .split(|byte| *byte == 0)
                .any(|variable| variable.starts_with(prefix.as_bytes()));
            ours.then(|| {
                let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let command = String::from_utf8_lossy(&command).replace('\0', " ");
                (pid, command.trim_end().to_owned())
            })
        })
        .collect()
}
