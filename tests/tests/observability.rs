//! Metrics, logs and status on real processes (`cargo xtask up --local`): every node's
//! `/metrics` parses as Prometheus text with the expected series and label sets; the time log
//! parses with the seed's grammar, one line per worker call; `/status` follows a fit live.

use chimera_shared::client::Client;
use chimera_tests::{xtask, Down, TempDir};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The SGD regression example on free ports, as local processes.
fn start(master_yaml: &str) -> (TempDir, Vec<u16>) {
    let dir = TempDir::copy_of("sgd-regression");
    let p = chimera_tests::local_env(&dir, 2, "");
    dir.write("chimera_master.yaml", master_yaml);
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    (dir, p)
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format strictly enough to catch a malformed line.
fn parse_prometheus(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").expect("k=\"v\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name}"
        );
        samples.push(Sample { name, labels, value });
    }
    (types, samples)
}

fn label_sets(samples: &[Sample], name: &str) -> BTreeSet<Vec<String>> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.labels.keys().cloned().collect())
        .collect()
}

#[test]
fn metrics_logs_and_status_after_a_parameter_server_fit() {
    let (dir, p) = start("kind: parameter-server\nmodel_type: regressor\nmax_iter: 50\n");
    let _down = Down(dir.path());
    let master = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(60));
    let status: serde_json::Value = master.get("/v1/chimera/status").unwrap().json().unwrap();
    assert_eq!(status["state"], "idle");
    let fit = master.fit("parameter-server").unwrap();
    assert_eq!(fit.training.as_ref().unwrap().rounds, 50);

    // The master's metrics.
    let text = master.get("/metrics").unwrap().text();
    let (types, samples) = parse_prometheus(&text);
    assert_eq!(
        types.get("chimera_http_request_duration_seconds").map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        types.get("chimera_worker_call_duration_seconds").map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        types.get("chimera_ps_round_duration_seconds").map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        types.get("chimera_ps_straggler_gap_seconds").map(String::as_str),
        Some("histogram")
    );
    let want = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert!(label_sets(&samples, "chimera_http_request_duration_seconds_bucket")
        .contains(&want(&["endpoint", "le", "method", "status"])));
    assert!(label_sets(&samples, "chimera_worker_call_duration_seconds_bucket")
        .contains(&want(&["endpoint", "le", "outcome", "worker"])));
    let steps: f64 = samples
        .iter()
        .filter(|s| {
            s.name == "chimera_worker_call_duration_seconds_count" && s.labels["endpoint"] == "/v1/chimera/sgd/fit-step"
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(steps, 100.0, "50 rounds x 2 workers");
    let gauge = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
    assert_eq!(gauge("chimera_ps_round"), Some(50.0));
    assert!(gauge("chimera_ps_loss").is_some_and(f64::is_finite));
    assert_eq!(gauge("chimera_fits_succeeded_total"), Some(1.0));
    assert_eq!(gauge("chimera_fits_failed_total"), Some(0.0), "registered at zero");
    // Label values stay bounded: endpoints are route patterns, never row data.
    for s in &samples {
        for v in s.labels.values() {
            assert!(v.len() < 64, "an unbounded label value {v:?} on {}", s.name);
        }
    }

    // Each worker's own metrics.
    for port in &p[..2] {
        let text = Client::new(format!("http://127.0.0.1:{port}"), Duration::from_secs(10))
            .get("/metrics")
            .unwrap()
            .text();
        let (_, samples) = parse_prometheus(&text);
        assert!(
            samples
                .iter()
                .any(|s| s.name == "chimera_worker_rows_loaded" && s.value > 600.0),
            "{text}"
        );
        let fit_steps: f64 = samples
            .iter()
            .filter(|s| {
                s.name == "chimera_http_request_duration_seconds_count"
                    && s.labels.get("endpoint").map(String::as_str) == Some("/v1/chimera/sgd/fit-step")
            })
            .map(|s| s.value)
            .sum();
        assert_eq!(fit_steps, 50.0);
    }

    // The time log in the seed's grammar: `URL (worker|master) endpoint latency = X.XXXX s`.
    let log = std::fs::read_to_string(dir.path().join("logs/master/chimera_time.log")).unwrap();
    let mut per_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        let (url, rest) = line.split_once(' ').expect("endpoint first");
        let (side, rest) = rest.split_once(' ').unwrap();
        let value = rest
            .strip_prefix("endpoint latency = ")
            .and_then(|r| r.strip_suffix(" s"))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(["worker", "master"].contains(&side), "{line}");
        assert!(
            url.starts_with("http://") && value.split_once('.').is_some_and(|(_, d)| d.len() == 4),
            "{line}"
        );
        assert!(value.parse::<f64>().is_ok() && !value.contains('e'), "{line}");
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        *per_endpoint.entry(format!("{side} /{path}")).or_default() += 1;
    }
    assert_eq!(per_endpoint["worker /v1/chimera/sgd/fit-step"], 100, "{per_endpoint:?}");
    assert_eq!(per_endpoint["worker /v1/chimera/sgd/request-data-sample"], 2);
    assert_eq!(per_endpoint["master /v1/chimera/parameter-server/fit"], 1);
    let status_log = std::fs::read_to_string(dir.path().join("logs/master/chimera_status.log")).unwrap();
    assert!(
        status_log.contains("parameter-server fit finished: 50 rounds"),
        "{status_log}"
    );
    assert!(dir.path().join("logs/worker-1/chimera_status.log").exists());

    let status: serde_json::Value = master.get("/v1/chimera/status").unwrap().json().unwrap();
    assert_eq!(status["state"], "fitted");
    assert_eq!(status["round"], 50);
    assert_eq!(status["loss_history"].as_array().unwrap().len(), 50);
    for w in status["workers"].as_array().unwrap() {
        assert_eq!(w["healthy"], true);
        assert_eq!(w["last_call"]["endpoint"], "/v1/chimera/sgd/fit-step");
        assert_eq!(w["last_call"]["outcome"], "ok");
    }
    let ready = master.get("/readyz").unwrap();
    assert_eq!(ready.status, 200);
}

#[test]
fn an_async_fit_publishes_its_staleness() {
    let (dir, p) = start("kind: parameter-server\nmodel_type: regressor\nmax_iter: 60\nmode: async\n");
    let _down = Down(dir.path());
    let master = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(60));
    let training = master.fit("parameter-server").unwrap().training.unwrap();
    let histogram = training.staleness_histogram.expect("async records staleness");
    assert_eq!(histogram.iter().sum::<u64>(), 60);
    let status: serde_json::Value = master.get("/v1/chimera/status").unwrap().json().unwrap();
    assert_eq!(status["mode"], "async");
    assert_eq!(status["staleness_histogram"], serde_json::json!(histogram));
    let (types, samples) = parse_prometheus(&master.get("/metrics").unwrap().text());
    assert_eq!(types.get("chimera_ps_staleness").map(String::as_str), Some("histogram"));
    let count = samples
        .iter()
        .find(|s| s.name == "chimera_ps_staleness_count")
        .map(|s| s.value);
    assert_eq!(count, Some(60.0), "one observation per applied gradient");
    let fresh = samples
        .iter()
        .find(|s| s.name == "chimera_ps_staleness_bucket" && s.labels["le"] == "0")
        .map(|s| s.value);
    assert_eq!(
        fresh,
        Some(histogram[0] as f64),
        "the le=0 bucket counts the fresh gradients"
    );
}

#[test]
fn status_follows_a_fit_from_another_client() {
    // Enough rounds to watch: a straggler delay of 2 ms per request slows each round down.
    let (dir, p) = start("kind: parameter-server\nmodel_type: regressor\nmax_iter: 400\n");
    let _down = Down(dir.path());
    dir.write(
        "chimera_workers/worker-2.yaml",
        "kind: sgd\nmodel_type: regressor\ndelay_ms: 2\n",
    );
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(
        ok && out.contains("1 node(s) started") || out.contains("2 node(s) started"),
        "{out}"
    );
    let base = format!("http://127.0.0.1:{}", p[2]);
    let fitter = {
        let base = base.clone();
        std::thread::spawn(move || Client::new(base, Duration::from_secs(120)).fit("parameter-server"))
    };
    let watcher = Client::new(base, Duration::from_secs(10));
    let mut rounds_seen = Vec::new();
    let mut states = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fitter.is_finished() && Instant::now() < deadline {
        let s: serde_json::Value = watcher.get("/v1/chimera/status").unwrap().json().unwrap();
        states.insert(s["state"].as_str().unwrap().to_string());
        if s["state"] == "fitting" {
            rounds_seen.push(s["round"].as_u64().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let fit = fitter.join().unwrap().expect("fit");
    assert_eq!(fit.training.unwrap().rounds, 400);
    assert!(states.contains("fitting"), "{states:?}");
    assert!(
        rounds_seen.windows(2).all(|w| w[0] <= w[1]),
        "rounds only advance: {rounds_seen:?}"
    );
    assert!(
        rounds_seen.first() < rounds_seen.last(),
        "the round advanced while watched: {rounds_seen:?}"
    );
    let s: serde_json::Value = watcher.get("/v1/chimera/status").unwrap().json().unwrap();
    assert_eq!(s["state"], "fitted");
}

#[test]
fn telemetry_off_writes_no_logs_and_serves_no_metrics() {
    let (dir, p) = start("kind: parameter-server\nmodel_type: regressor\nmax_iter: 5\n");
    let _down = Down(dir.path());
    xtask(&["down"], dir.path());
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    dir.write(
        ".env",
        &format!(
            "{env}CHIMERA_TELEMETRY=off\nCHIMERA_LOG_DIR={}\n",
            dir.path().join("quiet").display()
        ),
    );
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let master = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(60));
    master.fit("parameter-server").unwrap();
    assert_eq!(master.get("/metrics").unwrap().status, 404);
    assert!(!dir.path().join("quiet").exists());
}
