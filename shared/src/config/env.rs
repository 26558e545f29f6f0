//! Every `CHIMERA_*` environment variable: its default, its rule, and the one-line error when
//! the rule is broken. The seed's variables keep their names, defaults and meanings.

use super::rules::{
    check_len, has_duplicates, int_var, ip_var, list_var, parse_prefix, seconds_var, string_var, valid_docker_name,
    worker_names,
};
use super::ConfigError;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

/// Variables of the seed plus ours. An unknown `CHIMERA_*` name in `.env` is an error; in the
/// process environment it is a warning (tooling variables may live there).
pub const KNOWN_VARIABLES: &[&str] = &[
    // The seed's.
    "CHIMERA_NETWORK_NAME",
    "CHIMERA_NETWORK_PREFIX",
    "CHIMERA_NETWORK_SUBNET_MASK",
    "CHIMERA_WORKERS_NODES_NAMES",
    "CHIMERA_WORKERS_CPU_SHARES",
    "CHIMERA_WORKERS_MAPPED_PORTS",
    "CHIMERA_WORKERS_HOST",
    "CHIMERA_WORKERS_PORT",
    "CHIMERA_WORKERS_ENDPOINTS_MAX_RETRIES",
    "CHIMERA_WORKERS_ENDPOINTS_TIMEOUT",
    // Ours.
    "CHIMERA_WORKERS_CONNECT_TIMEOUT",
    "CHIMERA_WORKERS_PREDICT_TIMEOUT",
    "CHIMERA_WORKERS_URLS",
    "CHIMERA_MASTER_PORT",
    "CHIMERA_MASTER_HOST",
    "CHIMERA_MAX_BODY_BYTES",
    "CHIMERA_LOG_DIR",
    "CHIMERA_STATE_DIR",
    "CHIMERA_LOG_FORMAT",
    "CHIMERA_LOG_LEVEL",
    "CHIMERA_TELEMETRY",
    "CHIMERA_CLIENT_TIMEOUT",
    "CHIMERA_MAX_COLUMNS",
    "CHIMERA_MAX_LARGE_REQUESTS",
    "CHIMERA_LOG_MAX_BYTES",
    "CHIMERA_LOG_FILES",
    "CHIMERA_API_TOKEN",
    "CHIMERA_API_TOKEN_PREDICT",
    // Where `cargo xtask images` pushes and a stack or manifests pull the images from.
    "CHIMERA_REGISTRY",
    // Set per process by `cargo xtask up` or the compose file, not usually by people.
    "CHIMERA_EXPERIMENT_DIR",
    "CHIMERA_NODE_NAME",
    "CHIMERA_LISTEN_HOST",
    "CHIMERA_LISTEN_PORT",
    // Read by the test and CI tooling.
    "CHIMERA_REQUIRE_DOCKER",
];

/// Where variables come from: the process environment wins over `.env`, as in compose.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    pub dotenv: BTreeMap<String, String>,
    pub process: BTreeMap<String, String>,
}

impl EnvSource {
    /// `.env` from `dotenv_path` (missing file = empty) plus the real process environment.
    pub fn from_process(dotenv_path: &std::path::Path) -> Result<Self, ConfigError> {
        Ok(EnvSource {
            dotenv: super::dotenv::read(dotenv_path)?,
            process: std::env::vars().collect(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .map(String::as_str)
    }

    /// Where this process listens: `CHIMERA_LISTEN_HOST` (default: every interface, as a
    /// container needs) and `CHIMERA_LISTEN_PORT` (default: the node's port from the topology).
    pub fn listen(&self, default_port: u16) -> Result<std::net::SocketAddr, ConfigError> {
        let host = ip_var(self, "CHIMERA_LISTEN_HOST", "0.0.0.0")?;
        let port = int_var(self, "CHIMERA_LISTEN_PORT", i64::from(default_port), 1, 65535)? as u16;
        Ok(std::net::SocketAddr::new(host, port))
    }

    /// Errors for unknown `CHIMERA_*` names in `.env`; warnings for those in the process.
    pub fn check_names(&self) -> Result<Vec<String>, ConfigError> {
        let known: HashSet<&str> = KNOWN_VARIABLES.iter().copied().collect();
        if let Some(name) = self
            .dotenv
            .keys()
            .find(|k| k.starts_with("CHIMERA_") && !known.contains(k.as_str()))
        {
            return Err(ConfigError::variable(
                name,
                &self.dotenv[name],
                format!("unknown CHIMERA_* variable in .env; {}", suggest(name)),
            ));
        }
        Ok(self
            .process
            .keys()
            .filter(|k| k.starts_with("CHIMERA_") && !known.contains(k.as_str()))
            .map(|k| format!("warning: ignoring unknown environment variable {k}; {}", suggest(k)))
            .collect())
    }
}

fn suggest(name: &str) -> String {
    let best = KNOWN_VARIABLES
        .iter()
        .min_by_key(|k| edit_distance(name, k))
        .expect("the list is not empty");
    if edit_distance(name, best) <= 4 {
        format!("did you mean {best}?")
    } else {
        "see the README for the known variables".to_string()
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// How services write their `tracing` output to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The experiment's topology and runtime settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvConfig {
    pub network_name: String,
    pub network_prefix: [u8; 3],
    pub subnet_mask: u8,
    pub workers: Vec<String>,
    pub cpu_shares: Vec<u32>,
    pub mapped_ports: Vec<u16>,
    pub workers_host: IpAddr,
    pub workers_port: u16,
    pub max_retries: u32,
    /// Seconds for a whole master -> worker call.
    pub timeout: f64,
    /// Seconds to open a connection to a worker: a dead address costs this, not `timeout`.
    pub connect_timeout: f64,
    /// Seconds for a master -> worker predict (default: `timeout`, at most 30).
    pub predict_timeout: f64,
    /// Explicit worker base URLs (local processes); else `http://PREFIX.(i+2):WORKERS_PORT`.
    pub workers_urls: Option<Vec<String>>,
    pub master_port: u16,
    pub master_host: IpAddr,
    pub max_body_bytes: usize,
    pub log_dir: Option<PathBuf>,
    /// Where nodes keep their fitted models (`CHIMERA_STATE_DIR`; default `EXP/.chimera/state`).
    pub state_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Metrics and the two log files (`CHIMERA_TELEMETRY=off` turns both off, to measure them).
    pub telemetry: bool,
    /// What one request may cost a node.
    pub limits: Limits,
    /// When the two logs rotate.
    pub log_rotation: crate::logs::Rotation,
    /// Who may call: `CHIMERA_API_TOKEN` and `CHIMERA_API_TOKEN_PREDICT`.
    pub auth: Auth,
}

/// What one request may cost a node, so that no client can hang it or exhaust its memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Seconds a client has to send its headers, and then its whole body (`CHIMERA_CLIENT_TIMEOUT`).
    pub client_timeout: f64,
    /// Columns a predict request may name (`CHIMERA_MAX_COLUMNS`).
    pub max_columns: usize,
    /// Large bodies (over [`LARGE_BODY_BYTES`]) a node handles at once; more wait for a 503
    /// with `Retry-After` (`CHIMERA_MAX_LARGE_REQUESTS`).
    pub max_large_requests: usize,
}

/// A body above this size counts against `CHIMERA_MAX_LARGE_REQUESTS`.
pub const LARGE_BODY_BYTES: usize = 1 << 20;

/// The bearer token workers (always) and the master's fit (and, if asked, predict) require.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    pub token: Option<String>,
    /// The master's predict asks for the token too (`CHIMERA_API_TOKEN_PREDICT=1`).
    pub predict: bool,
}

impl EnvConfig {
    /// Reads and checks every variable. The returned strings are warnings to print.
    pub fn load(src: &EnvSource) -> Result<(EnvConfig, Vec<String>), ConfigError> {
        let warnings = src.check_names()?;
        let network_name = string_var(src, "CHIMERA_NETWORK_NAME", "chimera-network")?;
        if !valid_docker_name(&network_name) {
            return Err(ConfigError::variable(
                "CHIMERA_NETWORK_NAME",
                &network_name,
                "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'",
            ));
        }
        let prefix_text = string_var(src, "CHIMERA_NETWORK_PREFIX", "192.168.10")?;
        let network_prefix = parse_prefix(&prefix_text).ok_or_else(|| {
            ConfigError::variable(
                "CHIMERA_NETWORK_PREFIX",
                &prefix_text,
                "must be three dot-separated integers 0..=255, e.g. 192.168.10",
            )
        })?;
        let subnet_mask = int_var(src, "CHIMERA_NETWORK_SUBNET_MASK", 24, 0, 32)? as u8;

        let workers = worker_names(src)?;
        let n = workers.len();

        let cpu_shares = match list_var::<i64>(src, "CHIMERA_WORKERS_CPU_SHARES", "integers")? {
            None => vec![2; n],
            Some((text, list)) => {
                check_len("CHIMERA_WORKERS_CPU_SHARES", &text, list.len(), n)?;
                if list.iter().any(|&s| !(2..=262_144).contains(&s)) {
                    return Err(ConfigError::variable(
                        "CHIMERA_WORKERS_CPU_SHARES",
                        &text,
                        "every CPU share must be an integer from 2 to 262144",
                    ));
                }
                list.into_iter().map(|s| s as u32).collect()
            }
        };
        let mapped_ports = match list_var::<i64>(src, "CHIMERA_WORKERS_MAPPED_PORTS", "ports")? {
            None => (0..n).map(|i| 101 + i as u16).collect(),
            Some((text, list)) => {
                check_len("CHIMERA_WORKERS_MAPPED_PORTS", &text, list.len(), n)?;
                if list.iter().any(|&p| !(1..=65535).contains(&p)) {
                    return Err(ConfigError::variable(
                        "CHIMERA_WORKERS_MAPPED_PORTS",
                        &text,
                        "every port must be an integer from 1 to 65535",
                    ));
                }
                let ports: Vec<u16> = list.into_iter().map(|p| p as u16).collect();
                if has_duplicates(&ports) {
                    return Err(ConfigError::variable(
                        "CHIMERA_WORKERS_MAPPED_PORTS",
                        &text,
                        "ports must be unique: each worker publishes its own host port",
                    ));
                }
                ports
            }
        };
        let workers_host = ip_var(src, "CHIMERA_WORKERS_HOST", "127.0.0.1")?;
        let workers_port = int_var(src, "CHIMERA_WORKERS_PORT", 80, 1, 65535)? as u16;
        let max_retries = int_var(src, "CHIMERA_WORKERS_ENDPOINTS_MAX_RETRIES", 0, 0, 100)? as u32;
        let timeout = seconds_var(src, "CHIMERA_WORKERS_ENDPOINTS_TIMEOUT", 100.0)?;
        let predict_timeout = seconds_var(src, "CHIMERA_WORKERS_PREDICT_TIMEOUT", timeout.min(30.0))?;
        let connect_timeout = seconds_var(src, "CHIMERA_WORKERS_CONNECT_TIMEOUT", 1.0)?;
        let workers_urls = match list_var::<String>(src, "CHIMERA_WORKERS_URLS", "URLs")? {
            None => None,
            Some((text, urls)) => {
                check_len("CHIMERA_WORKERS_URLS", &text, urls.len(), n)?;
                if let Some(bad) = urls.iter().find(|u| !u.starts_with("http://")) {
                    return Err(ConfigError::variable(
                        "CHIMERA_WORKERS_URLS",
                        &text,
                        format!("{bad:?} must start with http://"),
                    ));
                }
                Some(urls.into_iter().map(|u| u.trim_end_matches('/').to_string()).collect())
            }
        };
        let master_port = int_var(src, "CHIMERA_MASTER_PORT", 8080, 1, 65535)? as u16;
        if let Some(i) = mapped_ports.iter().position(|&p| p == master_port) {
            return Err(ConfigError::variable(
                "CHIMERA_MASTER_PORT",
                &master_port.to_string(),
                format!(
                    "must differ from every worker's mapped port (worker {:?} uses it)",
                    workers[i]
                ),
            ));
        }
        let master_host = ip_var(src, "CHIMERA_MASTER_HOST", "127.0.0.1")?;
        let max_body_bytes = int_var(src, "CHIMERA_MAX_BODY_BYTES", 256 << 20, 1024, 1 << 34)? as usize;
        let log_dir = src.get("CHIMERA_LOG_DIR").filter(|s| !s.is_empty()).map(PathBuf::from);
        let state_dir = src
            .get("CHIMERA_STATE_DIR")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let log_format = match src.get("CHIMERA_LOG_FORMAT").unwrap_or("text") {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::variable(
                    "CHIMERA_LOG_FORMAT",
                    other,
                    "must be one of: text, json",
                ))
            }
        };
        let log_level = src.get("CHIMERA_LOG_LEVEL").unwrap_or("info").to_string();
        let telemetry = match src.get("CHIMERA_TELEMETRY").unwrap_or("on").trim() {
            "on" | "" => true,
            "off" => false,
            other => {
                return Err(ConfigError::variable(
                    "CHIMERA_TELEMETRY",
                    other,
                    "must be one of: on, off",
                ))
            }
        };
        let limits = Limits {
            client_timeout: seconds_var(src, "CHIMERA_CLIENT_TIMEOUT", 30.0)?,
            max_columns: int_var(src, "CHIMERA_MAX_COLUMNS", 10_000, 1, 1_000_000)? as usize,
            max_large_requests: int_var(src, "CHIMERA_MAX_LARGE_REQUESTS", 2, 1, 1024)? as usize,
        };
        let log_rotation = crate::logs::Rotation {
            max_bytes: int_var(src, "CHIMERA_LOG_MAX_BYTES", 32 << 20, 4096, 1 << 40)? as u64,
            keep: int_var(src, "CHIMERA_LOG_FILES", 3, 0, 100)? as u32,
        };
        let auth = auth(src)?;
        Ok((
            EnvConfig {
                network_name,
                network_prefix,
                subnet_mask,
                workers,
                cpu_shares,
                mapped_ports,
                workers_host,
                workers_port,
                max_retries,
                timeout,
                connect_timeout,
                predict_timeout,
                workers_urls,
                master_port,
                master_host,
                max_body_bytes,
                log_dir,
                state_dir,
                log_format,
                log_level,
                telemetry,
                limits,
                log_rotation,
                auth,
            },
            warnings,
        ))
    }

    /// The address the master calls worker `i` at.
    pub fn worker_url(&self, i: usize) -> String {
        match &self.workers_urls {
            Some(urls) => urls[i].clone(),
            None => format!("http://{}:{}", self.worker_ip(i), self.workers_port),
        }
    }

    /// Worker `i`'s static address on the Docker network: `PREFIX.(i+2)`, as in the original.
    pub fn worker_ip(&self, i: usize) -> String {
        let [a, b, c] = self.network_prefix;
        format!("{a}.{b}.{c}.{}", i + 2)
    }

    /// The master's static address: the one after the workers'.
    pub fn master_ip(&self) -> String {
        self.worker_ip(self.workers.len())
    }
}

/// `CHIMERA_API_TOKEN`: empty means none; otherwise at least 16 visible ASCII characters
/// (it travels in an HTTP header). `CHIMERA_API_TOKEN_PREDICT=1` needs a token.
fn auth(src: &EnvSource) -> Result<Auth, ConfigError> {
    let token = src.get("CHIMERA_API_TOKEN").map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = token {
        if t.len() < 16 || !t.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::variable(
                "CHIMERA_API_TOKEN",
                "(hidden)",
                "must be at least 16 visible ASCII characters, no spaces (e.g. the output of `openssl rand -hex 32`)",
            ));
        }
    }
    let predict = match src.get("CHIMERA_API_TOKEN_PREDICT").unwrap_or("0").trim() {
        "0" | "" => false,
        "1" => true,
        other => {
            return Err(ConfigError::variable(
                "CHIMERA_API_TOKEN_PREDICT",
                other,
                "must be 0 or 1",
            ))
        }
    };
    if predict && token.is_none() {
        return Err(ConfigError::variable(
            "CHIMERA_API_TOKEN_PREDICT",
            "1",
            "needs CHIMERA_API_TOKEN to be set: predict cannot ask for a token that does not exist",
        ));
    }
    Ok(Auth {
        token: token.map(str::to_string),
        predict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> EnvSource {
        let mut s = EnvSource::default();
        s.dotenv
            .insert("CHIMERA_WORKERS_NODES_NAMES".into(), "[\"w1\", \"w2\"]".into());
        for (k, v) in pairs {
            s.dotenv.insert(k.to_string(), v.to_string());
        }
        s
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        EnvConfig::load(&src(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_the_seeds() {
        let (c, warnings) = EnvConfig::load(&src(&[])).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(c.network_name, "chimera-network");
        assert_eq!(c.network_prefix, [192, 168, 10]);
        assert_eq!(c.subnet_mask, 24);
        assert_eq!(c.cpu_shares, vec![2, 2]);
        assert_eq!(c.mapped_ports, vec![101, 102]);
        assert_eq!(c.workers_host.to_string(), "127.0.0.1");
        assert_eq!(c.workers_port, 80);
        assert_eq!(c.max_retries, 0);
        assert_eq!(c.timeout, 100.0);
        assert_eq!(c.master_port, 8080);
        assert_eq!(c.worker_url(1), "http://192.168.10.3:80");
        assert_eq!(c.master_ip(), "192.168.10.4");
    }

    #[test]
    fn process_environment_wins_over_dotenv() {
        let mut s = src(&[("CHIMERA_MASTER_PORT", "9000")]);
        s.process.insert("CHIMERA_MASTER_PORT".into(), "9100".into());
        assert_eq!(EnvConfig::load(&s).unwrap().0.master_port, 9100);
    }

    #[test]
    fn numbers_parse_leniently() {
        let (c, _) = EnvConfig::load(&src(&[
            ("CHIMERA_WORKERS_ENDPOINTS_TIMEOUT", "2"),
            ("CHIMERA_WORKERS_PORT", "8081.0"),
            ("CHIMERA_WORKERS_MAPPED_PORTS", "[\"7001\", 7002]"),
        ]))
        .unwrap();
        assert_eq!(c.timeout, 2.0);
        assert_eq!(c.workers_port, 8081);
        assert_eq!(c.mapped_ports, vec![7001, 7002]);
    }

    #[test]
    fn rule_names_required() {
        let e = EnvConfig::load(&EnvSource::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("CHIMERA_WORKERS_NODES_NAMES=\"\" is invalid: is required"),
            "{e}"
        );
    }

    #[test]
    fn rule_names_unique_and_valid() {
        assert!(err(&[("CHIMERA_WORKERS_NODES_NAMES", "[\"a\",\"a\"]")]).contains("must be unique"));
        assert!(err(&[("CHIMERA_WORKERS_NODES_NAMES", "[\"Bad Name\"]")]).contains("not a valid name"));
        assert!(err(&[("CHIMERA_WORKERS_NODES_NAMES", "w1,w2")]).contains("must be a JSON list"));
        assert!(err(&[("CHIMERA_WORKERS_NODES_NAMES", "[]")]).contains("at least one"));
        assert!(err(&[("CHIMERA_WORKERS_NODES_NAMES", "[\"master\"]")]).contains("reserved"));
    }

    #[test]
    fn rule_network_prefix() {
        let e = err(&[("CHIMERA_NETWORK_PREFIX", "192.168.300")]);
        assert_eq!(
            e,
            "CHIMERA_NETWORK_PREFIX=\"192.168.300\" is invalid: must be three dot-separated integers 0..=255, e.g. 192.168.10"
        );
        assert!(err(&[("CHIMERA_NETWORK_PREFIX", "10.0")]).contains("three dot-separated"));
    }

    #[test]
    fn rule_subnet_mask() {
        assert!(err(&[("CHIMERA_NETWORK_SUBNET_MASK", "33")]).contains("integer from 0 to 32"));
        assert!(err(&[("CHIMERA_NETWORK_SUBNET_MASK", "x")]).contains("CHIMERA_NETWORK_SUBNET_MASK=\"x\""));
    }

    #[test]
    fn rule_network_name() {
        assert!(err(&[("CHIMERA_NETWORK_NAME", "-bad")]).contains("CHIMERA_NETWORK_NAME"));
    }

    #[test]
    fn rule_cpu_shares() {
        assert!(err(&[("CHIMERA_WORKERS_CPU_SHARES", "[1, 2]")]).contains("from 2 to 262144"));
        assert!(err(&[("CHIMERA_WORKERS_CPU_SHARES", "[2]")]).contains("one entry per worker"));
    }

    #[test]
    fn rule_mapped_ports() {
        assert!(err(&[("CHIMERA_WORKERS_MAPPED_PORTS", "[101, 101]")]).contains("unique"));
        assert!(err(&[("CHIMERA_WORKERS_MAPPED_PORTS", "[0, 70000]")]).contains("from 1 to 65535"));
        assert!(err(&[("CHIMERA_WORKERS_MAPPED_PORTS", "[101]")]).contains("one entry per worker"));
        assert!(err(&[("CHIMERA_MASTER_PORT", "102")]).contains("worker \"w2\" uses it"));
    }

    #[test]
    fn rule_host_and_port() {
        assert!(err(&[("CHIMERA_WORKERS_HOST", "localhost")]).contains("must be an IP address"));
        assert!(EnvConfig::load(&src(&[("CHIMERA_WORKERS_HOST", "0.0.0.0")])).is_ok());
        assert!(err(&[("CHIMERA_WORKERS_PORT", "0")]).contains("from 1 to 65535"));
    }

    #[test]
    fn rule_retries_and_timeouts() {
        assert!(err(&[("CHIMERA_WORKERS_ENDPOINTS_MAX_RETRIES", "-1")]).contains("from 0 to 100"));
        assert!(err(&[("CHIMERA_WORKERS_ENDPOINTS_TIMEOUT", "0")]).contains("greater than 0"));
        assert!(err(&[("CHIMERA_WORKERS_CONNECT_TIMEOUT", "NaN")]).contains("greater than 0"));
    }

    #[test]
    fn rule_worker_urls() {
        assert!(err(&[("CHIMERA_WORKERS_URLS", "[\"127.0.0.1:1\", \"x\"]")]).contains("must start with http://"));
        let (c, _) = EnvConfig::load(&src(&[(
            "CHIMERA_WORKERS_URLS",
            "[\"http://127.0.0.1:7001/\", \"http://127.0.0.1:7002\"]",
        )]))
        .unwrap();
        assert_eq!(c.worker_url(0), "http://127.0.0.1:7001");
    }

    #[test]
    fn rule_telemetry() {
        assert!(err(&[("CHIMERA_TELEMETRY", "maybe")]).contains("one of: on, off"));
        assert!(
            !EnvConfig::load(&src(&[("CHIMERA_TELEMETRY", "off")]))
                .unwrap()
                .0
                .telemetry
        );
    }

    #[test]
    fn rule_log_format() {
        assert!(err(&[("CHIMERA_LOG_FORMAT", "xml")]).contains("one of: text, json"));
    }

    #[test]
    fn unknown_names_error_in_dotenv_and_warn_in_process() {
        let e = err(&[("CHIMERA_WORKER_PORT", "80")]);
        assert!(
            e.contains("unknown CHIMERA_* variable") && e.contains("did you mean CHIMERA_WORKERS_PORT?"),
            "{e}"
        );
        let mut s = src(&[]);
        s.process.insert("CHIMERA_SOMETHING_ELSE".into(), "1".into());
        s.process.insert("PATH".into(), "/bin".into());
        let (_, warnings) = EnvConfig::load(&s).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("CHIMERA_SOMETHING_ELSE"));
    }
}
