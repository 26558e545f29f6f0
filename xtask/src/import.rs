//! `cargo xtask import --from SRC --to DST`: an experiment written for the Python original
//! (a master `.py` file, `chimera_workers/*.py`, `chimera_train_data/`) becomes this layout,
//! without running Python. The `.py` files are read as Python tokens, and only the forms the
//! original's experiments use are understood: `os.environ["CHIMERA_..."] = "..."`,
//! `chimera.run(AggregationMaster() | ParameterServerMaster(...), PORT)`, and
//! `RegressionWorker | ClassificationWorker(<Estimator>(...), bootstrap=...)` or
//! `SGDWorker("regressor" | "classifier", ...)`. Anything else that matters stops the import
//! with the file, the line and what to do.

use chimera_shared::config::experiment::{DATA_DIR, MASTER_FILE, WORKERS_DIR};
use chimera_shared::config::spec;
use serde_yaml::{Mapping, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// ----------------------------------------------------------------------------------------------
// Python, as far as the original's experiment files need it
// ----------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(String),
    Punct(char),
}

/// Tokens with their 1-based line numbers. Comments are dropped; strings keep their content
/// (with the common escapes undone).
fn tokenize(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' => {
                let start_line = line;
                // Triple-quoted strings (docstrings) too.
                let triple = i + 2 < chars.len() && chars[i + 1] == c && chars[i + 2] == c;
                let quote_len = if triple { 3 } else { 1 };
                i += quote_len;
                let mut s = String::new();
                while i < chars.len() {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        s.push(match chars[i + 1] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        i += 2;
                        continue;
                    }
                    let closes = if triple {
                        i + 2 < chars.len() && chars[i] == c && chars[i + 1] == c && chars[i + 2] == c
                    } else {
                        chars[i] == c
                    };
                    if closes {
                        i += quote_len;
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                out.push((Tok::Str(s), start_line));
            }
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || chars[i] == '_'
                        || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push((
                    Tok::Num(chars[start..i].iter().collect::<String>().replace('_', "")),
                    line,
                ));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Name(chars[start..i].iter().collect()), line));
            }
            c if c.is_whitespace() => i += 1,
            c => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// A literal or a call, as estimator arguments are written.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Num(String),
    Bool(bool),
    None,
    /// A name that is not a literal (a variable, `np.inf`, ...).
    Name(String),
    Call(Call),
    /// A list or tuple, which no translated argument takes.
    Sequence,
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    line: usize,
    args: Vec<Py>,
    kwargs: Vec<(String, Py, usize)>,
}

struct Parser<'a> {
    toks: &'a [(Tok, usize)],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self, ahead: usize) -> Option<&Tok> {
        self.toks.get(self.at + ahead).map(|(t, _)| t)
    }
    fn line(&self) -> usize {
        self.toks.get(self.at).map_or(0, |(_, l)| *l)
    }
    fn punct(&self, ahead: usize, c: char) -> bool {
        self.peek(ahead) == Some(&Tok::Punct(c))
    }

    /// A dotted name (`chimera.run`, `np.inf`): the last part, the position after it.
    fn dotted(&mut self) -> Option<String> {
        let Some(Tok::Name(first)) = self.peek(0).cloned() else {
            return None;
        };
        self.at += 1;
        let mut name = first;
        while self.punct(0, '.') {
            if let Some(Tok::Name(n)) = self.peek(1).cloned() {
                name = n;
                self.at += 2;
            } else {
                break;
            }
        }
        Some(name)
    }

    fn value(&mut self) -> Result<Py, String> {
        let line = self.line();
        match self.peek(0).cloned() {
            Some(Tok::Str(mut s)) => {
                self.at += 1;
                // Adjacent literals concatenate, as in Python.
                while let Some(Tok::Str(more)) = self.peek(0).cloned() {
                    s.push_str(&more);
                    self.at += 1;
                }
                Ok(Py::Str(s))
            }
            Some(Tok::Num(n)) => {
                self.at += 1;
                Ok(Py::Num(n))
            }
            Some(Tok::Punct('-')) => {
                self.at += 1;
                match self.value()? {
                    Py::Num(n) => Ok(Py::Num(format!("-{n}"))),
                    _ => Err(format!(
                        "line {line}: a minus sign before something that is not a number"
                    )),
                }
            }
            Some(Tok::Punct(open @ ('[' | '('))) => {
                let close = if open == '[' { ']' } else { ')' };
                let mut depth = 0;
                while let Some(t) = self.peek(0) {
                    match t {
                        Tok::Punct(c) if *c == open => depth += 1,
                        Tok::Punct(c) if *c == close => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                Ok(Py::Sequence)
            }
            Some(Tok::Name(_)) => {
                let start = self.at;
                let name = self.dotted().unwrap_or_default();
                if self.punct(0, '(') {
                    self.at = start;
                    return self.call().map(Py::Call);
                }
                Ok(match name.as_str() {
                    "True" => Py::Bool(true),
                    "False" => Py::Bool(false),
                    "None" => Py::None,
                    _ => Py::Name(name),
                })
            }
            other => Err(format!("line {line}: cannot read {other:?} as a value")),
        }
    }

    /// `name(args)`, at a name followed (after dots) by `(`.
    fn call(&mut self) -> Result<Call, String> {
        let line = self.line();
        let name = self.dotted().ok_or_else(|| format!("line {line}: expected a call"))?;
        if !self.punct(0, '(') {
            return Err(format!("line {line}: expected ( after {name}"));
        }
        self.at += 1;
        let mut call = Call {
            name,
            line,
            args: Vec::new(),
            kwargs: Vec::new(),
        };
        loop {
            if self.punct(0, ')') {
                self.at += 1;
                return Ok(call);
            }
            if self.peek(0).is_none() {
                return Err(format!("line {line}: {}( is never closed", call.name));
            }
            let arg_line = self.line();
            if let (Some(Tok::Name(k)), true) = (self.peek(0).cloned(), self.punct(1, '=') && !self.punct(2, '=')) {
                self.at += 2;
                call.kwargs.push((k, self.value()?, arg_line));
            } else {
                call.args.push(self.value()?);
            }
            if self.punct(0, ',') {
                self.at += 1;
            }
        }
    }
}

/// Every call to a function named one of `names` in the file, outermost first.
fn find_calls(toks: &[(Tok, usize)], names: &[&str]) -> Result<Vec<Call>, String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Tok::Name(n) = &toks[i].0 {
            // `chimera.run(` is found at `run`, `workers.SGDWorker(` at `SGDWorker`.
            if names.contains(&n.as_str()) && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Punct('(')) {
                let mut p = Parser { toks, at: i };
                let call = p.call()?;
                found.push(call);
                i = p.at;
                continue;
            }
        }
        i += 1;
    }
    Ok(found)
}

/// `os.environ["NAME"] = "value"` assignments, with their lines.
fn environ(toks: &[(Tok, usize)]) -> Vec<(String, String, usize)> {
    let mut found = Vec::new();
    for w in toks.windows(8) {
        if let [(Tok::Name(os), line), (Tok::Punct('.'), _), (Tok::Name(env), _), (Tok::Punct('['), _), (Tok::Str(name), _), (Tok::Punct(']'), _), (Tok::Punct('='), _), (Tok::Str(value), _)] =
            w
        {
            if os == "os" && env == "environ" {
                found.push((name.clone(), value.clone(), *line));
            }
        }
    }
    found
}

// ----------------------------------------------------------------------------------------------
// Translation
// ----------------------------------------------------------------------------------------------

/// A value as YAML: numbers stay numbers, `None` is null.
fn yaml(v: &Py) -> Option<Value> {
    match v {
        Py::Str(s) => Some(Value::String(s.clone())),
        Py::Num(n) => {
            let lower = n.to_ascii_lowercase();
            if let Ok(i) = lower.parse::<i64>() {
                Some(Value::Number(i.into()))
            } else {
                lower.parse::<f64>().ok().map(|f| Value::Number(f.into()))
            }
        }
        Py::Bool(b) => Some(Value::Bool(*b)),
        Py::None => Some(Value::Null),
        Py::Name(_) | Py::Call(_) | Py::Sequence => None,
    }
}

/// A value as the Python file wrote it, for messages.
fn show(v: &Py) -> String {
    match v {
        Py::Str(s) => format!("{s:?}"),
        Py::Num(n) | Py::Name(n) => n.clone(),
        Py::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Py::None => "None".to_string(),
        Py::Call(c) => format!("{}(...)", c.name),
        Py::Sequence => "[...]".to_string(),
    }
}

/// A keyword argument's value as YAML, or why it cannot be one.
fn literal(key: &str, v: &Py, file: &str, line: usize) -> Result<Value, String> {
    yaml(v).ok_or_else(|| {
        format!(
            "{}: {key}={} cannot be translated: only literal numbers, strings, booleans and None can",
            at(file, line),
            show(v)
        )
    })
}

/// The supported model closest to a scikit-learn estimator this project does not have.
fn closest(estimator: &str, classification: bool) -> &'static str {
    let ensembles = ["Forest", "Bagging", "Extra"];
    if estimator.contains("Boost") {
        "gradient_boosting"
    } else if estimator.contains("SV") {
        "svm"
    } else if ensembles.iter().any(|t| estimator.contains(t)) {
        "random_forest"
    } else if estimator.contains("Tree") {
        "decision_tree"
    } else if estimator.contains("Lasso") {
        "lasso"
    } else if estimator.contains("ElasticNet") {
        "elastic_net"
    } else if classification {
        "logistic_regression"
    } else {
        "linear_regression"
    }
}

fn model_name(estimator: &str) -> Option<&'static str> {
    Some(match estimator {
        "DecisionTreeRegressor" | "DecisionTreeClassifier" => "decision_tree",
        "RandomForestRegressor" | "RandomForestClassifier" => "random_forest",
        "ExtraTreesRegressor" | "ExtraTreesClassifier" => "extra_trees",
        "LinearRegression" => "linear_regression",
        "Ridge" => "ridge",
        "GradientBoostingRegressor" | "GradientBoostingClassifier" => "gradient_boosting",
        "KNeighborsRegressor" | "KNeighborsClassifier" => "k_neighbors",
        "GaussianNB" => "gaussian_nb",
        "Lasso" => "lasso",
        "ElasticNet" => "elastic_net",
        "LogisticRegression" => "logistic_regression",
        "SVC" | "SVR" => "svm",
        _ => return None,
    })
}

#[derive(Debug)]
struct Translated {
    yaml: String,
    said: String,
}

fn at(file: &str, line: usize) -> String {
    format!("{file}:{line}")
}

/// The first argument of `SGDWorker` and `ParameterServerMaster`.
fn model_type(call: &Call, file: &str) -> Result<String, String> {
    match call.args.first() {
        Some(Py::Str(s)) if s == "regressor" || s == "classifier" => Ok(s.clone()),
        _ => Err(format!(
            "{}: {}'s first argument must be \"regressor\" or \"classifier\"",
            at(file, call.line),
            call.name
        )),
    }
}

fn worker(file: &str, text: &str) -> Result<Translated, String> {
    let toks = tokenize(text);
    let calls = find_calls(&toks, &["RegressionWorker", "ClassificationWorker", "SGDWorker"])
        .map_err(|e| format!("{file}: {e}"))?;
    let [call] = calls.as_slice() else {
        return Err(format!(
            "{file}: found {} worker constructions; the original's worker file makes one (RegressionWorker, ClassificationWorker or SGDWorker)",
            calls.len()
        ));
    };
    let mut m = Mapping::new();
    let said = if call.name == "SGDWorker" {
        let model_type = model_type(call, file)?;
        m.insert("kind".into(), "sgd".into());
        m.insert("model_type".into(), model_type.clone().into());
        if call.kwargs.is_empty() {
            format!("sgd worker ({model_type})")
        } else {
            let keys: Vec<&str> = call.kwargs.iter().map(|(k, _, _)| k.as_str()).collect();
            format!(
                "sgd worker ({model_type}); its SGD arguments ({}) are the master's settings here, sent to each worker with its first round",
                keys.join(", ")
            )
        }
    } else {
        let classification = call.name == "ClassificationWorker";
        let Some(Py::Call(est)) = call.args.first() else {
            return Err(format!(
                "{}: {}'s first argument must be a scikit-learn estimator call such as DecisionTreeRegressor(max_depth=5)",
                at(file, call.line),
                call.name
            ));
        };
        let Some(model) = model_name(&est.name) else {
            return Err(format!(
                "{}: {} cannot be translated (this project has no such model yet); the closest supported model is {}",
                at(file, est.line),
                est.name,
                closest(&est.name, classification)
            ));
        };
        m.insert(
            "kind".into(),
            if classification { "classification" } else { "regression" }.into(),
        );
        m.insert("model".into(), model.into());
        let mut params = Mapping::new();
        for (k, v, line) in &est.kwargs {
            let value = literal(k, v, file, *line)?;
            params.insert(k.clone().into(), value);
        }
        if !params.is_empty() {
            m.insert("params".into(), Value::Mapping(params));
        }
        for (k, v, line) in &call.kwargs {
            match (k.as_str(), v) {
                ("bootstrap", Py::Bool(b)) => {
                    m.insert("bootstrap".into(), (*b).into());
                }
                _ => {
                    return Err(format!(
                        "{}: {}({k}=...) cannot be translated: the worker takes bootstrap=True or False",
                        at(file, *line),
                        call.name
                    ))
                }
            }
        }
        format!(
            "{} worker: {model}",
            if classification { "classification" } else { "regression" }
        )
    };
    let yaml = serde_yaml::to_string(&Value::Mapping(m)).map_err(|e| e.to_string())?;
    // The project's own reader decides what is valid; its error gets the .py line.
    spec::parse_worker(&yaml, &at(file, call.line)).map_err(|e| e.to_string())?;
    Ok(Translated { yaml, said })
}

/// The master file: its variables (`.env`), its spec and its port.
struct Master {
    env: Vec<(String, String, usize)>,
    spec: Translated,
    port: Option<String>,
    notes: Vec<String>,
}

fn master(file: &str, text: &str) -> Result<Master, String> {
    let toks = tokenize(text);
    let runs = find_calls(&toks, &["run"]).map_err(|e| format!("{file}: {e}"))?;
    let run = runs
        .iter()
        .find(|c| matches!(c.args.first(), Some(Py::Call(m)) if m.name.ends_with("Master")))
        .ok_or_else(|| {
            format!("{file}: no chimera.run(AggregationMaster() or ParameterServerMaster(...), PORT) call")
        })?;
    let Some(Py::Call(m)) = run.args.first() else {
        unreachable!("checked above")
    };
    let port = run
        .args
        .get(1)
        .or_else(|| run.kwargs.iter().find(|(k, _, _)| k == "port").map(|(_, v, _)| v))
        .map(|p| match p {
            Py::Num(n) => Ok(n.clone()),
            other => Err(format!(
                "{}: the port {} is not a number",
                at(file, run.line),
                show(other)
            )),
        })
        .transpose()?;
    let mut spec = Mapping::new();
    let mut notes = Vec::new();
    let said = match m.name.as_str() {
        "AggregationMaster" => {
            spec.insert("kind".into(), "aggregation".into());
            "aggregation master".to_string()
        }
        "ParameterServerMaster" => {
            let model_type = model_type(m, file)?;
            spec.insert("kind".into(), "parameter-server".into());
            spec.insert("model_type".into(), model_type.clone().into());
            for (k, v, line) in &m.kwargs {
                let value = literal(k, v, file, *line)?;
                if k == "eta0" {
                    notes.push(format!(
                        "{}: eta0={} was tuned in the original for raw features and one step per sample; this project standardizes features and steps once per round, so its default learning rate is kept (set eta0 in chimera_master.yaml to override)",
                        at(file, *line),
                        serde_yaml::to_string(&value).unwrap_or_default().trim()
                    ));
                    continue;
                }
                spec.insert(k.clone().into(), value);
            }
            format!("parameter-server master ({model_type})")
        }
        other => {
            return Err(format!(
            "{}: {other} cannot be translated; the original's masters are AggregationMaster and ParameterServerMaster",
            at(file, m.line)
        ))
        }
    };
    let yaml = serde_yaml::to_string(&Value::Mapping(spec)).map_err(|e| e.to_string())?;
    spec::parse_master(&yaml, &at(file, m.line)).map_err(|e| e.to_string())?;
    Ok(Master {
        env: environ(&toks),
        spec: Translated { yaml, said },
        port,
        notes,
    })
}

/// The `.py` file in SRC that calls `chimera.run(...)`.
fn find_master(src: &Path) -> Result<PathBuf, String> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(src).map_err(|e| format!("--from {}: {e}", src.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "py") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains("Master(") && text.contains(".run(") {
                found.push(path);
            }
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "--from {}: no .py file there calls chimera.run(...Master(...), PORT); point --from at the original experiment's folder",
            src.display()
        )),
        _ => Err(format!(
            "--from {}: several .py files call chimera.run: {}; keep one master file",
            src.display(),
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A `.env` value quoted as Compose reads it: in single quotes (taken literally), or in double
/// quotes when it holds single quotes itself (a Python-style list).
fn dotenv_value(name: &str, v: &str) -> Result<String, String> {
    if !v.contains('\'') {
        Ok(format!("'{v}'"))
    } else if !v.contains('"') {
        Ok(format!("\"{v}\""))
    } else {
        Err(format!(
            "{name}={v:?} holds both kinds of quotes, which a .env value cannot; write the list in one kind"
        ))
    }
}

/// Runs the import; returns the lines to print (one per file, then notes). The experiment is
/// written to a staging folder beside DST and moved into place only when all of it
/// translated and loads, so a failed import leaves nothing to clean up.
pub fn run(src: &Path, dst: &Path) -> Result<Vec<String>, String> {
    if dst.exists() && std::fs::read_dir(dst).map_or(true, |mut d| d.next().is_some()) {
        return Err(format!(
            "--to {} already exists and is not empty; import into a new folder",
            dst.display()
        ));
    }
    let staging = dst.with_extension("importing");
    let _ = std::fs::remove_dir_all(&staging);
    let result = translate(src, &staging);
    match result {
        Ok(lines) => {
            let _ = std::fs::remove_dir(dst);
            std::fs::rename(&staging, dst).map_err(|e| format!("{}: {e}", dst.display()))?;
            Ok(lines)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn translate(src: &Path, dst: &Path) -> Result<Vec<String>, String> {
    let master_path = find_master(src)?;
    let master_file = master_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(&master_path).map_err(|e| format!("{}: {e}", master_path.display()))?;
    let master = master(&master_file, &text)?;
    let mut out = Vec::new();

    let mut env = format!("# Imported by `cargo xtask import` from {master_file}.\n");
    let known: std::collections::HashSet<&str> = chimera_shared::config::env::KNOWN_VARIABLES.iter().copied().collect();
    let mut skipped = Vec::new();
    for (name, value, line) in &master.env {
        if !name.starts_with("CHIMERA_") {
            skipped.push(name.clone());
            continue;
        }
        if !known.contains(name.as_str()) {
            return Err(format!(
                "{}: {name} is not a variable this project knows; see the README's table of variables",
                at(&master_file, *line)
            ));
        }
        let quoted = dotenv_value(name, value).map_err(|e| format!("{}: {e}", at(&master_file, *line)))?;
        let _ = writeln!(env, "{name}={quoted}");
    }
    if let Some(port) = &master.port {
        let _ = writeln!(env, "CHIMERA_MASTER_PORT={port}");
    }
    write(&dst.join(".env"), &env)?;
    write(&dst.join(MASTER_FILE), &master.spec.yaml)?;
    out.push(format!(
        "{master_file} -> .env ({} variable(s){}), {MASTER_FILE} ({})",
        master.env.len() - skipped.len(),
        master
            .port
            .as_ref()
            .map(|p| format!(", CHIMERA_MASTER_PORT={p}"))
            .unwrap_or_default(),
        master.spec.said
    ));
    if !skipped.is_empty() {
        out.push(format!(
            "{master_file}: skipped non-Chimera variables: {}",
            skipped.join(", ")
        ));
    }

    // The workers named in CHIMERA_WORKERS_NODES_NAMES, through the project's own reader.
    let source = chimera_shared::config::EnvSource {
        dotenv: chimera_shared::config::dotenv::read(&dst.join(".env")).map_err(|e| e.to_string())?,
        ..Default::default()
    };
    let (env_config, _) =
        chimera_shared::config::EnvConfig::load(&source).map_err(|e| format!("{master_file}: {e}"))?;
    for name in &env_config.workers {
        let rel = format!("{WORKERS_DIR}/{name}.py");
        let path = src.join(&rel);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e}; CHIMERA_WORKERS_NODES_NAMES names {name:?}, so its worker file must exist",
                path.display()
            )
        })?;
        let t = worker(&rel, &text)?;
        write(&dst.join(WORKERS_DIR).join(format!("{name}.yaml")), &t.yaml)?;
        out.push(format!("{rel} -> {WORKERS_DIR}/{name}.yaml ({})", t.said));
        let data = src.join(DATA_DIR).join(name);
        let mut copied = 0;
        for file in ["X_train.csv", "y_train.csv"] {
            let from = data.join(file);
            if from.exists() {
                let to = dst.join(DATA_DIR).join(name).join(file);
                std::fs::create_dir_all(to.parent().unwrap_or(dst)).map_err(|e| e.to_string())?;
                std::fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
                copied += 1;
            }
        }
        out.push(format!("{DATA_DIR}/{name}/ -> copied {copied} file(s)"));
    }
    out.extend(master.notes);
    // The result must load as an experiment, or the import says why.
    chimera_shared::config::Experiment::load_with(dst, &source)
        .map_err(|e| format!("the imported experiment does not load: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_literals_and_comments_are_read() {
        let toks = tokenize(
            "w = RegressionWorker(DecisionTreeRegressor(max_depth=5, min_samples_leaf=1e-1, criterion='squared_error'), # c\n  bootstrap=True)\n",
        );
        let calls = find_calls(&toks, &["RegressionWorker"]).unwrap();
        let Py::Call(est) = &calls[0].args[0] else { panic!() };
        assert_eq!(est.name, "DecisionTreeRegressor");
        assert_eq!(est.kwargs[0], ("max_depth".into(), Py::Num("5".into()), 1));
        assert_eq!(est.kwargs[1].1, Py::Num("1e-1".into()));
        assert_eq!(est.kwargs[2].1, Py::Str("squared_error".into()));
        assert_eq!(calls[0].kwargs[0], ("bootstrap".into(), Py::Bool(true), 2));
    }

    #[test]
    fn environ_assignments_keep_python_style_lists() {
        let toks = tokenize("import os\nos.environ[\"CHIMERA_WORKERS_NODES_NAMES\"] = \"['w1', 'w2']\"\n");
        assert_eq!(
            environ(&toks),
            [("CHIMERA_WORKERS_NODES_NAMES".to_string(), "['w1', 'w2']".to_string(), 2)]
        );
    }

    #[test]
    fn an_unknown_estimator_names_the_closest_model() {
        let e = worker(
            "chimera_workers/w1.py",
            "from sklearn.neural_network import MLPClassifier\n\nworker = ClassificationWorker(\n    MLPClassifier(alpha=1.0))\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("chimera_workers/w1.py:4: MLPClassifier cannot be translated"),
            "{e}"
        );
        assert!(e.ends_with("the closest supported model is logistic_regression"), "{e}");
        assert_eq!(closest("LinearSVC", true), "svm");
        let svc = worker(
            "chimera_workers/w2.py",
            "worker = ClassificationWorker(SVC(C=2.0, kernel='linear', probability=True))\n",
        )
        .unwrap();
        assert!(svc.yaml.contains("model: svm"), "{}", svc.yaml);
        assert!(
            svc.yaml.contains("C: 2.0") && svc.yaml.contains("kernel: linear"),
            "{}",
            svc.yaml
        );
    }
}
