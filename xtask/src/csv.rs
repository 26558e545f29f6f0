//! Tiny CSV reading and writing for numeric example files (xtask stays free of polars).

use std::fmt::Write as _;
use std::path::Path;

/// A header and rows of cells, as text.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", path.display()))?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(|s| s.trim().to_string()).collect())
        .collect();
    Ok(Table { header, rows })
}

/// Parses every cell as a number.
pub fn numbers(table: &Table, path: &Path) -> Result<Vec<Vec<f64>>, String> {
    table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .map(|c| {
                    c.parse::<f64>()
                        .map_err(|_| format!("{}: line {}: {c:?} is not a number", path.display(), i + 2))
                })
                .collect()
        })
        .collect()
}

pub fn write(path: &Path, header: &[String], rows: impl Iterator<Item = Vec<String>>) -> Result<(), String> {
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let _ = writeln!(out, "{}", row.join(","));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

/// Shortest text that reads back as the same f64.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
