//! `chimera_master.yaml` and `chimera_workers/<name>.yaml`: what each node does.
//!
//! Keys take scikit-learn's names where scikit-learn has them. Unknown keys, unknown models and
//! out-of-range values are errors naming the file, the key and the allowed values.
//!
//! - [`master`]: the master's kind and the parameter server's SGD settings;
//! - [`worker`]: a worker's kind, its estimator and parameters;
//! - this module: what both share, and the YAML plumbing that names a bad key.

mod master;
mod worker;

pub use master::*;
pub use worker::*;

use super::ConfigError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Regression or classification: what a model worker learns and the master aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Regression,
    Classification,
}

/// `model_type` of the parameter server and its SGD workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    Regressor,
    Classifier,
}

impl ModelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Regressor => "regressor",
            ModelType::Classifier => "classifier",
        }
    }
}

// ----------------------------------------------------------------------------------------------
// YAML plumbing
// ----------------------------------------------------------------------------------------------

/// Splits `kind:` from the rest of a spec, so each kind can reject keys it does not know.
fn split_kind(text: &str, path: &str, kinds: &[&str]) -> Result<(String, Mapping), ConfigError> {
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| ConfigError::file(path, format!("not valid YAML: {e}")))?;
    let mut map = match value {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(ConfigError::file(
                path,
                format!("is empty; it needs at least `kind:` ({})", kinds.join(", ")),
            ))
        }
        _ => return Err(ConfigError::file(path, "must be a YAML mapping of keys to values")),
    };
    let kind = match map.remove("kind") {
        None => {
            return Err(ConfigError::key(
                path,
                "kind",
                "(missing)",
                format!("is required; allowed: {}", kinds.join(", ")),
            ))
        }
        Some(Value::String(s)) if kinds.contains(&s.trim()) => s.trim().to_string(),
        Some(other) => {
            return Err(ConfigError::key(
                path,
                "kind",
                yaml_text(&other),
                format!("allowed: {}", kinds.join(", ")),
            ))
        }
    };
    Ok((kind, map))
}

fn from_mapping<T: DeserializeOwned>(map: Mapping, path: &str, prefix: &str) -> Result<T, ConfigError> {
    from_value(Value::Mapping(map), path, prefix)
}

/// Deserializes and turns serde's message into our one-line form naming file and key.
fn from_value<T: DeserializeOwned>(value: Value, path: &str, prefix: &str) -> Result<T, ConfigError> {
    // serde_yaml's value errors carry no key: keep the mapping to find the one a bad word is in.
    let keys: Vec<(String, Value)> = match &value {
        Value::Mapping(m) => m
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
            .collect(),
        _ => Vec::new(),
    };
    serde_yaml::from_value(value).map_err(|e| {
        let msg = e.to_string();
        if let Some(rest) = msg.strip_prefix("unknown variant `") {
            let (word, expected) = rest.split_once('`').unwrap_or((rest, ""));
            if let Some((key, _)) = keys.iter().find(|(_, v)| v.as_str() == Some(word)) {
                let allowed = clean(expected.trim_start_matches(", "));
                return ConfigError::key(
                    path,
                    format!("{prefix}{key}"),
                    word,
                    format!("must be one of: {allowed}"),
                );
            }
        }
        // serde says "unknown field `x`, expected one of `a`, `b`" or "unknown variant `x`, ...".
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let expected = expected.trim_start_matches(", ");
            ConfigError::key(
                path,
                format!("{prefix}{field}"),
                "(unknown key)",
                format!("allowed keys: {}", clean(expected)),
            )
        } else {
            ConfigError::file(path, format!("{prefix}{}", clean(&msg)))
        }
    })
}

fn clean(text: &str) -> String {
    text.replace('`', "")
        .replace("expected one of ", "")
        .replace("expected ", "")
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v).map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

/// Reads and parses a spec file; `what` is `master` or `worker`.
/// serde's default for flags that are on unless a spec says otherwise.
fn d_true() -> bool {
    true
}

pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ConfigError::file(path.display(), "does not exist")
        } else {
            ConfigError::file(path.display(), format!("cannot read: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = "chimera_workers/w1.yaml";

    fn worker_err(text: &str) -> String {
        parse_worker(text, W).unwrap_err().to_string()
    }

    fn master_err(text: &str) -> String {
        parse_master(text, "chimera_master.yaml").unwrap_err().to_string()
    }

    #[test]
    fn master_defaults_are_the_designs() {
        let MasterSpec::ParameterServer(s) =
            parse_master("kind: parameter-server\nmodel_type: regressor\n", "m").unwrap()
        else {
            panic!("wrong kind")
        };
        assert_eq!(s.max_iter, 1000);
        assert_eq!(s.epsilon, 1e-11);
        assert_eq!(s.loss(), Loss::SquaredError);
        assert_eq!(s.penalty, Penalty::L2);
        assert_eq!(s.alpha, 1e-4);
        assert_eq!(s.learning_rate, LearningRate::Constant);
        assert_eq!(s.eta0, 0.1);
        assert_eq!(s.tol, None);
        assert!(s.standardize);
        assert_eq!(s.mode, PsMode::Gradient);
        assert_eq!(s.batch_size, None);
        let MasterSpec::ParameterServer(c) =
            parse_master("kind: parameter-server\nmodel_type: classifier\n", "m").unwrap()
        else {
            panic!("wrong kind")
        };
        assert_eq!(
            c.loss(),
            Loss::LogLoss,
            "a classifier defaults to log_loss, not the seed's hinge"
        );
        assert_eq!(
            parse_master("kind: aggregation\n", "m").unwrap(),
            MasterSpec::Aggregation
        );
    }

    #[test]
    fn master_kind_is_required_and_checked() {
        assert_eq!(
            master_err("{}"),
            "chimera_master.yaml: kind: (missing) is invalid: is required; allowed: aggregation, parameter-server"
        );
        assert!(master_err("kind: boss").contains("kind: boss is invalid: allowed: aggregation, parameter-server"));
        assert!(master_err("").contains("is empty"));
        assert!(master_err("kind: [").contains("not valid YAML"));
    }

    #[test]
    fn master_unknown_keys_name_the_allowed_ones() {
        let e = master_err("kind: aggregation\nmax_iter: 3\n");
        assert!(e.contains("max_iter: (unknown key)"), "{e}");
        let e = master_err("kind: parameter-server\nmodel_type: regressor\nlearning_rat: constant\n");
        assert!(
            e.contains("learning_rat: (unknown key)") && e.contains("learning_rate"),
            "{e}"
        );
    }

    #[test]
    fn master_rules() {
        let ps = "kind: parameter-server\nmodel_type: regressor\n";
        assert!(master_err(&format!("{ps}alpha: -1")).contains("alpha: -1 is invalid: must be a number >= 0"));
        assert!(master_err(&format!("{ps}eta0: 0")).contains("eta0: 0 is invalid: must be a number > 0"));
        assert!(master_err(&format!("{ps}loss: hinge")).contains("a regressor allows: squared_error, huber"));
        assert!(master_err(&format!("{ps}loss: cubic")).contains("loss: cubic is invalid: must be one of: "));
        assert!(master_err(&format!("{ps}l1_ratio: 2")).contains("from 0 to 1"));
        assert!(master_err(&format!("{ps}max_iter: 0")).contains("max_iter: 0"));
        assert!(master_err(&format!("{ps}batch_size: 0")).contains("batch_size"));
        assert!(master_err(&format!("{ps}huber_delta: 0")).contains("huber_delta"));
        assert!(master_err(&format!("{ps}tol: -1")).contains("tol"));
        assert!(master_err(&format!("{ps}mode: hogwild")).contains("gradient"));
        assert!(master_err("kind: parameter-server\nmodel_type: forest\n").contains("regressor"));
        assert!(master_err("kind: parameter-server\n").contains("model_type"));
    }

    #[test]
    fn worker_model_spec() {
        let spec = parse_worker(
            "kind: classification\nmodel: decision_tree\nparams:\n  max_depth: 5\n  max_leaf_nodes: 15\nbootstrap: true\nrandom_state: 7\n",
            W,
        )
        .unwrap();
        let WorkerKind::Model {
            task,
            estimator,
            bootstrap,
            random_state,
        } = spec.kind
        else {
            panic!()
        };
        assert_eq!(task, TaskKind::Classification);
        assert!(bootstrap);
        assert_eq!(random_state, 7);
        let EstimatorSpec::DecisionTree(p) = estimator else {
            panic!()
        };
        assert_eq!(
            (p.max_depth, p.max_leaf_nodes, p.min_samples_leaf),
            (Some(5), Some(15), 1)
        );
    }

    #[test]
    fn worker_defaults() {
        let spec = parse_worker("kind: regression\nmodel: linear_regression\n", W).unwrap();
        let WorkerKind::Model {
            bootstrap,
            random_state,
            ..
        } = spec.kind
        else {
            panic!()
        };
        assert!(!bootstrap);
        assert_eq!(random_state, 0);
        assert_eq!(spec.knobs, Knobs::default());
        let lasso = parse_worker("kind: regression\nmodel: lasso\nparams: {alpha: 0.1}\n", W).unwrap();
        let WorkerKind::Model {
            estimator: EstimatorSpec::ElasticNet(p),
            ..
        } = lasso.kind
        else {
            panic!()
        };
        assert_eq!((p.alpha, p.l1_ratio), (0.1, 1.0));
    }

    #[test]
    fn worker_unknown_model_names_the_allowed_ones() {
        assert_eq!(
            worker_err("kind: classification\nmodel: mlp\n"),
            "chimera_workers/w1.yaml: model: mlp is invalid: a classification worker allows: decision_tree, random_forest, extra_trees, gradient_boosting, k_neighbors, gaussian_nb, svm, logistic_regression"
        );
        assert!(worker_err("kind: regression\nmodel: logistic_regression\n")
            .contains("k_neighbors, svm, linear_regression, ridge, lasso, elastic_net"));
    }

    #[test]
    fn forests_take_scikit_learns_parameters_and_defaults() {
        let forest = |task: &str, params: &str| -> Result<ForestParams, String> {
            let text = format!("kind: {task}\nmodel: random_forest\nparams: {params}\n");
            match parse_worker(&text, W).map_err(|e| e.to_string())?.kind {
                WorkerKind::Model {
                    estimator: EstimatorSpec::Forest(p),
                    ..
                } => Ok(p),
                other => panic!("{other:?}"),
            }
        };
        let c = forest("classification", "{}").unwrap();
        assert_eq!(
            (c.n_estimators, c.max_features, c.bootstrap),
            (100, MaxFeatures::Sqrt, true)
        );
        assert_eq!(forest("regression", "{}").unwrap().max_features, MaxFeatures::All);
        for (text, expected) in [
            ("log2", MaxFeatures::Log2),
            ("3", MaxFeatures::Count(3)),
            ("0.5", MaxFeatures::Fraction(0.5)),
            ("null", MaxFeatures::All),
        ] {
            let p = forest("classification", &format!("{{max_features: {text}}}")).unwrap();
            assert_eq!(p.max_features, expected, "{text}");
        }
        assert_eq!(MaxFeatures::Sqrt.of(20), 4);
        assert_eq!(MaxFeatures::Fraction(0.01).of(20), 1, "at least one feature");
        let p = forest("classification", "{random_state: 7, criterion: gini, max_depth: 4}").unwrap();
        assert_eq!((p.random_state, p.tree.max_depth), (Some(7), Some(4)));
        let p = forest("classification", "{criterion: log_loss, splitter: best}").unwrap();
        assert_eq!(
            (p.tree.criterion, p.tree.splitter),
            (Some(Criterion::Entropy), Splitter::Exact)
        );
        assert_eq!(forest("regression", "{}").unwrap().tree.splitter, Splitter::Hist);
        let e = forest("regression", "{criterion: gini}").unwrap_err();
        assert!(e.contains("a regressor's criterion is squared_error"), "{e}");
        let extra = parse_worker("kind: regression\nmodel: extra_trees\n", W).unwrap();
        let WorkerKind::Model {
            estimator: EstimatorSpec::Forest(e),
            ..
        } = extra.kind
        else {
            panic!()
        };
        assert!(e.extra && !e.bootstrap, "extra trees do not bootstrap by default");
        for (params, needle) in [
            ("{max_features: 0}", "params.max_features"),
            ("{max_features: 1.5}", "params.max_features"),
            ("{max_features: all}", "params.max_features"),
            (
                "{criterion: squared_error}",
                "a classifier's criterion is gini or entropy",
            ),
            ("{criterion: mse}", "params.criterion"),
            ("{splitter: random}", "params.splitter"),
            ("{n_estimators: 0}", "params.n_estimators"),
            ("{max_depth: 0}", "params.max_depth"),
            ("{n_jobs: 2}", "n_jobs"),
        ] {
            let e = forest("classification", params).unwrap_err();
            assert!(e.contains(needle), "{params}: {e}");
        }
        // Gradient boosting: scikit-learn's defaults, and its rules.
        let gb = parse_worker("kind: regression\nmodel: gradient_boosting\n", W).unwrap();
        let WorkerKind::Model {
            estimator: EstimatorSpec::Boosting(b),
            ..
        } = gb.kind
        else {
            panic!()
        };
        assert_eq!(
            (b.n_estimators, b.learning_rate, b.tree.max_depth, b.subsample),
            (100, 0.1, Some(3), 1.0)
        );
        for (params, needle) in [
            ("{subsample: 0}", "params.subsample"),
            ("{learning_rate: -1}", "params.learning_rate"),
            ("{loss: huber}", "must be squared_error"),
        ] {
            let e = parse_worker(
                &format!("kind: regression\nmodel: gradient_boosting\nparams: {params}\n"),
                W,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{params}: {e}");
        }
        // params.random_state wherever scikit-learn takes it.
        for model in ["decision_tree", "logistic_regression"] {
            parse_worker(
                &format!("kind: classification\nmodel: {model}\nparams: {{random_state: 3}}\n"),
                W,
            )
            .unwrap();
        }
        for model in ["ridge", "lasso", "elastic_net"] {
            parse_worker(
                &format!("kind: regression\nmodel: {model}\nparams: {{random_state: 3}}\n"),
                W,
            )
            .unwrap();
        }
    }

    #[test]
    fn worker_unknown_params_and_keys_are_errors() {
        let e = worker_err("kind: regression\nmodel: decision_tree\nparams: {max_dept: 3}\n");
        assert!(
            e.contains("params.max_dept: (unknown key)") && e.contains("max_depth"),
            "{e}"
        );
        let e = worker_err("kind: regression\nmodel: decision_tree\nbootstrapp: true\n");
        assert!(e.contains("bootstrapp: (unknown key)"), "{e}");
        let e = worker_err("kind: regression\nmodel: lasso\nparams: {l1_ratio: 0.5}\n");
        assert!(e.contains("params.l1_ratio: (unknown key)"), "{e}");
    }

    #[test]
    fn worker_param_ranges() {
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {max_depth: 0}\n")
                .contains("params.max_depth: 0")
        );
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {max_leaf_nodes: 1}\n")
                .contains("params.max_leaf_nodes: 1")
        );
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {min_samples_leaf: 0}\n")
                .contains("min_samples_leaf")
        );
        assert!(worker_err("kind: regression\nmodel: decision_tree\nparams: {max_depth: -3}\n").contains("params."));
        assert!(
            worker_err("kind: classification\nmodel: logistic_regression\nparams: {C: 0}\n").contains("params.C: 0")
        );
        assert!(
            worker_err("kind: regression\nmodel: elastic_net\nparams: {l1_ratio: 1.5}\n")
                .contains("params.l1_ratio: 1.5")
        );
        assert!(worker_err("kind: regression\nmodel: decision_tree\nparams: 3\n").contains("params: 3"));
    }

    #[test]
    fn worker_kind_and_sgd() {
        assert!(worker_err("kind: clustering\n").contains("allowed: regression, classification, sgd"));
        let s = parse_worker("kind: sgd\nmodel_type: classifier\ndelay_ms: 20\n", W).unwrap();
        assert_eq!(
            s.kind,
            WorkerKind::Sgd {
                model_type: ModelType::Classifier
            }
        );
        assert_eq!(s.knobs.delay_ms, 20);
        assert!(worker_err("kind: sgd\n").contains("model_type"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\nmodel: x\n").contains("model: (unknown key)"));
    }

    #[test]
    fn worker_knobs() {
        let s = parse_worker("kind: sgd\nmodel_type: regressor\nmem_limit: 64m\n", W).unwrap();
        assert_eq!(s.knobs.mem_limit.as_deref(), Some("64m"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\nmem_limit: lots\n").contains("mem_limit"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\ndelay_ms: 700000\n").contains("delay_ms"));
    }

    #[test]
    fn svm_solver_and_components_are_checked() {
        let svm = |params: &str| match parse_worker(&format!("kind: regression\nmodel: svm\nparams: {params}\n"), W)
            .unwrap()
            .kind
        {
            WorkerKind::Model {
                estimator: EstimatorSpec::Svm(p),
                ..
            } => p,
            other => panic!("{other:?}"),
        };
        let defaults = svm("{}");
        assert_eq!((defaults.solver, defaults.n_components), (SvmSolver::Auto, 300));
        let set = svm("{solver: approximate, n_components: 50}");
        assert_eq!((set.solver, set.n_components), (SvmSolver::Approximate, 50));
        assert_eq!(svm("{solver: exact}").solver, SvmSolver::Exact);
        assert_eq!(
            worker_err("kind: regression\nmodel: svm\nparams: {n_components: 0}\n"),
            "chimera_workers/w1.yaml: params.n_components: 0 is invalid: must be an integer from 1 to 4096"
        );
        assert!(
            worker_err("kind: regression\nmodel: svm\nparams: {solver: liblinear}\n")
                .contains("params.solver: liblinear is invalid: must be one of: auto, exact, approximate")
        );
    }

    #[test]
    fn ssp_staleness_is_bounded_and_belongs_to_ssp() {
        let ps = |extra: &str| format!("kind: parameter-server\nmodel_type: regressor\n{extra}");
        let MasterSpec::ParameterServer(s) = parse_master(&ps("mode: ssp\n"), "m.yaml").unwrap() else {
            panic!()
        };
        assert_eq!((s.mode, s.staleness_bound()), (PsMode::Ssp, DEFAULT_STALENESS));
        let MasterSpec::ParameterServer(s) = parse_master(&ps("mode: async\n"), "m.yaml").unwrap() else {
            panic!()
        };
        assert_eq!(s.mode, PsMode::Async);
        assert_eq!(
            master_err(&ps("mode: gradient\nstaleness: 2\n")),
            "chimera_master.yaml: staleness: 2 is invalid: applies to mode: ssp only (mode is gradient); remove it or set mode: ssp"
        );
        assert!(master_err(&ps("mode: ssp\nstaleness: 5000\n")).contains("must be an integer from 0 to 1000"));
        assert!(master_err(&ps("mode: hogwild\n")).contains("gradient, model-averaging, async, ssp"));
    }
}
