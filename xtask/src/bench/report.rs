//! `docs/benchmarks.md` from one run's JSON lines: each target checked against that run.

use super::Options;
use serde_json::{json, Value};

/// The issues' targets, each checked against this run's figures.
pub(super) fn targets(lines: &[Value]) -> String {
    let find = |scenario: &str, k: u64, clients: Option<u64>| {
        lines
            .iter()
            .find(|l| l["scenario"] == scenario && l["k"] == k && clients.is_none_or(|c| l["clients"] == c))
            .cloned()
            .unwrap_or_default()
    };
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    let mut check = |what: &str, shown: String, ok: bool| rows.push((what.to_string(), shown, ok));
    let l = find("ps_fit_wine_200_rounds", 2, None);
    check(
        "parameter-server fit, red wine, 2 workers, 200 rounds <= 50 ms",
        format!("{:.1} ms", num(&l["median_s"]) * 1e3),
        num(&l["median_s"]) <= 0.05,
    );
    let l = find("ps_fit_synthetic_200_rounds", 2, None);
    check(
        "parameter-server fit, 160k x 20, 2 workers, 200 rounds <= 2 s",
        format!("{:.2} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 2.0,
    );
    for scenario in ["ps_fit_wine_200_rounds", "ps_fit_synthetic_200_rounds"] {
        let l = find(scenario, 2, None);
        check(
            &format!("SGD per-round overhead over the floor <= 2x ({scenario}, k = 2)"),
            format!("{:.2}x", num(&l["overhead_over_floor"])),
            num(&l["overhead_over_floor"]) <= 2.0,
        );
    }
    let l = find("bagging_fit_synthetic", 2, None);
    check(
        "bagging fit, 160k x 20, 2 workers <= 1 s",
        format!("{:.3} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 1.0,
    );
    let l = find("predict_40000_rows", 2, None);
    check(
        "predict 40,000 rows, bagging, 2 workers <= 0.2 s",
        format!("{:.3} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 0.2,
    );
    for k in [2, 3] {
        let l = find("predict_single_row", k, Some(32));
        check(
            &format!("single-row predict, 32 clients, {k} workers >= 3,000 requests/s and p99 <= 10 ms"),
            format!(
                "{:.0} requests/s, p99 {:.2} ms",
                num(&l["requests_per_s"]),
                num(&l["p99_ms"])
            ),
            num(&l["requests_per_s"]) >= 3000.0 && num(&l["p99_ms"]) <= 10.0,
        );
    }
    let l = find("predict_single_row", 3, Some(1));
    check(
        "single-row predict, one client in sequence, 3 workers: p50 <= 1 ms",
        format!("{:.3} ms", num(&l["p50_ms"])),
        num(&l["p50_ms"]) <= 1.0,
    );
    let l = find("ps_fit_wine_200_rounds", 2, None);
    let worst = l["peak_rss_mb"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(n, _)| *n != "master")
        .map(|(_, v)| num(v))
        .fold(0.0, f64::max);
    check(
        "peak memory per worker, red wine <= 30 MB",
        format!("{worst:.1} MB"),
        worst <= 30.0,
    );
    let l = find("startup", 4, None);
    check(
        "4 workers and the master healthy after `up --local` <= 1 s",
        format!("{:.3} s", num(&l["seconds"])),
        num(&l["seconds"]) <= 1.0,
    );
    let l = find("telemetry_overhead", 2, None);
    let worst = num(&l["fit_overhead_pct"]).max(num(&l["throughput_overhead_pct"]));
    check(
        "metrics and logs add <= 5% (fit and single-row throughput)",
        format!(
            "{:.1}% / {:.1}%",
            num(&l["fit_overhead_pct"]),
            num(&l["throughput_overhead_pct"])
        ),
        worst <= 5.0,
    );
    // The performance issue's second round of targets.
    let l = find("bagging_fit_synthetic", 2, None);
    check(
        "bagging fit, 160k x 20, 2 workers, histogram trees <= 40 ms",
        format!("{:.1} ms", num(&l["median_s"]) * 1e3),
        num(&l["median_s"]) <= 0.04,
    );
    let l = find("predict_40000_rows", 2, None);
    check(
        "predict 40,000 rows, bagging, 2 workers <= 60 ms",
        format!("{:.1} ms", num(&l["median_s"]) * 1e3),
        num(&l["median_s"]) <= 0.06,
    );
    let l = find("random_forest_fit_synthetic", 1, None);
    check(
        "random forest of 25 trees, 160k x 20, one worker <= 400 ms",
        format!("{:.1} ms", num(&l["median_s"]) * 1e3),
        num(&l["median_s"]) <= 0.4,
    );
    let l = find("ps_fit_wine_200_rounds", 2, None);
    check(
        "parameter-server round on red wine, k = 2 <= 1.3x its floor",
        format!("{:.2}x", num(&l["overhead_over_floor"])),
        num(&l["overhead_over_floor"]) <= 1.3,
    );
    let l = find("predict_single_row", 2, Some(32));
    check(
        "single-row predict, 32 clients, 2 workers: no worse than 19,000 requests/s and p99 <= 5 ms",
        format!(
            "{:.0} requests/s, p99 {:.2} ms",
            num(&l["requests_per_s"]),
            num(&l["p99_ms"])
        ),
        num(&l["requests_per_s"]) >= 19_000.0 && num(&l["p99_ms"]) <= 5.0,
    );
    let mut md = String::from(
        "## Targets (from the issues), checked against this run\n\n| target | this run | met |\n|---|---|---|\n",
    );
    for (what, shown, ok) in rows {
        md += &format!("| {what} | {shown} | {} |\n", if ok { "yes" } else { "**no**" });
    }
    md + "\n"
}

/// docs/benchmarks.md from this run's lines: every number is a result, none typed by hand.
pub(super) fn markdown(lines: &[Value], opts: &Options) -> String {
    let first = lines.first().cloned().unwrap_or_default();
    let f = |v: &Value, digits: usize| v.as_f64().map_or_else(|| "-".into(), |x| format!("{x:.digits$}"));
    let by = |scenario: &'static str| lines.iter().filter(move |l| l["scenario"] == scenario);
    let mut md = String::new();
    md += "# Benchmarks\n\n";
    md += "Generated by `cargo xtask bench";
    if opts.quick {
        md += " --quick";
    }
    if opts.docker {
        md += " --docker";
    }
    md += " --markdown docs/benchmarks.md`: every figure below is from that run's JSON lines\n";
    md += "(one per scenario and worker count; medians over the repeats shown). All requests go through\n";
    md += "HTTP and JSON to the master and from it to the workers, as a user's would. `--quick` gives a\n";
    md += "short run, `--docker` runs on containers, `--micro` runs the criterion benchmarks; see\n";
    md += "[profiling.md](profiling.md) for where the time goes. Figures on this shared 2-core machine\n";
    md += "move between runs (tens of percent for the millisecond-scale ones).\n\n";
    md += &format!(
        "- machine: {} CPUs ({}), {} GB, kernel {}\n- revision: {}\n- mode: {}\n\n",
        first["machine"]["cpus"],
        first["machine"]["cpu"].as_str().unwrap_or("?"),
        first["machine"]["memory_gb"],
        first["machine"]["kernel"].as_str().unwrap_or("?"),
        first["git"].as_str().unwrap_or("?"),
        first["mode"].as_str().unwrap_or("?")
    );
    md += &targets(lines);
    md += "## Parameter server (200 rounds, full batch)\n\n";
    md += "| data | k | fit (s) | per round (ms) | floor per round (ms): fan-out + gradient | overhead over floor | quality | peak RSS per worker (MB) |\n|---|---|---|---|---|---|---|---|\n";
    for (scenario, data) in [
        ("ps_fit_wine_200_rounds", "red wine"),
        ("ps_fit_synthetic_200_rounds", "160k x 20"),
    ] {
        for l in by(scenario) {
            let q = l["quality"]
                .as_object()
                .and_then(|q| q.iter().next())
                .map(|(k, v)| format!("{k} {}", f(v, 3)))
                .unwrap_or_default();
            let rss: Vec<String> = l["peak_rss_mb"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(n, _)| *n != "master")
                .map(|(_, v)| f(v, 1))
                .collect();
            md += &format!(
                "| {data} | {} | {} | {} | {} + {} | {}x | {q} | {} |\n",
                l["k"],
                f(&l["median_s"], 3),
                f(&json!(l["per_round_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&json!(l["floor_http_fanout_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&json!(l["floor_gradient_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&l["overhead_over_floor"], 2),
                rss.join(", ")
            );
        }
    }
    md += "\n## Bagging (decision trees, max_depth 5, max_leaf_nodes 15, bootstrap; 160k x 20 on every worker)\n\n";
    md += "| k | fit (s) | predict 40,000 rows in one request (s) | accuracy |\n|---|---|---|---|\n";
    for l in by("bagging_fit_synthetic") {
        let p = by("predict_40000_rows")
            .find(|p| p["k"] == l["k"])
            .cloned()
            .unwrap_or_default();
        md += &format!(
            "| {} | {} | {} | {} |\n",
            l["k"],
            f(&l["median_s"], 3),
            f(&p["median_s"], 3),
            f(&p["quality"]["accuracy"], 3)
        );
    }
    for l in by("random_forest_fit_synthetic") {
        md += &format!(
            "\nRandom forest of {} trees (`random_forest`, scikit-learn's defaults otherwise) on one worker, 160k x 20: fit {} s, accuracy {} on the 40,000 held-out rows.\n",
            l["trees"],
            f(&l["median_s"], 3),
            f(&l["quality"]["accuracy"], 3)
        );
    }
    md += "\n## Single-row predict through the master\n\n";
    md += "| k | clients | requests/s | p50 (ms) | p99 (ms) | errors |\n|---|---|---|---|---|---|\n";
    for l in by("predict_single_row") {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            l["k"],
            l["clients"],
            l["requests_per_s"],
            f(&l["p50_ms"], 3),
            f(&l["p99_ms"], 3),
            l["errors"]
        );
    }
    md += "\n## Start-up until every node answers healthy (red wine)\n\n| k | seconds |\n|---|---|\n";
    for l in by("startup") {
        md += &format!("| {} | {} |\n", l["k"], f(&l["seconds"], 3));
    }
    md += "\n## Peak memory (VmHWM) of every process, red wine parameter server\n\n| k | MB by node |\n|---|---|\n";
    for l in by("ps_fit_wine_200_rounds") {
        md += &format!("| {} | {} |\n", l["k"], l["peak_rss_mb"]);
    }
    md +=
        "\n## What metrics and logs cost (k = 2, red wine; CHIMERA_TELEMETRY on vs off, 10 interleaved runs each)\n\n";
    md += "| | telemetry on | telemetry off | overhead |\n|---|---|---|---|\n";
    for l in by("telemetry_overhead") {
        md += &format!(
            "| 200-round fit (s, median) | {} | {} | {}% |\n",
            f(&l["fit_on_median_s"], 4),
            f(&l["fit_off_median_s"], 4),
            f(&l["fit_overhead_pct"], 1)
        );
        md += &format!(
            "| single-row predict, 32 clients (requests/s, median) | {} | {} | {}% |\n",
            f(&l["rps_on_median"], 0),
            f(&l["rps_off_median"], 0),
            f(&l["throughput_overhead_pct"], 1)
        );
    }
    md += "\n## Raw results\n\n```json\n";
    for l in lines {
        let mut l = l.clone();
        if let Some(o) = l.as_object_mut() {
            o.remove("machine");
            o.remove("git");
            o.remove("mode");
        }
        md += &format!("{l}\n");
    }
    md += "```\n";
    md
}
