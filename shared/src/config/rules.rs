//! The rules one `CHIMERA_*` value must follow (a string, an integer in a range, seconds, an IP
//! address, a JSON list, a worker name), each failing with the one line that names the
//! variable, the value and the rule. [`super::env`] says which variable follows which rule.

use super::env::EnvSource;
use super::ConfigError;
use std::collections::HashSet;
use std::net::IpAddr;

pub(crate) fn string_var(src: &EnvSource, name: &str, default: &str) -> Result<String, ConfigError> {
    let value = src.get(name).unwrap_or(default).trim().to_string();
    if value.is_empty() {
        return Err(ConfigError::variable(name, "", "must not be empty"));
    }
    Ok(value)
}

/// Integers parse leniently, as the seed's did through Python: `'2'`, `2.0` and ` 2 ` are 2.
pub(crate) fn int_var(src: &EnvSource, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    let Some(text) = src.get(name) else {
        return Ok(default);
    };
    let rule = || format!("must be an integer from {min} to {max}");
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| ConfigError::variable(name, text, rule()))?;
    if value.fract() != 0.0 || value < min as f64 || value > max as f64 {
        return Err(ConfigError::variable(name, text, rule()));
    }
    Ok(value as i64)
}

pub(crate) fn seconds_var(src: &EnvSource, name: &str, default: f64) -> Result<f64, ConfigError> {
    let Some(text) = src.get(name) else {
        return Ok(default);
    };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(ConfigError::variable(
            name,
            text,
            "must be a number of seconds greater than 0 and at most 86400",
        )),
    }
}

pub(crate) fn ip_var(src: &EnvSource, name: &str, default: &str) -> Result<IpAddr, ConfigError> {
    let text = src.get(name).unwrap_or(default);
    text.trim()
        .parse()
        .map_err(|_| ConfigError::variable(name, text, "must be an IP address, e.g. 127.0.0.1 or 0.0.0.0"))
}

/// A list variable, in JSON or in the original's Python style (`['w1', 'w2']`, as
/// `os.environ[...] = "['w1', 'w2']"` wrote it); numbers given as strings (`["101"]`) are
/// accepted, leniently.
pub(crate) fn list_var<T: ListItem>(
    src: &EnvSource,
    name: &str,
    what: &str,
) -> Result<Option<(String, Vec<T>)>, ConfigError> {
    let Some(text) = src.get(name) else {
        return Ok(None);
    };
    let rule = || {
        format!(
            "must be a JSON list (or a Python-style one with single quotes) of {what}, e.g. {}",
            T::EXAMPLE
        )
    };
    let items: Vec<serde_json::Value> = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&python_list_to_json(text).ok_or(())?).map_err(|_| ()))
        .map_err(|()| ConfigError::variable(name, text, rule()))?;
    let list = items
        .iter()
        .map(T::from_json)
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| ConfigError::variable(name, text, rule()))?;
    Ok(Some((text.to_string(), list)))
}

/// A Python list literal of strings and numbers as JSON: single-quoted strings become
/// double-quoted ones (with `\'` and `\\` escapes), a trailing comma is dropped. `None` for
/// an unterminated string.
fn python_list_to_json(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let mut item = String::new();
                loop {
                    match chars.next()? {
                        '\\' => item.push(chars.next()?),
                        q if q == c => break,
                        other => item.push(other),
                    }
                }
                out.push_str(&serde_json::to_string(&item).ok()?);
            }
            ',' => {
                // Python allows `['a', 'b',]`; JSON does not.
                let rest: String = chars.clone().collect();
                if !rest.trim_start().starts_with(']') {
                    out.push(',');
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

pub(crate) trait ListItem: Sized {
    const EXAMPLE: &'static str;
    fn from_json(v: &serde_json::Value) -> Option<Self>;
}

impl ListItem for i64 {
    const EXAMPLE: &'static str = "[101, 102]";
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let f = match v {
            serde_json::Value::Number(n) => n.as_f64()?,
            serde_json::Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
    }
}

impl ListItem for String {
    const EXAMPLE: &'static str = "[\"worker-1\", \"worker-2\"]";
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        v.as_str().map(|s| s.trim().to_string())
    }
}

pub(crate) fn worker_names(src: &EnvSource) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "CHIMERA_WORKERS_NODES_NAMES";
    let Some((text, names)) = list_var::<String>(src, NAME, "worker names")? else {
        return Err(ConfigError::variable(
            NAME,
            "",
            "is required: a JSON list of worker names, e.g. [\"worker-1\", \"worker-2\"] or ['worker-1', 'worker-2'] (set it in the experiment's .env)",
        ));
    };
    if names.is_empty() {
        return Err(ConfigError::variable(NAME, &text, "must name at least one worker"));
    }
    if let Some(bad) = names.iter().find(|n| !valid_service_name(n)) {
        return Err(ConfigError::variable(
            NAME,
            &text,
            format!(
                "{bad:?} is not a valid name: use lower-case letters, digits, '_' and '-', starting with a letter or digit (it names a Compose service and a folder)"
            ),
        ));
    }
    if names.iter().any(|n| n == "master" || n == "prometheus") {
        return Err(ConfigError::variable(
            NAME,
            &text,
            "\"master\" and \"prometheus\" are reserved service names",
        ));
    }
    if has_duplicates(&names) {
        return Err(ConfigError::variable(NAME, &text, "names must be unique"));
    }
    Ok(names)
}

pub(crate) fn check_len(name: &str, text: &str, got: usize, want: usize) -> Result<(), ConfigError> {
    if got != want {
        return Err(ConfigError::variable(
            name,
            text,
            format!("must have exactly one entry per worker ({want} in CHIMERA_WORKERS_NODES_NAMES), not {got}"),
        ));
    }
    Ok(())
}

pub(crate) fn parse_prefix(text: &str) -> Option<[u8; 3]> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut out = [0u8; 3];
    for (slot, part) in out.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(out)
}

/// Compose service names (and our folder names): `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn valid_service_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.len() <= 63
}

pub(crate) fn valid_docker_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

pub(crate) fn has_duplicates<T: Eq + std::hash::Hash>(items: &[T]) -> bool {
    let mut seen = HashSet::new();
    !items.iter().all(|i| seen.insert(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Result<Vec<String>, String> {
        let mut src = EnvSource::default();
        src.dotenv.insert("CHIMERA_WORKERS_NODES_NAMES".into(), text.into());
        list_var::<String>(&src, "CHIMERA_WORKERS_NODES_NAMES", "worker names")
            .map(|l| l.map(|(_, v)| v).unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lists_may_be_written_as_the_original_wrote_them() {
        assert_eq!(names("['w1', 'w2']").unwrap(), vec!["w1", "w2"]);
        assert_eq!(names("[\"w1\", 'w2',]").unwrap(), vec!["w1", "w2"]);
        assert_eq!(names(r"['it\'s']").unwrap(), vec!["it's"]);
        let mut src = EnvSource::default();
        src.process
            .insert("CHIMERA_WORKERS_MAPPED_PORTS".into(), "[8101, '8102']".into());
        let ports = list_var::<i64>(&src, "CHIMERA_WORKERS_MAPPED_PORTS", "ports")
            .unwrap()
            .unwrap()
            .1;
        assert_eq!(ports, vec![8101, 8102]);
        let e = names("['w1', 'w2'").unwrap_err();
        assert!(e.contains("must be a JSON list") && e.contains("single quotes"), "{e}");
        assert!(names("['unterminated]").is_err());
    }
}
