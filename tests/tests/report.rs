//! `cargo xtask report` on real runs (local processes): `cargo xtask fit` writes the page and
//! prints its path; every chart is there as inline SVG with its marks; and the page renders to
//! a picture that is not blank in headless Chromium.

use chimera_tests::{xtask, Down, TempDir};
use std::path::{Path, PathBuf};

/// `example` on free ports with `master_yaml` (if any) and worker-2 `delay_ms` late; started,
/// fitted with `cargo xtask fit`. Returns the folder and what `fit` printed.
fn fitted(example: &str, master_yaml: Option<&str>, worker_2: Option<&str>) -> (TempDir, String) {
    let dir = TempDir::copy_of(example);
    let workers = std::fs::read_dir(dir.path().join("chimera_workers")).unwrap().count();
    chimera_tests::local_env(&dir, workers, "");
    if let Some(yaml) = master_yaml {
        dir.write("chimera_master.yaml", yaml);
    }
    if let Some(yaml) = worker_2 {
        dir.write("chimera_workers/worker-2.yaml", yaml);
    }
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let (ok, out) = xtask(&["fit"], dir.path());
    assert!(ok, "{out}");
    (dir, out)
}

fn report_path(out: &str, dir: &Path) -> PathBuf {
    let expected = dir.join("report.html");
    assert!(
        out.lines()
            .any(|l| l.trim() == format!("report: {}", expected.display())),
        "fit prints the report's path last: {out}"
    );
    expected
}

/// The page's inline SVG charts, by caption.
fn charts(html: &str) -> Vec<(String, String)> {
    html.split("<svg")
        .skip(1)
        .map(|rest| {
            let svg = rest.split("</svg>").next().unwrap().to_string();
            let caption = svg
                .split("<text")
                .nth(1)
                .and_then(|t| t.split('>').nth(1))
                .and_then(|t| t.split('<').next())
                .unwrap_or_default()
                .trim()
                .to_string();
            (caption, svg)
        })
        .collect()
}

/// The data lines of a chart, by colour (plotters draws the grid in width 1, series in 2).
fn series_colours(svg: &str) -> std::collections::BTreeSet<String> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.split('>').next().unwrap().contains("stroke-width=\"2\""))
        .filter_map(|p| {
            p.split("stroke=\"")
                .nth(1)
                .and_then(|c| c.split('"').next())
                .map(String::from)
        })
        .collect()
}

fn chart<'a>(all: &'a [(String, String)], caption: &str) -> &'a str {
    &all.iter()
        .find(|(c, _)| c == caption)
        .unwrap_or_else(|| {
            panic!(
                "no chart {caption:?}; the charts: {:?}",
                all.iter().map(|c| &c.0).collect::<Vec<_>>()
            )
        })
        .1
}

#[test]
fn fit_writes_a_report_with_every_chart_of_its_mode() {
    // Asynchronous SGD with a straggler: loss, latency, staleness, targets per worker.
    let (dir, out) = fitted(
        "sgd-regression",
        Some("kind: parameter-server\nmodel_type: regressor\nmode: async\nmax_iter: 120\n"),
        Some("kind: sgd\nmodel_type: regressor\ndelay_ms: 5\n"),
    );
    let _down = Down(dir.path());
    let html = std::fs::read_to_string(report_path(&out, dir.path())).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for fetch in ["<script", "<link", "<img", " src=", "href="] {
        assert!(!html.contains(fetch), "self-contained, nothing to fetch: {fetch}");
    }
    let all = charts(&html);
    let captions: Vec<&str> = all.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        captions,
        [
            "loss",
            "latency over time",
            "latency histogram",
            "staleness",
            "targets per worker"
        ]
    );
    // One line per series: the loss, and each worker's latency.
    assert_eq!(series_colours(chart(&all, "loss")).len(), 1);
    assert_eq!(series_colours(chart(&all, "latency over time")).len(), 2);
    for caption in ["latency histogram", "targets per worker"] {
        assert!(chart(&all, caption).matches("<rect").count() > 5, "{caption} has bars");
    }
    // The background, then a bar per staleness seen (at least the fresh gradients).
    assert!(
        chart(&all, "staleness").matches("<rect").count() >= 2,
        "staleness has bars"
    );
    for (caption, svg) in &all {
        assert!(
            svg.contains("worker-1") || !caption.contains("worker"),
            "{caption} names the workers"
        );
    }
    assert!(
        html.contains("held-out quality") && html.contains("R² 0."),
        "the test/ score"
    );
    assert!(
        html.contains("No rounds to wait for"),
        "async has no straggler gap per round"
    );

    // `report` alone redraws it from the recorded fit.
    std::fs::remove_file(dir.path().join("report.html")).unwrap();
    let (ok, again) = xtask(&["report"], dir.path());
    assert!(ok, "{again}");
    assert_eq!(std::fs::read_to_string(report_path(&again, dir.path())).unwrap(), html);
}

#[test]
fn synchronous_and_bagging_reports_show_the_straggler_gap_and_the_labels() {
    let (dir, out) = fitted(
        "sgd-regression",
        Some("kind: parameter-server\nmodel_type: regressor\nmax_iter: 30\n"),
        Some("kind: sgd\nmodel_type: regressor\ndelay_ms: 2\n"),
    );
    let down = Down(dir.path());
    let html = std::fs::read_to_string(report_path(&out, dir.path())).unwrap();
    let all = charts(&html);
    let gap = chart(&all, "straggler gap");
    assert_eq!(series_colours(gap).len(), 1, "one line: the gap per round");
    let points = gap
        .split("stroke-width=\"2\" points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(points.split_whitespace().count(), 30, "a point per round");
    assert!(
        all.iter().all(|(c, _)| c != "staleness"),
        "no staleness in gradient mode"
    );
    drop(down);

    let (dir, out) = fitted("bagging-classification", None, None);
    let _down = Down(dir.path());
    let html = std::fs::read_to_string(report_path(&out, dir.path())).unwrap();
    let all = charts(&html);
    assert!(
        chart(&all, "labels per worker").matches("<rect").count() >= 4,
        "classes x workers"
    );
    assert!(html.contains("accuracy 0."), "the held-out accuracy");
    assert!(html.contains("One round (every worker fits once)"));
    assert!(all.iter().all(|(c, _)| c != "loss"), "bagging has no loss curve");
}

#[test]
fn a_report_without_a_fit_says_what_to_run() {
    let dir = TempDir::copy_of("sgd-regression");
    let (ok, out) = xtask(&["report"], dir.path());
    assert!(!ok);
    assert!(
        out.contains("no fit recorded") && out.contains("cargo xtask fit"),
        "{out}"
    );
}

/// Debian's `chromium` (installed by `.ci/run`): a test that needs it fails when it is missing.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = std::process::Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("no chromium on PATH: install Debian's package (apt-get install chromium); .ci/run does");
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let browser = chromium();
    let (dir, out) = fitted(
        "sgd-regression",
        Some("kind: parameter-server\nmodel_type: regressor\nmode: ssp\nstaleness: 2\nmax_iter: 60\n"),
        Some("kind: sgd\nmodel_type: regressor\ndelay_ms: 3\n"),
    );
    let _down = Down(dir.path());
    let page = report_path(&out, dir.path());
    let shot = dir.path().join("report.png");
    let profile = dir.path().join("chromium-profile");
    let run = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    assert!(
        info.width >= 1000 && info.height >= 2000,
        "{}x{}",
        info.width,
        info.height
    );
    let mut inked = 0usize;
    let mut colors = std::collections::BTreeSet::new();
    for p in pixels.chunks(channels) {
        if p[..3].iter().any(|&c| c < 200) {
            inked += 1;
        }
        colors.insert((p[0] / 16, p[1] / 16, p[2] / 16));
    }
    let share = inked as f64 / (pixels.len() / channels) as f64;
    eprintln!(
        "{:.1}% of the screenshot inked, {} colours",
        share * 100.0,
        colors.len()
    );
    assert!(share > 0.01, "the page is blank: {:.3}% inked", share * 100.0);
    assert!(
        colors.len() > 8,
        "text and coloured charts, not one flat colour: {} colours",
        colors.len()
    );
}
