//! The benchmark's data: red wine from the repository, and the 200,000 x 20 synthetic
//! classification set (scikit-learn's `make_classification` recipe), cut into shards.

use crate::csv;
use chimera_shared::api::PredictRequest;
use rand08::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use std::path::Path;

/// A table held as numbers: features and one target column.
pub(super) struct Data {
    pub(super) columns: Vec<String>,
    pub(super) x: Vec<Vec<f64>>,
    pub(super) target: String,
    pub(super) y: Vec<String>,
}

impl Data {
    pub(super) fn read(dir: &Path, x_file: &str, y_file: &str) -> Result<Data, String> {
        let x = csv::read(&dir.join(x_file))?;
        let y = csv::read(&dir.join(y_file))?;
        Ok(Data {
            columns: x.header.clone(),
            x: csv::numbers(&x)?,
            target: y.header[0].clone(),
            y: y.text_column(0).map_err(|e| e.to_string())?,
        })
    }

    pub(super) fn write(&self, dir: &Path, rows: &[usize]) -> Result<(), String> {
        csv::write(
            &dir.join("X_train.csv"),
            &self.columns,
            rows.iter().map(|&i| self.x[i].iter().map(|v| format!("{v}")).collect()),
        )?;
        csv::write(
            &dir.join("y_train.csv"),
            std::slice::from_ref(&self.target),
            rows.iter().map(|&i| vec![self.y[i].clone()]),
        )
    }

    pub(super) fn request(&self, rows: std::ops::Range<usize>) -> PredictRequest {
        PredictRequest {
            columns: self.columns.clone(),
            rows: self.x[rows].to_vec(),
        }
    }
}

/// A generator in the shape of scikit-learn's `make_classification(n_samples, n_features=20)`
/// with its defaults: 2 informative and 2 redundant features, 2 classes of 2 clusters each at
/// the vertices of a hypercube, `class_sep=1`, 1% of labels flipped, rows and columns shuffled.
pub(super) fn make_classification(n: usize, d: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = |rng: &mut StdRng| {
        // Box-Muller: two uniforms to one standard normal.
        let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    // Cluster c belongs to class c % 2, so each class holds two opposite-side vertices of the
    // first axis (a linear model can separate them, as on scikit-learn's usual draws).
    let vertices = [[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]];
    let mix: Vec<[[f64; 2]; 2]> = (0..4)
        .map(|_| {
            [
                [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
                [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
            ]
        })
        .collect();
    let redundant = [
        [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
        [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
    ];
    let mut column_order: Vec<usize> = (0..d).collect();
    column_order.shuffle(&mut rng);
    let mut x: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut y: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let cluster = i % 4;
        let class = cluster % 2;
        let z = [normal(&mut rng), normal(&mut rng)];
        let m = mix[cluster];
        let inf = [
            z[0] * m[0][0] + z[1] * m[1][0] + vertices[cluster][0],
            z[0] * m[0][1] + z[1] * m[1][1] + vertices[cluster][1],
        ];
        let red = [
            inf[0] * redundant[0][0] + inf[1] * redundant[1][0],
            inf[0] * redundant[0][1] + inf[1] * redundant[1][1],
        ];
        let mut row = vec![inf[0], inf[1], red[0], red[1]];
        row.extend((4..d).map(|_| normal(&mut rng)));
        x.push(column_order.iter().map(|&j| row[j]).collect());
        y.push(if rng.gen::<f64>() < 0.01 {
            rng.gen_range(0..2)
        } else {
            class
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    (
        order.iter().map(|&i| x[i].clone()).collect(),
        order.iter().map(|&i| y[i]).collect(),
    )
}

/// The 160,000 x 20 training set and its 40,000-row test set, generated once and cached.
pub(super) fn synthetic(root: &Path) -> Result<(Data, Data), String> {
    let dir = root.join("data").join("synthetic");
    if !dir.join("y_test.csv").exists() {
        eprintln!("generating the 200,000 x 20 synthetic classification set (once) ...");
        let (x, y) = make_classification(200_000, 20, 0);
        let columns: Vec<String> = (0..20).map(|i| format!("f_{i:02}")).collect();
        let write = |name: &str, range: std::ops::Range<usize>| -> Result<(), String> {
            csv::write(
                &dir.join(format!("X_{name}.csv")),
                &columns,
                x[range.clone()]
                    .iter()
                    .map(|r| r.iter().map(|v| format!("{v}")).collect()),
            )?;
            csv::write(
                &dir.join(format!("y_{name}.csv")),
                &["label".to_string()],
                y[range].iter().map(|v| vec![v.to_string()]),
            )
        };
        write("train", 0..160_000)?;
        write("test", 160_000..200_000)?;
    }
    Ok((
        Data::read(&dir, "X_train.csv", "y_train.csv")?,
        Data::read(&dir, "X_test.csv", "y_test.csv")?,
    ))
}

pub(super) fn contiguous_shards(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0..k).map(|s| (s * n / k..(s + 1) * n / k).collect()).collect()
}
