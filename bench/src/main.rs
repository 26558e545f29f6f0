//! `chimera-bench`: the load tools of `cargo xtask bench`, kept out of the production binaries.
//!
//! ```text
//! chimera-bench floor ROUNDS URL...                  the floor: a bare fan-out round trip
//! chimera-bench load URL BODY_FILE CLIENTS SECONDS   single-request load, as JSON
//! ```
//!
//! Both use the master's own HTTP client (awc on actix's runtime), so the floor is what the
//! master's fan-out could cost at best, and the load generator is event-driven: one thread
//! keeps every client in flight and takes little of the 2 cores the cluster runs on.

use std::time::Duration;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("chimera-bench: error: {message}");
    std::process::exit(2)
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("floor") => floor(),
        Some("load") => load(),
        _ => fail("usage: chimera-bench floor ROUNDS URL... | chimera-bench load URL BODY_FILE CLIENTS SECONDS"),
    }
}

/// The benchmark's floor, measured with the master's own client and the workers' own server:
/// `chimera-bench floor ROUNDS URL...` fans `GET /healthz` out to every URL at once, ROUNDS
/// times, and prints the median and 99th percentile seconds of one fan-out as JSON.
fn floor() {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let Some((rounds, urls)) = args.split_first() else {
        fail("usage: chimera-bench floor ROUNDS URL...");
    };
    let rounds: usize = rounds.parse().unwrap_or_else(|_| fail("ROUNDS must be a whole number"));
    let urls: Vec<String> = urls.iter().map(|u| format!("{u}/healthz")).collect();
    let times = actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(10)).finish();
        let mut times = Vec::with_capacity(rounds);
        for i in 0..rounds + rounds / 10 {
            let started = std::time::Instant::now();
            let calls = urls.iter().map(|u| {
                let req = client.get(u.as_str());
                async move {
                    let mut res = req.send().await.map_err(|e| e.to_string())?;
                    res.body().await.map_err(|e| e.to_string())
                }
            });
            for r in futures_util::future::join_all(calls).await {
                if let Err(e) = r {
                    fail(format!("floor: {e}"));
                }
            }
            // The first tenth warms the connection pool up and is not counted.
            if i >= rounds / 10 {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        times
    });
    let mut sorted = times;
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{{\"median_s\": {}, \"p99_s\": {}, \"rounds\": {}}}",
        at(0.5),
        at(0.99),
        sorted.len()
    );
}

/// The benchmark's load generator: `chimera-bench load URL BODY_FILE CLIENTS SECONDS` keeps
/// CLIENTS requests in flight (each on its own keep-alive connection) for SECONDS from one
/// thread, POSTing the body, and prints throughput and latency percentiles as JSON. An
/// event-driven client costs the 2 cores far less than a thread per client would.
fn load() {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let [url, body_file, clients, seconds] = args.as_slice() else {
        fail("usage: chimera-bench load URL BODY_FILE CLIENTS SECONDS");
    };
    let body =
        actix_web::web::Bytes::from(std::fs::read(body_file).unwrap_or_else(|e| fail(format!("{body_file}: {e}"))));
    let clients: usize = clients
        .parse()
        .unwrap_or_else(|_| fail("CLIENTS must be a whole number"));
    let seconds: f64 = seconds.parse().unwrap_or_else(|_| fail("SECONDS must be a number"));
    let url = url.clone();
    let (latencies, errors, elapsed) = actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .connector(awc::Connector::new().limit(clients))
            .finish();
        let deadline = std::time::Instant::now() + Duration::from_secs_f64(seconds);
        let started = std::time::Instant::now();
        let tasks = (0..clients).map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                while std::time::Instant::now() < deadline {
                    let t = std::time::Instant::now();
                    let sent = client
                        .post(url.as_str())
                        .insert_header(("content-type", "application/json"))
                        .send_body(body.clone())
                        .await;
                    let ok = match sent {
                        Ok(mut res) => res.status().is_success() && res.body().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed().as_secs_f64());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            }
        });
        let mut all = Vec::new();
        let mut errors = 0;
        for (lat, e) in futures_util::future::join_all(tasks).await {
            all.extend(lat);
            errors += e;
        }
        (all, errors, started.elapsed().as_secs_f64())
    });
    let mut sorted = latencies;
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if sorted.is_empty() {
            f64::NAN
        } else {
            sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
        }
    };
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"requests_per_s\": {}, \"p50_ms\": {}, \"p99_ms\": {}}}",
        sorted.len(),
        (sorted.len() as f64 / elapsed).round(),
        at(0.5) * 1e3,
        at(0.99) * 1e3
    );
}
