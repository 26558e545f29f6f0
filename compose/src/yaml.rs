//! A tiny YAML writer that quotes every string, so no YAML 1.1 reader misreads a value: the
//! Compose file and the Swarm stack are written with it (Kubernetes manifests are serialized
//! from typed structures instead).

use std::fmt::Write as _;

pub(crate) struct Yaml(pub(crate) String);

impl Yaml {
    pub(crate) fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.0, "{:indent$}{text}", "", indent = indent * 2);
    }
    pub(crate) fn kv(&mut self, indent: usize, key: &str, value: &str) {
        self.line(indent, &format!("{key}: {}", quote(value)));
    }
    pub(crate) fn raw(&mut self, indent: usize, key: &str, value: impl std::fmt::Display) {
        self.line(indent, &format!("{key}: {value}"));
    }
    pub(crate) fn item(&mut self, indent: usize, value: &str) {
        self.line(indent, &format!("- {}", quote(value)));
    }
}

pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize") // JSON strings are valid YAML scalars.
}

/// The health check of a Chimera node: its own binary probes its `/healthz` (a scratch image
/// has no shell or curl), every `interval`.
pub(crate) fn healthcheck(y: &mut Yaml, binary: &str, interval: &str) {
    y.line(2, "healthcheck:");
    y.line(
        3,
        &format!("test: [{}, {}, {}]", quote("CMD"), quote(binary), quote("healthcheck")),
    );
    y.kv(3, "interval", interval);
    y.kv(3, "timeout", "2s");
    y.raw(3, "retries", 3);
    y.kv(3, "start_period", "10s");
}
