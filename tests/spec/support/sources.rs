//! The repository's Rust sources: the files under a directory, and the
//! types each file defines, found by parsing it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// Every `.rs` file under `dir`, with its text, pushed onto `found`.
pub fn sources(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let text = fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
}

/// One type defined in a file: a `struct`, `enum`, `trait`, `type` alias
/// or `union`, of any visibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDefinition {
    /// The type's name.
    pub name: String,
    /// `struct`, `enum`, `trait`, `type` or `union`.
    pub kind: &'static str,
    /// The modules and functions the definition sits in, inside its file,
    /// joined with `::` (empty at the top of the file).
    pub inside: String,
}

/// The types `text` defines, in order, wherever they are: at the top, in
/// inline modules (`mod tests` among them), in function bodies, in the
/// methods of impls. An associated type (`type Item = …` in an impl, `type
/// Error;` in a trait) names a member of a trait, not a type of the crate,
/// and is not counted. Types that a macro would generate are not seen.
pub fn type_definitions(text: &str) -> Result<Vec<TypeDefinition>, syn::Error> {
    let file = syn::parse_file(text)?;
    let mut finder = Finder::default();
    finder.visit_file(&file);
    Ok(finder.found)
}

/// Every type name defined more than once among `files` (path, text), with
/// where each definition is: `path (kind)`, or `path (kind, in module::fn)`.
/// A file that does not parse fails the test, naming it.
pub fn defined_more_than_once(files: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, text) in files {
        let definitions = type_definitions(text).unwrap_or_else(|error| panic!("{path}: {error}"));
        for definition in definitions {
            let place = if definition.inside.is_empty() {
                format!("{path} ({})", definition.kind)
            } else {
                format!("{path} ({}, in {})", definition.kind, definition.inside)
            };
            places.entry(definition.name).or_default().push(place);
        }
    }
    places.retain(|_, places| places.len() > 1);
    places
}

/// Walks a parsed file, keeping the path of modules and functions it is in.
#[derive(Default)]
struct Finder {
    found: Vec<TypeDefinition>,
    inside: Vec<String>,
}

impl Finder {
    fn define(&mut self, name: &syn::Ident, kind: &'static str) {
        self.found.push(TypeDefinition {
            name: name.to_string(),
            kind,
            inside: self.inside.join("::"),
        });
    }

    fn within(&mut self, name: &syn::Ident, walk: impl FnOnce(&mut Self)) {
        self.inside.push(name.to_string());
        walk(self);
        self.inside.pop();
    }
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        self.define(&item.ident, "struct");
        visit::visit_item_struct(self, item);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        self.define(&item.ident, "enum");
        visit::visit_item_enum(self, item);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        self.define(&item.ident, "trait");
        visit::visit_item_trait(self, item);
    }

    fn visit_item_type(&mut self, item: &'ast syn::ItemType) {
        self.define(&item.ident, "type");
        visit::visit_item_type(self, item);
    }

    fn visit_item_union(&mut self, item: &'ast syn::ItemUnion) {
        self.define(&item.ident, "union");
        visit::visit_item_union(self, item);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.within(&item.ident, |finder| visit::visit_item_mod(finder, item));
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.within(&item.sig.ident, |finder| visit::visit_item_fn(finder, item));
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.within(&item.sig.ident, |finder| {
            visit::visit_impl_item_fn(finder, item)
        });
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        self.within(&item.sig.ident, |finder| {
            visit::visit_trait_item_fn(finder, item)
        });
    }
}

/// One line per name of `duplicates`: the name, then where it is defined.
pub fn listing(duplicates: &BTreeMap<String, Vec<String>>) -> String {
    duplicates
        .iter()
        .map(|(name, places)| format!("`{name}`: {}\n", places.join(", ")))
        .collect()
}

/// The crates whose sources are under `root`'s `src/`, each with its own
/// files (path from `root`, text): the library, named `library`, is every
/// file outside `src/bin`; each program is one file or directory of
/// `src/bin`, named by its path.
pub fn crates(root: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let bin = root.join("src/bin");
    let mut crates: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut all = Vec::new();
    sources(&root.join("src"), &mut all);
    for (path, text) in all {
        let name = match path.strip_prefix(&bin) {
            Ok(inside) => {
                let program = inside.components().next().unwrap().as_os_str();
                bin.join(program)
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string()
            }
            Err(_) => "library".to_owned(),
        };
        let path = path.strip_prefix(root).unwrap().display().to_string();
        crates.entry(name).or_default().push((path, text));
    }
    // In path order, so that a failure lists places the same way each run.
    for files in crates.values_mut() {
        files.sort();
    }
    crates
}
