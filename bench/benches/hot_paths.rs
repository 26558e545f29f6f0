//! Micro-benchmarks of the hot paths (`cargo xtask bench --micro`): the gradient over a shard,
//! CSV loading, tree and linear predict. The end-to-end figures are `cargo xtask bench`'s.

use chimera_shared::config::spec::DecisionTreeParams;
use chimera_shared::config::{EstimatorSpec, Loss, TaskKind};
use chimera_shared::sgd::{self, LossSpec, Targets};
use chimera_worker::data;
use chimera_worker::ml;
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array1, Array2};
use rand08::{rngs::StdRng, Rng, SeedableRng};
use std::hint::black_box;
use std::path::PathBuf;

fn random(n: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-2.0..2.0));
    let y = (0..n).map(|i| usize::from(x[[i, 0]] + 0.5 * x[[i, 1]] > 0.0)).collect();
    (x, y)
}

fn gradient(c: &mut Criterion) {
    for (n, d, name) in [
        (640, 11, "gradient/red-wine-shard-640x11"),
        (80_000, 20, "gradient/synthetic-shard-80000x20"),
    ] {
        let (x, y) = random(n, d, 1);
        let w = Array2::from_elem((d, 1), 0.01);
        let b = Array1::zeros(1);
        let spec = LossSpec {
            loss: Loss::LogLoss,
            huber_delta: 0.1,
        };
        c.bench_function(name, |bench| {
            bench.iter(|| {
                black_box(sgd::data_gradient(
                    x.view(),
                    Targets::Classes { y: &y, n_classes: 2 },
                    None,
                    &w,
                    &b,
                    spec,
                ))
            });
        });
    }
}

fn csv_loading(c: &mut Criterion) {
    let wine = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sgd-regression/chimera_train_data/worker-1");
    c.bench_function("csv/red-wine-shard", |b| {
        b.iter(|| black_box(data::load(&wine, TaskKind::Regression).unwrap()));
    });
    let dir = std::env::temp_dir().join(format!("chimera-bench-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (x, y) = random(20_000, 20, 2);
    let mut xs = (0..20).map(|j| format!("f_{j:02}")).collect::<Vec<_>>().join(",") + "\n";
    let mut ys = "label\n".to_string();
    for (row, label) in x.rows().into_iter().zip(&y) {
        xs += &(row.iter().map(ToString::to_string).collect::<Vec<_>>().join(",") + "\n");
        ys += &format!("{label}\n");
    }
    std::fs::write(dir.join("X_train.csv"), xs).unwrap();
    std::fs::write(dir.join("y_train.csv"), ys).unwrap();
    c.bench_function("csv/synthetic-20000x20", |b| {
        b.iter(|| black_box(data::load(&dir, TaskKind::Classification).unwrap()));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn predict(c: &mut Criterion) {
    let (x, y) = random(20_000, 20, 3);
    let dataset = data::Dataset {
        columns: (0..20).map(|j| format!("f_{j:02}")).collect(),
        x: x.reversed_axes().as_standard_layout().reversed_axes().to_owned(),
        target: data::Target::Classification {
            classes: vec![0.into_label(), 1.into_label()],
            y,
        },
        target_name: "label".into(),
        bins: data::BinCache::default(),
    };
    let spec = EstimatorSpec::DecisionTree(DecisionTreeParams {
        max_depth: Some(5),
        max_leaf_nodes: Some(15),
        ..Default::default()
    });
    let weights = ml::sample_weights(20_000, true, 0, "worker-1");
    c.bench_function("tree/fit-20000x20-depth5-15-leaves", |b| {
        b.iter(|| black_box(ml::fit(&spec, &dataset, &weights, 0).unwrap()));
    });
    let tree = ml::fit(&spec, &dataset, &weights, 0).unwrap();
    let (queries, _) = random(40_000, 20, 4);
    c.bench_function("tree/predict-40000-rows", |b| {
        b.iter(|| black_box(tree.predict(queries.view(), 2)));
    });
    let w = Array2::from_elem((20, 1), 0.01);
    let bias = Array1::zeros(1);
    c.bench_function("linear/predict-40000-rows", |b| {
        b.iter(|| black_box(sgd::decision(queries.view(), &w, &bias)));
    });
}

trait IntoLabel {
    fn into_label(self) -> chimera_shared::api::Label;
}

impl IntoLabel for i64 {
    fn into_label(self) -> chimera_shared::api::Label {
        chimera_shared::api::Label::Int(self)
    }
}

/// One fit of the model a worker YAML names, on `ds`.
fn bench_fit(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    yaml: &str,
    ds: &data::Dataset,
    weights: &[f64],
) {
    let spec = match chimera_shared::config::spec::parse_worker(yaml, "bench").unwrap().kind {
        chimera_shared::config::WorkerKind::Model { estimator, .. } => estimator,
        chimera_shared::config::WorkerKind::Sgd { .. } => unreachable!("model workers"),
    };
    group.bench_function(name, |b| {
        b.iter(|| black_box(ml::fit(&spec, ds, weights, 0).unwrap()));
    });
}

/// The new models at the size the seed-parity issue sets: 160,000 x 20 on one worker.
fn models(c: &mut Criterion) {
    let (x, y) = random(160_000, 20, 5);
    let x = x.reversed_axes().as_standard_layout().reversed_axes().to_owned();
    let classification = data::Dataset {
        columns: (0..20).map(|j| format!("f_{j:02}")).collect(),
        x: x.clone(),
        target: data::Target::Classification {
            classes: vec![0.into_label(), 1.into_label()],
            y: y.clone(),
        },
        target_name: "label".into(),
        bins: data::BinCache::default(),
    };
    let regression = data::Dataset {
        target: data::Target::Regression(x.column(0).to_owned() + x.column(1)),
        target_name: "value".into(),
        ..classification.clone()
    };
    // The same rows with one label in ten flipped: classes overlap, as in real data and the main
    // bench's `make_classification`, so a forest's unlimited-depth trees grow to tens of
    // thousands of leaves, where the clean labels need far fewer.
    let noisy = {
        let mut rng = StdRng::seed_from_u64(6);
        let y = y.iter().map(|&c| if rng.gen_bool(0.1) { 1 - c } else { c }).collect();
        data::Dataset {
            target: data::Target::Classification {
                classes: vec![0.into_label(), 1.into_label()],
                y,
            },
            ..classification.clone()
        }
    };
    let weights = vec![1.0; 160_000];
    let mut group = c.benchmark_group("models-160000x20");
    group.sample_size(10);
    for (name, yaml, ds) in [
        (
            "random_forest-25-trees-classification",
            "kind: classification\nmodel: random_forest\nparams: {n_estimators: 25}\n",
            &classification,
        ),
        (
            "random_forest-25-trees-classification-noisy-labels",
            "kind: classification\nmodel: random_forest\nparams: {n_estimators: 25}\n",
            &noisy,
        ),
        (
            "extra_trees-25-trees-classification",
            "kind: classification\nmodel: extra_trees\nparams: {n_estimators: 25}\n",
            &classification,
        ),
        (
            "random_forest-25-trees-regression",
            "kind: regression\nmodel: random_forest\nparams: {n_estimators: 25}\n",
            &regression,
        ),
        ("ridge-regression", "kind: regression\nmodel: ridge\n", &regression),
        (
            "gradient_boosting-100-stages-classification",
            "kind: classification\nmodel: gradient_boosting\n",
            &classification,
        ),
        (
            "gaussian_nb-classification",
            "kind: classification\nmodel: gaussian_nb\n",
            &classification,
        ),
        (
            "k_neighbors-classification",
            "kind: classification\nmodel: k_neighbors\n",
            &classification,
        ),
    ] {
        bench_fit(&mut group, name, yaml, ds, &weights);
    }
    // Beyond 10,000 rows `solver: auto` is the approximate one (Nyström + coordinate descent).
    for (name, yaml, ds) in svm_cases(&classification, &regression) {
        bench_fit(&mut group, name, yaml, ds, &weights);
    }
    group.finish();
    // The exact kernel SVM solves a dual problem over every pair of rows, as libsvm does: its
    // fit grows faster than the rows, so it is measured at 10,000 x 20, the most rows
    // `solver: auto` gives it (see the README).
    let small = |ds: &data::Dataset| data::Dataset {
        x: ds.x.slice(ndarray::s![..10_000, ..]).to_owned(),
        target: match &ds.target {
            data::Target::Regression(y) => data::Target::Regression(y.slice(ndarray::s![..10_000]).to_owned()),
            data::Target::Classification { classes, y } => data::Target::Classification {
                classes: classes.clone(),
                y: y[..10_000].to_vec(),
            },
        },
        bins: data::BinCache::default(),
        ..ds.clone()
    };
    let (classification, regression) = (small(&classification), small(&regression));
    let weights = vec![1.0; 10_000];
    let mut group = c.benchmark_group("svm-10000x20");
    group.sample_size(10);
    for (name, yaml, ds) in svm_cases(&classification, &regression) {
        bench_fit(&mut group, name, yaml, ds, &weights);
    }
    group.finish();
}

/// The default `svm` on a classification and a regression dataset.
fn svm_cases<'a>(
    classification: &'a data::Dataset,
    regression: &'a data::Dataset,
) -> [(&'static str, &'static str, &'a data::Dataset); 2] {
    [
        (
            "svm-rbf-classification",
            "kind: classification\nmodel: svm\n",
            classification,
        ),
        ("svm-rbf-regression", "kind: regression\nmodel: svm\n", regression),
    ]
}

criterion_group!(benches, gradient, csv_loading, predict, models);
criterion_main!(benches);
