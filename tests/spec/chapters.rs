//! describe: the course in `chapters/`, kept true.
//!
//! Every code excerpt equals the source region it quotes; every transcript
//! equals its fixture; every quoted file equals the file; every Rust block
//! is either an excerpt or compiled as a doctest (see `src/lib.rs`); every
//! `cargo run` line uses flags the binary accepts.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::support::root;

/// Every chapter file, by name, with its text.
fn chapters() -> BTreeMap<String, String> {
    let mut chapters = BTreeMap::new();
    for entry in fs::read_dir(root().join("chapters")).expect("chapters/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "md") {
            let name = format!("chapters/{}", path.file_name().unwrap().to_string_lossy());
            chapters.insert(name, fs::read_to_string(&path).unwrap());
        }
    }
    chapters
}

/// A fenced code block of a chapter.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence (`rust,ignore`, `console`).
    info: String,
    /// The block's text, one `\n` after each line.
    body: String,
    /// The `<!-- kind: target -->` comment on the line just above, if any.
    marker: Option<(String, String)>,
    /// The line of the opening fence, counting from 1.
    line: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(info) = lines[index].strip_prefix("```") else {
            index += 1;
            continue;
        };
        let marker = index
            .checked_sub(1)
            .and_then(|above| lines[above].strip_prefix("<!-- "))
            .and_then(|comment| comment.strip_suffix(" -->"))
            .and_then(|comment| comment.split_once(": "))
            .map(|(kind, target)| (kind.to_owned(), target.to_owned()));
        let start = index;
        index += 1;
        let mut body = String::new();
        while index < lines.len() && lines[index] != "```" {
            body.push_str(lines[index]);
            body.push('\n');
            index += 1;
        }
        assert!(
            index < lines.len(),
            "a code block opened on line {} is never closed",
            start + 1
        );
        found.push(Block {
            info: info.to_owned(),
            body,
            marker,
            line: start + 1,
        });
        index += 1;
    }
    found
}

/// The lines between `// ANCHOR: name` and `// ANCHOR_END: name` in `file`
/// (`# ANCHOR: name` in a TOML file, whose comments start with `#`),
/// without other anchor lines, and with the common indentation removed.
fn anchored_region(file: &str, name: &str) -> String {
    let path: PathBuf = root().join(file);
    let source = fs::read_to_string(&path).unwrap_or_else(|error| panic!("{file}: {error}"));
    let comment = if file.ends_with(".toml") { "#" } else { "//" };
    let start = format!("{comment} ANCHOR: {name}");
    let end = format!("{comment} ANCHOR_END: {name}");
    let any_anchor = format!("{comment} ANCHOR");
    let mut inside = false;
    let mut region = Vec::new();
    for line in source.lines() {
        let trimmed = line.trim();
        if trimmed == start {
            inside = true;
        } else if trimmed == end {
            inside = false;
        } else if inside && !trimmed.starts_with(&any_anchor) {
            region.push(line);
        }
    }
    assert!(
        !region.is_empty(),
        "{file} has no region `{name}` ({start})"
    );
    let indent = region
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    region
        .iter()
        .map(|line| format!("{}\n", line.get(indent..).unwrap_or("")))
        .collect()
}

/// Every block whose marker comment is of `kind`, with its chapter and the
/// marker's target.
fn marked_blocks(kind: &str) -> Vec<(String, Block, String)> {
    let mut found = Vec::new();
    for (chapter, text) in chapters() {
        for block in blocks(&text) {
            if let Some((marker, target)) = block.marker.clone() {
                if marker == kind {
                    found.push((chapter.clone(), block, target));
                }
            }
        }
    }
    found
}

/// Compares every block marked `kind` with what `expected` says it must
/// be (the text, and how to name it in a failure), and fails listing every
/// difference; also fails if fewer than `at_least` blocks are marked, which
/// would mean the marker syntax is wrong.
fn check_marked(kind: &str, at_least: usize, expected: impl Fn(&str, &str) -> (String, String)) {
    let marked = marked_blocks(kind);
    let mut differences = Vec::new();
    for (chapter, block, target) in &marked {
        let place = format!("{chapter}:{}", block.line);
        let (text, what) = expected(&place, target);
        if block.body != text {
            differences.push(format!(
                "{place}: {what}.\n--- chapter\n{}--- {target}\n{text}",
                block.body
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(
        marked.len() >= at_least,
        "only {} {kind} blocks found: is the marker syntax right?",
        marked.len()
    );
}

mod every_code_excerpt {
    use super::*;

    #[test]
    fn equals_the_source_region_it_quotes() {
        check_marked("excerpt", 10, |place, target| {
            let (file, name) = target
                .split_once('#')
                .unwrap_or_else(|| panic!("{place}: write excerpts as FILE#REGION"));
            (
                anchored_region(file, name),
                format!("the excerpt of {file}#{name} differs from the source region"),
            )
        });
    }
}

mod every_rust_block {
    use super::*;

    /// An excerpt is checked against its source, so it may be `ignore`d by
    /// rustdoc; any other Rust block must be compiled: run, `no_run`, or
    /// `compile_fail`. An unlabelled block would be compiled as Rust too, so
    /// it is refused as well, to keep every block's kind explicit.
    #[test]
    fn is_an_excerpt_or_compiled_as_a_doctest() {
        let mut unchecked = Vec::new();
        for (chapter, text) in chapters() {
            for block in blocks(&text) {
                let is_excerpt = block
                    .marker
                    .as_ref()
                    .is_some_and(|(kind, _)| kind == "excerpt");
                let words: Vec<&str> = block.info.split(',').map(str::trim).collect();
                let problem = match words.as_slice() {
                    [""] => Some("has no language label"),
                    ["rust", "ignore"] if !is_excerpt => Some("is `ignore`d but is not an excerpt"),
                    ["rust", rest @ ..] if is_excerpt && rest != ["ignore"] => {
                        Some("is an excerpt and must be labelled `rust,ignore`")
                    }
                    ["rust"]
                    | ["rust", "no_run"]
                    | ["rust", "compile_fail"]
                    | ["rust", "ignore"] => None,
                    ["rust", ..] => Some("has a label this check does not know"),
                    _ => None,
                };
                if let Some(problem) = problem {
                    unchecked.push(format!(
                        "{chapter}:{}: a ```{} block {problem}",
                        block.line, block.info
                    ));
                }
            }
        }
        assert!(unchecked.is_empty(), "{}", unchecked.join("\n"));
    }

    /// The doctests that compile the chapters' Rust blocks are declared in
    /// `src/lib.rs`; a chapter left out of that list would go unchecked.
    #[test]
    fn belongs_to_a_chapter_that_rustdoc_compiles() {
        let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
        for chapter in chapters().keys() {
            if chapter.ends_with("README.md") {
                continue;
            }
            assert!(
                lib.contains(&format!("include_str!(\"../{chapter}\")")),
                "{chapter} is not included as a doctest in src/lib.rs"
            );
        }
    }
}

mod every_transcript {
    use super::*;

    #[test]
    fn equals_its_fixture() {
        check_marked("transcript", 5, |place, file| {
            let fixture = fs::read_to_string(root().join(file))
                .unwrap_or_else(|error| panic!("{place}: {file}: {error}"));
            (fixture, format!("the transcript differs from {file}"))
        });
    }
}

mod every_quoted_file {
    use super::*;

    /// A block marked `<!-- file: PATH -->` shows a whole file of the
    /// repository (a configuration, a workflow, a script), as it is.
    #[test]
    fn equals_the_file() {
        check_marked("file", 3, |place, file| {
            let text = fs::read_to_string(root().join(file))
                .unwrap_or_else(|error| panic!("{place}: {file}: {error}"));
            (text, format!("the block differs from {file}"))
        });
    }
}

mod every_cargo_run_line {
    use super::*;
    use crate::support::binary::bin;
    use std::process::Command;

    fn help(binary: &str) -> String {
        let output = Command::new(bin(binary)).arg("--help").output().unwrap();
        assert!(output.status.success(), "{binary} --help fails");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn uses_only_flags_the_binary_accepts() {
        let mut helps = BTreeMap::new();
        let mut problems = Vec::new();
        let mut checked = 0;
        for (chapter, text) in chapters().into_iter().chain([(
            "README.md".to_owned(),
            fs::read_to_string(root().join("README.md")).unwrap(),
        )]) {
            for (number, line) in text.lines().enumerate() {
                let line = line.trim_start();
                let line = line.strip_prefix("$ ").unwrap_or(line);
                let Some(command) = line.strip_prefix("cargo run") else {
                    continue;
                };
                // A comment may follow the command.
                let command = command.split(" #").next().unwrap_or("");
                let words: Vec<&str> = command.split_whitespace().collect();
                // `--bin NAME`, `--example NAME` (found as `examples/NAME`),
                // or else the default binary.
                let binary = match (
                    words.iter().position(|word| *word == "--bin"),
                    words.iter().position(|word| *word == "--example"),
                ) {
                    (Some(at), _) => words[at + 1].to_owned(),
                    (None, Some(at)) => format!("examples/{}", words[at + 1]),
                    (None, None) => "net-watcher".to_owned(),
                };
                let arguments = match words.iter().position(|word| *word == "--") {
                    Some(at) => &words[at + 1..],
                    None => &[][..],
                };
                let flags: Vec<&str> = arguments
                    .iter()
                    .copied()
                    .filter(|word| word.starts_with("--"))
                    .collect();
                if flags.is_empty() {
                    // Nothing to check; and a step example given `--help`
                    // would take it for a file name and start serving.
                    continue;
                }
                let help = helps.entry(binary.clone()).or_insert_with(|| help(&binary));
                for flag in flags {
                    checked += 1;
                    let flag = flag.split('=').next().unwrap();
                    if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
                        problems.push(format!(
                            "{chapter}:{}: `{binary}` has no flag {flag}",
                            number + 1
                        ));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked >= 5, "only {checked} flags checked");
    }
}
