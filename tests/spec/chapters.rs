//! describe: the course in `chapters/`, kept true.
//!
//! Every code excerpt equals the source region it quotes; every transcript
//! equals its fixture; every quoted file equals the file; every Rust block
//! is either an excerpt or compiled as a doctest (see `src/lib.rs`); every
//! Mermaid diagram names its kind; every `cargo run` command uses flags the
//! program it runs accepts.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::support::root;
use crate::support::sources::sources;

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

/// The fenced code blocks of `text`, with or without an indent: a block
/// in a list item (an exercise's folded answer) is indented as the item
/// is, and is read, and checked, with that indent taken off.
fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let opening = lines[index];
        let indent = &opening[..opening.len() - opening.trim_start().len()];
        let Some(info) = opening.trim_start().strip_prefix("```") else {
            index += 1;
            continue;
        };
        let marker = index
            .checked_sub(1)
            .and_then(|above| lines[above].strip_prefix(indent))
            .and_then(|above| above.strip_prefix("<!-- "))
            .and_then(|comment| comment.strip_suffix(" -->"))
            .and_then(|comment| comment.split_once(": "))
            .map(|(kind, target)| (kind.to_owned(), target.to_owned()));
        let start = index;
        index += 1;
        let mut body = String::new();
        while index < lines.len() && lines[index].trim_start() != "```" {
            body.push_str(lines[index].strip_prefix(indent).unwrap_or(lines[index]));
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

/// A chapter says each thing once. A slip in a merge once printed a
/// paragraph, an excerpt and the paragraph after it twice in appendix 9a,
/// and every check above passed both copies.
mod every_chapter {
    use super::*;

    /// A paragraph this long is never repeated on purpose; a short one
    /// ("**Answer.**", a table's header) may be.
    const LONG_PARAGRAPH: usize = 80;

    /// The paragraphs of `text` outside code blocks, each with its first
    /// line, spaces and line breaks made single spaces.
    fn paragraphs(text: &str) -> Vec<(usize, String)> {
        let mut found: Vec<(usize, String)> = Vec::new();
        let mut current: Option<(usize, String)> = None;
        let mut in_block = false;
        for (number, line) in text.lines().enumerate() {
            let fence = line.trim_start().starts_with("```");
            if fence {
                in_block = !in_block;
            }
            if fence || in_block || line.trim().is_empty() {
                found.extend(current.take());
                continue;
            }
            let (_, paragraph) = current.get_or_insert((number + 1, String::new()));
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(&line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        found.extend(current);
        found
    }

    #[test]
    fn quotes_each_source_region_once() {
        let mut repeated = Vec::new();
        for (chapter, text) in chapters() {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for block in blocks(&text) {
                let Some((kind, target)) = &block.marker else {
                    continue;
                };
                if kind != "excerpt" {
                    continue;
                }
                if let Some(first) = seen.insert(target.clone(), block.line) {
                    repeated.push(format!(
                        "{chapter}:{}: {target} again (first quoted on line {first})",
                        block.line
                    ));
                }
            }
        }
        assert!(repeated.is_empty(), "{}", repeated.join("\n"));
    }

    #[test]
    fn repeats_no_long_paragraph() {
        let mut repeated = Vec::new();
        for (chapter, text) in chapters() {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (line, paragraph) in paragraphs(&text) {
                if paragraph.len() < LONG_PARAGRAPH {
                    continue;
                }
                if let Some(first) = seen.insert(paragraph, line) {
                    repeated.push(format!(
                        "{chapter}:{line}: the paragraph of line {first} again"
                    ));
                }
            }
        }
        assert!(repeated.is_empty(), "{}", repeated.join("\n"));
    }

    #[test]
    fn finding_paragraphs_skips_code_blocks_and_joins_lines() {
        let text = "One  two\nthree.\n\n```text\nnot a\n\nparagraph\n```\nFour.\n";
        assert_eq!(
            paragraphs(text),
            [(1, "One two three.".to_owned()), (9, "Four.".to_owned())]
        );
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
                // A quoted file (`<!-- file: PATH -->`) is checked against
                // the file, which a spec compiles and runs where it belongs
                // (chapter 0's `fixtures/hello/main.rs`, in a project of its
                // own), so it may be `ignore`d by rustdoc as an excerpt is.
                let is_excerpt = block
                    .marker
                    .as_ref()
                    .is_some_and(|(kind, _)| kind == "excerpt" || kind == "file");
                let words: Vec<&str> = block.info.split(',').map(str::trim).collect();
                let problem = match words.as_slice() {
                    [""] => Some("has no language label"),
                    ["rust", "ignore"] if !is_excerpt => {
                        Some("is `ignore`d but is neither an excerpt nor a quoted file")
                    }
                    ["rust", rest @ ..] if is_excerpt && rest != ["ignore"] => {
                        Some("is an excerpt or a quoted file and must be labelled `rust,ignore`")
                    }
                    ["rust"]
                    | ["rust", "no_run"]
                    | ["rust", "compile_fail"]
                    | ["rust", "ignore"] => None,
                    ["rust", "compile_fail", code] if is_error_code(code) => None,
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

/// `E` and four digits: the code of one of rustc's errors (`E0373`).
fn is_error_code(word: &str) -> bool {
    word.len() == 5 && word.starts_with('E') && word[1..].chars().all(|c| c.is_ascii_digit())
}

/// A block labelled `compile_fail` shows a mistake a student will make,
/// and what the compiler says of it. Rustdoc checks that it does not
/// compile, but not why (it checks the error code of `compile_fail,E0373`
/// only on a nightly toolchain). So each such block is compiled here too,
/// with rustc, against the crates rustdoc gives the doctests, and
///
/// - a label that names a code (`rust,compile_fail,E0373`) must be the
///   code rustc gives;
/// - a block without one (rustc gives no code for some errors) must be
///   followed by the error it shows;
/// - the error shown after a block (a ```text block whose first line starts
///   with `error`) must be rustc's: each of its lines is in one of rustc's
///   (a line may leave out the margin rustc draws on the left);
/// - and every error a chapter shows must come just after the block it
///   is the error of, so that none goes unchecked.
mod every_compile_fail_block {
    use super::*;
    use std::process::Command;

    use crate::support::binary::rustc_crate_flags;

    /// What rustc says of `code`, compiled as rustdoc compiles a doctest:
    /// wrapped in `fn main` if it has none, with unused code allowed.
    /// Stops before code generation, after the borrow checker.
    fn rustc_says(code: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let body = if code.contains("fn main") {
            code.to_owned()
        } else {
            format!("fn main() {{\n{code}}}\n")
        };
        let file = dir.path().join("block.rs");
        fs::write(&file, format!("#![allow(unused)]\n{body}")).unwrap();
        let output = Command::new("rustc")
            .args([
                "--edition",
                "2024",
                "--crate-type",
                "bin",
                "--crate-name",
                "block",
            ])
            .args(["--emit=metadata", "--color", "never"])
            .args(rustc_crate_flags())
            .arg("-o")
            .arg(dir.path().join("block"))
            .arg(&file)
            .output()
            .expect("rustc runs");
        assert!(!output.status.success(), "it compiles:\n{code}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    #[test]
    fn fails_with_the_error_its_label_names_and_shows_the_compilers_words() {
        let mut problems = Vec::new();
        let mut checked = 0;
        for (chapter, text) in chapters() {
            let blocks = blocks(&text);
            for (at, block) in blocks.iter().enumerate() {
                let words: Vec<&str> = block.info.split(',').map(str::trim).collect();
                let is_compile_fail = |block: &Block| block.info.starts_with("rust,compile_fail");
                if block.info == "text"
                    && block.body.starts_with("error")
                    && !at
                        .checked_sub(1)
                        .is_some_and(|above| is_compile_fail(&blocks[above]))
                {
                    problems.push(format!(
                        "{chapter}:{}: a compiler error is shown with no compile_fail block just above it to check it against",
                        block.line
                    ));
                }
                if words.get(1) != Some(&"compile_fail") {
                    continue;
                }
                checked += 1;
                let place = format!("{chapter}:{}", block.line);
                let said = rustc_says(&block.body);
                let said_lines: Vec<&str> = said.lines().map(str::trim).collect();
                let shown = blocks
                    .get(at + 1)
                    .filter(|next| next.info == "text" && next.body.starts_with("error"));
                match (words.get(2), shown) {
                    (Some(code), _) if !said.contains(&format!("error[{code}]")) => {
                        problems.push(format!("{place}: rustc gives no {code}:\n{said}"));
                    }
                    (None, None) => problems.push(format!(
                        "{place}: name the error's code (rust,compile_fail,E0000), or show the error in a text block after it"
                    )),
                    _ => {}
                }
                for line in shown.iter().flat_map(|shown| shown.body.lines()) {
                    let line = line.trim();
                    if !line.is_empty() && !said_lines.iter().any(|said| said.contains(line)) {
                        problems.push(format!(
                            "{place}: rustc does not say {line:?}; it says:\n{said}"
                        ));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked >= 3, "only {checked} compile_fail blocks found");
    }
}

/// A number a chapter gives for a constant of the code (the specs' pause,
/// a default) is written with the constant's name, as inline code:
/// `` `SPLIT_PAUSE_MS = 1000` ``. Each such span must be what the source
/// says: one `const NAME: TYPE = VALUE;` under `src/`, `tests/`,
/// `examples/` or `chapters/answers/`, with that `VALUE`. A change to the
/// constant then fails here until the chapter follows.
mod every_named_constant {
    use super::*;

    /// The values given to `const NAME` in the sources, each with its file.
    fn defined(name: &str, files: &[(PathBuf, String)]) -> Vec<(String, String)> {
        let mut values = Vec::new();
        for (path, text) in files {
            for line in text.lines() {
                let line = line.trim_start().trim_start_matches("pub ");
                let Some(rest) = line.strip_prefix(&format!("const {name}:")) else {
                    continue;
                };
                let Some((_, value)) = rest.split_once(" = ") else {
                    continue;
                };
                let file = path.strip_prefix(root()).unwrap().display().to_string();
                values.push((file, value.trim_end_matches(';').to_owned()));
            }
        }
        values
    }

    /// The inline code spans of `text` of the form `NAME = VALUE`, with
    /// NAME in capitals, each with its line.
    fn named_constants(text: &str) -> Vec<(usize, String, String)> {
        let mut found = Vec::new();
        let mut in_block = false;
        for (number, line) in text.lines().enumerate() {
            if line.starts_with("```") {
                in_block = !in_block;
            }
            if in_block {
                continue;
            }
            for span in line.split('`').skip(1).step_by(2) {
                let Some((name, value)) = span.split_once(" = ") else {
                    continue;
                };
                let is_constant = name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if is_constant {
                    found.push((number + 1, name.to_owned(), value.to_owned()));
                }
            }
        }
        found
    }

    #[test]
    fn has_the_value_the_chapter_gives_it() {
        let mut files = Vec::new();
        for dir in ["src", "tests", "examples", "chapters/answers"] {
            sources(&root().join(dir), &mut files);
        }
        let mut problems = Vec::new();
        let mut checked = 0;
        for (chapter, text) in chapters() {
            for (line, name, value) in named_constants(&text) {
                checked += 1;
                let values = defined(&name, &files);
                if values.is_empty() {
                    problems.push(format!(
                        "{chapter}:{line}: no `const {name}` in the sources"
                    ));
                }
                for (file, defined) in values {
                    if defined != value {
                        problems.push(format!(
                            "{chapter}:{line}: `{name} = {value}`, but {file} says {defined}"
                        ));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked >= 1, "no `NAME = VALUE` span found in the chapters");
    }

    #[test]
    fn finding_them_reads_inline_code_outside_code_blocks_only() {
        assert_eq!(
            named_constants(
                "pause `SPLIT_PAUSE_MS = \"1000\"` ms, `x = 1`\n```rust\nconst `A = 1`\n```\n"
            ),
            [(1, "SPLIT_PAUSE_MS".to_owned(), "\"1000\"".to_owned())]
        );
    }
}

/// Chapter 7 says that the suite waits on signals, not on time, and that
/// each `sleep` in the tests says why in a comment above it. Every call of
/// a `sleep` by its path (`thread::sleep(`, `time::sleep(`) under `tests/`,
/// and in the unit tests of `src/` (from a file's first `#[cfg(test)]` on),
/// must have a comment (`//` or `///`) between it and the start of the
/// function that holds it, or in that function's docs.
mod every_sleep_in_the_tests {
    use super::*;

    /// What a call looks like, written in two parts so that this file's
    /// own text does not hold one.
    const CALL: &str = concat!("::sl", "eep(");

    /// The lines (counting from 1) of `text` that call a `sleep` with no
    /// comment above them, within their function or its docs.
    fn unexplained(text: &str) -> Vec<usize> {
        let lines: Vec<&str> = text.lines().collect();
        let is_comment = |line: &str| line.trim_start().starts_with("//");
        let mut found = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            if !line.contains(CALL) || is_comment(line) {
                continue;
            }
            let mut above = index;
            let mut explained = false;
            while above > 0 {
                above -= 1;
                let earlier = lines[above];
                if is_comment(earlier) {
                    explained = true;
                    break;
                }
                if earlier.contains("fn ") {
                    // The function's own docs, just above it.
                    explained = above > 0 && is_comment(lines[above - 1]);
                    break;
                }
            }
            if !explained {
                found.push(index + 1);
            }
        }
        found
    }

    /// `text` with the lines before its first `#[cfg(test)]` made empty
    /// (all of them, if it has none): the unit tests of a file of `src/`,
    /// at their own line numbers. The program's own pauses (a retry's
    /// back-off, the split service's) are the program's, not a test's.
    fn unit_tests_of(text: &str) -> String {
        let start = text
            .lines()
            .position(|line| line.trim() == "#[cfg(test)]")
            .unwrap_or(usize::MAX);
        text.lines()
            .enumerate()
            .map(|(index, line)| if index < start { "" } else { line })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn says_why_in_a_comment() {
        let mut files = Vec::new();
        sources(&root().join("tests"), &mut files);
        let mut programs = Vec::new();
        sources(&root().join("src"), &mut programs);
        files.extend(
            programs
                .into_iter()
                .map(|(path, text)| (path, unit_tests_of(&text))),
        );
        let mut problems = Vec::new();
        let mut sleeps = 0;
        for (path, text) in &files {
            sleeps += text.matches(CALL).count();
            for line in unexplained(text) {
                let file = path.strip_prefix(root()).unwrap().display();
                problems.push(format!(
                    "{file}:{line}: a sleep with no comment that says why"
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(
            sleeps >= 3,
            "only {sleeps} sleeps found: is the search right?"
        );
    }

    #[test]
    fn in_src_only_the_unit_tests_are_read_at_their_own_lines() {
        let text = format!(
            "fn retry() {{\n    thread{CALL}5);\n}}\n#[cfg(test)]\nmod tests {{\n    fn t() {{\n        thread{CALL}5);\n    }}\n}}\n"
        );
        let tests = unit_tests_of(&text);
        assert_eq!(tests.matches(CALL).count(), 1, "{tests}");
        assert_eq!(unexplained(&tests), [7]);
        assert_eq!(
            unit_tests_of(&format!("fn a() {{ thread{CALL}5); }}\n"))
                .matches(CALL)
                .count(),
            0
        );
    }

    #[test]
    fn finding_them_looks_above_the_call_and_at_the_functions_docs() {
        let text = format!(
            "/// Polls: nothing announces it.\nfn poll() {{\n    thread{CALL}5);\n}}\n\
             fn quiet() {{\n    let x = 1;\n    thread{CALL}5);\n}}\n\
             fn said() {{\n    // Time must pass.\n    thread{CALL}5);\n}}\n"
        );
        assert_eq!(unexplained(&text), [7]);
    }
}

/// A link from one chapter to a part of another (`[select](00-rust-for-node-developers.md#select)`)
/// or of itself (`(#where-your-programs-go)`) leads to a heading that
/// exists: a heading renamed or moved (chapter 9's, when its experiments
/// came first) would otherwise leave the link going nowhere.
mod every_link_between_chapters {
    use super::*;

    /// The anchor a Git host gives a heading: lower case, without its
    /// punctuation, spaces made hyphens.
    fn anchor_of(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    /// The anchors of the headings of `text`, outside code blocks.
    fn anchors(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut in_block = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
            } else if !in_block && line.starts_with('#') {
                found.push(anchor_of(line.trim_start_matches('#')));
            }
        }
        found
    }

    /// Every `](FILE#ANCHOR)` or `](#ANCHOR)` link of `text`, as (file,
    /// anchor, line); the file is `None` for a link within the chapter.
    fn links(text: &str) -> Vec<(Option<String>, String, usize)> {
        let mut found = Vec::new();
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("](") {
                let rest = &line[at + 2..];
                let Some(end) = rest.find(')') else { continue };
                let Some((file, anchor)) = rest[..end].split_once('#') else {
                    continue;
                };
                if file.contains("://") {
                    continue;
                }
                let file = (!file.is_empty()).then(|| file.to_owned());
                found.push((file, anchor.to_owned(), number + 1));
            }
        }
        found
    }

    #[test]
    fn leads_to_a_heading_that_exists() {
        let chapters = chapters();
        let mut problems = Vec::new();
        let mut checked = 0;
        for (chapter, text) in &chapters {
            for (file, anchor, line) in links(text) {
                checked += 1;
                let target = match &file {
                    Some(file) => format!("chapters/{file}"),
                    None => chapter.clone(),
                };
                let Some(target_text) = chapters.get(&target) else {
                    problems.push(format!("{chapter}:{line}: no chapter {target}"));
                    continue;
                };
                if !anchors(target_text).contains(&anchor) {
                    problems.push(format!(
                        "{chapter}:{line}: {target} has no heading whose anchor is #{anchor}"
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(
            checked >= 10,
            "only {checked} links found: is the search right?"
        );
    }

    #[test]
    fn an_anchor_is_the_heading_in_lower_case_without_punctuation() {
        assert_eq!(
            anchor_of(" Structs, enums and `match`"),
            "structs-enums-and-match"
        );
        assert_eq!(anchor_of(" Beyond the práctica"), "beyond-the-práctica");
        assert_eq!(
            links("see [x](00-a.md#b-c) and [y](#d), not [z](https://e.org/#f)"),
            [
                (Some("00-a.md".to_owned()), "b-c".to_owned(), 1),
                (None, "d".to_owned(), 1)
            ]
        );
    }
}

/// A filtered `cargo test NAME` builds and runs every test program of the
/// package (the library's unit tests, each binary's, the spec suite, the
/// doctests) and prints a `running 0 tests` block for each one the name
/// does not match. So a command a document shows with a name to filter by
/// also names the one program that holds it: `--test spec`, `--doc`,
/// `--lib`, `--example NAME` or `--bin NAME` (or another package's, with
/// `--manifest-path`).
mod every_cargo_test_command {
    use super::*;

    /// The documents not checked yet, each with its reason.
    const NOT_CHECKED: [(&str, &str); 1] = [(
        "chapters/00-rust-for-node-developers.md",
        "its commands run in the reader's own `hello` project, which has one test program",
    )];

    /// The flags that pick the test program a filter applies to.
    const PICKS_A_PROGRAM: [&str; 6] = [
        "--test",
        "--doc",
        "--lib",
        "--example",
        "--bin",
        "--manifest-path",
    ];

    /// Every `cargo test` command in `text` (in a code block or a code
    /// span), as the words that follow `cargo test`, each with its line.
    fn commands(text: &str) -> Vec<(usize, Vec<&str>)> {
        let mut found = Vec::new();
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("cargo test") {
                let rest = &line[at + "cargo test".len()..];
                if !rest.is_empty() && !rest.starts_with(' ') {
                    continue;
                }
                let end = rest.find(['`', '"']).unwrap_or(rest.len());
                let command = rest[..end].split(" #").next().unwrap_or("");
                found.push((number + 1, command.split_whitespace().collect()));
            }
        }
        found
    }

    /// How many names `words` (after `cargo test`) filter by before `--`
    /// (words that are no flag and not the value of one), and whether they
    /// name the test program.
    fn before_the_separator(words: &[&str]) -> (usize, bool) {
        let before: Vec<&str> = words
            .iter()
            .take_while(|word| !matches!(**word, "--" | "|" | "&&" | ";"))
            .copied()
            .collect();
        let mut filters = 0;
        let mut picks = false;
        let mut value_next = false;
        for word in before {
            if value_next {
                value_next = false;
                continue;
            }
            if PICKS_A_PROGRAM.contains(&word) {
                picks = true;
                value_next = word != "--doc" && word != "--lib";
            } else if word.starts_with('-') {
                value_next = matches!(word, "--features" | "-F" | "--profile" | "-j" | "--jobs");
            } else {
                filters += 1;
            }
        }
        (filters, picks)
    }

    /// Whether `words` (after `cargo test`) filter by a name without
    /// naming the program.
    fn filters_without_a_program(words: &[&str]) -> bool {
        let (filters, picks) = before_the_separator(words);
        filters > 0 && !picks
    }

    /// Every `cargo test` command of the README and the chapters but those
    /// [`NOT_CHECKED`], each with its place (`chapters/01-...md:42`) and
    /// its words after `cargo test`.
    fn checked_commands() -> Vec<(String, Vec<String>)> {
        let mut documents = vec!["README.md".to_owned()];
        documents.extend(chapters().into_keys());
        let mut found = Vec::new();
        for document in documents {
            if NOT_CHECKED.iter().any(|(name, _)| *name == document) {
                continue;
            }
            let text = fs::read_to_string(root().join(&document)).unwrap();
            for (line, words) in commands(&text) {
                let words = words.into_iter().map(str::to_owned).collect();
                found.push((format!("{document}:{line}"), words));
            }
        }
        found
    }

    #[test]
    fn names_the_test_program_it_filters() {
        let mut problems = Vec::new();
        let mut checked = 0;
        for (place, words) in checked_commands() {
            checked += 1;
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            if filters_without_a_program(&words) {
                problems.push(format!(
                    "{place}: `cargo test {}` runs every test program; name the one (`--test spec`)",
                    words.join(" ")
                ));
            }
            // cargo takes one name before `--` and refuses a second
            // ("unexpected argument"); libtest takes any number after it.
            if before_the_separator(&words).0 > 1 {
                problems.push(format!(
                    "{place}: `cargo test {}` is refused by cargo, which takes one name before \
                     `--`; put the names after `--`",
                    words.join(" ")
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked > 20, "only {checked} cargo test commands found");
    }

    /// A `cargo test` command that runs tests, split into the words that
    /// pick its test program (`["--test", "spec"]`, `["--lib"]`) and the
    /// names it filters by (libtest runs a test whose name contains one of
    /// them, or equals one with `--exact`).
    #[derive(Debug, PartialEq)]
    struct Filtered<'a> {
        program: Vec<&'a str>,
        filters: Vec<&'a str>,
        exact: bool,
    }

    /// `words` (after `cargo test`) as a [`Filtered`] command; `None` for a
    /// command that filters nothing, runs nothing (`--no-run`, `--list`),
    /// or runs another package's tests (`--manifest-path`: the student's).
    /// A filter in capitals (`NAME`) is a placeholder, and is left out.
    fn filtered<'a>(words: &[&'a str]) -> Option<Filtered<'a>> {
        let end = words
            .iter()
            .position(|word| matches!(*word, "|" | "&&" | ";"))
            .unwrap_or(words.len());
        let words = &words[..end];
        let split = words.iter().position(|word| *word == "--");
        let (before, after) = match split {
            Some(at) => (&words[..at], &words[at + 1..]),
            None => (words, &[][..]),
        };
        let mut command = Filtered {
            program: Vec::new(),
            filters: Vec::new(),
            exact: after.contains(&"--exact"),
        };
        let mut value_of: Option<&str> = None;
        for word in before {
            if let Some(flag) = value_of.take() {
                if PICKS_A_PROGRAM.contains(&flag) {
                    command.program.push(word);
                }
                continue;
            }
            match *word {
                "--no-run" | "--manifest-path" => return None,
                "--doc" | "--lib" => command.program.push(word),
                flag if PICKS_A_PROGRAM.contains(&flag) => {
                    command.program.push(word);
                    value_of = Some(flag);
                }
                "--features" | "-F" | "--profile" | "-j" | "--jobs" => value_of = Some(word),
                flag if flag.starts_with('-') => {}
                filter => command.filters.push(filter),
            }
        }
        if after.contains(&"--list") {
            return None;
        }
        command
            .filters
            .extend(after.iter().filter(|word| !word.starts_with('-')));
        let placeholder = |word: &&str| word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        command.filters.retain(|filter| !placeholder(filter));
        (!command.filters.is_empty() && !command.program.is_empty()).then_some(command)
    }

    /// The names of the tests of the program `picked` names, as libtest
    /// lists them (`--list --format terse`: `name: test`, one per line).
    fn tests_of(picked: &[&str]) -> Result<Vec<String>, String> {
        use crate::support::binary::{example_tests, library_tests};
        use std::process::Command;

        let mut list = match picked {
            ["--test", "spec"] => {
                Command::new(std::env::current_exe().expect("this test program's path"))
            }
            ["--lib"] => Command::new(library_tests()),
            ["--example", name] => Command::new(example_tests(&format!("examples/{name}"))),
            ["--doc"] => {
                let mut cargo = Command::new(env!("CARGO"));
                cargo
                    .args(["test", "--quiet", "--doc", "--"])
                    .current_dir(root());
                cargo
            }
            other => return Err(format!("cannot list the tests of {other:?}")),
        };
        let output = list
            .args(["--list", "--format", "terse"])
            .output()
            .expect("the test program runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_owned)
            .collect())
    }

    /// A filtered command that matches no test prints `0 passed` and
    /// proves nothing: a test renamed or moved, a misspelt filter, a
    /// program that holds none of them (appendix 6a once showed `cargo
    /// test --lib ldj`, and the library has no test of that name). So each
    /// filter of each such command must match at least one test of the
    /// program it names. The commands that run the student's programs
    /// (`--manifest-path mine/Cargo.toml`) are left out: those programs
    /// are not in the repository.
    #[test]
    fn runs_at_least_one_test_with_each_filter() {
        let mut listed: BTreeMap<Vec<String>, Result<Vec<String>, String>> = BTreeMap::new();
        let mut problems = Vec::new();
        let mut checked = 0;
        for (place, words) in checked_commands() {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let Some(command) = filtered(&words) else {
                continue;
            };
            let picked: Vec<String> = command.program.iter().map(|w| w.to_string()).collect();
            let tests = listed
                .entry(picked)
                .or_insert_with(|| tests_of(&command.program));
            let tests = match tests {
                Ok(tests) => tests,
                Err(error) => {
                    problems.push(format!("{place}: {error}"));
                    continue;
                }
            };
            for filter in &command.filters {
                checked += 1;
                let runs = tests
                    .iter()
                    .filter(|name| match command.exact {
                        true => name == filter,
                        false => name.contains(filter),
                    })
                    .count();
                if runs == 0 {
                    problems.push(format!(
                        "{place}: `cargo test {}` runs no test: none of {} is named {filter:?}",
                        words.join(" "),
                        command.program.join(" ")
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked > 20, "only {checked} filters checked");
    }

    #[test]
    fn finding_the_filters_and_the_program_of_a_command() {
        let program = |words: &[&'static str]| filtered(words).map(|command| command.program);
        let filters = |words: &[&'static str]| filtered(words).map(|command| command.filters);
        assert_eq!(
            filters(&["--test", "spec", "steps::step1::"]),
            Some(vec!["steps::step1::"])
        );
        assert_eq!(program(&["--lib", "watching::settle"]), Some(vec!["--lib"]));
        assert_eq!(
            program(&["--example", "test-json-service", "tests::"]),
            Some(vec!["--example", "test-json-service"])
        );
        assert_eq!(
            filters(&["--test", "spec", "--", "exercises::t1_", "exercises::r"]),
            Some(vec!["exercises::t1_", "exercises::r"])
        );
        assert_eq!(
            filtered(&["--test", "spec", "--", "--list", "|", "grep", "x"]),
            None
        );
        assert_eq!(
            filtered(&["--manifest-path", "mine/Cargo.toml", "--example", "step5"]),
            None
        );
        assert_eq!(filtered(&["--test", "spec", "NAME"]), None);
        assert_eq!(filtered(&["--example", "test-json-service"]), None);
        assert_eq!(filtered(&["--no-run"]), None);
        assert!(
            filtered(&["--test", "spec", "--", "x", "--exact"])
                .unwrap()
                .exact
        );
    }

    #[test]
    fn telling_a_filter_from_flags() {
        for (words, filters) in [
            (&["ldj_client::"][..], true),
            (&["--test", "spec", "ldj_client::"][..], false),
            (&["--doc", "chapters::Chapter00"][..], false),
            (&["--example", "test-json-service"][..], false),
            (&["--no-run"][..], false),
            (&[][..], false),
            (&["--", "--list"][..], false),
            (&["x", "|", "grep", "y"][..], true),
            (&["--locked"][..], false),
        ] {
            assert_eq!(filters_without_a_program(words), filters, "{words:?}");
        }
        let names = |words: &[&str]| before_the_separator(words).0;
        assert_eq!(names(&["--test", "spec", "a::", "b::"]), 2);
        assert_eq!(names(&["--test", "spec", "a::", "--", "b::"]), 1);
        assert_eq!(names(&["--features", "x", "a::"]), 1);
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
            (
                text,
                format!(
                    "the block differs from {file} (if you changed {file} on purpose, \
                     copy it into this block: the chapter shows the file as it is)"
                ),
            )
        });
    }
}

mod every_mermaid_diagram {
    use super::*;

    /// The kinds of diagram Mermaid draws that the course may use. A block
    /// whose first line is not one of these would show as an error box on
    /// the Git host instead of a picture.
    const KINDS: [&str; 5] = [
        "sequenceDiagram",
        "flowchart",
        "graph",
        "stateDiagram-v2",
        "timeline",
    ];

    /// A ```mermaid block is a picture, not code: the Rust checks above leave
    /// it alone (rustdoc does not compile a block labelled with another
    /// language), and this one checks that it starts by naming its kind of
    /// diagram. In a sequence diagram a `;` ends a statement and a `#` starts
    /// an entity code (`#59;`), so message text may not contain either: a
    /// JSON message or a Rust statement shown in an arrow's label would be
    /// cut there.
    #[test]
    fn names_a_kind_of_diagram_mermaid_draws() {
        let mut problems = Vec::new();
        let mut diagrams = 0;
        for (chapter, text) in chapters() {
            for block in blocks(&text).iter().filter(|block| block.info == "mermaid") {
                diagrams += 1;
                let place = format!("{chapter}:{}", block.line);
                let first = block.body.lines().next().unwrap_or("").trim();
                let kind = first.split_whitespace().next().unwrap_or("");
                if !KINDS.contains(&kind) {
                    problems.push(format!(
                        "{place}: a mermaid block must start with one of {KINDS:?}, not {first:?}"
                    ));
                }
                if kind == "sequenceDiagram" {
                    for (offset, line) in block.body.lines().enumerate() {
                        let said = line.split_once(':').map_or("", |(_, said)| said);
                        if said.contains(';') || said.contains('#') {
                            problems.push(format!(
                                "{chapter}:{}: `;` and `#` cut a sequence diagram's text: {line:?}",
                                block.line + 1 + offset
                            ));
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(diagrams >= 2, "only {diagrams} mermaid blocks found");
    }
}

/// Every `cargo run` command a chapter or the README shows, wherever it
/// stands (a console block, a sentence, a diagram's label), is checked
/// against the program it runs:
///
/// - `cargo run -- ...` and `cargo run --bin NAME -- ...`: the flags after
///   `--` must appear in the binary's `--help`;
/// - `cargo run --example NAME -- ...`: the example must exist, and if it
///   has a `--help` (its source derives clap's `Parser`, or handles
///   `"--help"` itself), its flags are checked against that `--help` as a
///   binary's are. An example without one (the práctica's step programs,
///   which read only positional arguments and `PORT`, and the exercises'
///   answers) takes no flags at all: running it with `--help` would start a
///   server watching a file named `--help`, so it is never run here, and
///   any `--word` after its `--` is reported, since the program would take
///   it for a file name.
///
/// A program named in capitals (`cargo run --example NAME`) is a
/// placeholder in a sentence, and is skipped.
mod every_cargo_run_command {
    use super::*;
    use crate::support::binary::command;

    /// A program a `cargo run` command runs, and what it says `--help` lists.
    enum Program {
        /// A binary, or an example with a `--help`: the flags it lists.
        Documented(String),
        /// An example that takes no flags.
        WithoutFlags,
    }

    fn help(program: &str) -> String {
        let output = command(program).arg("--help").output().unwrap();
        assert!(output.status.success(), "{program} --help fails");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The source files of example `name`: those of its `[[example]]` entry
    /// in Cargo.toml if it has one, else `examples/NAME.rs` or every file of
    /// `examples/NAME/`. `None` if there is no such example.
    fn example_sources(name: &str) -> Option<Vec<String>> {
        let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let declared = manifest.split("[[example]]").skip(1).find_map(|entry| {
            let value = |key: &str| {
                entry.lines().find_map(|line| {
                    let (left, right) = line.split_once('=')?;
                    (left.trim() == key).then(|| right.trim().trim_matches('"').to_owned())
                })
            };
            (value("name")? == name).then(|| value("path")).flatten()
        });
        let candidates = match declared {
            Some(path) => vec![root().join(path)],
            None => vec![
                root().join(format!("examples/{name}.rs")),
                root().join(format!("examples/{name}")),
            ],
        };
        let path = candidates.into_iter().find(|path| path.exists())?;
        if path.is_file() {
            return Some(vec![fs::read_to_string(path).unwrap()]);
        }
        let files = fs::read_dir(&path).unwrap();
        Some(
            files
                .filter_map(|file| fs::read_to_string(file.ok()?.path()).ok())
                .collect(),
        )
    }

    fn has_help(sources: &[String]) -> bool {
        sources
            .iter()
            .any(|source| source.contains("derive(Parser") || source.contains("\"--help\""))
    }

    /// Every command in `text` that starts with `cargo run`: the rest of the
    /// line, up to a closing backtick or quote or a `#` comment, in words.
    fn commands(text: &str) -> Vec<(usize, Vec<&str>)> {
        let mut found = Vec::new();
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("cargo run") {
                let rest = &line[at + "cargo run".len()..];
                let end = rest.find(['`', '"']).unwrap_or(rest.len());
                let command = rest[..end].split(" #").next().unwrap_or("");
                found.push((number + 1, command.split_whitespace().collect()));
            }
        }
        found
    }

    #[test]
    fn uses_only_flags_the_program_accepts() {
        let mut programs: BTreeMap<String, Program> = BTreeMap::new();
        let mut problems = Vec::new();
        let mut checked = 0;
        let mut examples_checked = 0;
        for (chapter, text) in chapters().into_iter().chain([(
            "README.md".to_owned(),
            fs::read_to_string(root().join("README.md")).unwrap(),
        )]) {
            for (line, words) in commands(&text) {
                let place = format!("{chapter}:{line}");
                let named = |option: &str| {
                    let at = words.iter().position(|word| *word == option)?;
                    Some(words.get(at + 1).copied().unwrap_or(""))
                };
                let (key, shown) = match (named("--bin"), named("--example")) {
                    (Some(binary), _) => (binary.to_owned(), format!("`{binary}`")),
                    (None, Some(example)) => (
                        format!("examples/{example}"),
                        format!("the example `{example}`"),
                    ),
                    (None, None) => ("net-watcher".to_owned(), "`net-watcher`".to_owned()),
                };
                // `cargo run --example NAME` describes a command, with a
                // placeholder in capitals; there is nothing to run.
                let name = key.trim_start_matches("examples/");
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    continue;
                }
                let program = match programs.get(&key) {
                    Some(program) => program,
                    None => {
                        let program = match key.strip_prefix("examples/") {
                            None => Program::Documented(help(&key)),
                            Some(example) => match example_sources(example) {
                                None => {
                                    problems
                                        .push(format!("{place}: there is no example {example:?}"));
                                    continue;
                                }
                                Some(sources) if has_help(&sources) => {
                                    Program::Documented(help(&key))
                                }
                                Some(_) => Program::WithoutFlags,
                            },
                        };
                        programs.entry(key.clone()).or_insert(program)
                    }
                };
                if key.starts_with("examples/") {
                    examples_checked += 1;
                }
                let arguments = match words.iter().position(|word| *word == "--") {
                    Some(at) => &words[at + 1..],
                    None => &[][..],
                };
                for flag in arguments.iter().filter(|word| word.starts_with("--")) {
                    checked += 1;
                    let flag = flag.split('=').next().unwrap();
                    match program {
                        Program::Documented(help) => {
                            if !help.contains(&format!("{flag} "))
                                && !help.contains(&format!("{flag}\n"))
                            {
                                problems.push(format!("{place}: {shown} has no flag {flag}"));
                            }
                        }
                        Program::WithoutFlags => problems.push(format!(
                            "{place}: {shown} takes no flags (it has no --help), \
                             so it would take {flag} for a file name"
                        )),
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(checked >= 5, "only {checked} flags checked");
        assert!(
            examples_checked >= 3,
            "only {examples_checked} `cargo run --example` commands found"
        );
    }
}
