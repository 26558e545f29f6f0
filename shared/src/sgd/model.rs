//! The parameter server's trained linear model and its predictions from raw features: plain
//! functions over ndarray, so the master only looks it up and answers.

use super::{decision, predicted_classes, probabilities};
use crate::api::{Label, PredRows, PredictBody, PredictResponse};
use crate::config::{Loss, ModelType};
use crate::error::ApiError;
use crate::predict;
use ndarray::{Array1, Array2};

/// A trained linear model, ready to predict from raw features.
// The only `unsafe` near it is inside ndarray's `s!` macro; a deserialized model has no
// invariant that unsafe code relies on.
#[allow(clippy::unsafe_derive_deserialize)]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearModel {
    pub model_type: ModelType,
    pub loss: Loss,
    pub columns: Vec<String>,
    pub mean: Option<Vec<f64>>,
    pub scale: Option<Vec<f64>>,
    /// `d × o`.
    pub w: Array2<f64>,
    pub b: Array1<f64>,
    pub classes: Option<Vec<Label>>,
}

/// Rows standardized at once by [`LinearModel::predict`].
const BLOCK_ROWS: usize = 4096;

impl LinearModel {
    /// Predicts from raw features: columns matched by name, standardized with the training
    /// statistics, labels in their own type.
    pub fn predict(&self, request: &PredictBody) -> Result<PredictResponse, ApiError> {
        let columns = predict::check_columns(&request.columns)?;
        predict::check_rows(&request.rows, &columns)?;
        let order = predict::align(&columns, &self.columns)?;
        let d = self.columns.len();
        let zeros = vec![0.0; d];
        let ones = vec![1.0; d];
        let mean = self.mean.as_deref().unwrap_or(&zeros);
        let scale = self.scale.as_deref().unwrap_or(&ones);
        // Standardized a block of rows at a time, not all at once: a large predict then costs
        // its parsed rows and the outputs, not a second copy of every feature.
        let n = request.rows.n_rows;
        let mut f = Array2::zeros((n, self.w.ncols()));
        for start in (0..n).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(n);
            let x = Array2::from_shape_fn((end - start, d), |(i, j)| {
                (request.rows.row(start + i)[order[j]] - mean[j]) / scale[j]
            });
            f.slice_mut(ndarray::s![start..end, ..])
                .assign(&decision(x.view(), &self.w, &self.b));
        }
        let Some(classes) = &self.classes else {
            return Ok(PredictResponse {
                y_pred_rows: PredRows::Values(f.column(0).to_vec()),
                classes: None,
                y_pred_labels: None,
                y_pred_proba: None,
                failed_workers: Vec::new(),
            });
        };
        let labels: Vec<Label> = predicted_classes(f.view())
            .into_iter()
            .map(|c| classes[c].clone())
            .collect();
        let proba = (self.loss == Loss::LogLoss)
            .then(|| probabilities(f.view()).rows().into_iter().map(|r| r.to_vec()).collect());
        Ok(PredictResponse {
            // The parameter server's y_pred_rows are the labels (the original answered floats).
            y_pred_rows: PredRows::Labels(labels.clone()),
            classes: Some(classes.clone()),
            y_pred_labels: Some(labels),
            y_pred_proba: proba,
            failed_workers: Vec::new(),
        })
    }
}
