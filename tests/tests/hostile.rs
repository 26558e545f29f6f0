//! The world is hostile: every port can be reached by anyone on the host. Each test sends what
//! an attacker or an unlucky user sent (the inputs that hung, crashed or exhausted a node
//! before) to real servers, and checks for a clear 4xx/5xx in the seed's error shape, a node
//! that keeps answering, and logs that keep their format.

use chimera_shared::api::{paths, PredictRequest};
use chimera_shared::client::Client;
use chimera_tests::{Cluster, Csv, TempDir};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A copy of `example` whose `.env` gets `extra` lines.
fn experiment(example: &str, extra: &str) -> TempDir {
    let dir = TempDir::copy_of(example);
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap_or_default();
    dir.write(".env", &format!("{env}\n{extra}\n"));
    dir
}

fn error_code(answer: &chimera_shared::client::Answer) -> String {
    answer.json::<Value>().expect("an error body")["details"]["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Sends raw bytes and reads the answer until the server closes or `limit` passes.
fn raw(port: u16, parts: &[(&[u8], Duration)], limit: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    for (bytes, pause) in parts {
        if s.write_all(bytes).is_err() {
            break;
        }
        std::thread::sleep(*pause);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// A fit-step body a hostile caller might send straight to a worker's port.
fn fit_step(columns: &Value, settings: &Value) -> Value {
    let d = columns.as_array().unwrap().len();
    let mut s = json!({
        "loss": "squared_error", "penalty": "l2", "alpha": 0.0001, "l1_ratio": 0.15,
        "huber_delta": 1.35, "random_state": 0, "mode": "gradient", "local_epochs": 1,
        "learning_rate": 0.1, "columns": columns
    });
    for (k, v) in settings.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"weights": [vec![0.0; d]], "bias": [0.0], "round": 1, "settings": s})
}

#[test]
fn a_worker_refuses_steps_that_would_hang_or_crash_it_and_stops_work_past_its_deadline() {
    // The deadline of worker-side work is the master's call timeout: 0.01 s here, less than
    // 1000 single-row epochs take on any machine.
    let dir = experiment("sgd-regression", "CHIMERA_WORKERS_ENDPOINTS_TIMEOUT=0.01");
    let cluster = Cluster::start(dir.path());
    let worker = cluster.worker("worker-1").client();
    let sample: Value = worker.get(paths::SGD_DATA_SAMPLE).unwrap().ok().unwrap();
    let columns = &sample["X_train_sample_columns"];

    let started = Instant::now();
    for (settings, code, words) in [
        (
            json!({"mode": "model-averaging", "batch_size": 1, "local_epochs": 1_000_000_000u64}),
            "invalid_request",
            "local_epochs",
        ),
        (
            json!({"mode": "model-averaging", "batch_size": 0}),
            "invalid_request",
            "batch_size",
        ),
        (json!({"batch_size": 0}), "invalid_request", "batch_size"),
        (
            json!({"loss": "log_loss"}),
            "invalid_request",
            "does not fit this worker's task",
        ),
        (json!({"learning_rate": -1.0}), "invalid_request", "learning_rate"),
        (json!({"l1_ratio": 7.0}), "invalid_request", "l1_ratio"),
        (json!({"mean": [0.0]}), "invalid_request", "settings.mean"),
    ] {
        let answer = worker
            .post_json(paths::SGD_FIT_STEP, &fit_step(columns, &settings))
            .unwrap();
        assert_eq!(answer.status, 400, "{settings}: {}", answer.text());
        assert_eq!(error_code(&answer), code, "{settings}");
        assert!(answer.text().contains(words), "{settings}: {}", answer.text());
    }
    // The settings travel once per fit: a round without them must name a fit whose settings
    // this worker holds, else it is told to send them (409), never guessed at.
    let mut first = fit_step(columns, &json!({}));
    first["fit_id"] = json!(5);
    assert_eq!(worker.post_json(paths::SGD_FIT_STEP, &first).unwrap().status, 200);
    let mut lean = first.clone();
    lean.as_object_mut().unwrap().remove("settings");
    lean["round"] = json!(2);
    lean["learning_rate"] = json!(0.005);
    let answer = worker.post_json(paths::SGD_FIT_STEP, &lean).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    // The same round in the master's compact form gets the same answer; a cut body, a shape
    // that is not the model's, or a number that is not finite is refused and named.
    let compact_round = |weights: Vec<f64>, bias: Vec<f64>| {
        let request = chimera_shared::api::FitStepRequest {
            weights: vec![weights],
            bias,
            round: 2,
            fit_id: Some(5),
            learning_rate: Some(0.005),
            settings: None,
        };
        chimera_shared::compact::encode_step(&request).expect("a lean round has a compact form")
    };
    let d = columns.as_array().unwrap().len();
    let step = chimera_shared::compact::STEP_MEDIA_TYPE;
    let same = worker
        .post_bytes_as(paths::SGD_FIT_STEP, &compact_round(vec![0.0; d], vec![0.0]), step)
        .unwrap();
    assert_eq!(same.status, 200, "{}", same.text());
    assert_eq!(same.json::<Value>().unwrap(), answer.json::<Value>().unwrap());
    let whole = compact_round(vec![0.0; d], vec![0.0]);
    for (body, status, words) in [
        (whole[..whole.len() - 8].to_vec(), 400, "bytes of numbers"),
        (whole[..20].to_vec(), 400, "header"),
        (compact_round(vec![0.0; d + 1], vec![0.0]), 400, "weights must be"),
        (compact_round(vec![0.0; d], vec![f64::NAN]), 400, "finite"),
    ] {
        let answer = worker.post_bytes_as(paths::SGD_FIT_STEP, &body, step).unwrap();
        assert_eq!(answer.status, status, "{words}: {}", answer.text());
        assert!(answer.text().contains(words), "{words}: {}", answer.text());
    }
    let mut other = lean.clone();
    other["fit_id"] = json!(6);
    let answer = worker.post_json(paths::SGD_FIT_STEP, &other).unwrap();
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert_eq!(error_code(&answer), "sgd_settings_unknown");
    assert!(answer.text().contains("send settings with this round"));
    other["fit_id"] = Value::Null;
    let answer = worker.post_json(paths::SGD_FIT_STEP, &other).unwrap();
    assert_eq!(answer.status, 400, "neither settings nor a fit: {}", answer.text());
    assert!(answer.text().contains("settings is missing"));
    let mut bad_rate = lean.clone();
    bad_rate["learning_rate"] = json!(-0.1);
    let answer = worker.post_json(paths::SGD_FIT_STEP, &bad_rate).unwrap();
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("learning_rate"));
    let mut short_bias = fit_step(columns, &json!({}));
    short_bias["bias"] = json!([]);
    assert_eq!(worker.post_json(paths::SGD_FIT_STEP, &short_bias).unwrap().status, 400);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without doing the work"
    );

    // Allowed but long (1000 epochs of single-row steps): stopped at the deadline, a 504. The
    // rate is tiny so the raw features cannot diverge first on a fast machine (a 422).
    let long = fit_step(
        columns,
        &json!({"mode": "model-averaging", "batch_size": 1, "local_epochs": 1000, "learning_rate": 1e-12}),
    );
    let answer = worker.post_json(paths::SGD_FIT_STEP, &long).unwrap();
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert_eq!(error_code(&answer), "deadline_exceeded");
    assert!(worker.healthy(), "the worker still answers");
}

/// A fake worker that answers whatever it is told: the master must check what a peer sends.
fn fake_worker(sample: Value, step: Value) -> chimera_tests::Node {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    chimera_tests::Node::spawn_server("fake", listener, move |l| {
        let (sample, step) = (sample.clone(), step.clone());
        Ok(HttpServer::new(move || {
            let (sample, step) = (sample.clone(), step.clone());
            App::new()
                .route(
                    paths::HEALTHZ,
                    web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
                )
                .route(
                    paths::SGD_DATA_SAMPLE,
                    web::get().to(move || {
                        let s = sample.clone();
                        async move { HttpResponse::Ok().json(s) }
                    }),
                )
                .route(
                    paths::SGD_FIT_STEP,
                    web::post().to(move || {
                        let s = step.clone();
                        async move { HttpResponse::Ok().json(s) }
                    }),
                )
        })
        .workers(1)
        .listen(l)?
        .run())
    })
}

#[test]
fn the_master_checks_every_worker_answer_before_using_it() {
    let columns = ["a", "b", "c"];
    let good_sample = json!({
        "X_train_sample_columns": columns, "X_train_sample_rows": [[1.0, 2.0, 3.0]],
        "y_train_sample_columns": ["y"], "y_train_sample_rows": [[1.0]],
        "n_samples": 10, "mean": [0.0, 0.0, 0.0], "var": [1.0, 1.0, 1.0]
    });
    let mut short_stats = good_sample.clone();
    short_stats["mean"] = json!([0.0]);
    let short_bias = json!({"weights_gradients": [[0.1, 0.1, 0.1]], "bias_gradient": [], "n_samples": 10, "loss": 1.0});
    for (sample, step, expected) in [
        (short_stats, short_bias.clone(), "3 columns but 1 means"),
        (good_sample, short_bias, "bias_gradient must hold 1 number(s), got 0"),
    ] {
        let fake = fake_worker(sample, step);
        let dir = TempDir::copy_of("sgd-regression");
        let env = format!(
            "CHIMERA_WORKERS_NODES_NAMES='[\"worker-1\"]'\nCHIMERA_WORKERS_MAPPED_PORTS='[18501]'\nCHIMERA_WORKERS_URLS='[\"{}\"]'\n",
            fake.url()
        );
        dir.write(".env", &env);
        std::fs::remove_file(dir.path().join("chimera_workers/worker-2.yaml")).unwrap();
        let exp =
            chimera_shared::config::Experiment::load_with(dir.path(), &chimera_tests::env_source(dir.path(), &[]))
                .unwrap();
        let state = chimera_master::startup::state_from(&exp).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let master =
            chimera_tests::Node::spawn_server("master", listener, move |l| chimera_master::startup::build(state, l));
        let answer = master.client().post_bytes(paths::PARAMETER_SERVER_FIT, b"").unwrap();
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert_eq!(error_code(&answer), "no_worker_available");
        assert!(answer.text().contains(expected), "{}", answer.text());
        assert!(master.client().healthy(), "the master did not panic");
    }
}

#[test]
fn bodies_are_strict_json_within_their_limits() {
    let dir = experiment("bagging-classification", "CHIMERA_MAX_BODY_BYTES=65536");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").unwrap();
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let good = serde_json::to_vec(&PredictRequest {
        columns: x.header.clone(),
        rows: vec![x.numbers()[0].clone()],
    })
    .unwrap();
    let mut trailing = good.clone();
    trailing.extend_from_slice(b" {\"more\": 1}");
    let answer = client.post_bytes(paths::AGGREGATION_PREDICT, &trailing).unwrap();
    assert_eq!(
        (answer.status, error_code(&answer)),
        (400, "invalid_json".into()),
        "{}",
        answer.text()
    );

    let answer = client
        .post_bytes(paths::AGGREGATION_FIT, br#"{"max_iter": 3}"#)
        .unwrap();
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("max_iter"), "an unknown fit field is named");

    // A non-JSON content type (curl -d without -H sends a form).
    let port = port_of(&cluster.master.url());
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        paths::AGGREGATION_PREDICT,
        good.len()
    );
    let text = raw(
        port,
        &[(request.as_bytes(), Duration::ZERO), (&good, Duration::ZERO)],
        Duration::from_secs(10),
    );
    assert!(text.starts_with("HTTP/1.1 415"), "{text}");
    assert!(text.contains("unsupported_media_type"), "{text}");

    // A Content-Length over the limit is refused before any of the body is read.
    let started = Instant::now();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n",
        paths::AGGREGATION_PREDICT
    );
    let text = raw(port, &[(request.as_bytes(), Duration::ZERO)], Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "no body was waited for");

    // Empty fit bodies, with or without a content type, stay fine (seed parity).
    assert_eq!(client.post_bytes(paths::AGGREGATION_FIT, b"{}").unwrap().status, 200);
}

#[test]
fn a_slow_client_is_cut_off() {
    let dir = experiment("bagging-classification", "CHIMERA_CLIENT_TIMEOUT=1");
    let cluster = Cluster::start(dir.path());
    let port = port_of(&cluster.master.url());
    let started = Instant::now();
    // Headers at once, then the body a byte at a time.
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        paths::AGGREGATION_PREDICT
    );
    let drip: Vec<(&[u8], Duration)> = std::iter::once((head.as_bytes(), Duration::from_millis(300)))
        .chain((0..20).map(|_| (&b"{"[..], Duration::from_millis(300))))
        .collect();
    let text = raw(port, &drip, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after about a second"
    );
    // Headers a byte at a time: actix's own header timeout closes the connection.
    let started = Instant::now();
    let slow_head: Vec<(&[u8], Duration)> = b"POST /v1/chimera/aggregation/predict HTTP/1.1\r\nHost: x\r\n"
        .chunks(1)
        .map(|c| (c, Duration::from_millis(200)))
        .collect();
    let _ = raw(port, &slow_head, Duration::from_secs(15));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a slow header is not waited for"
    );
    assert!(cluster.client().healthy());
}

#[test]
fn a_hundred_thousand_columns_are_refused_while_other_predicts_are_answered() {
    let dir = experiment("bagging-classification", "");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").unwrap();
    let huge = PredictRequest {
        columns: (0..100_000).map(|i| format!("column_{i}")).collect(),
        rows: vec![vec![0.0; 100_000]],
    };
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let small = PredictRequest {
        columns: x.header.clone(),
        rows: vec![x.numbers()[0].clone()],
    };
    let others = {
        let client = client.clone();
        std::thread::spawn(move || {
            (0..50)
                .map(|_| client.predict("aggregation", &small).is_ok())
                .filter(|ok| *ok)
                .count()
        })
    };
    let answer = client.post_json(paths::AGGREGATION_PREDICT, &huge).unwrap();
    assert_eq!(answer.status, 400, "{}", &answer.text()[..200.min(answer.text().len())]);
    assert!(answer.text().contains("CHIMERA_MAX_COLUMNS"), "{}", answer.text());
    assert_eq!(others.join().unwrap(), 50, "every ordinary predict was answered");
}

#[test]
fn large_requests_past_the_limit_get_a_503_with_retry_after() {
    let dir = experiment(
        "bagging-classification",
        "CHIMERA_MAX_LARGE_REQUESTS=1\nCHIMERA_CLIENT_TIMEOUT=6",
    );
    let cluster = Cluster::start(dir.path());
    let port = port_of(&cluster.master.url());
    let big = 3 << 20;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {big}\r\n\r\n",
        paths::AGGREGATION_PREDICT
    );
    // The first large body arrives slowly and holds the only place.
    let holder = {
        let head = head.clone();
        std::thread::spawn(move || {
            raw(
                port,
                &[(head.as_bytes(), Duration::from_secs(3))],
                Duration::from_secs(10),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let second = raw(port, &[(head.as_bytes(), Duration::ZERO)], Duration::from_secs(5));
    assert!(second.starts_with("HTTP/1.1 503"), "{second}");
    assert!(second.to_ascii_lowercase().contains("retry-after: 1"), "{second}");
    assert!(second.contains("\"busy\""), "{second}");
    drop(holder.join());
    // The place is free again once the first request is gone.
    let third = raw(port, &[(head.as_bytes(), Duration::ZERO)], Duration::from_secs(8));
    assert!(!third.starts_with("HTTP/1.1 503"), "{third}");
}

#[test]
fn with_a_token_workers_answer_only_their_master_and_fit_asks_for_it() {
    let token = "0123456789abcdef0123456789abcdef";
    let dir = experiment("bagging-classification", &format!("CHIMERA_API_TOKEN={token}"));
    let cluster = Cluster::start(dir.path());
    let worker = cluster.worker("worker-1").client();
    let answer = worker.get(paths::SGD_DATA_SAMPLE).unwrap();
    assert_eq!((answer.status, error_code(&answer)), (401, "unauthorized".into()));
    assert_eq!(worker.post_bytes(paths::MODEL_FIT, b"").unwrap().status, 401);
    assert!(worker.healthy(), "health stays open");
    assert_eq!(worker.get(paths::METRICS).unwrap().status, 200, "metrics stay open");
    let wrong = worker
        .clone()
        .with_token(Some("0123456789abcdef0123456789abcdeX".into()));
    assert_eq!(wrong.post_bytes(paths::MODEL_FIT, b"").unwrap().status, 401);

    let master = cluster.client();
    let answer = master.post_bytes(paths::AGGREGATION_FIT, b"").unwrap();
    assert_eq!(answer.status, 401, "{}", answer.text());
    let master = master.with_token(Some(token.into()));
    master
        .fit("aggregation")
        .expect("the master sends the token to its workers");
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let one = PredictRequest {
        columns: x.header.clone(),
        rows: vec![x.numbers()[0].clone()],
    };
    cluster
        .client()
        .predict("aggregation", &one)
        .expect("predict stays open");

    let dir = experiment(
        "bagging-classification",
        &format!("CHIMERA_API_TOKEN={token}\nCHIMERA_API_TOKEN_PREDICT=1"),
    );
    let cluster = Cluster::start(dir.path());
    let answer = cluster.client().post_json(paths::AGGREGATION_PREDICT, &one).unwrap();
    assert_eq!(answer.status, 401);
    let bad = chimera_shared::config::Experiment::load_with(
        dir.path(),
        &chimera_tests::env_source(dir.path(), &[("CHIMERA_API_TOKEN", "short".into())]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("CHIMERA_API_TOKEN") && bad.contains("at least 16"),
        "{bad}"
    );
    assert!(!bad.contains("short"), "the token is not printed: {bad}");
}

#[test]
fn logs_rotate_by_size_and_keep_the_seed_format_whatever_the_host_header() {
    let dir = experiment(
        "bagging-classification",
        "CHIMERA_LOG_MAX_BYTES=4096\nCHIMERA_LOG_FILES=2",
    );
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").unwrap();
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let one = serde_json::to_vec(&PredictRequest {
        columns: x.header.clone(),
        rows: vec![x.numbers()[0].clone()],
    })
    .unwrap();
    let port = port_of(&cluster.master.url());
    let odd_host = format!(
        "POST {} HTTP/1.1\r\nHost: evil host latency = 9 s\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        paths::AGGREGATION_PREDICT,
        one.len()
    );
    assert!(raw(
        port,
        &[(odd_host.as_bytes(), Duration::ZERO), (&one, Duration::ZERO)],
        Duration::from_secs(10)
    )
    .starts_with("HTTP/1.1 200"));
    for _ in 0..300 {
        assert_eq!(client.post_bytes(paths::AGGREGATION_PREDICT, &one).unwrap().status, 200);
    }
    std::thread::sleep(Duration::from_millis(800)); // the buffered time log is flushed twice a second
    let logs = dir.path().join("logs/master");
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chimera_time"))
        .collect();
    names.sort();
    assert_eq!(names, ["chimera_time.log", "chimera_time.log.1", "chimera_time.log.2"]);
    let line = regex_free_time_line;
    for name in &names {
        let text = std::fs::read_to_string(logs.join(name)).unwrap();
        assert!(text.len() <= 4096, "{name}: {} bytes", text.len());
        for l in text.lines() {
            assert!(line(l), "{name}: {l:?}");
        }
    }
}

/// `http://HOST/PATH {worker|master} endpoint latency = S.SSSS s`, HOST without spaces.
fn regex_free_time_line(l: &str) -> bool {
    let Some((url, rest)) = l.split_once(' ') else {
        return false;
    };
    let Some(seconds) = rest
        .strip_prefix("worker endpoint latency = ")
        .or_else(|| rest.strip_prefix("master endpoint latency = "))
        .and_then(|r| r.strip_suffix(" s"))
    else {
        return false;
    };
    url.starts_with("http://")
        && seconds.split_once('.').is_some_and(|(_, d)| d.len() == 4)
        && seconds.parse::<f64>().is_ok()
}

#[test]
fn a_config_that_breaks_a_rule_names_it() {
    for (var, value, words) in [
        ("CHIMERA_CLIENT_TIMEOUT", "0", "greater than 0"),
        ("CHIMERA_MAX_COLUMNS", "0", "CHIMERA_MAX_COLUMNS"),
        ("CHIMERA_MAX_LARGE_REQUESTS", "x", "CHIMERA_MAX_LARGE_REQUESTS"),
        ("CHIMERA_LOG_MAX_BYTES", "10", "CHIMERA_LOG_MAX_BYTES"),
        ("CHIMERA_API_TOKEN_PREDICT", "1", "needs CHIMERA_API_TOKEN"),
        (
            "CHIMERA_WORKERS_PREDICT_TIMEOUT",
            "-1",
            "CHIMERA_WORKERS_PREDICT_TIMEOUT",
        ),
    ] {
        let dir = TempDir::copy_of("bagging-classification");
        let e = chimera_shared::config::Experiment::load_with(
            dir.path(),
            &chimera_tests::env_source(dir.path(), &[(var, value.into())]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(var) && e.contains(words), "{var}={value}: {e}");
    }
    let dir = TempDir::copy_of("sgd-regression");
    let master = std::fs::read_to_string(dir.path().join("chimera_master.yaml")).unwrap();
    dir.write("chimera_master.yaml", &format!("{master}\nmin_workers: 3\n"));
    let e = chimera_shared::config::Experiment::load_with(dir.path(), &chimera_tests::env_source(dir.path(), &[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("min_workers") && e.contains("at most the number of workers"),
        "{e}"
    );
    dir.write(
        "chimera_master.yaml",
        &format!("{master}\nmode: model-averaging\nlocal_epochs: 1000000000\n"),
    );
    let e = chimera_shared::config::Experiment::load_with(dir.path(), &chimera_tests::env_source(dir.path(), &[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("local_epochs") && e.contains("from 1 to 1000"), "{e}");
}

#[test]
fn a_client_answer_is_still_readable_with_the_error_shape() {
    // The 401 and 503 answers keep the seed's error shape, as every other error.
    let dir = experiment(
        "bagging-classification",
        "CHIMERA_API_TOKEN=0123456789abcdef0123456789abcdef",
    );
    let cluster = Cluster::start(dir.path());
    let answer = Client::new(cluster.worker("worker-2").url(), Duration::from_secs(10))
        .post_bytes(paths::MODEL_PREDICT, b"{}")
        .unwrap();
    let body: Value = answer.json().unwrap();
    assert_eq!(body["details"]["errorCode"], 401);
    assert!(body["message"].as_str().unwrap().contains("Bearer"));
}
