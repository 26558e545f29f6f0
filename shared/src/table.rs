//! The one CSV reader of the project (the worker's training data, xtask's examples and
//! predictions, the tests' held-out splits), built on polars as the design card says.
//!
//! A file is read with every column as text, so a cell keeps exactly what the file says (the
//! examples are copied cell by cell) and the typed views decide how to read it: [`Table::numbers`]
//! for features, [`Table::labels`] for class labels. Every failure names the file and, where
//! there is one, the line and the column, because a student fixing a CSV needs to know where
//! to look.

use crate::api::Label;
use ndarray::{Array2, ShapeBuilder};
use polars::prelude::*;
use polars_io::prelude::{CsvReadOptions, SerReader};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TableError {
    pub path: String,
    pub problem: String,
}

fn err(path: &Path, problem: impl Into<String>) -> TableError {
    TableError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// A CSV file with a header row and at least one data row.
#[derive(Debug, Clone)]
pub struct Table {
    path: PathBuf,
    /// The header as written (trimmed only).
    pub header: Vec<String>,
    frame: DataFrame,
}

impl Table {
    /// Reads `path`; a missing or empty file, a header without rows, or a line with another
    /// number of fields than the header is an error.
    pub fn read(path: &Path) -> Result<Table, TableError> {
        if !path.exists() {
            return Err(err(path, "does not exist"));
        }
        let meta = std::fs::metadata(path).map_err(|e| err(path, e.to_string()))?;
        if meta.len() == 0 {
            return Err(err(path, "is empty; it needs a header row and at least one data row"));
        }
        let frame = CsvReadOptions::default()
            .with_has_header(true)
            // Every column as text: typed views below parse it and can name a bad cell.
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(SerReader::finish)
            .map_err(|e| ragged_line(path).unwrap_or_else(|| err(path, format!("cannot be read as CSV: {e}"))))?;
        if frame.height() == 0 {
            return Err(err(path, "has a header but no data rows"));
        }
        // Polars pads a short line with nulls and does not say where: that, and only that, needs a
        // look at the lines themselves.
        if frame.columns().iter().any(|c| c.null_count() > 0) {
            if let Some(e) = ragged_line(path) {
                return Err(e);
            }
        }
        let header = frame.columns().iter().map(|c| c.name().trim().to_string()).collect();
        Ok(Table {
            path: path.to_path_buf(),
            header,
            frame,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn n_rows(&self) -> usize {
        self.frame.height()
    }

    pub fn n_cols(&self) -> usize {
        self.frame.width()
    }

    /// Column names as the seed compares them (lower-cased, trimmed), each non-empty and unique.
    pub fn column_names(&self) -> Result<Vec<String>, TableError> {
        let names: Vec<String> = self.header.iter().map(|c| crate::predict::normalize(c)).collect();
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(err(&self.path, format!("column {} has an empty name", i + 1)));
            }
            if !seen.insert(n.as_str()) {
                return Err(err(
                    &self.path,
                    format!("column {n:?} appears twice (names are compared lower-cased and trimmed)"),
                ));
            }
        }
        Ok(names)
    }

    /// Column `j`'s cells as text (an empty cell is `""`).
    pub fn text_column(&self, j: usize) -> Result<Vec<String>, TableError> {
        let col = self.strings(j)?;
        Ok(col.iter().map(|v| v.unwrap_or("").to_string()).collect())
    }

    /// Every row's cells as text.
    pub fn text_rows(&self) -> Result<Vec<Vec<String>>, TableError> {
        let columns = (0..self.n_cols())
            .map(|j| self.text_column(j))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((0..self.n_rows())
            .map(|i| columns.iter().map(|c| c[i].clone()).collect())
            .collect())
    }

    /// Column `j` as finite numbers.
    pub fn number_column(&self, j: usize) -> Result<Vec<f64>, TableError> {
        let name = self
            .header
            .get(j)
            .map(|n| crate::predict::normalize(n))
            .unwrap_or_default();
        let text = self.strings(j)?;
        // Each cell is parsed here rather than by a polars cast: Rust's parser is as fast, the
        // error can name the cell, and padding around a number is allowed, as Python's float()
        // does.
        let mut out = Vec::with_capacity(text.len());
        for (i, cell) in text.iter().enumerate() {
            let line = i + 2;
            let Some(cell) = cell else {
                return Err(err(
                    &self.path,
                    format!("line {line}, column {name:?}: the cell is empty; every feature needs a number"),
                ));
            };
            let v = cell.trim().parse::<f64>().map_err(|_| {
                err(
                    &self.path,
                    format!("line {line}, column {name:?}: {cell:?} is not a number"),
                )
            })?;
            if !v.is_finite() {
                return Err(err(
                    &self.path,
                    format!("line {line}, column {name:?}: {v} is not a finite number"),
                ));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Every column as numbers, column-major (the layout per-feature scans want).
    pub fn numbers(&self) -> Result<Array2<f64>, TableError> {
        let (rows, cols) = (self.n_rows(), self.n_cols());
        let mut buf = Vec::with_capacity(rows * cols);
        for j in 0..cols {
            buf.extend(self.number_column(j)?);
        }
        Array2::from_shape_vec((rows, cols).f(), buf).map_err(|e| err(&self.path, e.to_string()))
    }

    /// Every row as numbers (a predict request's `X_pred_rows`).
    pub fn number_rows(&self) -> Result<Vec<Vec<f64>>, TableError> {
        let x = self.numbers()?;
        Ok(x.rows().into_iter().map(|r| r.to_vec()).collect())
    }

    /// Column `j` as class labels: integers when every cell is a whole number (`8` or `8.0`),
    /// strings otherwise, as pandas would type the column.
    pub fn labels(&self, j: usize) -> Result<Vec<Label>, TableError> {
        let name = self.header.get(j).cloned().unwrap_or_default();
        let text = self.strings(j)?;
        if let Some(i) = text.iter().position(|v| v.is_none_or(|s| s.trim().is_empty())) {
            return Err(err(
                &self.path,
                format!("line {}, column {name:?}: the label is empty", i + 2),
            ));
        }
        let cells: Vec<&str> = text.iter().map(|v| v.unwrap_or("").trim()).collect();
        let numbers: Option<Vec<f64>> = cells.iter().map(|c| c.parse::<f64>().ok()).collect();
        let Some(numbers) = numbers else {
            return Ok(cells.iter().map(|c| Label::Str((*c).to_string())).collect());
        };
        numbers
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Label::Int(v as i64))
                } else {
                    Err(err(
                        &self.path,
                        format!(
                            "line {}, column {name:?}: {v} is not a class label (use integers or strings)",
                            i + 2
                        ),
                    ))
                }
            })
            .collect()
    }

    fn strings(&self, j: usize) -> Result<&StringChunked, TableError> {
        self.frame
            .columns()
            .get(j)
            .ok_or_else(|| err(&self.path, format!("has no column {}", j + 1)))?
            .str()
            .map_err(|e| err(&self.path, e.to_string()))
    }
}

/// The first line whose field count differs from the header's, if any.
fn ragged_line(path: &Path) -> Option<TableError> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let width = lines.next()?.1.split(',').count();
    lines.find_map(|(i, line)| {
        let fields = line.split(',').count();
        (fields != width).then(|| {
            err(
                path,
                format!("line {} has {fields} fields but the header has {width}", i + 1),
            )
        })
    })
}

/// Writes a CSV of text cells, creating the folder.
pub fn write(path: &Path, header: &[String], rows: impl Iterator<Item = Vec<String>>) -> Result<(), String> {
    use std::fmt::Write as _;
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

/// The shortest text that reads back as the same f64 (`1.0`, not `1`, for whole numbers, so
/// a feature column stays a float column for pandas).
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tag: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("chimera-table-{tag}-{}.csv", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn cells_keep_their_text_and_read_as_numbers_or_labels() {
        let p = file("ok", " A ,b,c\n1, 2.5 ,x\n3,4e0,y\n");
        let t = Table::read(&p).unwrap();
        assert_eq!(t.column_names().unwrap(), vec!["a", "b", "c"]);
        assert_eq!(t.text_column(1).unwrap(), vec![" 2.5 ", "4e0"]);
        assert_eq!(t.number_column(1).unwrap(), vec![2.5, 4.0]);
        assert_eq!(
            t.labels(2).unwrap(),
            vec![Label::Str("x".into()), Label::Str("y".into())]
        );
        assert_eq!(t.labels(0).unwrap(), vec![Label::Int(1), Label::Int(3)]);
        assert!(t
            .number_column(2)
            .unwrap_err()
            .to_string()
            .contains("line 2, column \"c\": \"x\" is not a number"));
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn bad_files_name_the_line_and_column() {
        for (tag, text, expected) in [
            ("ragged", "a,b\n1,2\n3\n", "line 3 has 1 fields but the header has 2"),
            ("long", "a,b\n1,2\n3,4,5\n", "line 3 has 3 fields but the header has 2"),
            ("header", "a\n", "no data rows"),
            ("empty", "", "is empty"),
            ("dup", "a,A\n1,2\n", "appears twice"),
        ] {
            let p = file(tag, text);
            let e = Table::read(&p).and_then(|t| t.column_names()).unwrap_err().to_string();
            assert!(e.contains(expected), "{tag}: {e}");
            std::fs::remove_file(p).unwrap();
        }
        let p = file("gap", "a,b\n1,\n3,4\n");
        let e = Table::read(&p).unwrap().numbers().unwrap_err().to_string();
        assert!(e.contains("line 2, column \"b\": the cell is empty"), "{e}");
        std::fs::remove_file(p).unwrap();
        let p = file("lab", "y\n1.5\n2\n");
        let e = Table::read(&p).unwrap().labels(0).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("is not a class label"), "{e}");
        std::fs::remove_file(p).unwrap();
        assert!(Table::read(Path::new("/nonexistent/x.csv"))
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }
}
