//! The Swarm stack and the Kubernetes manifests: deterministic (golden files), built from the
//! same experiment config as the Compose file, and read back into the Kubernetes API types.
//! Rewrite the golden files after an intended change with `UPDATE_GOLDEN=1 cargo xtask test`.

mod common;
use common::{example, golden};

use chimera_compose::kubernetes::{self, KubeData, KubeOptions, Manifests};
use chimera_compose::swarm::{self, SwarmOptions};
use chimera_compose::{parse_registry, Images};
use chimera_shared::config::{dotenv, EnvSource, Experiment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn load_dir(dir: &Path, extra: &[(&str, &str)]) -> Experiment {
    let mut src = EnvSource {
        dotenv: dotenv::read(&dir.join(".env")).unwrap(),
        ..Default::default()
    };
    for (k, v) in extra {
        src.dotenv.insert((*k).to_string(), (*v).to_string());
    }
    Experiment::load_with(dir, &src).unwrap()
}

fn swarm_options() -> SwarmOptions {
    SwarmOptions {
        data_root: PathBuf::from("/srv/chimera/hybrid"),
        images: Images::new(None),
        publish_workers: false,
    }
}

/// A scratch experiment: `workers` are (name, spec text) pairs.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str, workers: &[(&str, &str)]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("chimera-clusters-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("chimera_workers")).unwrap();
        std::fs::write(dir.join("chimera_master.yaml"), "kind: aggregation\n").unwrap();
        let names: Vec<String> = workers.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let ports: Vec<String> = (0..workers.len()).map(|i| (9101 + i).to_string()).collect();
        std::fs::write(
            dir.join(".env"),
            format!(
                "CHIMERA_WORKERS_NODES_NAMES='[{}]'\nCHIMERA_WORKERS_MAPPED_PORTS='[{}]'\nCHIMERA_WORKERS_CPU_SHARES='[{}]'\nCHIMERA_NETWORK_NAME=Scratch_{tag}\n",
                names.join(", "),
                ports.join(", "),
                (1..=workers.len()).map(|i| (i * 2).to_string()).collect::<Vec<_>>().join(", ")
            ),
        )
        .unwrap();
        for (name, spec) in workers {
            std::fs::create_dir_all(dir.join("chimera_train_data").join(name)).unwrap();
            std::fs::write(dir.join("chimera_workers").join(format!("{name}.yaml")), spec).unwrap();
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_stack_matches_its_golden_file_and_follows_the_swarm_rules() {
    let exp = load_dir(&example("hybrid-regression"), &[]);
    let yaml = swarm::generate(&exp, &swarm_options()).unwrap();
    golden("hybrid-regression.stack.yml", &yaml);
    assert_eq!(yaml, swarm::generate(&exp, &swarm_options()).unwrap(), "deterministic");

    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(doc["version"].as_str(), Some("3.8"));
    let services = doc["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["worker-1", "worker-2", "worker-3", "master"]);
    for name in &names {
        let s = &doc["services"][*name];
        assert_eq!(s["deploy"]["endpoint_mode"].as_str(), Some("dnsrr"), "{name}");
        assert_eq!(s["deploy"]["restart_policy"]["condition"].as_str(), Some("any"));
        assert_eq!(s["read_only"].as_bool(), Some(true));
        assert_eq!(s["cap_drop"][0].as_str(), Some("ALL"));
        assert_eq!(s["healthcheck"]["test"][0].as_str(), Some("CMD"));
        // Keys a stack ignores (with a warning) are not written.
        for ignored in [
            "cpu_shares",
            "mem_limit",
            "depends_on",
            "tmpfs",
            "security_opt",
            "pids_limit",
        ] {
            assert!(s[ignored].is_null(), "{name} has {ignored}");
        }
        assert!(
            s["networks"].as_sequence().unwrap().len() == 1 && s["networks"][0] == "chimera",
            "{name}: on the overlay network, with no static address"
        );
        let tmp = s["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["target"] == "/tmp")
            .expect("a /tmp volume");
        assert_eq!(tmp["type"].as_str(), Some("tmpfs"));
    }
    // Workers: no published ports unless asked; their own data from the data root.
    let w2 = &doc["services"]["worker-2"];
    assert!(w2["ports"].is_null());
    let bind = w2["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["type"] == "bind")
        .unwrap();
    assert_eq!(
        bind["source"].as_str(),
        Some("/srv/chimera/hybrid/chimera_train_data/worker-2")
    );
    assert_eq!(bind["target"].as_str(), Some("/chimera/chimera_train_data/worker-2"));
    assert_eq!(bind["read_only"].as_bool(), Some(true));
    // The master: workers by service name, published in host mode on its port, on a manager.
    let master = &doc["services"]["master"];
    assert_eq!(
        master["environment"]["CHIMERA_WORKERS_URLS"].as_str(),
        Some(r#"["http://worker-1:80","http://worker-2:80","http://worker-3:80"]"#)
    );
    assert_eq!(master["ports"][0]["published"].as_u64(), Some(8200));
    assert_eq!(master["ports"][0]["target"].as_u64(), Some(8200));
    assert_eq!(master["ports"][0]["mode"].as_str(), Some("host"));
    assert_eq!(
        master["deploy"]["placement"]["constraints"][0].as_str(),
        Some("node.role == manager")
    );
    assert_eq!(doc["networks"]["chimera"]["driver"].as_str(), Some("overlay"));
    // Every node reads .env and every spec from configs named by content.
    let configs = doc["configs"].as_mapping().unwrap();
    assert_eq!(configs.len(), 5, ".env, the master's spec, three workers' specs");
    let targets: Vec<&str> = master["configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "/chimera/.env",
            "/chimera/chimera_master.yaml",
            "/chimera/chimera_workers/worker-1.yaml",
            "/chimera/chimera_workers/worker-2.yaml",
            "/chimera/chimera_workers/worker-3.yaml"
        ]
    );
}

#[test]
fn cpu_shares_become_cpu_limits_and_knobs_reach_the_stack() {
    let scratch = Scratch::new(
        "knobs",
        &[
            (
                "w1",
                "kind: regression\nmodel: decision_tree\nmem_limit: 64m\nnode: gpu-box.1\n",
            ),
            ("w2", "kind: regression\nmodel: decision_tree\n"),
        ],
    );
    let exp = load_dir(&scratch.0, &[]);
    let options = SwarmOptions {
        data_root: PathBuf::from("/data"),
        images: Images::new(Some("registry.lan:5000/chimera")),
        publish_workers: true,
    };
    let doc: serde_yaml::Value = serde_yaml::from_str(&swarm::generate(&exp, &options).unwrap()).unwrap();
    let (w1, w2) = (&doc["services"]["w1"], &doc["services"]["w2"]);
    // Shares 2 and 4: the larger gets one CPU, the other keeps the ratio.
    assert_eq!(w1["deploy"]["resources"]["limits"]["cpus"].as_str(), Some("0.50"));
    assert_eq!(w2["deploy"]["resources"]["limits"]["cpus"].as_str(), Some("1.00"));
    assert_eq!(w1["deploy"]["resources"]["limits"]["memory"].as_str(), Some("64m"));
    assert_eq!(w2["deploy"]["resources"]["limits"]["memory"].as_str(), Some("2g"));
    assert_eq!(
        w1["deploy"]["placement"]["constraints"][0].as_str(),
        Some("node.labels.chimera == gpu-box.1")
    );
    assert!(w2["deploy"]["placement"].is_null());
    assert_eq!(w1["ports"][0]["published"].as_u64(), Some(9101));
    assert_eq!(w1["ports"][0]["mode"].as_str(), Some("host"));
    assert_eq!(
        w1["image"].as_str(),
        Some("registry.lan:5000/chimera/chimera-worker:latest")
    );
    assert_eq!(
        doc["services"]["master"]["image"].as_str(),
        Some("registry.lan:5000/chimera/chimera-master:latest")
    );

    // The same knobs on Kubernetes: a nodeSelector, limits in Kubernetes units.
    let m = kubernetes::manifests(
        &exp,
        &KubeOptions {
            images: Images::new(None),
            data: KubeData::HostPath(PathBuf::from("/data")),
        },
    )
    .unwrap();
    assert_eq!(m.namespace.metadata.name.as_deref(), Some("scratch-knobs"));
    let pod = |d: &Deployment| d.spec.clone().unwrap().template.spec.unwrap();
    let w1 = pod(&m.workers[0].0);
    assert_eq!(w1.node_selector.unwrap()["chimera"], "gpu-box.1");
    let limits = w1.containers[0].resources.clone().unwrap().limits.unwrap();
    assert_eq!(limits["cpu"].0, "500m");
    assert_eq!(limits["memory"].0, "64Mi");
    let data = w1.volumes.unwrap().into_iter().find(|v| v.name == "data").unwrap();
    assert_eq!(data.host_path.unwrap().path, "/data/chimera_train_data/w1");
    assert!(pod(&m.workers[1].0).node_selector.is_none());
}

#[test]
fn a_changed_spec_becomes_a_new_config() {
    let scratch = Scratch::new("configs", &[("w1", "kind: regression\nmodel: decision_tree\n")]);
    let names = |exp: &Experiment| -> Vec<String> {
        let doc: serde_yaml::Value = serde_yaml::from_str(&swarm::generate(exp, &swarm_options()).unwrap()).unwrap();
        doc["configs"]
            .as_mapping()
            .unwrap()
            .values()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let before = names(&load_dir(&scratch.0, &[]));
    std::fs::write(
        scratch.0.join("chimera_workers/w1.yaml"),
        "kind: regression\nmodel: decision_tree\nparams: {max_depth: 3}\n",
    )
    .unwrap();
    let after = names(&load_dir(&scratch.0, &[]));
    assert_eq!(before[..2], after[..2], ".env and the master's spec did not change");
    assert_ne!(
        before[2], after[2],
        "configs are immutable: a changed file is a new config"
    );
    assert!(after[2].starts_with("Scratch_configs_spec-w1_"), "{}", after[2]);
}

#[test]
fn bad_cluster_input_is_refused_with_what_to_do() {
    let exp = load_dir(&example("hybrid-regression"), &[]);
    let relative = SwarmOptions {
        data_root: PathBuf::from("data"),
        ..swarm_options()
    };
    let e = swarm::generate(&exp, &relative).unwrap_err();
    assert!(
        e.starts_with("--data-root data is invalid: must be an absolute path"),
        "{e}"
    );

    let scratch = Scratch::new("names", &[("worker_1", "kind: regression\nmodel: decision_tree\n")]);
    let exp = load_dir(&scratch.0, &[]);
    let options = KubeOptions {
        images: Images::new(None),
        data: KubeData::Claim("chimera-data".into()),
    };
    let e = kubernetes::manifests(&exp, &options).unwrap_err();
    assert!(
        e.contains("\"worker_1\", which cannot be a Kubernetes Service name"),
        "{e}"
    );
    std::fs::remove_file(scratch.0.join(".env")).unwrap();
    let exp = load_dir(
        &scratch.0,
        &[
            ("CHIMERA_WORKERS_NODES_NAMES", "[\"worker_1\"]"),
            ("CHIMERA_WORKERS_MAPPED_PORTS", "[9101]"),
        ],
    );
    let e = swarm::generate(&exp, &swarm_options()).unwrap_err();
    assert!(e.contains(".env") && e.contains("each must exist"), "{e}");

    let bad = Scratch::new(
        "badnode",
        &[("w1", "kind: regression\nmodel: decision_tree\nnode: \"a b\"\n")],
    );
    let mut src = EnvSource {
        dotenv: dotenv::read(&bad.0.join(".env")).unwrap(),
        ..Default::default()
    };
    src.process.clear();
    let e = Experiment::load_with(&bad.0, &src).unwrap_err().to_string();
    assert!(e.contains("node") && e.contains("must be a node label value"), "{e}");
}

#[test]
fn registry_names_are_checked() {
    assert_eq!(
        parse_registry("registry.lan:5000/chimera").unwrap(),
        "registry.lan:5000/chimera"
    );
    assert!(parse_registry("10.0.0.5/team/chimera").is_ok());
    for (bad, why) in [
        ("registry.lan:5000", "names no prefix"),
        ("https://registry.lan/chimera", "no scheme"),
        ("registry.lan:0/chimera", "the port must be"),
        ("registry.lan:5000/Chimera", "lowercase"),
        ("registry.lan:5000/chimera/", "no trailing"),
        ("registry.lan:5000/chimera:v1", "no tag"),
    ] {
        let e = parse_registry(bad).unwrap_err();
        assert!(e.starts_with(&format!("CHIMERA_REGISTRY={bad:?} is invalid")), "{e}");
        assert!(e.contains(why), "{bad}: {e}");
    }
}

/// Every manifest file, each document read back into its Kubernetes type.
fn read_back(files: &[(String, String)]) -> Manifests {
    let docs = |name: &str| -> Vec<serde_yaml::Value> {
        let text = &files.iter().find(|(f, _)| f == name).unwrap().1;
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde_yaml::Value::deserialize(d).unwrap())
            .collect()
    };
    let pair = |name: &str| -> (Deployment, Service) {
        let d = docs(name);
        assert_eq!(d.len(), 2, "{name}: a Deployment and a Service");
        (
            serde_yaml::from_value(d[0].clone()).unwrap(),
            serde_yaml::from_value(d[1].clone()).unwrap(),
        )
    };
    let namespace: Namespace = serde_yaml::from_value(docs("00-namespace.yaml")[0].clone()).unwrap();
    let config: ConfigMap = serde_yaml::from_value(docs("01-config.yaml")[0].clone()).unwrap();
    let workers = files
        .iter()
        .filter(|(f, _)| f.starts_with("10-"))
        .map(|(f, _)| pair(f))
        .collect();
    Manifests {
        namespace,
        config,
        workers,
        master: pair("20-master.yaml"),
    }
}

#[test]
fn the_manifests_match_their_golden_file_and_read_back_into_the_api_types() {
    let exp = load_dir(&example("sgd-regression"), &[]);
    let options = KubeOptions {
        images: Images::new(None),
        data: KubeData::Claim("chimera-data".into()),
    };
    let files = kubernetes::generate(&exp, &options).unwrap();
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "00-namespace.yaml",
            "01-config.yaml",
            "10-worker-1.yaml",
            "10-worker-2.yaml",
            "20-master.yaml"
        ],
        "the namespace sorts first: kubectl apply -f reads a folder by name"
    );
    let mut all = String::new();
    for (f, text) in &files {
        all.push_str(&format!("### {f}\n{text}"));
    }
    golden("sgd-regression.k8s.yml", &all);
    assert_eq!(files, kubernetes::generate(&exp, &options).unwrap(), "deterministic");

    // What was written is what was meant: the files read back into the typed objects.
    let back = read_back(&files);
    assert_eq!(back, kubernetes::manifests(&exp, &options).unwrap());

    let ns = "chimera-sgd-regression";
    assert_eq!(back.namespace.metadata.name.as_deref(), Some(ns));
    let data = back.config.data.as_ref().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, [".env", "chimera_master.yaml", "worker-1.yaml", "worker-2.yaml"]);
    assert_eq!(
        data["chimera_master.yaml"],
        std::fs::read_to_string(example("sgd-regression").join("chimera_master.yaml")).unwrap()
    );
    for (i, (deployment, service)) in back.workers.iter().enumerate() {
        let name = format!("worker-{}", i + 1);
        assert_eq!(deployment.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(deployment.metadata.namespace.as_deref(), Some(ns));
        assert_eq!(service.metadata.name.as_deref(), Some(name.as_str()));
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.ports.as_ref().unwrap()[0].port, 80);
        let d = deployment.spec.as_ref().unwrap();
        assert_eq!(
            d.selector.match_labels, spec.selector,
            "the Service selects the Deployment's pods"
        );
        let template = &d.template;
        let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        for (k, v) in spec.selector.as_ref().unwrap() {
            assert_eq!(labels.get(k), Some(v), "the pods carry the selected labels");
        }
        let annotations = template.metadata.as_ref().unwrap().annotations.as_ref().unwrap();
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], "80");
        let pod = template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap()
        };
        assert_eq!(probe_path(&c.liveness_probe), "/healthz");
        assert_eq!(probe_path(&c.readiness_probe), "/readyz");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        let env: Vec<(&str, &str)> = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap()))
            .collect();
        assert!(env.contains(&("CHIMERA_NODE_NAME", name.as_str())));
        let data_mount = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == "data")
            .unwrap();
        assert_eq!(data_mount.mount_path, format!("/chimera/chimera_train_data/{name}"));
        assert_eq!(
            data_mount.sub_path.as_deref(),
            Some(&*format!("chimera_train_data/{name}"))
        );
    }
    let (master, service) = &back.master;
    let c = &master.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    let urls = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "CHIMERA_WORKERS_URLS")
        .and_then(|e| e.value.clone())
        .unwrap();
    assert_eq!(urls, r#"["http://worker-1:80","http://worker-2:80"]"#);
    assert_eq!(service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port, 8300);
    assert!(
        c.volume_mounts.as_ref().unwrap().iter().all(|m| m.name != "data"),
        "the master reads no training data"
    );
}
