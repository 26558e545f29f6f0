//! Bagging's combine step, free of HTTP: average the workers' predictions.
//!
//! Regression: the mean of the values. Classification: the mean of the class probabilities,
//! aligned by label over the sorted union of every worker's classes (a class a worker never
//! saw gets probability 0 from it); a worker without probabilities counts as one-hot votes.

use chimera_shared::api::{FailedWorker, Label, PredRows, PredictResponse};
use chimera_shared::compact;
use chimera_shared::config::TaskKind;

/// Combines the answers that came back. Answers that do not fit (wrong length, wrong kind) are
/// moved to `failed`, never dropped in silence. `None` when nothing usable remains.
pub fn combine(
    task: TaskKind,
    n_rows: usize,
    answers: Vec<(String, PredictResponse)>,
    failed: &mut Vec<FailedWorker>,
) -> Option<PredictResponse> {
    match task {
        TaskKind::Regression => regression(n_rows, answers, failed),
        TaskKind::Classification => classification(n_rows, &answers, failed),
    }
}

fn regression(
    n_rows: usize,
    answers: Vec<(String, PredictResponse)>,
    failed: &mut Vec<FailedWorker>,
) -> Option<PredictResponse> {
    let mut sum = vec![0.0; n_rows];
    let mut count = 0usize;
    for (name, answer) in answers {
        match answer.y_pred_rows {
            PredRows::Values(v) if v.len() == n_rows => {
                sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
                count += 1;
            }
            other => failed.push(FailedWorker {
                name,
                error: format!(
                    "answered {} predictions of the wrong kind or count (expected {n_rows} values)",
                    other.len()
                ),
            }),
        }
    }
    (count > 0).then(|| PredictResponse {
        y_pred_rows: PredRows::Values(sum.into_iter().map(|s| s / count as f64).collect()),
        classes: None,
        y_pred_labels: None,
        y_pred_proba: None,
        failed_workers: Vec::new(),
    })
}

/// One worker's probabilities over its own classes, or `None` when the answer is unusable.
fn worker_probabilities(n_rows: usize, answer: &PredictResponse) -> Result<(Vec<Label>, Vec<Vec<f64>>), String> {
    let classes = answer
        .classes
        .clone()
        .ok_or("answered without classes (is it a regression worker?)")?;
    if let Some(p) = &answer.y_pred_proba {
        if p.len() != n_rows || p.iter().any(|r| r.len() != classes.len()) {
            return Err(format!(
                "answered probabilities of the wrong shape (expected {n_rows} rows x {} classes)",
                classes.len()
            ));
        }
        return Ok((classes, p.clone()));
    }
    let labels = answer
        .y_pred_labels
        .as_ref()
        .ok_or("answered neither probabilities nor labels")?;
    if labels.len() != n_rows {
        return Err(format!("answered {} labels (expected {n_rows})", labels.len()));
    }
    let one_hot = labels
        .iter()
        .map(|l| classes.iter().map(|c| f64::from(u8::from(c == l))).collect())
        .collect();
    Ok((classes, one_hot))
}

fn classification(
    n_rows: usize,
    answers: &[(String, PredictResponse)],
    failed: &mut Vec<FailedWorker>,
) -> Option<PredictResponse> {
    let mut usable = Vec::new();
    for (name, answer) in answers {
        match worker_probabilities(n_rows, answer) {
            Ok(p) => usable.push(p),
            Err(error) => failed.push(FailedWorker {
                name: name.clone(),
                error,
            }),
        }
    }
    if usable.is_empty() {
        return None;
    }
    let mut classes: Vec<Label> = usable.iter().flat_map(|(c, _)| c.iter().cloned()).collect();
    classes.sort();
    classes.dedup();
    let k = classes.len();
    let mut proba = vec![vec![0.0; k]; n_rows];
    for (worker_classes, p) in &usable {
        let slots: Vec<usize> = worker_classes
            .iter()
            .map(|c| classes.binary_search(c).expect("the union holds every class"))
            .collect();
        for (row, worker_row) in proba.iter_mut().zip(p) {
            for (&slot, &v) in slots.iter().zip(worker_row) {
                row[slot] += v;
            }
        }
    }
    let n = usable.len() as f64;
    proba.iter_mut().flatten().for_each(|v| *v /= n);
    let labels = chimera_shared::sgd::labels_of(&proba, &classes);
    // The seed's meaning: on two classes, the probability of classes[1]; otherwise the labels.
    let y_pred_rows = if k == 2 {
        PredRows::Values(proba.iter().map(|r| r[1]).collect())
    } else {
        PredRows::Labels(labels.clone())
    };
    Some(PredictResponse {
        y_pred_rows,
        classes: Some(classes),
        y_pred_labels: Some(labels),
        y_pred_proba: Some(proba),
        failed_workers: Vec::new(),
    })
}

/// The large-predict combine: each worker's compact answer ([`chimera_shared::compact`]) is
/// checked, then added into running sums and dropped. What remains is the mean, from which
/// [`Combined::json_chunks`] writes the answer (the same bytes as [`combine`]'s) a few
/// thousand rows at a time. The master so holds one set of sums and the compact answers, about
/// 16 bytes a row per worker for two classes, never every worker's JSON, its parse, or the
/// whole answer. Answers that do not fit are moved to `failed` (and named in the answer);
/// `None` when nothing usable remains.
pub fn combine_compact<B: AsRef<[u8]>>(
    task: TaskKind,
    n_rows: usize,
    answers: Vec<(String, B)>,
    mut failed: Vec<FailedWorker>,
) -> Result<Combined, Vec<FailedWorker>> {
    let mut usable = Vec::new();
    for (name, bytes) in answers {
        let checked = compact::decode(bytes.as_ref()).and_then(|a| {
            let h = a.header;
            match task {
                _ if h.n_rows != n_rows => Err(format!("answered {} rows (expected {n_rows})", h.n_rows)),
                TaskKind::Regression if h.width != 1 || h.classes.is_some() => {
                    Err("answered classes to a regression".to_string())
                }
                TaskKind::Classification if h.classes.is_none() => {
                    Err("answered without classes (is it a regression worker?)".to_string())
                }
                _ => Ok(h.classes),
            }
        });
        match checked {
            Ok(own) => usable.push((bytes, own)),
            Err(error) => failed.push(FailedWorker { name, error }),
        }
    }
    if usable.is_empty() {
        return Err(failed);
    }
    let mut classes: Vec<Label> = usable
        .iter()
        .flat_map(|(_, own)| own.iter().flatten().cloned())
        .collect();
    classes.sort();
    classes.dedup();
    let width = classes.len().max(1);
    let mut mean = vec![0.0; n_rows * width];
    let count = usable.len() as f64;
    for (bytes, own) in usable {
        // Decoded a second time rather than kept: the answers stay in their compact bytes.
        let Ok(answer) = compact::decode(bytes.as_ref()) else {
            continue;
        };
        let slots: Vec<usize> = match &own {
            Some(own) => own.iter().map(|c| classes.binary_search(c).unwrap_or(0)).collect(),
            None => vec![0],
        };
        for (i, row) in mean.chunks_exact_mut(width).enumerate() {
            for (&slot, v) in slots.iter().zip(answer.row(i)) {
                row[slot] += v;
            }
        }
        // `bytes` is dropped here: only the sums stay.
    }
    for v in &mut mean {
        *v /= count;
    }
    Ok(Combined {
        task,
        classes,
        width,
        mean,
        failed,
    })
}

/// The mean of the workers' compact answers, ready to be written out.
#[derive(Debug)]
pub struct Combined {
    task: TaskKind,
    classes: Vec<Label>,
    width: usize,
    /// `n_rows × width`: values, or class probabilities in `classes` order.
    mean: Vec<f64>,
    failed: Vec<FailedWorker>,
}

/// Rows written per chunk of the answer.
const CHUNK_ROWS: usize = 4096;

/// The parts of a [`PredictResponse`]'s JSON, in its field order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Open,
    Rows(usize),
    AfterRows,
    Labels(usize),
    AfterLabels,
    Proba(usize),
    Close,
    Done,
}

impl Combined {
    fn n_rows(&self) -> usize {
        self.mean.len() / self.width
    }

    fn label(&self, i: usize) -> &Label {
        let row = &self.mean[i * self.width..(i + 1) * self.width];
        &self.classes[chimera_shared::sgd::argmax(row.iter())]
    }

    /// The answer's JSON, [`CHUNK_ROWS`] rows of one field at a time.
    pub fn json_chunks(self) -> impl Iterator<Item = Vec<u8>> {
        let mut part = Part::Open;
        std::iter::from_fn(move || {
            let mut out = Vec::new();
            part = self.write(part, &mut out);
            (part != Part::Done || !out.is_empty()).then_some(out)
        })
        .take_while(|chunk| !chunk.is_empty())
    }

    /// Writes `part` into `out` and says which part comes next.
    fn write(&self, part: Part, out: &mut Vec<u8>) -> Part {
        let n = self.n_rows();
        let number = |out: &mut Vec<u8>, v: f64| {
            let _ = serde_json::to_writer(&mut *out, &v);
        };
        let rows = |start: usize| start..(start + CHUNK_ROWS).min(n);
        let comma = |out: &mut Vec<u8>, i: usize| {
            if i > 0 {
                out.push(b',');
            }
        };
        let classification = self.task == TaskKind::Classification;
        match part {
            Part::Open => {
                out.extend_from_slice(b"{\"y_pred_rows\":[");
                Part::Rows(0)
            }
            Part::Rows(start) if start < n => {
                for i in rows(start) {
                    comma(out, i);
                    let row = &self.mean[i * self.width..(i + 1) * self.width];
                    match (classification, self.width) {
                        (false, _) => number(out, row[0]),
                        // The seed's meaning: on two classes, the probability of classes[1].
                        (true, 2) => number(out, row[1]),
                        (true, _) => {
                            let _ = serde_json::to_writer(&mut *out, self.label(i));
                        }
                    }
                }
                Part::Rows(start + CHUNK_ROWS)
            }
            Part::Rows(_) => {
                out.push(b']');
                Part::AfterRows
            }
            Part::AfterRows if classification => {
                out.extend_from_slice(b",\"classes\":");
                let _ = serde_json::to_writer(&mut *out, &self.classes);
                out.extend_from_slice(b",\"y_pred_labels\":[");
                Part::Labels(0)
            }
            Part::Labels(start) if start < n => {
                for i in rows(start) {
                    comma(out, i);
                    let _ = serde_json::to_writer(&mut *out, self.label(i));
                }
                Part::Labels(start + CHUNK_ROWS)
            }
            Part::Labels(_) => {
                out.push(b']');
                Part::AfterLabels
            }
            Part::AfterLabels => {
                out.extend_from_slice(b",\"y_pred_proba\":[");
                Part::Proba(0)
            }
            Part::Proba(start) if start < n => {
                for i in rows(start) {
                    comma(out, i);
                    out.push(b'[');
                    for (j, &v) in self.mean[i * self.width..(i + 1) * self.width].iter().enumerate() {
                        comma(out, j);
                        number(out, v);
                    }
                    out.push(b']');
                }
                Part::Proba(start + CHUNK_ROWS)
            }
            Part::Proba(_) => {
                out.push(b']');
                Part::Close
            }
            Part::AfterRows | Part::Close => {
                if !self.failed.is_empty() {
                    out.extend_from_slice(b",\"failed_workers\":");
                    let _ = serde_json::to_writer(&mut *out, &self.failed);
                }
                out.push(b'}');
                Part::Done
            }
            Part::Done => Part::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[f64]) -> PredictResponse {
        PredictResponse {
            y_pred_rows: PredRows::Values(v.to_vec()),
            classes: None,
            y_pred_labels: None,
            y_pred_proba: None,
            failed_workers: vec![],
        }
    }

    fn probs(classes: &[i64], p: Vec<Vec<f64>>) -> PredictResponse {
        PredictResponse {
            y_pred_rows: PredRows::Labels(vec![]),
            classes: Some(classes.iter().map(|&c| Label::Int(c)).collect()),
            y_pred_labels: None,
            y_pred_proba: Some(p),
            failed_workers: vec![],
        }
    }

    #[test]
    fn regression_is_the_mean() {
        let mut failed = vec![];
        let out = combine(
            TaskKind::Regression,
            2,
            vec![("a".into(), values(&[1.0, 2.0])), ("b".into(), values(&[3.0, 6.0]))],
            &mut failed,
        )
        .unwrap();
        assert_eq!(out.y_pred_rows, PredRows::Values(vec![2.0, 4.0]));
        assert!(failed.is_empty());
    }

    #[test]
    fn a_wrong_length_answer_is_named_not_averaged() {
        let mut failed = vec![];
        let out = combine(
            TaskKind::Regression,
            2,
            vec![("a".into(), values(&[1.0, 2.0])), ("b".into(), values(&[3.0]))],
            &mut failed,
        )
        .unwrap();
        assert_eq!(out.y_pred_rows, PredRows::Values(vec![1.0, 2.0]));
        assert_eq!(failed[0].name, "b");
    }

    #[test]
    fn classes_are_aligned_by_label() {
        // Worker a saw classes 3 and 5; worker b saw 5 and 8.
        let a = probs(&[3, 5], vec![vec![0.8, 0.2]]);
        let b = probs(&[5, 8], vec![vec![0.4, 0.6]]);
        let mut failed = vec![];
        let out = combine(
            TaskKind::Classification,
            1,
            vec![("a".into(), a), ("b".into(), b)],
            &mut failed,
        )
        .unwrap();
        assert_eq!(out.classes, Some(vec![Label::Int(3), Label::Int(5), Label::Int(8)]));
        let p = &out.y_pred_proba.unwrap()[0];
        assert!((p[0] - 0.4).abs() < 1e-12 && (p[1] - 0.3).abs() < 1e-12 && (p[2] - 0.3).abs() < 1e-12);
        assert_eq!(out.y_pred_labels, Some(vec![Label::Int(3)]));
        assert_eq!(out.y_pred_rows, PredRows::Labels(vec![Label::Int(3)]));
    }

    #[test]
    fn binary_rows_are_the_probability_of_the_second_class() {
        let a = probs(&[0, 1], vec![vec![0.9, 0.1], vec![0.2, 0.8]]);
        let b = probs(&[0, 1], vec![vec![0.7, 0.3], vec![0.4, 0.6]]);
        let out = combine(
            TaskKind::Classification,
            2,
            vec![("a".into(), a), ("b".into(), b)],
            &mut vec![],
        )
        .unwrap();
        let PredRows::Values(v) = out.y_pred_rows else { panic!() };
        assert!((v[0] - 0.2).abs() < 1e-12 && (v[1] - 0.7).abs() < 1e-12);
        assert_eq!(out.y_pred_labels, Some(vec![Label::Int(0), Label::Int(1)]));
    }

    #[test]
    fn labels_without_probabilities_vote() {
        let mut a = probs(&[0, 1], vec![]);
        a.y_pred_proba = None;
        a.y_pred_labels = Some(vec![Label::Int(1)]);
        let b = probs(&[0, 1], vec![vec![1.0, 0.0]]);
        let out = combine(
            TaskKind::Classification,
            1,
            vec![("a".into(), a), ("b".into(), b)],
            &mut vec![],
        )
        .unwrap();
        assert_eq!(out.y_pred_proba, Some(vec![vec![0.5, 0.5]]));
    }

    #[test]
    fn nothing_usable_is_none() {
        let mut failed = vec![];
        assert!(combine(
            TaskKind::Classification,
            1,
            vec![("a".into(), values(&[1.0]))],
            &mut failed
        )
        .is_none());
        assert_eq!(failed.len(), 1);
    }

    /// The compact path writes exactly the bytes the JSON path does, for either task, with a
    /// worker that saw fewer classes and one whose answer does not fit.
    #[test]
    fn the_compact_combine_writes_what_the_json_combine_writes() {
        let classes = |c: &[&str]| c.iter().map(|s| Label::Str((*s).into())).collect::<Vec<_>>();
        let p1 = vec![vec![0.2, 0.5, 0.3], vec![0.9, 0.05, 0.05]];
        let p2 = vec![vec![0.6, 0.4], vec![0.1, 0.9]];
        let as_json = |c: Vec<Label>, p: Vec<Vec<f64>>| PredictResponse {
            y_pred_rows: PredRows::Values(vec![]),
            classes: Some(c),
            y_pred_labels: None,
            y_pred_proba: Some(p),
            failed_workers: Vec::new(),
        };
        let as_compact = |c: Vec<Label>, p: &[Vec<f64>]| {
            let header = compact::Header {
                n_rows: p.len(),
                width: c.len(),
                classes: Some(c),
            };
            compact::encode(&header, p.iter().flatten().copied())
        };
        for (w1, w2) in [
            (classes(&["a", "b", "c"]), classes(&["a", "c"])),
            (classes(&["x", "y"]), classes(&["x", "y"])),
        ] {
            let p1 = if w1.len() == 2 { p2.clone() } else { p1.clone() };
            let mut failed_json = vec![];
            let mut expected = combine(
                TaskKind::Classification,
                2,
                vec![
                    ("w1".into(), as_json(w1.clone(), p1.clone())),
                    ("w2".into(), as_json(w2.clone(), p2.clone())),
                    ("w3".into(), values(&[1.0, 2.0])),
                ],
                &mut failed_json,
            )
            .unwrap();
            expected.failed_workers.clone_from(&failed_json);
            let regression_answer = compact::encode(
                &compact::Header {
                    n_rows: 2,
                    width: 1,
                    classes: None,
                },
                [1.0, 2.0].into_iter(),
            );
            let got = combine_compact(
                TaskKind::Classification,
                2,
                vec![
                    ("w1".to_string(), as_compact(w1, &p1)),
                    ("w2".to_string(), as_compact(w2, &p2)),
                    ("w3".to_string(), regression_answer),
                ],
                vec![],
            )
            .unwrap();
            assert_eq!(got.failed.len(), 1, "the regression answer is named");
            let text = String::from_utf8(got.json_chunks().collect::<Vec<_>>().concat()).unwrap();
            assert_eq!(text, serde_json::to_string(&expected).unwrap());
        }
        let values_of = |v: &[f64]| {
            compact::encode(
                &compact::Header {
                    n_rows: v.len(),
                    width: 1,
                    classes: None,
                },
                v.iter().copied(),
            )
        };
        let got = combine_compact(
            TaskKind::Regression,
            3,
            vec![
                ("w1".to_string(), values_of(&[1.0, 2.0, 3.0])),
                ("w2".to_string(), values_of(&[3.0, 2.0, 0.5])),
                ("w3".to_string(), values_of(&[1.0])),
            ],
            vec![FailedWorker {
                name: "w0".into(),
                error: "down".into(),
            }],
        )
        .unwrap();
        let mut expected = combine(
            TaskKind::Regression,
            3,
            vec![
                ("w1".into(), values(&[1.0, 2.0, 3.0])),
                ("w2".into(), values(&[3.0, 2.0, 0.5])),
            ],
            &mut vec![],
        )
        .unwrap();
        expected.failed_workers.clone_from(&got.failed);
        assert_eq!(got.failed.len(), 2, "the one named before and the short answer");
        let text = String::from_utf8(got.json_chunks().collect::<Vec<_>>().concat()).unwrap();
        assert_eq!(text, serde_json::to_string(&expected).unwrap());
        let failed = combine_compact(
            TaskKind::Regression,
            3,
            vec![("w".to_string(), b"junk".to_vec())],
            vec![],
        )
        .unwrap_err();
        assert_eq!(failed.len(), 1);
        // Many rows cross chunk boundaries and still make one JSON document.
        let many: Vec<f64> = (0..10_000).map(f64::from).collect();
        let got = combine_compact(
            TaskKind::Regression,
            10_000,
            vec![("w".to_string(), values_of(&many))],
            vec![],
        )
        .unwrap();
        let parsed: PredictResponse = serde_json::from_slice(&got.json_chunks().collect::<Vec<_>>().concat()).unwrap();
        assert_eq!(parsed.y_pred_rows, PredRows::Values(many));
    }
}
