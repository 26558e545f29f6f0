//! A client for people, not only curl: `fit` with a live progress bar and a per-worker table,
//! `predict` from a CSV to a CSV, and `status`.

use crate::csv;
use chimera_shared::api::{FitResponse, PredRows, PredictRequest, PredictResponse};
use chimera_shared::client::Client;
use chimera_shared::config::{Experiment, MasterSpec};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The experiment's master, with its `CHIMERA_API_TOKEN` when it has one.
fn master(exp: &Experiment) -> Client {
    Client::new(
        format!("http://127.0.0.1:{}", exp.env.master_port),
        Duration::from_secs(3600),
    )
    .with_token(exp.env.auth.token.clone())
}

fn unreachable_hint(exp: &Experiment, e: &str) -> String {
    format!(
        "{e}\nIs the experiment running? Start it with `cargo xtask up --dir {}` (add --local without Docker)",
        exp.dir.display()
    )
}

/// Starts a fit and shows its progress until it ends; prints each worker's time.
pub fn fit(exp: &Experiment) -> Result<(), String> {
    let client = master(exp);
    client.get("/healthz").map_err(|e| unreachable_hint(exp, &e))?;
    let kind = exp.master.kind_name();
    let mark = crate::report::time_log_mark(exp);
    let fitting = {
        let client = client.clone();
        std::thread::spawn(move || client.fit(kind))
    };
    let bar = match &exp.master {
        MasterSpec::ParameterServer(ps) => {
            let bar = ProgressBar::new(ps.max_iter);
            bar.set_style(
                ProgressStyle::with_template("round {pos}/{len} {bar:40} loss {msg} ETA {eta}")
                    .expect("a valid template"),
            );
            bar
        }
        MasterSpec::Aggregation => {
            let bar = ProgressBar::new_spinner();
            bar.set_message("fitting on every worker ...");
            bar
        }
    };
    while !fitting.is_finished() {
        if let Ok(status) = client
            .get("/v1/chimera/status")
            .and_then(|a| a.json::<serde_json::Value>())
        {
            if let Some(round) = status["round"].as_u64() {
                bar.set_position(round);
            }
            if let Some(loss) = status["last_loss"].as_f64() {
                bar.set_message(format!("{loss:.6}"));
            }
        }
        bar.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    let answer: FitResponse = fitting.join().map_err(|_| "the fit thread panicked".to_string())??;
    print_fit(&answer);
    record_and_report(exp, &client, answer, mark)?;
    Ok(())
}

/// After a fit: scores `test/` when it is there, keeps the fit for `cargo xtask report`, writes
/// the report and prints where it is. `mark`: the master's time log's length before the fit.
pub fn record_and_report(
    exp: &Experiment,
    client: &Client,
    answer: FitResponse,
    mark: u64,
) -> Result<crate::report::FitRecord, String> {
    let test = crate::report::score_test(exp, client)?;
    if let Some(t) = &test {
        println!(
            "predict {} held-out rows in {:.3} s: {} {:.3}",
            t.rows, t.seconds, t.metric, t.value
        );
    }
    // The master writes its latency lines out at the end of a fit.
    let record = crate::report::FitRecord {
        answer,
        test,
        calls: crate::report::calls_since(exp, mark),
    };
    crate::report::save(exp, &record)?;
    let path = crate::report::write(exp)?;
    crate::report::announce(&path);
    Ok(record)
}

pub fn print_fit(fit: &FitResponse) {
    println!(
        "fit: {}{}",
        fit.fit,
        fit.seconds.map(|s| format!(" in {s:.3} s")).unwrap_or_default()
    );
    if let Some(t) = &fit.training {
        println!(
            "  {} {}, stopped by {}, final loss {:.6}",
            t.rounds,
            if t.mode == "async" { "updates (async)" } else { "rounds" },
            t.stop_reason,
            t.final_loss
        );
        if let Some(h) = &t.staleness_histogram {
            println!("  staleness (updates behind: gradients): {}", staleness_text(h));
        }
    }
    println!("  {:<16} {:>8} {:>10}", "worker", "outcome", "seconds");
    for w in &fit.workers {
        let error = w.error.as_deref().map(|e| format!("  {e}")).unwrap_or_default();
        println!("  {:<16} {:>8} {:>10.4}{error}", w.name, w.outcome.as_str(), w.seconds);
    }
}

/// Predicts every row of a CSV (header = feature names) and writes the predictions as CSV.
pub fn predict(exp: &Experiment, input: &Path, output: Option<&Path>) -> Result<(), String> {
    let table = csv::read(input)?;
    let request = PredictRequest {
        columns: table.header.clone(),
        rows: csv::numbers(&table)?,
    };
    let answer: PredictResponse = master(exp)
        .predict(exp.master.kind_name(), &request)
        .map_err(|e| unreachable_hint(exp, &e))?;
    let mut header = vec!["y_pred".to_string()];
    let classes = answer.classes.clone().unwrap_or_default();
    if answer.y_pred_proba.is_some() {
        header.extend(classes.iter().map(|c| format!("proba_{c}")));
    }
    let rows = (0..request.rows.len()).map(|i| {
        let mut row = vec![match (&answer.y_pred_labels, &answer.y_pred_rows) {
            (Some(labels), _) => labels[i].to_string(),
            (None, PredRows::Values(v)) => csv::num(v[i]),
            (None, PredRows::Labels(l)) => l[i].to_string(),
        }];
        if let Some(p) = &answer.y_pred_proba {
            row.extend(p[i].iter().map(|v| csv::num(*v)));
        }
        row
    });
    if let Some(path) = output {
        csv::write(path, &header, rows)?;
        eprintln!("wrote {} predictions to {}", request.rows.len(), path.display());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", header.join(","));
        for row in rows {
            let _ = writeln!(out, "{}", row.join(","));
        }
    }
    if !answer.failed_workers.is_empty() {
        eprintln!("workers that did not contribute: {:?}", answer.failed_workers);
    }
    Ok(())
}

pub fn status(exp: &Experiment) -> Result<(), String> {
    let s: serde_json::Value = master(exp)
        .get("/v1/chimera/status")
        .map_err(|e| unreachable_hint(exp, &e))?
        .ok()?;
    println!(
        "master: kind {}, state {}",
        s["kind"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?")
    );
    if s["kind"] == "parameter-server" {
        println!(
            "  round {}/{}, last loss {}, stop {}",
            s["round"],
            s["max_iter"],
            s["last_loss"]
                .as_f64()
                .map_or_else(|| "-".into(), |l| format!("{l:.6}")),
            s["stop_reason"].as_str().unwrap_or("-")
        );
        if let Some(mode) = s["mode"].as_str() {
            let staleness: Vec<u64> = s["staleness_histogram"]
                .as_array()
                .map(|h| h.iter().filter_map(serde_json::Value::as_u64).collect())
                .unwrap_or_default();
            println!(
                "  mode {mode}{}",
                if staleness.is_empty() {
                    String::new()
                } else {
                    format!(", staleness (updates behind: gradients) {}", staleness_text(&staleness))
                }
            );
        }
    }
    println!(
        "  {:<16} {:<8} {:<32} {:>8} {:>10}",
        "worker", "healthy", "last call", "outcome", "seconds"
    );
    for w in s["workers"].as_array().into_iter().flatten() {
        let last = &w["last_call"];
        println!(
            "  {:<16} {:<8} {:<32} {:>8} {:>10}",
            w["name"].as_str().unwrap_or("?"),
            if w["healthy"].as_bool() == Some(true) {
                "yes"
            } else {
                "NO"
            },
            last["endpoint"].as_str().unwrap_or("-"),
            last["outcome"].as_str().unwrap_or("-"),
            last["seconds"]
                .as_f64()
                .map_or_else(|| "-".into(), |v| format!("{v:.4}"))
        );
    }
    Ok(())
}

/// A staleness histogram as its non-empty buckets, `0: 198, 1: 1, 199: 1`: the full list has
/// one entry per update behind, mostly zeros, up to the stalest gradient.
pub fn staleness_text(histogram: &[u64]) -> String {
    let buckets: Vec<String> = histogram
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(behind, n)| format!("{behind}: {n}"))
        .collect();
    if buckets.is_empty() {
        "none".into()
    } else {
        buckets.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::staleness_text;

    #[test]
    fn staleness_shows_only_the_buckets_that_hold_gradients() {
        let mut h = vec![0; 200];
        (h[0], h[1], h[199]) = (198, 1, 1);
        assert_eq!(staleness_text(&h), "0: 198, 1: 1, 199: 1");
        assert_eq!(staleness_text(&[]), "none");
    }
}
