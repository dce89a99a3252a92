//! Your first program here: `cargo mine hello`. The first run builds the
//! crates this package uses, once; after that, your programs start at once.
//! Keep this file: a package needs at least one program.

fn main() {
    println!("Hello from mine/examples/hello.rs! Your programs go beside me.");
}
