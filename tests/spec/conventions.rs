//! describe: the crate's own conventions, as the project's style rules state
//! them, checked on the sources: each type name is defined once in the whole
//! crate, so that a name in a chapter, a log line or a review means one thing.

use std::collections::BTreeMap;

use crate::support::root;
use crate::support::sources::{
    TypeDefinition, crates, defined_more_than_once, listing, type_definitions,
};

mod type_names {
    use super::*;

    #[test]
    fn are_defined_once_in_the_library() {
        let crates = crates(root());
        let library = &crates["library"];
        assert!(library.len() > 1, "expected the library's files");
        let duplicates = defined_more_than_once(library);
        assert!(
            duplicates.is_empty(),
            "type names defined more than once in the library (test modules included):\n{}",
            listing(&duplicates)
        );
    }

    /// A program is a crate of its own (its `Args` is not another
    /// program's), but it sees the library's names beside its own.
    #[test]
    fn are_defined_once_in_each_program_and_not_again_in_the_library() {
        let crates = crates(root());
        let programs: Vec<&String> = crates.keys().filter(|name| *name != "library").collect();
        assert!(!programs.is_empty(), "expected programs in src/bin");
        let mut found = String::new();
        for program in programs {
            let mut files = crates[program].clone();
            files.extend(crates["library"].iter().cloned());
            let mut duplicates = defined_more_than_once(&files);
            // The library's own are the other spec's.
            duplicates.retain(|_, places| places.iter().any(|place| place.starts_with(program)));
            found.push_str(&listing(&duplicates));
        }
        assert!(
            found.is_empty(),
            "type names a program defines twice, or defines again beside the library's:\n{found}"
        );
    }

    mod finding_them {
        use super::*;
        use pretty_assertions::assert_eq;

        fn names(text: &str) -> Vec<(String, &'static str, String)> {
            type_definitions(text)
                .unwrap()
                .into_iter()
                .map(|TypeDefinition { name, kind, inside }| (name, kind, inside))
                .collect()
        }

        #[test]
        fn finds_every_kind_of_type_wherever_it_is_defined() {
            let text = r#"
                pub struct A;
                pub(crate) enum B { One }
                trait C {}
                type D = u8;
                union E { x: u8 }
                impl A {
                    fn method() { struct F; }
                }
                #[cfg(test)]
                mod tests {
                    #[test]
                    fn behaviour() { struct G(u8); }
                }
            "#;
            let owned = |name: &str, kind, inside: &str| (name.to_owned(), kind, inside.to_owned());
            assert_eq!(
                names(text),
                vec![
                    owned("A", "struct", ""),
                    owned("B", "enum", ""),
                    owned("C", "trait", ""),
                    owned("D", "type", ""),
                    owned("E", "union", ""),
                    owned("F", "struct", "method"),
                    owned("G", "struct", "tests::behaviour"),
                ]
            );
        }

        #[test]
        fn counts_neither_associated_types_nor_words_in_strings_and_comments() {
            let text = r#"
                // struct InAComment;
                /// enum InADocComment {}
                trait Framed { type Item; type Error: std::fmt::Debug; }
                impl Iterator for Lines { type Item = String; }
                const TEXT: &str = "struct InAString;";
            "#;
            assert_eq!(
                names(text),
                vec![("Framed".to_owned(), "trait", String::new())]
            );
        }

        #[test]
        fn names_each_name_defined_twice_with_its_files() {
            let files = vec![
                (
                    "src/a.rs".to_owned(),
                    "pub struct Entry; pub struct Once;".to_owned(),
                ),
                (
                    "src/b/mod.rs".to_owned(),
                    "pub enum Entry {} mod tests { fn t() { struct Stop; } }".to_owned(),
                ),
                ("src/c.rs".to_owned(), "pub struct Stop;".to_owned()),
            ];
            let duplicates = defined_more_than_once(&files);
            let expected: BTreeMap<String, Vec<String>> = [
                (
                    "Entry".to_owned(),
                    vec![
                        "src/a.rs (struct)".to_owned(),
                        "src/b/mod.rs (enum)".to_owned(),
                    ],
                ),
                (
                    "Stop".to_owned(),
                    vec![
                        "src/b/mod.rs (struct, in tests::t)".to_owned(),
                        "src/c.rs (struct)".to_owned(),
                    ],
                ),
            ]
            .into();
            assert_eq!(duplicates, expected);
            assert_eq!(
                listing(&duplicates),
                "`Entry`: src/a.rs (struct), src/b/mod.rs (enum)\n\
                 `Stop`: src/b/mod.rs (struct, in tests::t), src/c.rs (struct)\n"
            );
        }

        #[test]
        fn sorts_the_files_into_the_library_and_each_program() {
            let crates = crates(root());
            let library = &crates["library"];
            assert!(library.iter().any(|(path, _)| path == "src/lib.rs"));
            assert!(
                library
                    .iter()
                    .all(|(path, _)| !path.starts_with("src/bin/"))
            );
            let program = &crates["src/bin/net-watcher.rs"];
            assert_eq!(program.len(), 1);
            assert_eq!(program[0].0, "src/bin/net-watcher.rs");
        }
    }
}
