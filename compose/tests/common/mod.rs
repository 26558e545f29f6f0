//! What the compose crate's test files share: the examples and the golden files.

use std::path::{Path, PathBuf};

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

/// Compares `actual` with `tests/golden/<file>`; `UPDATE_GOLDEN=1` rewrites the file first.
pub fn golden(file: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{} differs; if intended, rerun with UPDATE_GOLDEN=1",
        path.display()
    );
}
