//! Loading a worker's training data (`X_train.csv`, `y_train.csv`) with polars into ndarray.
//!
//! Every failure names the file and, where there is one, the line and column, because a student
//! fixing a CSV needs to know where to look.

use chimera_shared::api::Label;
use chimera_shared::config::TaskKind;
use ndarray::{Array1, Array2, ShapeBuilder};
use polars::prelude::*;
use std::path::{Path, PathBuf};

pub const X_FILE: &str = "X_train.csv";
pub const Y_FILE: &str = "y_train.csv";

/// What a worker learns to predict.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Regression(Array1<f64>),
    /// `y[i]` indexes `classes`, which is sorted.
    Classification {
        classes: Vec<Label>,
        y: Vec<usize>,
    },
}

/// A worker's training data, features as a dense column-major matrix.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Lower-cased, trimmed, unique.
    pub columns: Vec<String>,
    pub x: Array2<f64>,
    pub target: Target,
    /// The target column's name in `y_train.csv`.
    pub target_name: String,
}

impl Dataset {
    pub fn n_rows(&self) -> usize {
        self.x.nrows()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct DataError {
    pub path: String,
    pub problem: String,
}

fn err(path: &Path, problem: impl Into<String>) -> DataError {
    DataError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Loads `dir/X_train.csv` and `dir/y_train.csv` for a task.
pub fn load(dir: &Path, task: TaskKind) -> Result<Dataset, DataError> {
    let x_path = dir.join(X_FILE);
    let y_path = dir.join(Y_FILE);
    let x_frame = read_csv(&x_path)?;
    let y_frame = read_csv(&y_path)?;
    let columns = column_names(&x_frame, &x_path)?;
    if y_frame.width() != 1 {
        return Err(err(
            &y_path,
            format!(
                "must have exactly one column (the target), found {}: {:?}",
                y_frame.width(),
                column_names(&y_frame, &y_path)?
            ),
        ));
    }
    let x = features(&x_frame, &x_path)?;
    let y_col = &y_frame.columns()[0];
    let target = match task {
        TaskKind::Regression => Target::Regression(Array1::from(numeric_column(y_col, &y_path)?)),
        TaskKind::Classification => labels(y_col, &y_path)?,
    };
    if x_frame.height() != y_frame.height() {
        return Err(err(
            &x_path,
            format!(
                "has {} rows but {} has {}: every row of X needs its y",
                x_frame.height(),
                y_path.display(),
                y_frame.height()
            ),
        ));
    }
    let target_name = y_col.name().trim().to_lowercase();
    Ok(Dataset {
        columns,
        x,
        target,
        target_name,
    })
}

fn read_csv(path: &Path) -> Result<DataFrame, DataError> {
    if !path.exists() {
        return Err(err(
            path,
            "does not exist; each worker needs X_train.csv and y_train.csv in its data folder",
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| err(path, e.to_string()))?;
    if meta.len() == 0 {
        return Err(err(path, "is empty; it needs a header row and at least one data row"));
    }
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        // Scan every row for the schema so a bad cell deep in the file is still found.
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(PathBuf::from(path)))
        .and_then(|r| r.finish())
        .map_err(|e| explain_polars_error(path, e))?;
    if frame.height() == 0 {
        return Err(err(path, "has a header but no data rows"));
    }
    // Polars pads a short line with nulls: name the ragged line rather than an "empty" cell.
    if frame.columns().iter().any(|c| c.null_count() > 0) {
        if let Some(e) = ragged_line(path) {
            return Err(e);
        }
    }
    Ok(frame)
}

/// Polars' parse errors do not always say where; a ragged line is found by counting fields.
fn explain_polars_error(path: &Path, e: PolarsError) -> DataError {
    ragged_line(path).unwrap_or_else(|| err(path, format!("cannot be read as CSV: {e}")))
}

/// The first line whose field count differs from the header's, if any.
fn ragged_line(path: &Path) -> Option<DataError> {
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

fn column_names(frame: &DataFrame, path: &Path) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = frame.columns().iter().map(|c| c.name().trim().to_lowercase()).collect();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(err(path, format!("column {} has an empty name", i + 1)));
        }
        if names[..i].contains(n) {
            return Err(err(
                path,
                format!("column {n:?} appears twice (names are compared lower-cased and trimmed)"),
            ));
        }
    }
    Ok(names)
}

/// All columns as f64, column-major: the layout the tree's per-feature scans want.
fn features(frame: &DataFrame, path: &Path) -> Result<Array2<f64>, DataError> {
    let (rows, cols) = (frame.height(), frame.width());
    let mut buf = Vec::with_capacity(rows * cols);
    for col in frame.columns() {
        buf.extend(numeric_column(col, path)?);
    }
    Array2::from_shape_vec((rows, cols).f(), buf).map_err(|e| err(path, e.to_string()))
}

fn numeric_column(col: &Column, path: &Path) -> Result<Vec<f64>, DataError> {
    let name = col.name().trim().to_lowercase();
    if col.null_count() > 0 {
        let line = first_null(col).map(|r| r + 2).unwrap_or(0);
        return Err(err(
            path,
            format!("line {line}, column {name:?}: the cell is empty; every feature needs a number"),
        ));
    }
    if matches!(col.dtype(), DataType::String) {
        let s = col.str().map_err(|e| err(path, e.to_string()))?;
        for (i, v) in s.iter().enumerate() {
            let v = v.unwrap_or("");
            if v.trim().parse::<f64>().is_err() {
                return Err(err(
                    path,
                    format!("line {}, column {name:?}: {v:?} is not a number", i + 2),
                ));
            }
        }
    }
    let cast = col
        .cast(&DataType::Float64)
        .map_err(|e| err(path, format!("column {name:?} is not numeric: {e}")))?;
    let ca = cast.f64().map_err(|e| err(path, e.to_string()))?;
    let mut out = Vec::with_capacity(ca.len());
    for (i, v) in ca.iter().enumerate() {
        match v {
            Some(v) if v.is_finite() => out.push(v),
            Some(v) => {
                return Err(err(
                    path,
                    format!("line {}, column {name:?}: {v} is not a finite number", i + 2),
                ))
            }
            None => {
                return Err(err(
                    path,
                    format!(
                        "line {}, column {name:?}: {:?} is not a number",
                        i + 2,
                        cell_text(col, i)
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn cell_text(col: &Column, row: usize) -> String {
    col.get(row).map(|v| v.to_string()).unwrap_or_default()
}

fn first_null(col: &Column) -> Option<usize> {
    col.is_null().iter().position(|v| v == Some(true))
}

/// Classification labels: integers or strings, kept in their own type.
fn labels(col: &Column, path: &Path) -> Result<Target, DataError> {
    let name = col.name().to_string();
    if col.null_count() > 0 {
        let line = first_null(col).map(|r| r + 2).unwrap_or(0);
        return Err(err(path, format!("line {line}, column {name:?}: the label is empty")));
    }
    let raw: Vec<Label> = match col.dtype() {
        DataType::String => col
            .str()
            .map_err(|e| err(path, e.to_string()))?
            .iter()
            .map(|v| Label::Str(v.unwrap_or("").trim().to_string()))
            .collect(),
        DataType::Float32 | DataType::Float64 => {
            let values = numeric_column(col, path)?;
            let mut out = Vec::with_capacity(values.len());
            for (i, &v) in values.iter().enumerate() {
                if v.fract() != 0.0 {
                    return Err(err(
                        path,
                        format!(
                            "line {}, column {name:?}: {v} is not a class label (use integers or strings)",
                            i + 2
                        ),
                    ));
                }
                out.push(Label::Int(v as i64));
            }
            out
        }
        dt if dt.is_integer() => {
            let cast = col.cast(&DataType::Int64).map_err(|e| err(path, e.to_string()))?;
            cast.i64()
                .map_err(|e| err(path, e.to_string()))?
                .iter()
                .map(|v| Label::Int(v.unwrap_or_default()))
                .collect()
        }
        DataType::Boolean => col
            .bool()
            .map_err(|e| err(path, e.to_string()))?
            .iter()
            .map(|v| Label::Str(v.unwrap_or_default().to_string()))
            .collect(),
        other => {
            return Err(err(
                path,
                format!("column {name:?} has type {other}; class labels must be integers or strings"),
            ))
        }
    };
    let mut classes = raw.clone();
    classes.sort();
    classes.dedup();
    let y = raw
        .iter()
        .map(|l| classes.binary_search(l).expect("every label is in classes"))
        .collect();
    Ok(Target::Classification { classes, y })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str, x: &str, y: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("chimera-data-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(X_FILE), x).unwrap();
            std::fs::write(d.join(Y_FILE), y).unwrap();
            Dir(d)
        }
        fn load(&self, task: TaskKind) -> Result<Dataset, String> {
            load(&self.0, task).map_err(|e| e.to_string())
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn loads_numbers_and_lowercases_columns() {
        let d = Dir::new("ok", " A ,b\n1,2.5\n3,4\n", "y\n1.5\n2\n");
        let ds = d.load(TaskKind::Regression).unwrap();
        assert_eq!(ds.columns, vec!["a", "b"]);
        assert_eq!(ds.x, ndarray::array![[1.0, 2.5], [3.0, 4.0]]);
        assert_eq!(ds.target, Target::Regression(ndarray::array![1.5, 2.0]));
    }

    #[test]
    fn labels_keep_their_type_and_sort() {
        let d = Dir::new("lab", "a\n1\n2\n3\n", "y\ngood\nbad\ngood\n");
        let Target::Classification { classes, y } = d.load(TaskKind::Classification).unwrap().target else {
            panic!()
        };
        assert_eq!(classes, vec![Label::Str("bad".into()), Label::Str("good".into())]);
        assert_eq!(y, vec![1, 0, 1]);
        let d = Dir::new("labi", "a\n1\n2\n3\n", "y\n8\n3\n5\n");
        let Target::Classification { classes, .. } = d.load(TaskKind::Classification).unwrap().target else {
            panic!()
        };
        assert_eq!(classes, vec![Label::Int(3), Label::Int(5), Label::Int(8)]);
    }

    #[test]
    fn bad_files_are_named_with_line_and_column() {
        let e = Dir::new("ragged", "a,b\n1,2\n3\n", "y\n1\n2\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(
            e.contains("X_train.csv") && e.contains("line 3 has 1 fields but the header has 2"),
            "{e}"
        );
        let e = Dir::new("text", "a,b\n1,2\n3,abc\n", "y\n1\n2\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(e.contains("line 3, column \"b\": \"abc\" is not a number"), "{e}");
        let e = Dir::new("empty", "a,b\n1,\n3,4\n", "y\n1\n2\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(e.contains("line 2, column \"b\": the cell is empty"), "{e}");
        let e = Dir::new("rows", "a\n1\n2\n", "y\n1\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(e.contains("has 2 rows but") && e.contains("has 1"), "{e}");
        let e = Dir::new("nofile", "", "y\n1\n").load(TaskKind::Regression).unwrap_err();
        assert!(e.contains("X_train.csv: is empty"), "{e}");
        let e = Dir::new("header", "a\n", "y\n").load(TaskKind::Regression).unwrap_err();
        assert!(e.contains("no data rows"), "{e}");
        let e = Dir::new("ycols", "a\n1\n", "y,z\n1,2\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(e.contains("exactly one column"), "{e}");
        let e = Dir::new("dup", "a,A\n1,2\n", "y\n1\n")
            .load(TaskKind::Regression)
            .unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let e = Dir::new("ylabel", "a\n1\n2\n", "y\n1.5\n2\n")
            .load(TaskKind::Classification)
            .unwrap_err();
        assert!(e.contains("is not a class label"), "{e}");
        let d = Dir::new("missing", "a\n1\n", "y\n1\n");
        std::fs::remove_file(d.0.join(Y_FILE)).unwrap();
        let e = d.load(TaskKind::Regression).unwrap_err();
        assert!(e.contains("y_train.csv: does not exist"), "{e}");
    }
}
