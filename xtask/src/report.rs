//! `cargo xtask report --dir EXP`: one self-contained page, `EXP/report.html`, that shows what
//! the last fit did. Every chart is inline SVG (drawn with plotters), so the page opens from
//! disk with no server and no network.
//!
//! `cargo xtask fit` keeps what the page needs in `EXP/.chimera/last_fit.json`: the fit answer,
//! the master's time-log lines written during the fit, and the held-out score when `EXP/test/`
//! is there. The report adds what the experiment's folder holds: each worker's rows and labels.

use crate::csv;
use chimera_shared::api::{FitResponse, PredRows, PredictRequest, PredictResponse};
use chimera_shared::client::Client;
use chimera_shared::config::{Experiment, MasterSpec, ModelType, TaskKind, WorkerKind};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where `cargo xtask fit` keeps the last fit, inside the experiment.
pub const RECORD: &str = ".chimera/last_fit.json";
pub const REPORT: &str = "report.html";

/// What `cargo xtask fit` keeps of a fit for its report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitRecord {
    pub answer: FitResponse,
    pub test: Option<TestScore>,
    /// The master's calls to its workers during the fit, in the order they finished.
    pub calls: Vec<Call>,
}

/// The fitted model's quality on `EXP/test/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestScore {
    /// `accuracy` or `R²`.
    pub metric: String,
    pub value: f64,
    pub rows: usize,
    /// The predict's time, through the master.
    pub seconds: f64,
}

/// One line of the master's `chimera_time.log`: a call to a worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Call {
    pub worker: String,
    pub endpoint: String,
    pub seconds: f64,
}

fn time_log(exp: &Experiment) -> PathBuf {
    exp.log_dir("master").join(chimera_shared::logs::TIME_LOG)
}

/// The master's time log's length now: the fit's lines are the ones after it.
pub fn time_log_mark(exp: &Experiment) -> u64 {
    std::fs::metadata(time_log(exp)).map_or(0, |m| m.len())
}

/// The master's calls to its workers logged after `mark` (from the start if the log rotated).
pub fn calls_since(exp: &Experiment, mark: u64) -> Vec<Call> {
    let Ok(text) = std::fs::read(time_log(exp)) else {
        return Vec::new();
    };
    let from = usize::try_from(mark).unwrap_or(0);
    let new = if from <= text.len() { &text[from..] } else { &text[..] };
    String::from_utf8_lossy(new)
        .lines()
        .filter_map(|line| parse_time_line(exp, line))
        .collect()
}

/// `http://HOST:PORT/path worker endpoint latency = 0.0123 s` (the seed's format). Lines the
/// master wrote about its own endpoints (`master endpoint`) are not calls to workers.
fn parse_time_line(exp: &Experiment, line: &str) -> Option<Call> {
    let (url, rest) = line.split_once(' ')?;
    let seconds: f64 = rest
        .strip_prefix("worker endpoint latency = ")?
        .strip_suffix(" s")?
        .parse()
        .ok()?;
    let without_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = without_scheme
        .split_once('/')
        .map_or((without_scheme, ""), |(a, p)| (a, p));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
    let port: Option<u16> = port.parse().ok();
    let worker = exp
        .workers
        .iter()
        .enumerate()
        .find(|(i, (name, _))| {
            host == name
                || host == exp.env.worker_ip(*i)
                || port.is_some() && port == exp.env.mapped_ports.get(*i).copied()
        })
        .map_or_else(|| authority.to_string(), |(_, (name, _))| name.clone());
    Some(Call {
        worker,
        endpoint: format!("/{path}"),
        seconds,
    })
}

/// Predicts `EXP/test/X_test.csv` through the master and scores it against `y_test.csv`.
/// `None` when the experiment has no `test/`.
pub fn score_test(exp: &Experiment, client: &Client) -> Result<Option<TestScore>, String> {
    let dir = exp.dir.join("test");
    let (x_path, y_path) = (dir.join("X_test.csv"), dir.join("y_test.csv"));
    if !x_path.exists() || !y_path.exists() {
        return Ok(None);
    }
    let x = csv::read(&x_path)?;
    let truth = csv::read(&y_path)?.text_column(0).map_err(|e| e.to_string())?;
    let request = PredictRequest {
        columns: x.header.clone(),
        rows: csv::numbers(&x)?,
    };
    let started = Instant::now();
    let answer = client.predict(exp.master.kind_name(), &request)?;
    let seconds = started.elapsed().as_secs_f64();
    let (metric, value) = quality(&truth, &answer);
    Ok(Some(TestScore {
        metric: if metric == "r2" { "R²" } else { metric }.to_string(),
        value,
        rows: truth.len(),
        seconds,
    }))
}

/// A predict's quality against the true values or labels: `("r2", R²)` when it answered
/// values, else `("accuracy", accuracy)` of its labels.
pub fn quality(truth: &[String], answer: &PredictResponse) -> (&'static str, f64) {
    match (&answer.y_pred_labels, &answer.y_pred_rows) {
        (None, PredRows::Values(pred)) => {
            let t: Vec<f64> = truth.iter().map(|v| v.trim().parse().unwrap_or(f64::NAN)).collect();
            ("r2", chimera_shared::scores::r2(&t, pred))
        }
        (Some(labels), _) | (None, PredRows::Labels(labels)) => {
            ("accuracy", chimera_shared::scores::accuracy(truth, labels))
        }
    }
}

pub fn save(exp: &Experiment, record: &FitRecord) -> Result<(), String> {
    let path = exp.dir.join(RECORD);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes `EXP/report.html` from the last fit and returns its path.
pub fn write(exp: &Experiment) -> Result<PathBuf, String> {
    let path = exp.dir.join(RECORD);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        format!(
            "no fit recorded in {} yet: start the experiment (cargo xtask up --dir {}) and run cargo xtask fit --dir {} first",
            exp.dir.display(),
            exp.dir.display(),
            exp.dir.display()
        )
    })?;
    let record: FitRecord =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}; run cargo xtask fit again", path.display()))?;
    let html = render(exp, &record)?;
    let out = exp.dir.join(REPORT);
    std::fs::write(&out, html).map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(out)
}

/// The page.
fn render(exp: &Experiment, record: &FitRecord) -> Result<String, String> {
    let fit = &record.answer;
    let name = exp
        .dir
        .file_name()
        .map_or_else(|| "experiment".into(), |n| n.to_string_lossy().into_owned());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Chimera report: {}</title>\
         <style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}\
         section{{margin:2em 0}}p.note{{color:#555}}</style></head><body>\n<h1>Chimera report: {}</h1>\n",
        escape(&name),
        escape(&name)
    );
    html += &summary(exp, record);

    if let Some(t) = &fit.training {
        section(
            &mut html,
            "Loss per update",
            &format!(
                "The regularized training loss at the weights each update started from ({} updates).",
                t.loss_history.len()
            ),
        );
        let points: Vec<(f64, f64)> = t
            .loss_history
            .iter()
            .enumerate()
            .map(|(i, l)| ((i + 1) as f64, *l))
            .collect();
        html += &line_chart("loss", "update", "loss", &[("loss".to_string(), points)])?;
        html += "</section>\n";
    }

    let endpoint = match exp.master {
        MasterSpec::ParameterServer(_) => chimera_shared::api::paths::SGD_FIT_STEP,
        MasterSpec::Aggregation => chimera_shared::api::paths::MODEL_FIT,
    };
    let per_worker = calls_by_worker(exp, &record.calls, endpoint);
    section(
        &mut html,
        "Worker call latency",
        &format!(
        "Each worker's <code>{endpoint}</code> calls during the fit, from the master's <code>chimera_time.log</code>. \
         The seed's log format has no timestamps, so the calls are in the order they finished."
    ),
    );
    if per_worker.iter().all(|(_, v)| v.is_empty()) {
        let _ = write!(
            html,
            "<p class=\"note\">No calls in {}: the fit ran with CHIMERA_TELEMETRY=off, or the master's logs are elsewhere \
             (CHIMERA_LOG_DIR; in Docker, the master's log volume).</p>",
            escape(&time_log(exp).display().to_string())
        );
    } else {
        let series: Vec<(String, Vec<(f64, f64)>)> = per_worker
            .iter()
            .map(|(w, s)| {
                (
                    w.clone(),
                    s.iter().enumerate().map(|(i, v)| ((i + 1) as f64, v * 1e3)).collect(),
                )
            })
            .collect();
        html += &line_chart("latency over time", "call", "milliseconds", &series)?;
        html += &latency_histogram(&per_worker)?;
    }
    html += "</section>\n";

    section(
        &mut html,
        "Straggler gap",
        "What waiting for the slowest worker cost: its answer time less the fastest worker's.",
    );
    match fit.training.as_ref().and_then(|t| t.straggler_gaps.as_ref()) {
        Some(gaps) => {
            let points: Vec<(f64, f64)> = gaps
                .iter()
                .enumerate()
                .map(|(i, g)| ((i + 1) as f64, g * 1e3))
                .collect();
            html += &line_chart("straggler gap", "round", "milliseconds", &[("gap".to_string(), points)])?;
        }
        None if fit.training.is_some() => {
            html += "<p class=\"note\">No rounds to wait for: in <code>async</code> and <code>ssp</code> fast workers \
                     go on without the slowest; see the staleness below for what that costs.</p>";
        }
        None => {
            let times: Vec<f64> = fit.workers.iter().map(|w| w.seconds).collect();
            let gap = times.iter().copied().fold(0.0, f64::max) - times.iter().copied().fold(f64::INFINITY, f64::min);
            let _ = write!(
                html,
                "<p>One round (every worker fits once): the gap is {:.1} ms.</p>",
                gap.max(0.0) * 1e3
            );
        }
    }
    html += "</section>\n";

    if let Some(histogram) = fit.training.as_ref().and_then(|t| t.staleness_histogram.as_ref()) {
        section(
            &mut html,
            "Staleness",
            "How many updates behind the weights each gradient was computed at (0: fresh).",
        );
        let labels: Vec<String> = (0..histogram.len()).map(|s| s.to_string()).collect();
        let counts: Vec<f64> = histogram.iter().map(|&c| c as f64).collect();
        html += &bar_chart(
            "staleness",
            "updates behind",
            "gradients",
            &labels,
            &[("gradients".to_string(), counts)],
        )?;
        html += "</section>\n";
    }

    html += &data_section(exp)?;
    html += "</body></html>\n";
    Ok(html)
}

fn section(html: &mut String, title: &str, note: &str) {
    let _ = writeln!(html, "<section><h2>{title}</h2><p class=\"note\">{note}</p>");
}

fn summary(exp: &Experiment, record: &FitRecord) -> String {
    let fit = &record.answer;
    let mut rows: Vec<(String, String)> = vec![
        ("master".into(), exp.master.kind_name().into()),
        (
            "workers".into(),
            exp.workers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "fit".into(),
            format!(
                "{}{}",
                fit.fit,
                fit.seconds.map(|s| format!(" in {s:.3} s")).unwrap_or_default()
            ),
        ),
    ];
    if let Some(t) = &fit.training {
        rows.push(("mode".into(), t.mode.clone()));
        rows.push(("updates".into(), format!("{} (stopped by {})", t.rounds, t.stop_reason)));
        rows.push(("final loss".into(), format!("{:.6}", t.final_loss)));
    }
    match &record.test {
        Some(s) => rows.push((
            "held-out quality".into(),
            format!(
                "{} {:.4} on {} rows of test/ (predicted in {:.3} s)",
                s.metric, s.value, s.rows, s.seconds
            ),
        )),
        None => rows.push(("held-out quality".into(), "no test/ folder in the experiment".into())),
    }
    for w in &fit.workers {
        let error = w.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        rows.push((
            format!("worker {}", w.name),
            format!("{} in {:.4} s{error}", w.outcome.as_str(), w.seconds),
        ));
    }
    let mut out = String::from("<section><h2>Summary</h2><table>\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(&k), escape(&v));
    }
    out + "</table></section>\n"
}

/// Each worker's latencies (seconds) on `endpoint`, in the experiment's worker order.
fn calls_by_worker(exp: &Experiment, calls: &[Call], endpoint: &str) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = exp.workers.iter().map(|(n, _)| (n.clone(), Vec::new())).collect();
    for c in calls.iter().filter(|c| c.endpoint == endpoint) {
        match out.iter_mut().find(|(w, _)| *w == c.worker) {
            Some((_, v)) => v.push(c.seconds),
            None => out.push((c.worker.clone(), vec![c.seconds])),
        }
    }
    out
}

/// Latencies in 20 equal bins from the fastest call to the slowest, one bar per worker.
fn latency_histogram(per_worker: &[(String, Vec<f64>)]) -> Result<String, String> {
    let ms: Vec<(String, Vec<f64>)> = per_worker
        .iter()
        .map(|(w, v)| (w.clone(), v.iter().map(|s| s * 1e3).collect()))
        .collect();
    let (labels, counts) = binned(&ms, 20, 2);
    bar_chart(
        "latency histogram",
        "milliseconds (bin start)",
        "calls",
        &labels,
        &counts,
    )
}

/// Each series' values counted in `bins` equal bins spanning every series' range; the labels
/// are the bins' starts with `decimals` decimals.
fn binned(series: &[(String, Vec<f64>)], bins: usize, decimals: usize) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let (lo, hi) = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let width = ((hi - lo) / bins as f64).max(1e-12);
    let labels = (0..bins)
        .map(|b| format!("{:.*}", decimals, lo + width * b as f64))
        .collect();
    let counts = series
        .iter()
        .map(|(name, v)| {
            let mut counts = vec![0.0; bins];
            for x in v {
                counts[(((x - lo) / width) as usize).min(bins - 1)] += 1.0;
            }
            (name.clone(), counts)
        })
        .collect();
    (labels, counts)
}

/// Each worker's rows and label distribution, read from `chimera_train_data/<worker>/`.
fn data_section(exp: &Experiment) -> Result<String, String> {
    let mut html = String::new();
    section(
        &mut html,
        "Rows and labels per worker",
        "Each worker's training shard, from <code>chimera_train_data/</code>.",
    );
    let mut labels_of: Vec<(String, Vec<String>)> = Vec::new();
    html += "<table><tr><th>worker</th><th>rows</th></tr>\n";
    for (name, _) in &exp.workers {
        let path = exp.data_dir(name).join("y_train.csv");
        let values = csv::read(&path).and_then(|t| t.text_column(0).map_err(|e| e.to_string()));
        match values {
            Ok(v) => {
                let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(name), v.len());
                labels_of.push((name.clone(), v));
            }
            Err(e) => {
                let _ = writeln!(
                    html,
                    "<tr><td>{}</td><td>unreadable: {}</td></tr>",
                    escape(name),
                    escape(&e)
                );
            }
        }
    }
    html += "</table>\n";
    if labels_of.is_empty() {
        return Ok(html + "</section>\n");
    }
    if classification(exp) {
        let mut classes: Vec<String> = labels_of
            .iter()
            .flat_map(|(_, v)| v.iter().map(|s| s.trim().to_string()))
            .collect();
        classes.sort();
        classes.dedup();
        let series: Vec<(String, Vec<f64>)> = labels_of
            .iter()
            .map(|(w, v)| {
                let counts = classes
                    .iter()
                    .map(|c| v.iter().filter(|s| s.trim() == c).count() as f64)
                    .collect();
                (w.clone(), counts)
            })
            .collect();
        html += &bar_chart("labels per worker", "class", "rows", &classes, &series)?;
    } else {
        let numbers: Vec<(String, Vec<f64>)> = labels_of
            .iter()
            .map(|(w, v)| (w.clone(), v.iter().filter_map(|s| s.trim().parse().ok()).collect()))
            .collect();
        let (labels, series) = binned(&numbers, 12, 3);
        html += &bar_chart("targets per worker", "target (bin start)", "rows", &labels, &series)?;
    }
    Ok(html + "</section>\n")
}

fn classification(exp: &Experiment) -> bool {
    match exp.model_type() {
        Some(t) => t == ModelType::Classifier,
        None => exp.workers.iter().any(|(_, s)| {
            matches!(
                s.kind,
                WorkerKind::Model {
                    task: TaskKind::Classification,
                    ..
                }
            )
        }),
    }
}

const SIZE: (u32, u32) = (900, 320);

/// Lines, one per series, with a legend.
fn line_chart(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<String, String> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_hi, mut y_lo, mut y_hi) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points.filter(|(_, y)| y.is_finite()) {
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    if !y_lo.is_finite() {
        (y_lo, y_hi) = (0.0, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.05).max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let mut chart = frame(&root, title, 0.0..x_hi, (y_lo - pad)..(y_hi + pad))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(draw)?;
        for (i, (name, p)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    p.iter().copied().filter(|(_, y)| y.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(draw)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        legend(&mut chart)?;
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

/// Grouped bars: one group per label, one bar per series.
fn bar_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<String, String> {
    let n = labels.len().max(1);
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0f64, f64::max)
        * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let mut chart = frame(&root, title, -0.5..(n as f64 - 0.5), 0.0..top)?;
        let names = labels.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(n.min(24))
            .x_label_formatter(&move |x: &f64| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(draw)?;
        let width = 0.8 / series.len().max(1) as f64;
        for (s, (name, values)) in series.iter().enumerate() {
            let color = Palette99::pick(s).to_rgba();
            chart
                .draw_series(values.iter().enumerate().map(|(g, &v)| {
                    let left = g as f64 - 0.4 + s as f64 * width;
                    Rectangle::new([(left, 0.0), (left + width, v)], color.filled())
                }))
                .map_err(draw)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        if series.len() > 1 {
            legend(&mut chart)?;
        }
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white chart of `SIZE` with its caption and axes' room, over `x` and `y`.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(draw)?;
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(draw)
}

/// The series' names in a framed box.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw)
}

fn draw<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report's path, as `cargo xtask fit` prints it.
pub fn announce(path: &Path) {
    println!("report: {}", path.display());
}
