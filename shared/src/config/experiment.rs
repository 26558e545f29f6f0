//! An experiment folder, read whole and cross-checked:
//!
//! ```text
//! EXP/.env                               topology (CHIMERA_* variables)
//! EXP/chimera_master.yaml                the master's kind and hyper-parameters
//! EXP/chimera_workers/<name>.yaml        one per worker
//! EXP/chimera_train_data/<name>/X_train.csv, y_train.csv
//! ```

use super::spec::{self, MasterSpec, ModelType, TaskKind, WorkerKind, WorkerSpec};
use super::{ConfigError, EnvConfig, EnvSource};
use std::path::{Path, PathBuf};

pub const MASTER_FILE: &str = "chimera_master.yaml";
pub const WORKERS_DIR: &str = "chimera_workers";
pub const DATA_DIR: &str = "chimera_train_data";

#[derive(Debug, Clone)]
pub struct Experiment {
    pub dir: PathBuf,
    pub env: EnvConfig,
    pub master: MasterSpec,
    /// In `CHIMERA_WORKERS_NODES_NAMES` order.
    pub workers: Vec<(String, WorkerSpec)>,
    /// Unknown `CHIMERA_*` names in the process environment, to print.
    pub warnings: Vec<String>,
    /// The variables it was read from (per-process settings such as the listen address).
    pub source: EnvSource,
}

impl Experiment {
    /// Reads `dir/.env` plus the process environment, then every spec file.
    pub fn load(dir: &Path) -> Result<Experiment, ConfigError> {
        let source = EnvSource::from_process(&dir.join(".env"))?;
        Self::load_with(dir, &source)
    }

    /// As [`Experiment::load`], with the variables given (tests, tools).
    pub fn load_with(dir: &Path, source: &EnvSource) -> Result<Experiment, ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError::file(
                dir.display(),
                "is not an experiment folder (it does not exist); pass --dir or set CHIMERA_EXPERIMENT_DIR",
            ));
        }
        let (env, warnings) = EnvConfig::load(source)?;
        let master_path = dir.join(MASTER_FILE);
        let master = spec::parse_master(&spec::read_file(&master_path)?, &rel(dir, &master_path))?;

        let mut workers = Vec::with_capacity(env.workers.len());
        for name in &env.workers {
            let path = dir.join(WORKERS_DIR).join(format!("{name}.yaml"));
            let shown = rel(dir, &path);
            if !path.exists() {
                return Err(ConfigError::file(
                    &shown,
                    format!("does not exist, but {name:?} is named in CHIMERA_WORKERS_NODES_NAMES; write its spec (kind: regression | classification | sgd)"),
                ));
            }
            let worker = spec::parse_worker(&spec::read_file(&path)?, &shown)?;
            let data = dir.join(DATA_DIR).join(name);
            if reads_data_of(source, name) && !data.is_dir() {
                return Err(ConfigError::file(
                    rel(dir, &data),
                    format!("does not exist: worker {name:?} needs its X_train.csv and y_train.csv there"),
                ));
            }
            workers.push((name.clone(), worker));
        }
        // A spec for a worker nobody named is a typo waiting to confuse: say so.
        if let Ok(entries) = std::fs::read_dir(dir.join(WORKERS_DIR)) {
            let mut stray: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter_map(|f| f.strip_suffix(".yaml").map(str::to_string))
                .filter(|n| !env.workers.contains(n))
                .collect();
            stray.sort();
            if let Some(name) = stray.first() {
                return Err(ConfigError::file(
                    format!("{WORKERS_DIR}/{name}.yaml"),
                    format!(
                        "names worker {name:?}, which is not in CHIMERA_WORKERS_NODES_NAMES {:?}; add it there or remove the file",
                        env.workers
                    ),
                ));
            }
        }
        let exp = Experiment {
            dir: dir.to_path_buf(),
            env,
            master,
            workers,
            warnings,
            source: source.clone(),
        };
        exp.check_kinds()?;
        Ok(exp)
    }

    /// The master and its workers must speak the same kind of model.
    fn check_kinds(&self) -> Result<(), ConfigError> {
        match &self.master {
            MasterSpec::Aggregation => {
                let mut first: Option<(&str, TaskKind)> = None;
                for (name, w) in &self.workers {
                    let WorkerKind::Model { task, .. } = &w.kind else {
                        return Err(ConfigError::key(
                            format!("{WORKERS_DIR}/{name}.yaml"),
                            "kind",
                            "sgd",
                            "an aggregation master needs model workers: kind regression or classification (sgd workers serve kind: parameter-server)",
                        ));
                    };
                    match first {
                        None => first = Some((name, *task)),
                        Some((other, t)) if t != *task => {
                            return Err(ConfigError::key(
                                format!("{WORKERS_DIR}/{name}.yaml"),
                                "kind",
                                task_name(*task),
                                format!("must match the other workers' (worker {other:?} is {}): bagging averages one kind of prediction", task_name(t)),
                            ))
                        }
                        _ => {}
                    }
                }
            }
            MasterSpec::ParameterServer(ps) => {
                if ps.min_workers > self.workers.len() as u64 {
                    return Err(ConfigError::key(
                        MASTER_FILE,
                        "min_workers",
                        ps.min_workers.to_string(),
                        format!(
                            "must be at most the number of workers in CHIMERA_WORKERS_NODES_NAMES ({})",
                            self.workers.len()
                        ),
                    ));
                }
                for (name, w) in &self.workers {
                    let file = format!("{WORKERS_DIR}/{name}.yaml");
                    match &w.kind {
                        WorkerKind::Sgd { model_type } if *model_type == ps.model_type => {}
                        WorkerKind::Sgd { model_type } => {
                            return Err(ConfigError::key(
                                file,
                                "model_type",
                                model_type.as_str(),
                                format!("must agree with {MASTER_FILE}'s model_type: {}", ps.model_type.as_str()),
                            ))
                        }
                        WorkerKind::Model { .. } => {
                            return Err(ConfigError::key(
                                file,
                                "kind",
                                "(a model worker)",
                                "a parameter-server master needs SGD workers: kind: sgd",
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The spec of worker `name`.
    pub fn worker(&self, name: &str) -> Option<&WorkerSpec> {
        self.workers.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Where worker `name`'s training files are.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(DATA_DIR).join(name)
    }

    /// `<log dir>/<node>/`: `CHIMERA_LOG_DIR`, or `EXP/logs`.
    /// Where `node` keeps what must survive a restart (its fitted model).
    pub fn state_dir(&self, node: &str) -> PathBuf {
        self.env
            .state_dir
            .clone()
            .unwrap_or_else(|| self.dir.join(".chimera").join("state"))
            .join(node)
    }

    /// The files a node's fitted state depends on: the spec files and the training data of
    /// `workers` (a worker's own, or every worker's for the master).
    pub fn input_files<'a>(&self, workers: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
        let mut files = vec![self.dir.join(MASTER_FILE)];
        for name in workers {
            files.push(self.dir.join(WORKERS_DIR).join(format!("{name}.yaml")));
            let data = self.data_dir(name);
            files.push(data.join("X_train.csv"));
            files.push(data.join("y_train.csv"));
        }
        files
    }

    pub fn log_dir(&self, node: &str) -> PathBuf {
        self.env
            .log_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("logs"))
            .join(node)
    }

    /// For a parameter-server experiment, the workers' model type.
    pub fn model_type(&self) -> Option<ModelType> {
        match &self.master {
            MasterSpec::ParameterServer(ps) => Some(ps.model_type),
            MasterSpec::Aggregation => None,
        }
    }
}

/// Whether the process loading the experiment reads worker `name`'s training data: a tool
/// (no `CHIMERA_NODE_NAME`) checks every worker's, a worker only its own, the master none. On a
/// cluster each node receives only its own data, so a node must not require the others'.
fn reads_data_of(source: &EnvSource, name: &str) -> bool {
    source.get("CHIMERA_NODE_NAME").is_none_or(|node| node == name)
}

/// Copies an experiment folder without what running it left behind (local process state,
/// logs, a generated compose file): how the demo and the tests start from a clean example.
pub fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".chimera" || name == "logs" || name == "docker-compose.yml" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_folder(&entry.path(), &to.join(&name))?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

fn task_name(t: TaskKind) -> &'static str {
    match t {
        TaskKind::Regression => "regression",
        TaskKind::Classification => "classification",
    }
}

fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway experiment folder under the system temp dir.
    struct TempExp(PathBuf);

    impl TempExp {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("chimera-exp-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join(WORKERS_DIR)).unwrap();
            TempExp(dir)
        }
        fn write(&self, rel: &str, text: &str) -> &Self {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
            self
        }
        fn load(&self) -> Result<Experiment, ConfigError> {
            let src = EnvSource {
                dotenv: crate::config::dotenv::read(&self.0.join(".env")).unwrap(),
                ..EnvSource::default()
            };
            Experiment::load_with(&self.0, &src)
        }
    }

    impl Drop for TempExp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn bagging(tag: &str) -> TempExp {
        let e = TempExp::new(tag);
        e.write(".env", "CHIMERA_WORKERS_NODES_NAMES='[\"w1\", \"w2\"]'\n")
            .write(MASTER_FILE, "kind: aggregation\n")
            .write("chimera_workers/w1.yaml", "kind: regression\nmodel: decision_tree\n")
            .write(
                "chimera_workers/w2.yaml",
                "kind: regression\nmodel: linear_regression\n",
            )
            .write("chimera_train_data/w1/X_train.csv", "a\n1\n")
            .write("chimera_train_data/w2/X_train.csv", "a\n1\n");
        e
    }

    #[test]
    fn a_complete_experiment_loads() {
        let e = bagging("ok");
        let exp = e.load().unwrap();
        assert_eq!(exp.workers.len(), 2);
        assert_eq!(exp.data_dir("w2"), e.0.join("chimera_train_data/w2"));
    }

    #[test]
    fn a_named_worker_without_spec_is_an_error() {
        let e = bagging("nospec");
        std::fs::remove_file(e.0.join("chimera_workers/w2.yaml")).unwrap();
        let msg = e.load().unwrap_err().to_string();
        assert!(msg.starts_with("chimera_workers/w2.yaml: does not exist"), "{msg}");
    }

    #[test]
    fn a_named_worker_without_data_is_an_error() {
        let e = bagging("nodata");
        std::fs::remove_dir_all(e.0.join("chimera_train_data/w1")).unwrap();
        let msg = e.load().unwrap_err().to_string();
        assert!(msg.starts_with("chimera_train_data/w1: does not exist"), "{msg}");
    }

    #[test]
    fn a_spec_for_an_unnamed_worker_is_an_error() {
        let e = bagging("stray");
        e.write("chimera_workers/w3.yaml", "kind: regression\nmodel: decision_tree\n");
        let msg = e.load().unwrap_err().to_string();
        assert!(
            msg.contains("w3.yaml: names worker \"w3\", which is not in CHIMERA_WORKERS_NODES_NAMES"),
            "{msg}"
        );
    }

    #[test]
    fn mixed_tasks_and_wrong_worker_kinds_are_errors() {
        let e = bagging("mixed");
        e.write(
            "chimera_workers/w2.yaml",
            "kind: classification\nmodel: decision_tree\n",
        );
        assert!(e
            .load()
            .unwrap_err()
            .to_string()
            .contains("must match the other workers'"));
        e.write(MASTER_FILE, "kind: parameter-server\nmodel_type: regressor\n");
        assert!(e.load().unwrap_err().to_string().contains("needs SGD workers"));
        e.write("chimera_workers/w1.yaml", "kind: sgd\nmodel_type: classifier\n")
            .write("chimera_workers/w2.yaml", "kind: sgd\nmodel_type: classifier\n");
        let msg = e.load().unwrap_err().to_string();
        assert!(
            msg.contains(
                "model_type: classifier is invalid: must agree with chimera_master.yaml's model_type: regressor"
            ),
            "{msg}"
        );
    }
}
