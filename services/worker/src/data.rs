//! Loading a worker's training data (`X_train.csv`, `y_train.csv`) into ndarray, with the
//! project's one CSV reader ([`chimera_shared::table`], polars underneath). Every failure names
//! the file and, where there is one, the line and column.

use crate::ml::tree::Binned;
use chimera_shared::api::Label;
use chimera_shared::config::TaskKind;
use chimera_shared::table::Table;
use ndarray::{Array1, Array2};
use std::path::Path;

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
    /// The features cut into histogram bins, made on first use (the worker asks at load time,
    /// so no fit pays for it).
    pub bins: BinCache,
}

impl Dataset {
    pub fn n_rows(&self) -> usize {
        self.x.nrows()
    }

    /// The features as histogram bins, binned once.
    pub fn binned(&self) -> &Binned {
        self.bins.0.get_or_init(|| Binned::new(self.x.view()))
    }
}

/// Where a dataset keeps its bins once made; empty until [`Dataset::binned`] is called.
#[derive(Debug, Clone, Default)]
pub struct BinCache(std::sync::OnceLock<Binned>);

pub use chimera_shared::table::TableError as DataError;

/// Loads `dir/X_train.csv` and `dir/y_train.csv` for a task.
pub fn load(dir: &Path, task: TaskKind) -> Result<Dataset, DataError> {
    let x_path = dir.join(X_FILE);
    let y_path = dir.join(Y_FILE);
    let x = read(&x_path)?;
    let y = read(&y_path)?;
    let columns = x.column_names()?;
    if y.n_cols() != 1 {
        return Err(DataError {
            path: y_path.display().to_string(),
            problem: format!(
                "must have exactly one column (the target), found {}: {:?}",
                y.n_cols(),
                y.column_names()?
            ),
        });
    }
    let features = x.numbers()?;
    let target = match task {
        TaskKind::Regression => Target::Regression(Array1::from(y.number_column(0)?)),
        TaskKind::Classification => classification(&y.labels(0)?),
    };
    if x.n_rows() != y.n_rows() {
        return Err(DataError {
            path: x_path.display().to_string(),
            problem: format!(
                "has {} rows but {} has {}: every row of X needs its y",
                x.n_rows(),
                y_path.display(),
                y.n_rows()
            ),
        });
    }
    Ok(Dataset {
        columns,
        x: features,
        target,
        target_name: y.column_names()?.remove(0),
        bins: BinCache::default(),
    })
}

fn read(path: &Path) -> Result<Table, DataError> {
    Table::read(path).map_err(|mut e| {
        if e.problem == "does not exist" {
            e.problem = "does not exist; each worker needs X_train.csv and y_train.csv in its data folder".into();
        }
        e
    })
}

/// Labels to indices into their sorted list.
fn classification(raw: &[Label]) -> Target {
    let mut classes = raw.to_vec();
    classes.sort();
    classes.dedup();
    let y = raw
        .iter()
        .map(|l| classes.binary_search(l).unwrap_or_default())
        .collect();
    Target::Classification { classes, y }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
