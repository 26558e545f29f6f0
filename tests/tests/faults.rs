//! Faults of real processes (`cargo xtask up --local`): a stopped worker is skipped fast and
//! taken back when it answers again, a worker killed in the middle of a long parameter-server
//! fit rejoins it, and an `up` that fails stops what it started.

use chimera_shared::api::PredictRequest;
use chimera_shared::client::Client;
use chimera_tests::{xtask, Csv, Down, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn pid(dir: &Path, node: &str) -> i32 {
    std::fs::read_to_string(dir.join(format!(".chimera/local/{node}.pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn signal(pid: i32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn one_row(dir: &Path) -> PredictRequest {
    let x = Csv::read(&dir.join("test/X_test.csv"));
    PredictRequest {
        columns: x.header.clone(),
        rows: vec![x.numbers()[0].clone()],
    }
}

#[test]
fn a_stopped_worker_is_skipped_fast_and_taken_back_when_it_answers() {
    let dir = TempDir::copy_of("bagging-classification");
    let p = chimera_tests::local_env(&dir, 3, "CHIMERA_WORKERS_PREDICT_TIMEOUT=1\n");
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let client = Client::new(format!("http://127.0.0.1:{}", p[3]), Duration::from_secs(60));
    client.fit("aggregation").unwrap();
    let request = one_row(dir.path());

    let w2 = pid(dir.path(), "worker-2");
    signal(w2, "-STOP");
    // The first predict waits for the predict timeout (1 s here, not the fit's 100 s) ...
    let first = client.predict("aggregation", &request).unwrap();
    assert_eq!(first.failed_workers.len(), 1, "{first:?}");
    assert_eq!(first.failed_workers[0].name, "worker-2");
    // ... and the next ones skip the worker marked down, well under that timeout.
    for _ in 0..5 {
        let started = Instant::now();
        let answer = client.predict("aggregation", &request).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(answer.failed_workers[0].name, "worker-2");
        assert!(answer.failed_workers[0].error.contains("marked down"), "{answer:?}");
    }
    signal(w2, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = client.predict("aggregation", &request).unwrap();
        if answer.failed_workers.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "worker-2 was not taken back: {answer:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = std::fs::read_to_string(dir.path().join("logs/master/chimera_status.log")).unwrap();
    assert!(
        status.contains("worker worker-2 answers its health check again"),
        "{status}"
    );
}

#[test]
fn a_worker_killed_in_the_middle_of_a_long_fit_rejoins_it() {
    let dir = TempDir::copy_of("sgd-regression");
    let p = chimera_tests::local_env(&dir, 2, "");
    // 3,000 rounds, each at least 2 ms (worker-1 is a straggler), so the fit outlives a restart.
    chimera_tests::slow_sgd_fit(&dir, 3000);
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let client = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(300));

    let fit = {
        let client = client.clone();
        std::thread::spawn(move || client.fit("parameter-server"))
    };
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid(dir.path(), "worker-2"), "-9");
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok && out.contains("1 node(s) started"), "{out}");
    let faulty = fit.join().unwrap().expect("the fit ends well");
    let training = faulty.training.clone().unwrap();
    assert_eq!(training.rounds, 3000);
    let w2 = faulty.workers.iter().find(|w| w.name == "worker-2").unwrap();
    assert_eq!(
        w2.outcome.as_str(),
        "ok",
        "worker-2 rejoined and answered the last rounds: {w2:?}"
    );
    let status = std::fs::read_to_string(dir.path().join("logs/master/chimera_status.log")).unwrap();
    assert!(status.contains("worker worker-2 rejoined this fit"), "{status}");

    // Within a point of R² of a fit without faults.
    let (request, truth) = chimera_tests::test_split(&dir);
    let truth: Vec<f64> = truth.iter().map(|v| v.parse().unwrap()).collect();
    let r2 = |c: &Client| {
        let answer = c.predict("parameter-server", &request).unwrap();
        let chimera_shared::api::PredRows::Values(pred) = answer.y_pred_rows else {
            panic!("values")
        };
        chimera_tests::r2(&truth, &pred)
    };
    let with_fault = r2(&client);
    client.fit("parameter-server").unwrap();
    let without = r2(&client);
    assert!((with_fault - without).abs() < 0.01, "{with_fault} vs {without}");
}

#[test]
fn an_up_that_fails_stops_what_it_started() {
    let dir = TempDir::copy_of("bagging-classification");
    let p = chimera_tests::local_env(&dir, 3, "");
    let _down = Down(dir.path());
    // worker-3's port is taken: it cannot start, so the experiment must not half-start.
    let _taken = std::net::TcpListener::bind(("127.0.0.1", p[2])).unwrap();
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("worker-3") && out.contains("stopped again"), "{out}");
    let state = dir.path().join(".chimera/local");
    let left: Vec<std::path::PathBuf> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pid"))
        .collect();
    assert!(left.is_empty(), "no node is left running: {left:?}");
    let healthy = Client::new(format!("http://127.0.0.1:{}", p[0]), Duration::from_millis(500)).healthy();
    assert!(!healthy, "worker-1 was stopped");
    for port in [p[0], p[1], p[3]] {
        let still = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        assert!(!still, "port {port} still answers");
    }
}

/// A memory figure of a process from `/proc/PID/status`, in kB: `VmRSS` (resident now) or
/// `VmHWM` (the peak).
fn memory_kb(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn twenty_thousand_predicts_at_32_way_concurrency_without_errors_or_memory_growth() {
    let dir = TempDir::copy_of("bagging-classification");
    let p = chimera_tests::local_env(&dir, 3, "");
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let client = Client::new(format!("http://127.0.0.1:{}", p[3]), Duration::from_secs(60));
    client.fit("aggregation").unwrap();
    let body = serde_json::to_vec(&one_row(dir.path())).unwrap();
    let master = pid(dir.path(), "master");
    // Four phases of 5,000 predicts, 32 clients each; memory read after the first and the last.
    let mut rss = Vec::new();
    let mut errors = 0;
    for _ in 0..4 {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (client, body) = (client.clone(), body.clone());
                let n = 5_000 / 32 + usize::from(i < 5_000 % 32);
                std::thread::spawn(move || {
                    (0..n)
                        .filter(|_| {
                            client
                                .post_bytes("/v1/chimera/aggregation/predict", &body)
                                .map_or(true, |a| a.status != 200)
                        })
                        .count()
                })
            })
            .collect();
        errors += handles.into_iter().map(|h| h.join().unwrap()).sum::<usize>();
        rss.push(memory_kb(master, "VmRSS"));
    }
    assert_eq!(errors, 0, "every one of the 20,000 predicts was answered");
    let (first, last) = (rss[0], rss[3]);
    // Flat: allocator noise, not growth per request (5,000 more requests would show).
    assert!(
        last <= first + first / 5 + 2048,
        "master RSS {first} kB -> {last} kB over 15,000 predicts: {rss:?}"
    );
}

#[test]
fn a_250_mb_predict_peaks_under_twice_its_body_on_the_master() {
    let dir = TempDir::copy_of("bagging-classification");
    let p = chimera_tests::local_env(&dir, 3, "");
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let client = Client::new(format!("http://127.0.0.1:{}", p[3]), Duration::from_secs(600));
    client.fit("aggregation").unwrap();
    let small = one_row(dir.path());
    // The held-out rows, repeated to 250 MB of JSON.
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let rows: Vec<String> = x
        .rows
        .iter()
        .map(|r| format!("[{}]", r.iter().map(|c| c.trim()).collect::<Vec<_>>().join(",")))
        .collect();
    let mut body = format!(
        "{{\"X_pred_columns\": {}, \"X_pred_rows\": [",
        serde_json::to_string(&x.header).unwrap()
    );
    let mut n = 0;
    while body.len() < 250_000_000 {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&rows[n % rows.len()]);
        n += 1;
    }
    body.push_str("]}");
    let master = pid(dir.path(), "master");
    let before = memory_kb(master, "VmHWM");
    let answer = client
        .post_bytes("/v1/chimera/aggregation/predict", body.as_bytes())
        .unwrap();
    assert_eq!(answer.status, 200, "{}", &answer.text()[..300.min(answer.text().len())]);
    let peak = memory_kb(master, "VmHWM");
    let parsed: chimera_shared::api::PredictResponse = answer.json().unwrap();
    assert_eq!(parsed.y_pred_rows.len(), n);
    assert!(parsed.failed_workers.is_empty(), "{:?}", parsed.failed_workers);
    // The answer for the first rows is the small path's answer, to the last digit.
    let first = client.predict("aggregation", &small).unwrap();
    assert_eq!(parsed.y_pred_proba.as_ref().unwrap()[0], first.y_pred_proba.unwrap()[0]);
    let body_kb = body.len() as u64 / 1024;
    assert!(
        peak <= 2 * body_kb + before,
        "the master peaked at {peak} kB for a {body_kb} kB body (it held {before} kB before)"
    );
    eprintln!("a {body_kb} kB predict ({n} rows): master peak {peak} kB, {before} kB before");
}
