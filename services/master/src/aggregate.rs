//! Bagging's combine step, free of HTTP: average the workers' predictions.
//!
//! Regression: the mean of the values. Classification: the mean of the class probabilities,
//! aligned by label over the sorted union of every worker's classes (a class a worker never
//! saw gets probability 0 from it); a worker without probabilities counts as one-hot votes.

use chimera_shared::api::{FailedWorker, Label, PredRows, PredictResponse};
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
}
