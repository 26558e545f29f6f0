//! `.env` files, read with the syntax docker compose uses: `KEY=VALUE`, surrounding single or
//! double quotes removed, blank lines and `#` comments ignored, an optional `export ` prefix.

use super::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// Parses `.env` text. `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::file(
                origin,
                format!("line {}: {:?} is not KEY=VALUE (compose .env syntax)", index + 1, raw),
            ));
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ConfigError::file(
                origin,
                format!("line {}: {:?} is not a variable name", index + 1, key),
            ));
        }
        out.insert(key.to_string(), unquote(value.trim()));
    }
    Ok(out)
}

/// Reads `.env` from a file; a missing file is an empty set (compose treats it so).
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(ConfigError::file(path.display(), format!("cannot read: {e}"))),
    }
}

fn unquote(value: &str) -> String {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return value[1..value.len() - 1].to_string();
        }
    }
    // Unquoted values end at an inline comment, as in compose (` #` starts one).
    match value.find(" #") {
        Some(at) => value[..at].trim_end().to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_syntax_is_understood() {
        let text = "# topology\n\nCHIMERA_A=1\nexport CHIMERA_B='[\"w1\", \"w2\"]'\n\
                    CHIMERA_C=\"quoted value\"\n  CHIMERA_D = spaced  \nCHIMERA_E=x # note\nCHIMERA_F=\n";
        let map = parse(text, ".env").unwrap();
        assert_eq!(map["CHIMERA_A"], "1");
        assert_eq!(map["CHIMERA_B"], "[\"w1\", \"w2\"]");
        assert_eq!(map["CHIMERA_C"], "quoted value");
        assert_eq!(map["CHIMERA_D"], "spaced");
        assert_eq!(map["CHIMERA_E"], "x");
        assert_eq!(map["CHIMERA_F"], "");
    }

    #[test]
    fn a_line_without_equals_is_an_error_naming_the_line() {
        let err = parse("CHIMERA_A=1\nnonsense\n", "exp/.env").unwrap_err();
        assert_eq!(
            err.to_string(),
            "exp/.env: line 2: \"nonsense\" is not KEY=VALUE (compose .env syntax)"
        );
    }
}
