echo "== cargo doc, every warning an error"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
