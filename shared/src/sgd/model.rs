//! The parameter server's trained linear model and its predictions from raw features: plain
//! functions over ndarray, so the master only looks it up and answers.

use super::{decision, predicted_classes, probabilities};
use crate::api::{Label, PredRows, PredictBody, PredictResponse};
use crate::config::{Loss, ModelType};
use crate::error::ApiError;
use crate::predict;
use ndarray::{Array1, Array2};

/// A trained linear model, ready to predict from raw features.
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
        let x = Array2::from_shape_fn((request.rows.n_rows, d), |(i, j)| {
            (request.rows.row(i)[order[j]] - mean[j]) / scale[j]
        });
        let f = decision(x.view(), &self.w, &self.b);
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
