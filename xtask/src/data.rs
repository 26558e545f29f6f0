//! `cargo xtask data`: cuts a dataset into one training shard per worker, IID or not, plus a
//! held-out `test/` split, so the non-IID lesson takes one command instead of a script.
//!
//! The partitions follow the federated-learning literature that Flower Datasets implements:
//! - `iid`: a seeded shuffle dealt out in equal shares;
//! - `contiguous`: the file's order cut into equal consecutive blocks (data that arrives
//!   sorted by time or source);
//! - `by-label`: rows sorted by label, then cut into consecutive blocks, so each worker sees
//!   one or two labels (McMahan et al. 2017's pathological non-IID);
//! - `dirichlet`: for each label, the share of each worker drawn from Dirichlet(alpha), so a
//!   small alpha gives workers very different label mixes (Hsu et al. 2019). A regression
//!   target is cut into ten quantile bins that play the labels' part.
//!
//! Every draw comes from one seeded generator: the same seed gives the same shards.

use crate::csv;
use rand08::rngs::StdRng;
use rand08::seq::SliceRandom;
use rand08::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Iid,
    Contiguous,
    ByLabel,
    Dirichlet,
}

#[derive(clap::Args)]
pub struct Options {
    /// A folder with X.csv and y.csv (or X_train.csv and y_train.csv), or a bundled
    /// dataset: red-wine, iris, diabetes.
    #[arg(long)]
    pub from: String,
    /// How many workers (CHIMERA_WORKERS_NODES_NAMES and the specs follow a new count).
    #[arg(long)]
    pub workers: usize,
    #[arg(long, value_enum)]
    pub split: Split,
    /// Dirichlet concentration: 0.1 gives workers very different label mixes, 100 nearly
    /// the same (default 0.5).
    #[arg(long)]
    pub alpha: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The share of rows held out in EXP/test/ (0 for none).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    #[arg(long)]
    pub dir: PathBuf,
}

/// A dataset in memory: features as text cells (written back unchanged), targets as text.
pub struct Data {
    pub columns: Vec<String>,
    pub target: String,
    pub x: Vec<Vec<String>>,
    pub y: Vec<String>,
}

/// The datasets that `linfa-datasets` ships, by the names people use for them.
pub const BUILT_IN: &[&str] = &["red-wine", "iris", "diabetes"];

fn built_in(name: &str) -> Option<Data> {
    fn of<T>(ds: &linfa::Dataset<f64, T, ndarray::Ix1>, target: &str, y: impl Fn(&T) -> String) -> Data {
        Data {
            columns: ds
                .feature_names()
                .iter()
                .map(|n| n.trim().to_lowercase().replace([' ', '-'], "_"))
                .collect(),
            target: target.to_string(),
            x: ds
                .records()
                .rows()
                .into_iter()
                .map(|r| r.iter().map(|&v| csv::num(v)).collect())
                .collect(),
            y: ds.targets().iter().map(y).collect(),
        }
    }
    match name {
        "red-wine" | "winequality" => Some(of(&linfa_datasets::winequality(), "quality", ToString::to_string)),
        "iris" => Some(of(&linfa_datasets::iris(), "species", |c: &usize| {
            ["setosa", "versicolor", "virginica"]
                .get(*c)
                .map_or_else(|| c.to_string(), |s| (*s).to_string())
        })),
        "diabetes" => Some(of(&linfa_datasets::diabetes(), "progression", |v: &f64| csv::num(*v))),
        _ => None,
    }
}

/// `--from`: a built-in name, or a folder with `X.csv` + `y.csv` (or `X_train.csv` +
/// `y_train.csv`).
pub fn load(from: &str) -> Result<Data, String> {
    if let Some(d) = built_in(from) {
        return Ok(d);
    }
    let dir = Path::new(from);
    if !dir.is_dir() {
        return Err(format!(
            "--from {from} is invalid: it is neither a folder nor a bundled dataset ({}); a folder must hold X.csv and y.csv (or X_train.csv and y_train.csv)",
            BUILT_IN.join(", ")
        ));
    }
    let (xp, yp) = [("X.csv", "y.csv"), ("X_train.csv", "y_train.csv")]
        .iter()
        .map(|(x, y)| (dir.join(x), dir.join(y)))
        .find(|(x, y)| x.exists() && y.exists())
        .ok_or_else(|| {
            format!("--from {from} is invalid: the folder holds neither X.csv + y.csv nor X_train.csv + y_train.csv")
        })?;
    let x = csv::read(&xp)?;
    let y = csv::read(&yp)?;
    if y.header.len() != 1 {
        return Err(format!(
            "{}: must have one column (the target), not {}",
            yp.display(),
            y.header.len()
        ));
    }
    let (xr, yr) = (csv::text_rows(&x)?, csv::text_rows(&y)?);
    if xr.len() != yr.len() {
        return Err(format!(
            "{} has {} rows but {} has {}: they must match",
            xp.display(),
            xr.len(),
            yp.display(),
            yr.len()
        ));
    }
    Ok(Data {
        columns: x.header.clone(),
        target: y.header[0].clone(),
        x: xr,
        y: yr.into_iter().map(|mut r| r.swap_remove(0)).collect(),
    })
}

/// Whether the target holds labels: text, or at most 20 distinct integers (wine quality,
/// a digit); anything else is a regression target.
pub fn is_labels(y: &[String]) -> bool {
    let distinct: std::collections::BTreeSet<&str> = y.iter().map(String::as_str).collect();
    let numbers: Option<Vec<f64>> = y.iter().map(|v| v.trim().parse::<f64>().ok()).collect();
    match numbers {
        None => true,
        Some(n) => distinct.len() <= 20 && n.iter().all(|v| v.fract() == 0.0),
    }
}

/// The groups the label-aware splits work on: the labels themselves, or ten quantile bins of
/// a regression target.
pub fn groups(y: &[String]) -> Vec<usize> {
    if is_labels(y) {
        let distinct: std::collections::BTreeSet<&str> = y.iter().map(String::as_str).collect();
        let index: BTreeMap<&str, usize> = distinct.iter().enumerate().map(|(i, l)| (*l, i)).collect();
        return y.iter().map(|l| index[l.as_str()]).collect();
    }
    let n: Vec<f64> = y.iter().map(|v| v.trim().parse::<f64>().unwrap_or(0.0)).collect();
    let mut sorted = n.clone();
    sorted.sort_by(f64::total_cmp);
    let bins = 10;
    let edges: Vec<f64> = (1..bins).map(|b| sorted[b * sorted.len() / bins]).collect();
    n.iter().map(|v| edges.iter().filter(|e| v >= *e).count()).collect()
}

/// A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape < 1 through Gamma(shape + 1)).
fn gamma(rng: &mut StdRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        // A standard normal draw (Box-Muller).
        let (u1, u2): (f64, f64) = (rng.gen_range(f64::MIN_POSITIVE..1.0), rng.gen());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Dirichlet(alpha, ..., alpha) draw over `k` parts.
fn dirichlet(rng: &mut StdRng, alpha: f64, k: usize) -> Vec<f64> {
    let g: Vec<f64> = (0..k).map(|_| gamma(rng, alpha)).collect();
    let sum: f64 = g.iter().sum();
    g.iter().map(|v| v / sum).collect()
}

/// Cuts `rows` into `k` consecutive blocks whose sizes differ by at most one.
fn blocks(rows: &[usize], k: usize) -> Vec<Vec<usize>> {
    (0..k)
        .map(|i| rows[i * rows.len() / k..(i + 1) * rows.len() / k].to_vec())
        .collect()
}

/// Row indices into a held-out test set and `k` training shards.
pub fn partition(
    y: &[String],
    k: usize,
    split: Split,
    alpha: f64,
    seed: u64,
    test_fraction: f64,
) -> Result<(Vec<usize>, Vec<Vec<usize>>), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = y.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_test = (n as f64 * test_fraction).round() as usize;
    let mut test = order[..n_test].to_vec();
    test.sort_unstable();
    let mut train = order[n_test..].to_vec();
    if train.len() < k {
        return Err(format!(
            "{} training rows cannot give {k} workers a row each; use fewer --workers or a smaller --test-fraction",
            train.len()
        ));
    }
    let shards = match split {
        Split::Iid => blocks(&train, k),
        Split::Contiguous => {
            train.sort_unstable();
            blocks(&train, k)
        }
        Split::ByLabel => {
            let g = groups(y);
            train.sort_by_key(|&i| (g[i], i));
            blocks(&train, k)
        }
        Split::Dirichlet => {
            let g = groups(y);
            let classes = g.iter().copied().max().map_or(0, |m| m + 1);
            // Draws until every worker has a row, as Flower's DirichletPartitioner does.
            let mut attempt = 0;
            loop {
                let mut shards = vec![Vec::new(); k];
                for c in 0..classes {
                    let rows: Vec<usize> = train.iter().copied().filter(|&i| g[i] == c).collect();
                    let p = dirichlet(&mut rng, alpha, k);
                    let mut start = 0;
                    let mut cumulative = 0.0;
                    for (w, share) in p.iter().enumerate() {
                        cumulative += share;
                        let end = if w + 1 == k {
                            rows.len()
                        } else {
                            ((cumulative * rows.len() as f64).round() as usize).clamp(start, rows.len())
                        };
                        shards[w].extend_from_slice(&rows[start..end]);
                        start = end;
                    }
                }
                if shards.iter().all(|s| !s.is_empty()) {
                    for s in &mut shards {
                        s.shuffle(&mut rng);
                    }
                    break shards;
                }
                attempt += 1;
                if attempt == 100 {
                    return Err(format!(
                        "--alpha {alpha} left a worker with no rows in 100 draws; use a larger --alpha or fewer --workers"
                    ));
                }
            }
        }
    };
    Ok((test, shards))
}

/// Reads EXP's worker names; writes new ones into `.env` (with as many ports and cpu shares)
/// and specs for new workers (copies of the first worker's) when the count changes.
fn worker_names(dir: &Path, k: usize) -> Result<(Vec<String>, Vec<String>), String> {
    use chimera_shared::config::experiment::{DATA_DIR, WORKERS_DIR};
    use chimera_shared::config::{dotenv, EnvConfig, EnvSource};
    let env_path = dir.join(".env");
    let source = EnvSource {
        dotenv: dotenv::read(&env_path).map_err(|e| e.to_string())?,
        ..EnvSource::default()
    };
    // The experiment's topology as it stands (none yet: a new folder).
    let current = if source.get("CHIMERA_WORKERS_NODES_NAMES").is_some() {
        Some(
            EnvConfig::load(&source)
                .map_err(|e| format!("{}: {e}", env_path.display()))?
                .0,
        )
    } else {
        None
    };
    if let Some(env) = current.as_ref().filter(|env| env.workers.len() == k) {
        return Ok((env.workers.clone(), Vec::new()));
    }
    let old: Vec<String> = current.as_ref().map(|e| e.workers.clone()).unwrap_or_default();
    let names: Vec<String> = (1..=k).map(|i| format!("worker-{i}")).collect();
    let mut said = vec![format!(
        "{}: CHIMERA_WORKERS_NODES_NAMES now names {k} worker(s) (it named {})",
        env_path.display(),
        old.len()
    )];
    // The lists with one entry per worker follow the new count, where .env sets them: ports
    // continue from the last one, cpu shares repeat it.
    let per_worker = |values: &[String], step: u64| -> String {
        let last: u64 = values.last().and_then(|v| v.parse().ok()).unwrap_or(0);
        let items: Vec<String> = (0..k)
            .map(|i| {
                values
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| (last + step * (i + 1 - values.len()) as u64).to_string())
            })
            .collect();
        format!("'[{}]'", items.join(", "))
    };
    let rewritten = [
        "CHIMERA_WORKERS_NODES_NAMES",
        "CHIMERA_WORKERS_MAPPED_PORTS",
        "CHIMERA_WORKERS_CPU_SHARES",
    ];
    let mut lines: Vec<String> = std::fs::read_to_string(&env_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !rewritten.iter().any(|v| l.trim_start().starts_with(&format!("{v}="))))
        .map(str::to_string)
        .collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    lines.push(format!("CHIMERA_WORKERS_NODES_NAMES='[{}]'", quoted.join(", ")));
    if let Some(env) = &current {
        if source.get("CHIMERA_WORKERS_MAPPED_PORTS").is_some() {
            let ports: Vec<String> = env.mapped_ports.iter().map(ToString::to_string).collect();
            lines.push(format!("CHIMERA_WORKERS_MAPPED_PORTS={}", per_worker(&ports, 1)));
        }
        if source.get("CHIMERA_WORKERS_CPU_SHARES").is_some() {
            let shares: Vec<String> = env.cpu_shares.iter().map(ToString::to_string).collect();
            lines.push(format!("CHIMERA_WORKERS_CPU_SHARES={}", per_worker(&shares, 0)));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(&env_path, lines.join("\n") + "\n").map_err(|e| format!("{}: {e}", env_path.display()))?;
    // Specs: a new worker gets a copy of the first existing spec; the spec and data of a
    // worker no longer named go (an experiment refuses a spec for a worker it does not name).
    let specs = dir.join(WORKERS_DIR);
    let template = old
        .iter()
        .map(|n| specs.join(format!("{n}.yaml")))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok());
    for gone in old.iter().filter(|n| !names.contains(n)) {
        let _ = std::fs::remove_file(specs.join(format!("{gone}.yaml")));
        let _ = std::fs::remove_dir_all(dir.join(DATA_DIR).join(gone));
        said.push(format!("removed worker {gone}'s spec and data"));
    }
    match template {
        Some(t) => {
            for name in &names {
                let path = specs.join(format!("{name}.yaml"));
                if !path.exists() {
                    std::fs::write(&path, &t).map_err(|e| format!("{}: {e}", path.display()))?;
                    said.push(format!("wrote {} (a copy of the first worker's spec)", path.display()));
                }
            }
        }
        None => said.push(format!(
            "no worker spec to copy: write {}/<worker>.yaml for each worker (see the README)",
            specs.display()
        )),
    }
    Ok((names, said))
}

/// Runs the command; returns the lines it prints.
pub fn run(o: &Options) -> Result<Vec<String>, String> {
    if o.workers == 0 {
        return Err("--workers 0 is invalid: must be at least 1".into());
    }
    if !(0.0..1.0).contains(&o.test_fraction) {
        return Err(format!(
            "--test-fraction {} is invalid: must be at least 0 and below 1",
            o.test_fraction
        ));
    }
    let alpha = match (o.split, o.alpha) {
        (Split::Dirichlet, None) => 0.5,
        (Split::Dirichlet, Some(a)) if a > 0.0 && a.is_finite() => a,
        (Split::Dirichlet, Some(a)) => {
            return Err(format!(
                "--alpha {a} is invalid: must be a number above 0 (0.1: strong skew, 100: nearly IID)"
            ))
        }
        (_, Some(_)) => return Err("--alpha applies to --split dirichlet only".into()),
        (_, None) => 0.0,
    };
    let data = load(&o.from)?;
    let (test, shards) = partition(&data.y, o.workers, o.split, alpha, o.seed, o.test_fraction)?;
    let (names, mut out) = worker_names(&o.dir, o.workers)?;
    let write = |dir: &Path, x: &str, y: &str, rows: &[usize]| -> Result<(), String> {
        csv::write(&dir.join(x), &data.columns, rows.iter().map(|&i| data.x[i].clone()))?;
        csv::write(
            &dir.join(y),
            std::slice::from_ref(&data.target),
            rows.iter().map(|&i| vec![data.y[i].clone()]),
        )
    };
    let labels = is_labels(&data.y);
    for (name, rows) in names.iter().zip(&shards) {
        let d = o.dir.join(chimera_shared::config::experiment::DATA_DIR).join(name);
        write(&d, "X_train.csv", "y_train.csv", rows)?;
        out.push(format!(
            "{name}: {} rows; {}",
            rows.len(),
            histogram(&data.y, rows, labels)
        ));
    }
    if test.is_empty() {
        let _ = std::fs::remove_dir_all(o.dir.join("test"));
    } else {
        write(&o.dir.join("test"), "X_test.csv", "y_test.csv", &test)?;
        out.push(format!(
            "test: {} rows; {}",
            test.len(),
            histogram(&data.y, &test, labels)
        ));
    }
    Ok(out)
}

/// `label count, ...` for labels; the range and mean of a numeric target.
fn histogram(y: &[String], rows: &[usize], labels: bool) -> String {
    if labels {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in rows {
            *counts.entry(y[i].as_str()).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(l, c)| format!("{l}: {c}")).collect();
        return format!("labels {{{}}}", parts.join(", "));
    }
    let v: Vec<f64> = rows.iter().filter_map(|&i| y[i].parse().ok()).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    format!("target from {lo:.3} to {hi:.3}, mean {mean:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, classes: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{}", i % classes)).collect()
    }

    fn all_rows(test: &[usize], shards: &[Vec<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = test.iter().chain(shards.iter().flatten()).copied().collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn every_split_uses_every_row_once() {
        let y = labels(1000, 4);
        for split in [Split::Iid, Split::Contiguous, Split::ByLabel, Split::Dirichlet] {
            let (test, shards) = partition(&y, 5, split, 0.3, 7, 0.2).unwrap();
            assert_eq!(test.len(), 200, "{split:?}");
            assert_eq!(all_rows(&test, &shards), (0..1000).collect::<Vec<_>>(), "{split:?}");
            assert!(shards.iter().all(|s| !s.is_empty()), "{split:?}");
        }
    }

    #[test]
    fn equal_splits_differ_by_at_most_one_row_and_contiguous_keeps_the_order() {
        let y = labels(103, 3);
        let (_, shards) = partition(&y, 4, Split::Iid, 0.0, 1, 0.0).unwrap();
        let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        let (_, shards) = partition(&y, 4, Split::Contiguous, 0.0, 1, 0.0).unwrap();
        assert_eq!(shards[0], (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn by_label_gives_each_worker_few_labels() {
        let y = labels(1000, 10);
        let (_, shards) = partition(&y, 5, Split::ByLabel, 0.0, 3, 0.1).unwrap();
        for s in &shards {
            let distinct: std::collections::BTreeSet<&String> = s.iter().map(|&i| &y[i]).collect();
            // 180 rows of about 90 per label: two whole labels and parts of two more at most.
            assert!(distinct.len() <= 4, "{distinct:?}");
        }
    }

    #[test]
    fn dirichlet_is_seeded_and_a_small_alpha_skews_more() {
        let y = labels(2000, 4);
        let a = partition(&y, 4, Split::Dirichlet, 0.1, 11, 0.2).unwrap();
        assert_eq!(
            a,
            partition(&y, 4, Split::Dirichlet, 0.1, 11, 0.2).unwrap(),
            "same seed"
        );
        assert_ne!(
            a,
            partition(&y, 4, Split::Dirichlet, 0.1, 12, 0.2).unwrap(),
            "other seed"
        );
        // Skew: the mean over workers of the largest label's share of the worker's rows.
        let skew = |alpha: f64| -> f64 {
            let (_, shards) = partition(&y, 4, Split::Dirichlet, alpha, 5, 0.0).unwrap();
            shards
                .iter()
                .map(|s| {
                    let mut c: BTreeMap<&String, usize> = BTreeMap::new();
                    for &i in s {
                        *c.entry(&y[i]).or_default() += 1;
                    }
                    *c.values().max().unwrap() as f64 / s.len() as f64
                })
                .sum::<f64>()
                / 4.0
        };
        let (strong, weak) = (skew(0.05), skew(1000.0));
        assert!(strong > 0.6, "alpha 0.05: {strong}");
        assert!(weak < 0.35, "alpha 1000 is nearly IID (1/4 each): {weak}");
    }

    #[test]
    fn gamma_draws_have_the_right_mean() {
        let mut rng = StdRng::seed_from_u64(1);
        for shape in [0.3, 1.0, 4.5] {
            let n = 20_000;
            let mean = (0..n).map(|_| gamma(&mut rng, shape)).sum::<f64>() / f64::from(n);
            assert!(
                (mean - shape).abs() < 0.05 * shape.max(1.0),
                "shape {shape}: mean {mean}"
            );
        }
    }

    #[test]
    fn a_regression_target_is_binned_into_ten_groups() {
        let y: Vec<String> = (0..500).map(|i| format!("{}.5", i * 7 % 500)).collect();
        let g = groups(&y);
        let distinct: std::collections::BTreeSet<usize> = g.iter().copied().collect();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn too_few_rows_is_an_error_that_says_what_to_do() {
        let e = partition(&labels(3, 2), 5, Split::Iid, 0.0, 1, 0.0).unwrap_err();
        assert!(e.contains("use fewer --workers"), "{e}");
    }
}
