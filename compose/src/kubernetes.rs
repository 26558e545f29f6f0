//! The same experiment as Kubernetes manifests (`kubectl apply -f EXP/k8s/`), built from the
//! `k8s-openapi` types so every manifest is well-formed by construction.
//!
//! One namespace per experiment; a ConfigMap with `.env` and the spec files; per worker a
//! Deployment and a ClusterIP Service named after it (the master finds `http://worker-1:80`
//! through the cluster's DNS); the master's Deployment and Service.

use crate::{
    cpu_fraction, experiment_files, mem_bytes, node_environment, worker_urls, Images, DEFAULT_MEM_LIMIT,
    EXPERIMENT_MOUNT, LOG_MOUNT, STATE_MOUNT,
};
use chimera_shared::config::experiment::DATA_DIR;
use chimera_shared::config::Experiment;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    HTTPGetAction, HostPathVolumeSource, Namespace, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
    Sysctl, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifests' folder in the experiment folder.
pub const K8S_DIR: &str = "k8s";
/// The ConfigMap holding `.env` and the spec files.
pub const CONFIG_MAP: &str = "chimera-experiment";
/// The node label a worker's `node:` setting selects on.
pub const NODE_LABEL: &str = "chimera";
/// The user and group the images run as (see the Dockerfiles).
const SERVICE_USER: i64 = 65532;

/// Where the workers' training data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum KubeData {
    /// A PersistentVolumeClaim (made and filled by you) holding `chimera_train_data/<worker>/`.
    Claim(String),
    /// A folder holding `chimera_train_data/<worker>/` on every node that may run a worker.
    HostPath(PathBuf),
}

#[derive(Debug, Clone)]
pub struct KubeOptions {
    pub images: Images,
    pub data: KubeData,
}

/// Everything `kubectl apply -f EXP/k8s/` creates, as typed objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    pub namespace: Namespace,
    pub config: ConfigMap,
    /// In `CHIMERA_WORKERS_NODES_NAMES` order.
    pub workers: Vec<(Deployment, Service)>,
    pub master: (Deployment, Service),
}

/// The experiment's namespace: `CHIMERA_NETWORK_NAME`, lowercased, with `_` and `.` as `-`.
pub fn namespace_name(exp: &Experiment) -> String {
    let name: String = exp
        .env
        .network_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.trim_matches('-').chars().take(63).collect()
}

/// A Service name must be a DNS label: the worker's name becomes one, so it must already be.
fn check_dns_label(name: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "CHIMERA_WORKERS_NODES_NAMES names {name:?}, which cannot be a Kubernetes Service name: use lowercase letters, digits and '-', starting with a letter (such as worker-1)"
        ))
    }
}

/// The typed manifests for the experiment.
pub fn manifests(exp: &Experiment, options: &KubeOptions) -> Result<Manifests, String> {
    let env = &exp.env;
    for (name, _) in &exp.workers {
        check_dns_label(name)?;
    }
    if let KubeData::HostPath(root) = &options.data {
        if !root.is_absolute() {
            return Err(format!(
                "--data-root {} is invalid: must be an absolute path on the nodes",
                root.display()
            ));
        }
    }
    let namespace = namespace_name(exp);
    let files = experiment_files(exp)?;
    let mut data = BTreeMap::new();
    for f in &files {
        let text = String::from_utf8(f.bytes.clone())
            .map_err(|_| format!("{} is not UTF-8 text", exp.dir.join(&f.relative).display()))?;
        data.insert(config_key(&f.relative), text);
    }
    let config = ConfigMap {
        metadata: meta(&namespace, CONFIG_MAP, "config", None),
        data: Some(data),
        ..ConfigMap::default()
    };
    let mut workers = Vec::new();
    for (i, (name, spec)) in exp.workers.iter().enumerate() {
        let cpu = format!("{}m", (cpu_fraction(env, i) * 1000.0).round() as u64);
        let memory = spec.knobs.mem_limit.as_deref().unwrap_or(DEFAULT_MEM_LIMIT);
        let data_volume = match &options.data {
            KubeData::Claim(claim) => Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: Some(true),
                }),
                ..Volume::default()
            },
            KubeData::HostPath(root) => Volume {
                name: "data".into(),
                host_path: Some(HostPathVolumeSource {
                    path: root.join(DATA_DIR).join(name).display().to_string(),
                    type_: Some("Directory".into()),
                }),
                ..Volume::default()
            },
        };
        let data_mount = VolumeMount {
            name: "data".into(),
            mount_path: Path::new(EXPERIMENT_MOUNT)
                .join(DATA_DIR)
                .join(name)
                .display()
                .to_string(),
            read_only: Some(true),
            // A claim holds every worker's folder; a host path is this worker's already.
            sub_path: matches!(options.data, KubeData::Claim(_))
                .then(|| Path::new(DATA_DIR).join(name).display().to_string()),
            ..VolumeMount::default()
        };
        let node = Node {
            namespace: &namespace,
            name,
            component: "worker",
            image: &options.images.worker,
            port: env.workers_port,
            env: node_environment(env, name, env.workers_port),
            resources: resources(&cpu, &cpu, memory),
            placement: spec.knobs.node.clone(),
            extra_volume: Some((data_volume, data_mount)),
            files: &files,
        };
        workers.push((node.deployment(), node.service()));
    }
    let mut master_env = node_environment(env, "master", env.master_port);
    master_env.push((
        "CHIMERA_WORKERS_URLS",
        worker_urls(exp.workers.iter().map(|(n, _)| n.clone()), env.workers_port),
    ));
    let master = Node {
        namespace: &namespace,
        name: "master",
        component: "master",
        image: &options.images.master,
        port: env.master_port,
        env: master_env,
        resources: resources("100m", "1", DEFAULT_MEM_LIMIT),
        placement: None,
        extra_volume: None,
        files: &files,
    };
    Ok(Manifests {
        namespace: Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/part-of".to_string(),
                    "chimera".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        },
        config,
        workers,
        master: (master.deployment(), master.service()),
    })
}

/// A ConfigMap key for a file: its name (`worker-1.yaml`); `.env` stays `.env`.
fn config_key(relative: &str) -> String {
    relative.rsplit('/').next().unwrap_or(relative).to_string()
}

/// The files of `EXP/k8s/`, in the order `kubectl apply -f` reads them (by name): the
/// namespace first, then its ConfigMap, the workers, the master.
pub fn generate(exp: &Experiment, options: &KubeOptions) -> Result<Vec<(String, String)>, String> {
    let m = manifests(exp, options)?;
    let header = "# Generated by `cargo xtask compose --target kubernetes` from .env and the spec files: edit those, not this.\n# Apply with `kubectl apply -f k8s/`.\n";
    let doc = |parts: Vec<String>| format!("{header}{}", parts.join("---\n"));
    let mut files = vec![
        ("00-namespace.yaml".to_string(), doc(vec![to_yaml(&m.namespace)?])),
        ("01-config.yaml".to_string(), doc(vec![to_yaml(&m.config)?])),
    ];
    for ((name, _), (deployment, service)) in exp.workers.iter().zip(&m.workers) {
        files.push((
            format!("10-{name}.yaml"),
            doc(vec![to_yaml(deployment)?, to_yaml(service)?]),
        ));
    }
    files.push((
        "20-master.yaml".to_string(),
        doc(vec![to_yaml(&m.master.0)?, to_yaml(&m.master.1)?]),
    ));
    Ok(files)
}

fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_yaml::to_string(value).map_err(|e| format!("cannot write a manifest: {e}"))
}

fn meta(namespace: &str, name: &str, component: &str, instance: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels(component, instance.unwrap_or(name))),
        ..ObjectMeta::default()
    }
}

fn labels(component: &str, instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "chimera".to_string()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
        ("app.kubernetes.io/instance".to_string(), instance.to_string()),
    ])
}

/// What a node's pod selects on: its own name (every worker has its own Deployment).
fn selector(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "chimera".to_string()),
        ("app.kubernetes.io/instance".to_string(), instance.to_string()),
    ])
}

/// Requests and limits: the CPU fraction from the cpu shares (requested too, so the scheduler
/// keeps the experiment's ratios), memory limited to `mem_limit`, 128 MiB requested.
fn resources(cpu_request: &str, cpu_limit: &str, memory: &str) -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), q(cpu_request)),
            ("memory".to_string(), q("128Mi")),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_string(), q(cpu_limit)),
            ("memory".to_string(), q(&memory_quantity(memory))),
        ])),
        ..ResourceRequirements::default()
    }
}

/// Docker's `2g` is 2 GiB: Kubernetes writes it `2Gi`.
fn memory_quantity(limit: &str) -> String {
    let bytes = mem_bytes(limit);
    for (unit, size) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

struct Node<'a> {
    namespace: &'a str,
    name: &'a str,
    component: &'a str,
    image: &'a str,
    port: u16,
    env: Vec<(&'static str, String)>,
    resources: ResourceRequirements,
    placement: Option<String>,
    extra_volume: Option<(Volume, VolumeMount)>,
    files: &'a [crate::ExperimentFile],
}

impl Node<'_> {
    fn probe(&self, path: &str, failures: i32) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.to_string()),
                port: IntOrString::Int(i32::from(self.port)),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(10),
            timeout_seconds: Some(2),
            failure_threshold: Some(failures),
            ..Probe::default()
        }
    }

    fn deployment(&self) -> Deployment {
        // Every file at its place under /chimera, one subPath mount each: a data volume
        // cannot be mounted inside a (read-only) ConfigMap volume.
        let mut mounts: Vec<VolumeMount> = self
            .files
            .iter()
            .map(|f| VolumeMount {
                name: "experiment".into(),
                mount_path: format!("{EXPERIMENT_MOUNT}/{}", f.relative),
                sub_path: Some(config_key(&f.relative)),
                read_only: Some(true),
                ..VolumeMount::default()
            })
            .collect();
        let mut volumes = vec![Volume {
            name: "experiment".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: CONFIG_MAP.into(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        }];
        // Logs, state and /tmp: the root filesystem is read-only. The state lasts as long as
        // the pod (a restarted container finds its fitted model; a rescheduled pod refits).
        for (volume, path, medium) in [
            ("logs", LOG_MOUNT, None),
            ("state", STATE_MOUNT, None),
            ("tmp", "/tmp", Some("Memory")),
        ] {
            volumes.push(Volume {
                name: volume.into(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: medium.map(str::to_string),
                    ..EmptyDirVolumeSource::default()
                }),
                ..Volume::default()
            });
            mounts.push(VolumeMount {
                name: volume.into(),
                mount_path: path.into(),
                ..VolumeMount::default()
            });
        }
        if let Some((volume, mount)) = &self.extra_volume {
            volumes.push(volume.clone());
            mounts.push(mount.clone());
        }
        let container = Container {
            name: self.component.to_string(),
            image: Some(self.image.to_string()),
            image_pull_policy: Some("IfNotPresent".into()),
            args: Some(vec!["serve".into()]),
            env: Some(
                self.env
                    .iter()
                    .map(|(k, v)| EnvVar {
                        name: (*k).to_string(),
                        value: Some(v.clone()),
                        ..EnvVar::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(self.port),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(self.probe("/healthz", 3)),
            readiness_probe: Some(self.probe("/readyz", 1)),
            resources: Some(self.resources.clone()),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Capabilities::default()
                }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(mounts),
            ..Container::default()
        };
        let annotations = BTreeMap::from([
            ("prometheus.io/scrape".to_string(), "true".to_string()),
            ("prometheus.io/port".to_string(), self.port.to_string()),
            ("prometheus.io/path".to_string(), "/metrics".to_string()),
        ]);
        let pod = PodSpec {
            containers: vec![container],
            volumes: Some(volumes),
            node_selector: self
                .placement
                .as_ref()
                .map(|v| BTreeMap::from([(NODE_LABEL.to_string(), v.clone())])),
            termination_grace_period_seconds: Some(10),
            automount_service_account_token: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(SERVICE_USER),
                run_as_group: Some(SERVICE_USER),
                fs_group: Some(SERVICE_USER),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                // A worker listens on port 80 as a non-root user with no capabilities, as
                // Docker allows by default (a namespaced, "safe" sysctl since Kubernetes 1.22).
                sysctls: (self.port < 1024).then(|| {
                    vec![Sysctl {
                        name: "net.ipv4.ip_unprivileged_port_start".into(),
                        value: "0".into(),
                    }]
                }),
                ..PodSecurityContext::default()
            }),
            ..PodSpec::default()
        };
        Deployment {
            metadata: meta(self.namespace, self.name, self.component, None),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector: LabelSelector {
                    match_labels: Some(selector(self.name)),
                    ..LabelSelector::default()
                },
                // One replica with its own state: never two at once.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(self.component, self.name)),
                        annotations: Some(annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(pod),
                },
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }
    }

    fn service(&self) -> Service {
        Service {
            metadata: meta(self.namespace, self.name, self.component, None),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(selector(self.name)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: i32::from(self.port),
                    target_port: Some(IntOrString::String("http".into())),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }
}
