//! The generator's output is deterministic (golden files) and validated.
//! Rewrite the golden files after an intended change with `UPDATE_GOLDEN=1 cargo test -p chimera-compose`.

mod common;
use common::{example, golden};

use chimera_compose::{generate, plan, prometheus_config, Options};
use chimera_shared::config::{dotenv, EnvSource, Experiment};

/// The example's `.env` alone, whatever the test process's environment holds.
fn load(name: &str, extra: &[(&str, &str)]) -> Experiment {
    let dir = example(name);
    let mut src = EnvSource {
        dotenv: dotenv::read(&dir.join(".env")).unwrap(),
        ..Default::default()
    };
    for (k, v) in extra {
        src.dotenv.insert(k.to_string(), v.to_string());
    }
    Experiment::load_with(&dir, &src).unwrap()
}

#[test]
fn bagging_example_matches_its_golden_file() {
    let exp = load("bagging-classification", &[]);
    let yaml = generate(&exp, &Options::default()).unwrap();
    golden("bagging-classification.yml", &yaml);
    assert_eq!(yaml, generate(&exp, &Options::default()).unwrap(), "deterministic");
}

#[test]
fn with_prometheus_adds_the_service_and_a_scrape_config() {
    let exp = load("hybrid-regression", &[]);
    let yaml = generate(
        &exp,
        &Options {
            with_prometheus: true,
            ..Default::default()
        },
    )
    .unwrap();
    golden("hybrid-regression-prometheus.yml", &yaml);
    let prom = prometheus_config(&exp).unwrap();
    golden("hybrid-regression-prometheus.prometheus.yml", &prom);
    let parsed: serde_yaml::Value = serde_yaml::from_str(&prom).unwrap();
    let targets: Vec<String> = parsed["scrape_configs"][0]["static_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["targets"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        targets,
        [
            "192.168.22.5:8200",
            "192.168.22.2:80",
            "192.168.22.3:80",
            "192.168.22.4:80"
        ]
    );
}

#[test]
fn the_file_follows_the_compose_rules() {
    let exp = load("bagging-classification", &[("CHIMERA_WORKERS_HOST", "0.0.0.0")]);
    let yaml = generate(&exp, &Options::default()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let top: Vec<&str> = doc.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        top,
        ["services", "networks", "volumes"],
        "no version: and no top-level name: (1.29 rejects it)"
    );
    assert!(!yaml.contains("${"), "literal values only");
    let services = doc["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["worker-1", "worker-2", "worker-3", "master"]);
    let w2 = &doc["services"]["worker-2"];
    assert_eq!(w2["ports"][0].as_str(), Some("0.0.0.0:8102:80"));
    assert_eq!(w2["networks"]["chimera"]["ipv4_address"].as_str(), Some("192.168.21.3"));
    assert_eq!(w2["cpu_shares"].as_u64(), Some(2));
    assert_eq!(w2["read_only"].as_bool(), Some(true));
    assert_eq!(w2["healthcheck"]["test"][0].as_str(), Some("CMD"));
    assert_eq!(w2["healthcheck"]["test"][1].as_str(), Some("/chimera-worker"));
    let master = &doc["services"]["master"];
    assert_eq!(
        master["networks"]["chimera"]["ipv4_address"].as_str(),
        Some("192.168.21.5")
    );
    assert_eq!(master["ports"][0].as_str(), Some("127.0.0.1:8100:8100"));
    assert_eq!(
        master["depends_on"]["worker-1"]["condition"].as_str(),
        Some("service_started")
    );
    assert_eq!(
        master["environment"]["CHIMERA_WORKERS_URLS"].as_str(),
        Some(r#"["http://192.168.21.2:80","http://192.168.21.3:80","http://192.168.21.4:80"]"#)
    );
    let net = &doc["networks"]["chimera"];
    assert_eq!(net["name"].as_str(), Some("chimera-bagging"));
    assert_eq!(net["ipam"]["config"][0]["subnet"].as_str(), Some("192.168.21.0/24"));
    assert_eq!(net["ipam"]["config"][0]["gateway"].as_str(), Some("192.168.21.1"));
}

#[test]
fn knobs_reach_the_file() {
    let dir = std::env::temp_dir().join(format!("chimera-compose-knobs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("chimera_workers")).unwrap();
    std::fs::create_dir_all(dir.join("chimera_train_data/w1")).unwrap();
    std::fs::write(dir.join("chimera_master.yaml"), "kind: aggregation\n").unwrap();
    std::fs::write(
        dir.join("chimera_workers/w1.yaml"),
        "kind: regression\nmodel: decision_tree\nmem_limit: 64m\ndelay_ms: 50\n",
    )
    .unwrap();
    let mut src = EnvSource::default();
    src.dotenv
        .insert("CHIMERA_WORKERS_NODES_NAMES".into(), "[\"w1\"]".into());
    let exp = Experiment::load_with(&dir, &src).unwrap();
    let yaml = generate(&exp, &Options::default()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(doc["services"]["w1"]["mem_limit"].as_str(), Some("64m"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn addresses_must_fit_the_subnet() {
    let exp = load("bagging-classification", &[("CHIMERA_NETWORK_SUBNET_MASK", "30")]);
    let e = plan(&exp.env).unwrap_err();
    assert!(e.starts_with("CHIMERA_NETWORK_SUBNET_MASK=30 is invalid"), "{e}");
    let exp = load("bagging-classification", &[("CHIMERA_NETWORK_SUBNET_MASK", "16")]);
    let p = plan(&exp.env).unwrap();
    assert_eq!(p.subnet, "192.168.0.0/16");
    assert_eq!(p.gateway.to_string(), "192.168.21.1");
    let exp = load("bagging-classification", &[("CHIMERA_NETWORK_SUBNET_MASK", "29")]);
    assert_eq!(plan(&exp.env).unwrap().prometheus.to_string(), "192.168.21.6");
}

#[test]
fn input_fingerprints_become_labels() {
    let exp = load("bagging-classification", &[]);
    let mut options = Options::default();
    options.input_labels.insert("worker-2".into(), "abc123".into());
    options.input_labels.insert("master".into(), "def456".into());
    let doc: serde_yaml::Value = serde_yaml::from_str(&generate(&exp, &options).unwrap()).unwrap();
    assert_eq!(
        doc["services"]["worker-2"]["labels"]["chimera.inputs"].as_str(),
        Some("abc123")
    );
    assert_eq!(
        doc["services"]["master"]["labels"]["chimera.inputs"].as_str(),
        Some("def456")
    );
    assert!(doc["services"]["worker-1"]["labels"].is_null());
}

/// Every node runs with no capabilities, no privilege escalation, a process and a memory
/// limit, and health checks every 30 s (each costs the engine a process start: every 3 s cost
/// an idle experiment 11% of a core here).
#[test]
fn every_node_is_locked_down() {
    let exp = load("bagging-classification", &[]);
    let yaml = generate(&exp, &Options::default()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    for name in ["worker-1", "worker-2", "worker-3", "master"] {
        let s = &doc["services"][name];
        assert_eq!(s["cap_drop"][0].as_str(), Some("ALL"), "{name}");
        assert_eq!(s["security_opt"][0].as_str(), Some("no-new-privileges:true"), "{name}");
        assert!(s["pids_limit"].as_u64().is_some_and(|n| n > 0 && n <= 1024), "{name}");
        assert!(s["mem_limit"].as_str().is_some_and(|m| !m.is_empty()), "{name}");
        assert_eq!(s["read_only"].as_bool(), Some(true), "{name}");
        assert_eq!(s["healthcheck"]["interval"].as_str(), Some("30s"), "{name}");
    }
}
