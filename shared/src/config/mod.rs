//! How an experiment is configured, read and checked in one place.
//!
//! - [`dotenv`]: `.env` parsed the way docker compose parses it;
//! - [`env`]: every `CHIMERA_*` variable with its default and rule ([`EnvConfig`]), the
//!   rules themselves in `rules`;
//! - [`spec`]: `chimera_master.yaml` and `chimera_workers/<name>.yaml`;
//! - [`experiment`]: the whole experiment folder, cross-checked ([`Experiment`]).
//!
//! Every failure is a [`ConfigError`] whose `Display` is the one line a person needs: the
//! variable (or file and key), the value, and the rule it broke.

pub mod dotenv;
pub mod env;
pub mod experiment;
mod rules;
pub mod spec;

pub use env::{EnvConfig, EnvSource, LogFormat};
pub use experiment::Experiment;
pub use spec::{
    EstimatorSpec, LearningRate, Loss, MasterSpec, ModelType, ParameterServerSpec, Penalty, PsMode, SgdMode, TaskKind,
    WorkerKind, WorkerSpec,
};

use std::fmt;

/// A configuration mistake. Its `Display` is a single line naming what, which value, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// An environment variable (from the process or `.env`) broke its rule.
    Variable { name: String, value: String, rule: String },
    /// A file is missing, unreadable or malformed.
    File { path: String, problem: String },
    /// A key inside a spec file broke its rule.
    Key {
        path: String,
        key: String,
        value: String,
        rule: String,
    },
}

impl ConfigError {
    pub fn variable(name: &str, value: &str, rule: impl Into<String>) -> Self {
        ConfigError::Variable {
            name: name.to_string(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }

    pub fn file(path: impl fmt::Display, problem: impl Into<String>) -> Self {
        ConfigError::File {
            path: path.to_string(),
            problem: problem.into(),
        }
    }

    pub fn key(
        path: impl fmt::Display,
        key: impl Into<String>,
        value: impl fmt::Display,
        rule: impl Into<String>,
    ) -> Self {
        ConfigError::Key {
            path: path.to_string(),
            key: key.into(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Variable { name, value, rule } => {
                write!(f, "{name}={value:?} is invalid: {rule}")
            }
            ConfigError::File { path, problem } => write!(f, "{path}: {problem}"),
            ConfigError::Key { path, key, value, rule } => write!(f, "{path}: {key}: {value} is invalid: {rule}"),
        }
    }
}

impl std::error::Error for ConfigError {}
