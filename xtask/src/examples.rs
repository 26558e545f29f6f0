//! `cargo xtask examples`: writes the examples' data from the red wine quality set that the
//! `linfa-datasets` crate ships (UCI, 1599 rows, 11 features), so nothing is downloaded.
//!
//! The split is seeded: rerunning writes the same files byte for byte.

use crate::csv;
use rand08::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::path::Path;

/// The share of rows held out for the demo's quality check.
const TEST_SHARE: f64 = 0.2;
const SEED: u64 = 42;

struct Wine {
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
    quality: Vec<usize>,
}

fn wine() -> Wine {
    let ds = linfa_datasets::winequality();
    let columns = ds
        .feature_names()
        .iter()
        .map(|n| n.trim().to_lowercase().replace([' ', '-'], "_"))
        .collect();
    let rows = ds.records().rows().into_iter().map(|r| r.to_vec()).collect();
    let quality = ds.targets().iter().copied().collect();
    Wine { columns, rows, quality }
}

/// Shuffled train and test row indices.
fn split(n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(SEED));
    let n_test = (n as f64 * TEST_SHARE).round() as usize;
    let test = idx[..n_test].to_vec();
    (idx[n_test..].to_vec(), test)
}

fn write_xy(
    dir: &Path,
    x_name: &str,
    y_name: &str,
    w: &Wine,
    rows: &[usize],
    target: &str,
    y: impl Fn(usize) -> String,
) -> Result<(), String> {
    csv::write(
        &dir.join(x_name),
        &w.columns,
        rows.iter().map(|&i| w.rows[i].iter().map(|&v| csv::num(v)).collect()),
    )?;
    csv::write(
        &dir.join(y_name),
        &[target.to_string()],
        rows.iter().map(|&i| vec![y(i)]),
    )
}

/// Wine is "good" at quality 6 or more, as is usual for this set's binary form.
fn good_or_bad(q: usize) -> String {
    if q >= 6 { "good" } else { "bad" }.to_string()
}

pub fn write_all(examples: &Path) -> Result<(), String> {
    let w = wine();
    let (train, test) = split(w.rows.len());

    // Bagging: the same data on every worker; bootstrap makes their trees differ.
    let dir = examples.join("bagging-classification");
    for name in ["worker-1", "worker-2", "worker-3"] {
        let d = dir.join("chimera_train_data").join(name);
        write_xy(&d, "X_train.csv", "y_train.csv", &w, &train, "label", |i| {
            good_or_bad(w.quality[i])
        })?;
    }
    write_xy(&dir.join("test"), "X_test.csv", "y_test.csv", &w, &test, "label", |i| {
        good_or_bad(w.quality[i])
    })?;
    eprintln!(
        "wrote {} ({} train rows on each of 3 workers, {} test rows)",
        dir.display(),
        train.len(),
        test.len()
    );

    // Hybrid: a different shard on each worker.
    let dir = examples.join("hybrid-regression");
    let shards = 3;
    for (k, name) in ["worker-1", "worker-2", "worker-3"].iter().enumerate() {
        let shard: Vec<usize> = train.iter().copied().skip(k).step_by(shards).collect();
        let d = dir.join("chimera_train_data").join(name);
        write_xy(&d, "X_train.csv", "y_train.csv", &w, &shard, "quality", |i| {
            w.quality[i].to_string()
        })?;
    }
    write_xy(
        &dir.join("test"),
        "X_test.csv",
        "y_test.csv",
        &w,
        &test,
        "quality",
        |i| w.quality[i].to_string(),
    )?;
    eprintln!(
        "wrote {} (3 shards of about {} rows, {} test rows)",
        dir.display(),
        train.len() / shards,
        test.len()
    );
    Ok(())
}

/// The data-parallel examples use the exact 80/20 split of the benchmark (scikit-learn's
/// `train_test_split(test_size=0.2, random_state=42)`), kept in `tests/data/winequality_red`,
/// so their quality can be compared with the published single-node figures.
pub fn write_sgd(examples: &Path, split: &Path) -> Result<(), String> {
    let text = |name: &str| -> Result<(Vec<String>, Vec<Vec<String>>), String> {
        let t = csv::read(&split.join(name))?;
        Ok((t.header.clone(), csv::text_rows(&t)?))
    };
    let (x_header, x_train) = text("X_train.csv")?;
    let (_, y_train) = text("y_train.csv")?;
    let (_, x_test) = text("X_test.csv")?;
    let (_, y_test) = text("y_test.csv")?;
    let quality = |t: &[Vec<String>], i: usize| t[i][0].clone();
    let good = |t: &[Vec<String>], i: usize| good_or_bad(t[i][0].parse::<f64>().unwrap_or(0.0) as usize);
    for (name, target, label) in [
        (
            "sgd-regression",
            "quality",
            &quality as &dyn Fn(&[Vec<String>], usize) -> String,
        ),
        ("sgd-classification", "label", &good),
    ] {
        let dir = examples.join(name);
        let shards = 2;
        for k in 0..shards {
            let rows: Vec<usize> = (k..x_train.len()).step_by(shards).collect();
            let d = dir.join("chimera_train_data").join(format!("worker-{}", k + 1));
            csv::write(
                &d.join("X_train.csv"),
                &x_header,
                rows.iter().map(|&i| x_train[i].clone()),
            )?;
            csv::write(
                &d.join("y_train.csv"),
                &[target.to_string()],
                rows.iter().map(|&i| vec![label(&y_train, i)]),
            )?;
        }
        let t = dir.join("test");
        csv::write(&t.join("X_test.csv"), &x_header, x_test.iter().cloned())?;
        csv::write(
            &t.join("y_test.csv"),
            &[target.to_string()],
            (0..y_test.len()).map(|i| vec![label(&y_test, i)]),
        )?;
        eprintln!(
            "wrote {} (2 shards of the benchmark split, {} test rows)",
            dir.display(),
            x_test.len()
        );
    }
    Ok(())
}
