//! How good a prediction is, with scikit-learn's definitions: the demo, the benchmark and the
//! tests all score with these.

/// The coefficient of determination, as scikit-learn's `r2_score` (1 is perfect, 0 is the
/// mean's score, below 0 is worse than the mean).
pub fn r2(truth: &[f64], pred: &[f64]) -> f64 {
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let ss_res: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).powi(2)).sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    1.0 - ss_res / ss_tot
}

/// The share of predictions equal to the truth, compared as text (labels may be integers or
/// strings).
pub fn accuracy<T: ToString, P: ToString>(truth: &[T], pred: &[P]) -> f64 {
    let hits = truth
        .iter()
        .zip(pred)
        .filter(|(t, p)| t.to_string() == p.to_string())
        .count();
    hits as f64 / truth.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_and_accuracy_follow_scikit_learn() {
        // sklearn.metrics.r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) == 0.9486081370449679
        assert!((r2(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]) - 0.948_608_137_044_967_9).abs() < 1e-12);
        assert_eq!(r2(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]), 0.0);
        assert_eq!(accuracy(&["a", "b", "c", "d"], &["a", "x", "c", "d"]), 0.75);
        assert_eq!(accuracy(&[1, 2], &["1".to_string(), "3".to_string()]), 0.5);
    }
}
