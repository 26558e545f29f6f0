//! The error shape of every 4xx/5xx answer, kept from the Python original:
//! `{"message": ..., "details": {"errorCode": <http status>, "errorMessage": <kind>}}`.
//!
//! `errorMessage` is a stable, machine-readable code (`unknown_column`, `not_fitted`, ...);
//! `message` is the sentence a person reads, naming what was wrong and what to do.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetails {
    #[serde(rename = "errorCode")]
    pub error_code: u16,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub message: String,
    pub details: ErrorDetails,
}

/// Every error code these services answer with, as a closed set. Each code has one HTTP
/// status and a stable snake_case name (the `errorMessage` on the wire), in the style of
/// meilisearch's `Code`: clients may match on the name, so a name never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The body is not JSON (or is empty where JSON is needed).
    InvalidJson,
    /// The body is JSON of the wrong shape or with a wrong value.
    InvalidRequest,
    UnknownColumn,
    MissingColumn,
    DuplicateColumn,
    EmptyRows,
    RowLength,
    /// A number that is not finite, or a value out of its range.
    InvalidValue,
    PayloadTooLarge,
    /// A body that is not JSON by its `Content-Type`.
    UnsupportedMediaType,
    /// The client sent its request too slowly.
    RequestTimeout,
    /// Missing or wrong bearer token (`CHIMERA_API_TOKEN`).
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    /// Predict before the first fit.
    NotFitted,
    FitInProgress,
    /// A fit-step names a fit whose settings this worker does not hold (it restarted, or the
    /// master never sent them): the master sends the settings again.
    SgdSettingsUnknown,
    /// A path of the other kind of node or master (`kind:` in the spec decides).
    WrongKind,
    /// The workers' shards do not have the same feature columns.
    ColumnsMismatch,
    /// The data cannot be fitted (one class only, too few rows, ...).
    FitFailed,
    /// The SGD loss became infinite or NaN.
    TrainingDiverged,
    /// No worker could do the job: each one's error is in the message.
    NoWorkerAvailable,
    /// The node is at its limit of large requests: retry after the `Retry-After` seconds.
    Busy,
    /// Worker-side work passed its deadline and was stopped.
    DeadlineExceeded,
    /// A peer answered a code this build does not know (a newer worker, say).
    WorkerError,
    InternalError,
}

impl Code {
    /// Every code, for documentation and the test that pins each status.
    pub const ALL: [Code; 26] = [
        Code::InvalidJson,
        Code::InvalidRequest,
        Code::UnknownColumn,
        Code::MissingColumn,
        Code::DuplicateColumn,
        Code::EmptyRows,
        Code::RowLength,
        Code::InvalidValue,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::RequestTimeout,
        Code::Unauthorized,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::NotFitted,
        Code::FitInProgress,
        Code::SgdSettingsUnknown,
        Code::WrongKind,
        Code::ColumnsMismatch,
        Code::FitFailed,
        Code::TrainingDiverged,
        Code::NoWorkerAvailable,
        Code::Busy,
        Code::DeadlineExceeded,
        Code::WorkerError,
        Code::InternalError,
    ];

    /// The stable name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::InvalidRequest => "invalid_request",
            Code::UnknownColumn => "unknown_column",
            Code::MissingColumn => "missing_column",
            Code::DuplicateColumn => "duplicate_column",
            Code::EmptyRows => "empty_rows",
            Code::RowLength => "row_length",
            Code::InvalidValue => "invalid_value",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::RequestTimeout => "request_timeout",
            Code::Unauthorized => "unauthorized",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::NotFitted => "not_fitted",
            Code::FitInProgress => "fit_in_progress",
            Code::SgdSettingsUnknown => "sgd_settings_unknown",
            Code::WrongKind => "wrong_kind",
            Code::ColumnsMismatch => "columns_mismatch",
            Code::FitFailed => "fit_failed",
            Code::TrainingDiverged => "training_diverged",
            Code::NoWorkerAvailable => "no_worker_available",
            Code::Busy => "busy",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::WorkerError => "worker_error",
            Code::InternalError => "internal_error",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        match self {
            Code::InvalidJson
            | Code::InvalidRequest
            | Code::UnknownColumn
            | Code::MissingColumn
            | Code::DuplicateColumn
            | Code::EmptyRows
            | Code::RowLength
            | Code::InvalidValue => 400,
            Code::Unauthorized => 401,
            Code::NotFound => 404,
            Code::RequestTimeout => 408,
            Code::MethodNotAllowed => 405,
            Code::NotFitted | Code::FitInProgress | Code::SgdSettingsUnknown | Code::WrongKind => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::ColumnsMismatch | Code::FitFailed | Code::TrainingDiverged => 422,
            Code::WorkerError => 502,
            Code::InternalError => 500,
            Code::NoWorkerAvailable | Code::Busy => 503,
            Code::DeadlineExceeded => 504,
        }
    }

    /// The code of a name, if it is one of ours.
    pub fn parse(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So tests and callers can compare a code with its wire name.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// An error that becomes an HTTP answer: status, stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Normally `code.status()`; a relayed peer error keeps the status the peer answered.
    pub status: u16,
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    /// 500: a fault of ours; the message still says what happened.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::InternalError, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            details: ErrorDetails {
                error_code: self.status,
                error_message: self.code.as_str().to_string(),
            },
        }
    }

    /// Rebuilds an error from a peer's answer (the master relaying a worker's 4xx). A known
    /// code keeps its name; an unknown one becomes `worker_error`, with the peer's status.
    pub fn from_body(status: u16, body: &ErrorBody) -> Self {
        ApiError {
            status,
            code: Code::parse(&body.details.error_message).unwrap_or(Code::WorkerError),
            message: body.message.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_seed_shape() {
        let e = ApiError::new(Code::UnknownColumn, "unknown column 'foo'");
        let json = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"message": "unknown column 'foo'",
                "details": {"errorCode": 400, "errorMessage": "unknown_column"}})
        );
    }

    #[test]
    fn relayed_errors_keep_known_codes_and_fold_unknown_ones() {
        let body = ApiError::new(Code::NotFitted, "fit first").body();
        assert_eq!(ApiError::from_body(409, &body).code, "not_fitted");
        let mut odd = body.clone();
        odd.details.error_message = "something_new".into();
        assert_eq!(ApiError::from_body(409, &odd).code, "worker_error");
        assert_eq!(
            ApiError::from_body(409, &odd).status,
            409,
            "a relay keeps the peer's status"
        );
    }

    /// Every code with its status: a change here is a change of the public contract.
    #[test]
    fn every_code_has_a_stable_name_and_status() {
        let table: Vec<(&str, u16)> = Code::ALL.iter().map(|c| (c.as_str(), c.status())).collect();
        assert_eq!(
            table,
            vec![
                ("invalid_json", 400),
                ("invalid_request", 400),
                ("unknown_column", 400),
                ("missing_column", 400),
                ("duplicate_column", 400),
                ("empty_rows", 400),
                ("row_length", 400),
                ("invalid_value", 400),
                ("payload_too_large", 413),
                ("unsupported_media_type", 415),
                ("request_timeout", 408),
                ("unauthorized", 401),
                ("not_found", 404),
                ("method_not_allowed", 405),
                ("not_fitted", 409),
                ("fit_in_progress", 409),
                ("sgd_settings_unknown", 409),
                ("wrong_kind", 409),
                ("columns_mismatch", 422),
                ("fit_failed", 422),
                ("training_diverged", 422),
                ("no_worker_available", 503),
                ("busy", 503),
                ("deadline_exceeded", 504),
                ("worker_error", 502),
                ("internal_error", 500),
            ]
        );
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c), "{c} reads back");
            let relayed = ApiError::from_body(c.status(), &ApiError::new(c, "m").body());
            assert_eq!(relayed.code, c, "a relayed {c} keeps its code");
        }
    }
}
