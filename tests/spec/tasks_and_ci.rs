//! describe: the course's tasks and its CI (chapter 11): the cargo aliases
//! of `.cargo/config.toml`, as cargo reads them and as the README and the
//! chapters show them, and the CI workflow, which must run the command the
//! README names.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::root;

fn read(file: &str) -> String {
    fs::read_to_string(root().join(file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// The aliases `cargo --list` shows when run in `dir`: name → expansion.
fn aliases_listed_in(dir: &Path) -> BTreeMap<String, String> {
    let output = Command::new(env!("CARGO"))
        .arg("--list")
        .current_dir(dir)
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo --list fails");
    let listing = String::from_utf8(output.stdout).unwrap();
    listing
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once(char::is_whitespace)?;
            let expansion = rest.trim().strip_prefix("alias: ")?;
            Some((name.to_owned(), expansion.to_owned()))
        })
        .collect()
}

/// Every subcommand `cargo --list` knows outside this repository: cargo's
/// own commands, its built-in aliases, and whatever is installed here.
fn commands_known_elsewhere() -> Vec<String> {
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO"))
        .arg("--list")
        .current_dir(elsewhere.path())
        .output()
        .expect("cargo runs");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .skip(1) // "Installed Commands:"
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The aliases this repository defines, as cargo reads them: what
/// `cargo --list` shows here and not in an empty directory.
fn project_aliases() -> BTreeMap<String, String> {
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let everywhere = aliases_listed_in(elsewhere.path());
    let mut here = aliases_listed_in(root());
    here.retain(|name, expansion| everywhere.get(name) != Some(expansion));
    here
}

/// The README's table of aliases: each row's `cargo NAME` and the command
/// it stands for, without its leading `cargo `.
fn readme_alias_table() -> BTreeMap<String, String> {
    read("README.md")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix("`cargo ")?.strip_suffix('`')?;
            let runs = cells.get(2)?.strip_prefix("`cargo ")?.strip_suffix('`')?;
            Some((name.to_owned(), runs.to_owned()))
        })
        .collect()
}

/// Subcommands other than cargo's own that this repository's documents
/// name (each is installed with `cargo install`; a fresh machine lacks them).
const THIRD_PARTY: [&str; 3] = ["mutants", "nextest", "llvm-cov"];

/// Aliases a chapter's exercise asks the reader to add, so that the
/// chapter names them before they exist: `course` (chapter 11, exercise 1).
const ADDED_IN_AN_EXERCISE: [&str; 1] = ["course"];

/// Every `cargo WORD` a document shows as a command: at the start of a line
/// of a code block (after a `$ ` prompt, if any), or of an inline code span.
fn cargo_commands_in(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_block = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let mut starts: Vec<&str> = Vec::new();
        if in_block {
            let trimmed = line.trim_start();
            starts.push(trimmed.strip_prefix("$ ").unwrap_or(trimmed));
        } else {
            starts.extend(line.split('`').skip(1).step_by(2));
        }
        for start in starts {
            let Some(rest) = start.strip_prefix("cargo ") else {
                continue;
            };
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            if !word.is_empty() && !word.starts_with('-') {
                found.push((number + 1, word));
            }
        }
    }
    found
}

mod the_cargo_aliases {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn are_read_by_cargo_as_the_readme_shows_them() {
        let aliases = project_aliases();
        assert!(
            aliases.len() >= 4,
            "cargo does not see the aliases of .cargo/config.toml: {aliases:?}"
        );
        assert_eq!(
            readme_alias_table(),
            aliases,
            "left (<): the table of aliases in README.md; right (>): the \
             aliases cargo reads from .cargo/config.toml (as `cargo --list` \
             shows them). Give each alias a row in README.md's table, or \
             remove the alias"
        );
    }

    /// An alias names a target that exists, in this package or in the one
    /// its `--manifest-path` names; one that ends with `--example` (`cargo
    /// mine NAME`) takes the name from the command line, and the package
    /// must have an examples folder for it.
    #[test]
    fn run_only_targets_that_exist() {
        for (name, expansion) in project_aliases() {
            let words: Vec<&str> = expansion.split_whitespace().collect();
            let package = match words.iter().position(|word| *word == "--manifest-path") {
                Some(at) => {
                    let manifest = root().join(words[at + 1]);
                    assert!(manifest.is_file(), "cargo {name}: no {}", words[at + 1]);
                    manifest.parent().unwrap().to_path_buf()
                }
                None => root().to_path_buf(),
            };
            for (flag, paths) in [
                ("--example", ["examples/{}.rs", "examples/{}/main.rs"]),
                ("--bin", ["src/bin/{}.rs", "src/bin/{}/main.rs"]),
                ("--test", ["tests/{}.rs", "tests/{}/main.rs"]),
            ] {
                let Some(at) = words.iter().position(|word| *word == flag) else {
                    continue;
                };
                match words.get(at + 1) {
                    Some(target) => assert!(
                        paths
                            .iter()
                            .any(|path| package.join(path.replace("{}", target)).is_file()),
                        "cargo {name} runs {flag} {target}, which does not exist"
                    ),
                    None => assert!(
                        package.join("examples").is_dir(),
                        "cargo {name} runs {flag} NAME, and {} has no examples",
                        package.display()
                    ),
                }
            }
        }
    }

    /// `cargo step1` to `cargo step6` run the program that `steps::stepN`
    /// tests, the small one in `examples/` that chapter N builds (and that
    /// reads `PORT`, as the specs run it), not a production binary of the
    /// same name.
    #[test]
    fn run_the_programs_the_step_specs_test() {
        let specs = read("tests/spec/steps.rs");
        let aliases = project_aliases();
        for step in 1..=6 {
            let module = format!("\nmod step{step} {{");
            let tested = specs
                .split_once(&module)
                .and_then(|(_, body)| body.split_once("exercise_program(\"examples/"))
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(name, _)| name)
                .unwrap_or_else(|| panic!("steps::step{step} names no program of examples/"));
            assert_eq!(
                aliases.get(&format!("step{step}")).map(String::as_str),
                Some(format!("run --example {tested} --").as_str()),
                "cargo step{step}"
            );
        }
    }

    #[test]
    fn are_the_only_unknown_commands_the_documents_name() {
        let mut known = commands_known_elsewhere();
        known.extend(project_aliases().into_keys());
        known.extend(THIRD_PARTY.map(str::to_owned));
        known.extend(ADDED_IN_AN_EXERCISE.map(str::to_owned));
        let mut documents = vec!["README.md".to_owned()];
        for entry in fs::read_dir(root().join("chapters")).unwrap() {
            let path = entry.unwrap().path();
            // The chapters only: `chapters/answers/` holds the exercises'
            // answer programs, which are Rust, not documents.
            if path.extension().is_none_or(|extension| extension != "md") {
                continue;
            }
            documents.push(format!(
                "chapters/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
        let mut unknown = Vec::new();
        let mut checked = 0;
        for document in documents {
            for (line, command) in cargo_commands_in(&read(&document)) {
                checked += 1;
                if !known.contains(&command) {
                    unknown.push(format!("{document}:{line}: cargo {command}"));
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "no such command or alias:\n{}",
            unknown.join("\n")
        );
        assert!(checked > 20, "only {checked} cargo commands found");
    }

    #[test]
    fn finding_commands_reads_code_blocks_and_code_spans_only() {
        assert_eq!(
            cargo_commands_in(
                "```console\n$ cargo demo --json\n```\nrun `cargo chat` or `cargo test x`\ncargo reads"
            ),
            [
                (2, "demo".to_owned()),
                (4, "chat".to_owned()),
                (4, "test".to_owned())
            ]
        );
    }
}

mod the_ci_workflow {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The commands the workflow's steps run.
    fn workflow_runs() -> Vec<String> {
        read(".github/workflows/ci.yml")
            .lines()
            .filter_map(|line| {
                let line = line.trim_start();
                let line = line.strip_prefix("- ").unwrap_or(line);
                line.strip_prefix("run: ")
                    .map(|command| command.trim().to_owned())
            })
            .collect()
    }

    /// The command the README says CI runs: "CI runs `COMMAND`".
    fn readme_ci_command() -> String {
        let readme = read("README.md");
        let (_, after) = readme
            .split_once("CI runs `")
            .expect("the README says \"CI runs `COMMAND`\"");
        after.split('`').next().unwrap().to_owned()
    }

    #[test]
    fn runs_the_command_the_readme_names_and_nothing_else() {
        assert_eq!(workflow_runs(), [readme_ci_command()]);
    }

    #[test]
    fn runs_a_script_that_is_there_and_executable() {
        use std::os::unix::fs::PermissionsExt;
        let command = readme_ci_command();
        let script = root().join(&command);
        let mode = fs::metadata(&script)
            .unwrap_or_else(|error| panic!("{command}: {error}"))
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "{command} is not executable");
    }

    #[test]
    fn runs_on_every_push_and_pull_request() {
        let workflow = read(".github/workflows/ci.yml");
        let lines: Vec<&str> = workflow.lines().map(str::trim_end).collect();
        let on = lines
            .iter()
            .position(|line| *line == "on:")
            .expect("an `on:` section");
        let triggers: Vec<&str> = lines[on + 1..]
            .iter()
            .take_while(|line| line.starts_with("  "))
            .map(|line| line.trim())
            .collect();
        assert_eq!(triggers, ["push:", "pull_request:"]);
    }
}

/// Chapter 11's exercise 2: CI also checks that the documentation builds
/// without warnings. Each documentation step (the answer's, and every step
/// of `.ci/run` that runs `cargo doc`, once a reader adds one) is run, as
/// `.ci/run` would run it, on a one-file package: it must stop on a
/// documentation warning and pass documentation without one.
mod the_ci_script {
    use super::*;

    /// The chapter's folded answer: the lines a reader adds to `.ci/run`.
    const ANSWER: &str = "chapters/answers/ci-documentation-step.sh";

    /// The steps of a CI script that run `cargo doc`. A step starts at a
    /// line that announces it (`echo "== ..."`) and ends before the next.
    fn documentation_steps(script: &str) -> Vec<String> {
        let mut steps: Vec<String> = Vec::new();
        for line in script.lines() {
            if line.starts_with("echo \"== ") || steps.is_empty() {
                steps.push(String::new());
            }
            let step = steps.last_mut().unwrap();
            step.push_str(line);
            step.push('\n');
        }
        steps.retain(|step| step.contains("cargo doc"));
        steps
    }

    /// Every documentation step to check, each with where it comes from.
    fn steps_to_check() -> Vec<(String, String)> {
        let mut steps: Vec<(String, String)> = documentation_steps(&read(ANSWER))
            .into_iter()
            .map(|step| (format!("ours, {ANSWER}"), step))
            .collect();
        assert_eq!(steps.len(), 1, "{ANSWER} holds one documentation step");
        for step in documentation_steps(&read(".ci/run")) {
            steps.push(("yours, .ci/run".to_owned(), step));
        }
        for (whose, step) in &steps {
            println!("the step under test: {whose}:\n{step}");
        }
        steps
    }

    /// Runs `step` as `.ci/run` runs its lines (bash, stopping at the first
    /// failure) in a package whose only item is documented by `docs`.
    fn run_on_a_package_documented(step: &str, docs: &str) -> (bool, String) {
        let package = tempfile::tempdir().expect("a temporary directory");
        let write = |file: &str, text: &str| {
            fs::write(package.path().join(file), text).unwrap();
        };
        fs::create_dir(package.path().join("src")).unwrap();
        write(
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
        );
        // No dependencies, so the lock file is this, and `--locked` passes.
        write(
            "Cargo.lock",
            "version = 4\n\n[[package]]\nname = \"tiny\"\nversion = \"0.1.0\"\n",
        );
        write(
            "src/lib.rs",
            &format!("//! A crate.\n\n{docs}\npub fn f() {{}}\n"),
        );
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{step}"))
            .current_dir(package.path())
            .env("PATH", path_with_this_cargo())
            .env("CARGO_TARGET_DIR", package.path().join("target"))
            .env_remove("RUSTDOCFLAGS")
            .env_remove("RUSTFLAGS")
            .output()
            .expect("bash runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), printed)
    }

    /// `PATH` with the folder of the cargo running this suite first, so
    /// that a step's `cargo` is this one.
    fn path_with_this_cargo() -> std::ffi::OsString {
        let this_cargo = Path::new(env!("CARGO")).parent().unwrap().to_owned();
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(this_cargo).chain(std::env::split_paths(&rest)))
            .unwrap()
    }

    #[test]
    fn stops_at_a_documentation_warning_in_each_documentation_step() {
        for (whose, step) in steps_to_check() {
            let (passed, printed) = run_on_a_package_documented(&step, "/// See [NoSuchItem].");
            assert!(
                !passed,
                "{whose}: the step let a broken link in the documentation through \
                 (is each warning an error, and does cargo doc see RUSTDOCFLAGS?):\n{printed}"
            );
            assert!(
                printed.contains("unresolved link to `NoSuchItem`"),
                "{whose}: the step failed, but not on the documentation:\n{printed}"
            );
        }
    }

    #[test]
    fn passes_documentation_without_warnings_in_each_documentation_step() {
        for (whose, step) in steps_to_check() {
            let (passed, printed) = run_on_a_package_documented(&step, "/// Does nothing.");
            assert!(
                passed,
                "{whose}: the step fails on clean documentation:\n{printed}"
            );
        }
    }

    #[test]
    fn finding_documentation_steps_reads_from_one_announcement_to_the_next() {
        let script = "set -e\necho \"== fmt\"\ncargo fmt\necho \"== doc\"\nX=1 cargo doc\n\
                      echo \"== test\"\ncargo test\n";
        assert_eq!(
            documentation_steps(script),
            ["echo \"== doc\"\nX=1 cargo doc\n"]
        );
    }
}

/// The README's first lines are the two commands a newcomer types on a
/// fresh clone, in order: they must work as typed.
mod the_readmes_first_command {
    use super::*;
    use crate::support::binary::TestServer;

    /// The words of the README's first command, before its comment.
    fn first_command() -> Vec<String> {
        let readme = read("README.md");
        let (_, block) = readme
            .split_once("```console\n")
            .expect("the README opens with a console block");
        let line = block.lines().next().unwrap();
        let command = line.split(" #").next().unwrap();
        command.split_whitespace().map(str::to_owned).collect()
    }

    /// `cargo run -- target.txt` watches a file that every clone has: it
    /// is committed (git lists it), and the server listens on it. (The
    /// test binds port 0, not the command's 60300.)
    #[test]
    fn listens_on_a_file_every_clone_has() {
        let words = first_command();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let ["cargo", "run", "--", file] = words[..] else {
            panic!("the README's first command is not `cargo run -- FILE`: {words:?}");
        };
        let tracked = Command::new("git")
            .args(["ls-files", "--error-unmatch", file])
            .current_dir(root())
            .output()
            .expect("git runs (the repository is a clone)");
        assert!(
            tracked.status.success(),
            "{file} is not committed, so a fresh clone lacks it: {}",
            String::from_utf8_lossy(&tracked.stderr)
        );
        let server = TestServer::start_in(Some(root()), "net-watcher", &[file, "--port", "0"]);
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting"),
            format!("Now watching \"{file}\" for changes...\n")
        );
    }
}
