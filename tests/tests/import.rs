//! `cargo xtask import`: experiments written for the Python original, as its users write them,
//! become this layout without Python, and then fit and predict here.

use chimera_tests::{test_split, Cluster, TempDir};
use std::path::Path;

fn import(from: &Path, to: &Path) -> (bool, String) {
    let arg = std::ffi::OsStr::new;
    chimera_tests::run_xtask(&[
        arg("import"),
        arg("--from"),
        from.as_os_str(),
        arg("--to"),
        to.as_os_str(),
    ])
}

/// An original experiment: `master.py`, `chimera_workers/<name>.py`, and the data of the
/// bundled example `data_from` (its worker-1's files for every worker).
fn original(master: &str, workers: &[(&str, &str)], data_from: &str) -> TempDir {
    let dir = TempDir::new("python-original");
    dir.write("master.py", master);
    let example = chimera_tests::example(data_from).join("chimera_train_data/worker-1");
    for (name, text) in workers {
        dir.write(&format!("chimera_workers/{name}.py"), text);
        for f in ["X_train.csv", "y_train.csv"] {
            let to = dir.path().join("chimera_train_data").join(name).join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(example.join(f), to).unwrap();
        }
    }
    // A helper module beside it, as experiments have: not a master file.
    dir.write("plot_times.py", "import matplotlib.pyplot as plt\n");
    dir
}

const BAGGING_MASTER: &str = r#"import os

import chimera
from chimera.nodes.masters import AggregationMaster

os.environ["CHIMERA_NETWORK_NAME"] = "chimera-network"
os.environ["CHIMERA_NETWORK_PREFIX"] = "192.168.10"
os.environ["CHIMERA_WORKERS_NODES_NAMES"] = "['worker1', 'worker2', 'worker3']"
os.environ["CHIMERA_WORKERS_CPU_SHARES"] = "[2, 2, 2]"
os.environ["CHIMERA_WORKERS_MAPPED_PORTS"] = "[101, 102, 103]"
os.environ["CHIMERA_WORKERS_ENDPOINTS_MAX_RETRIES"] = '1'
os.environ["PYTHONUNBUFFERED"] = "1"  # not ours: skipped

if __name__ == "__main__":
    chimera.run(AggregationMaster(), 8080)
"#;

#[test]
fn a_bagging_experiment_of_the_original_runs_here() {
    let src = original(
        BAGGING_MASTER,
        &[
            (
                "worker1",
                "from sklearn.tree import DecisionTreeClassifier\nfrom chimera.nodes.workers import ClassificationWorker\n\n# A shallow tree.\nworker = ClassificationWorker(\n    DecisionTreeClassifier(max_depth=5, min_samples_leaf=2, random_state=0),\n    bootstrap=True,\n)\nworker.serve()\n",
            ),
            (
                "worker3",
                "from sklearn.ensemble import RandomForestClassifier\nworker = ClassificationWorker(RandomForestClassifier(n_estimators=10, max_features='sqrt', random_state=1))\n",
            ),
            (
                "worker2",
                "from sklearn.linear_model import LogisticRegression\nfrom chimera.nodes.workers import ClassificationWorker\n\nworker = ClassificationWorker(LogisticRegression(C=0.5, max_iter=200), bootstrap=False)\nworker.serve()\n",
            ),
        ],
        "bagging-classification",
    );
    let dst = TempDir::new("imported");
    let to = dst.path().join("exp");
    let (ok, out) = import(src.path(), &to);
    assert!(ok, "{out}");
    // One line per file it translated.
    assert!(
        out.contains(
            "master.py -> .env (6 variable(s), CHIMERA_MASTER_PORT=8080), chimera_master.yaml (aggregation master)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "chimera_workers/worker1.py -> chimera_workers/worker1.yaml (classification worker: decision_tree)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "chimera_workers/worker2.py -> chimera_workers/worker2.yaml (classification worker: logistic_regression)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "chimera_workers/worker3.py -> chimera_workers/worker3.yaml (classification worker: random_forest)"
        ),
        "{out}"
    );
    assert!(out.contains("chimera_train_data/worker1/ -> copied 2 file(s)"), "{out}");
    assert!(out.contains("skipped non-Chimera variables: PYTHONUNBUFFERED"), "{out}");

    let w1: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(to.join("chimera_workers/worker1.yaml")).unwrap()).unwrap();
    assert_eq!(w1["params"]["max_depth"].as_u64(), Some(5));
    assert_eq!(
        w1["params"]["random_state"].as_u64(),
        Some(0),
        "the estimator's own seed"
    );
    assert_eq!(w1["bootstrap"].as_bool(), Some(true));

    // The translated experiment fits and predicts here.
    let cluster = Cluster::start(&to);
    let fit = cluster.client().fit("aggregation").expect("fit");
    assert_eq!(fit.workers.len(), 3);
    let example = TempDir::copy_of("bagging-classification");
    let (request, _) = test_split(&example);
    let answer = cluster.client().predict("aggregation", &request).expect("predict");
    assert_eq!(answer.y_pred_rows.len(), request.rows.len());

    // Importing over an experiment is refused.
    let (ok, out) = import(src.path(), &to);
    assert!(!ok && out.contains("already exists and is not empty"), "{out}");
}

#[test]
fn a_parameter_server_experiment_keeps_this_projects_learning_rate() {
    let master = r#"import os
import chimera
from chimera.nodes.masters import ParameterServerMaster

os.environ["CHIMERA_WORKERS_NODES_NAMES"] = '["worker1", "worker2"]'
os.environ["CHIMERA_WORKERS_MAPPED_PORTS"] = "[101, 102]"

if __name__ == "__main__":
    chimera.run(
        ParameterServerMaster("regressor", epsilon=1e-11, max_iter=50, eta0=1e-7, alpha=0.0001),
        port=8300,
    )
"#;
    let sgd = "from chimera.nodes.workers import SGDWorker\nworker = SGDWorker(\"regressor\")\nworker.serve()\n";
    let src = original(master, &[("worker1", sgd), ("worker2", sgd)], "sgd-regression");
    let dst = TempDir::new("imported-ps");
    let to = dst.path().join("exp");
    let (ok, out) = import(src.path(), &to);
    assert!(ok, "{out}");
    assert!(
        out.contains("chimera_master.yaml (parameter-server master (regressor))"),
        "{out}"
    );
    assert!(
        out.contains("master.py:10: eta0=1e-7 was tuned in the original")
            && out.contains("default learning rate is kept"),
        "{out}"
    );
    let spec: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(to.join("chimera_master.yaml")).unwrap()).unwrap();
    assert!(spec["eta0"].is_null(), "{spec:?}");
    assert_eq!(spec["max_iter"].as_u64(), Some(50));
    let cluster = Cluster::start(&to);
    let fit = cluster.client().fit("parameter-server").expect("fit");
    assert_eq!(fit.training.unwrap().rounds, 50);
}

#[test]
fn what_cannot_be_translated_is_named_with_its_file_and_line() {
    let dst = TempDir::new("imported-bad");
    for (worker, needles) in [
        (
            "from sklearn.ensemble import HistGradientBoostingClassifier\nworker = ClassificationWorker(\n  HistGradientBoostingClassifier(max_iter=25))\n",
            &["chimera_workers/worker1.py:3: HistGradientBoostingClassifier cannot be translated", "closest supported model is gradient_boosting"][..],
        ),
        (
            "worker = ClassificationWorker(DecisionTreeClassifier(ccp_alpha=0.01))\n",
            &["chimera_workers/worker1.py:1:", "params", "ccp_alpha"][..],
        ),
        (
            "worker = ClassificationWorker(DecisionTreeClassifier(max_depth=DEPTH))\n",
            &["chimera_workers/worker1.py:1: max_depth=", "only literal numbers, strings, booleans and None"][..],
        ),
    ] {
        let src = original(BAGGING_MASTER, &[("worker1", worker), ("worker2", worker)], "bagging-classification");
        let to = dst.path().join(format!("exp-{}", needles[0].len()));
        let (ok, out) = import(src.path(), &to);
        assert!(!ok, "{out}");
        for n in needles {
            assert!(out.contains(n), "{n:?} in {out}");
        }
        assert!(!to.exists(), "a failed import leaves nothing behind");
        assert_eq!(out.matches("worker1.py").count(), 1, "the file is named once: {out}");
    }
    // A folder with no master file says where to point.
    let empty = TempDir::new("not-an-experiment");
    let (ok, out) = import(empty.path(), &dst.path().join("x"));
    assert!(!ok && out.contains("no .py file there calls chimera.run"), "{out}");
}
