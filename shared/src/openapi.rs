//! The services' API documents (OpenAPI 3), generated from the wire types of [`crate::api`] and
//! [`crate::error`] (`utoipa::ToSchema`), as FastAPI generated the original's. Each node serves
//! its own at `GET /openapi.json` and renders it at `GET /docs`.
//!
//! [`routes`] is the one list of what a master or a worker serves: the services register their
//! handlers against it, and a test checks that the two agree in both directions.

use crate::api::{
    paths, DataSample, FitResponse, FitStepRequest, FitStepResponse, Health, Label, PredRows, PredictRequest,
    PredictResponse, SgdSettings, TrainingSummary, WorkerReport,
};
use crate::error::{Code, ErrorBody, ErrorDetails};
use serde_json::{json, Value};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, ResponseBuilder,
};
use utoipa::PartialSchema;

/// Which node a document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Worker,
}

/// A JSON body: its schema (a component name; `None`: a free-form object) and an example.
#[derive(Debug, Clone)]
pub struct Body {
    pub media: &'static str,
    pub schema: Option<&'static str>,
    pub example: Value,
}

/// One route a node serves.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub request: Option<Body>,
    pub answer: Body,
    /// The error codes this route answers with (besides those every route may give).
    pub errors: &'static [Code],
}

fn json_body(schema: &'static str, example: Value) -> Body {
    Body {
        media: "application/json",
        schema: Some(schema),
        example,
    }
}

fn free_form(example: Value) -> Body {
    Body {
        media: "application/json",
        schema: None,
        example,
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("wire types serialize")
}

/// The bundled red-wine examples' feature names.
fn wine_columns() -> Vec<String> {
    [
        "fixed_acidity",
        "volatile_acidity",
        "citric_acid",
        "residual_sugar",
        "chlorides",
        "free_sulfur_dioxide",
        "total_sulfur_dioxide",
        "density",
        "ph",
        "sulphates",
        "alcohol",
    ]
    .map(String::from)
    .to_vec()
}

/// Examples are real values of the wire types, so they cannot drift from them. The columns
/// are the bundled red-wine examples'.
fn predict_request() -> Value {
    to_value(&PredictRequest {
        columns: wine_columns(),
        rows: vec![vec![7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]],
    })
}

fn predict_answer() -> Value {
    let labels = || vec![Label::Str("bad".into()), Label::Str("good".into())];
    to_value(&PredictResponse {
        y_pred_rows: PredRows::Labels(vec![Label::Str("bad".into())]),
        classes: Some(labels()),
        y_pred_labels: Some(vec![Label::Str("bad".into())]),
        y_pred_proba: Some(vec![vec![0.81, 0.19]]),
        failed_workers: Vec::new(),
    })
}

fn fit_answer(role: Role, training: bool) -> Value {
    let mut answer = FitResponse::ok();
    answer.seconds = Some(0.003);
    match role {
        Role::Master => {
            answer.workers = (1..=2)
                .map(|i| WorkerReport {
                    name: format!("worker-{i}"),
                    outcome: crate::api::Outcome::Ok,
                    seconds: 0.0016,
                    error: None,
                })
                .collect();
        }
        Role::Worker => answer.n_samples = Some(1279),
    }
    if training {
        answer.training = Some(TrainingSummary {
            rounds: 200,
            stop_reason: "max_iter".into(),
            mode: "gradient".into(),
            staleness_histogram: None,
            straggler_gaps: Some(vec![0.0004, 0.0002, 0.0003]),
            final_loss: 0.21,
            loss_history: vec![0.62, 0.35, 0.21],
            weights: vec![vec![0.1, -0.2]],
            bias: vec![5.6],
        });
    }
    to_value(&answer)
}

fn health(role: &str) -> Value {
    to_value(&Health {
        status: "ok".into(),
        node: if role == "master" { "master" } else { "worker-1" }.into(),
        role: role.into(),
    })
}

fn metrics() -> Body {
    Body {
        media: "text/plain",
        schema: None,
        example: Value::String(
            "# TYPE chimera_http_request_duration_seconds summary\nchimera_http_request_duration_seconds_count{endpoint=\"/healthz\",method=\"GET\",status=\"200\"} 3\n".into(),
        ),
    }
}

fn common(role: Role) -> Vec<Route> {
    let name = if role == Role::Master { "master" } else { "worker" };
    let mut routes = vec![
        Route {
            method: "GET",
            path: paths::HEALTHZ,
            summary: "Liveness: the process answers.",
            request: None,
            answer: json_body("Health", health(name)),
            errors: &[],
        },
        Route {
            method: "GET",
            path: paths::METRICS,
            summary: "Prometheus metrics (text exposition format).",
            request: None,
            answer: metrics(),
            errors: &[],
        },
        Route {
            method: "GET",
            path: paths::OPENAPI,
            summary: "This document.",
            request: None,
            answer: free_form(json!({"openapi": "3.1.0", "info": {"title": "Chimera"}})),
            errors: &[],
        },
        Route {
            method: "GET",
            path: paths::DOCS,
            summary: "This document as an HTML page.",
            request: None,
            answer: Body {
                media: "text/html",
                schema: None,
                example: Value::String("<!doctype html>...".into()),
            },
            errors: &[],
        },
    ];
    routes.push(match role {
        Role::Master => Route {
            method: "GET",
            path: paths::READYZ,
            summary: "Readiness: at least one worker answers (503 otherwise, with the same body).",
            request: None,
            answer: free_form(json!({"ready": true, "workers_healthy": 2, "workers": 2})),
            errors: &[],
        },
        Role::Worker => Route {
            method: "GET",
            path: paths::READYZ,
            summary: "Readiness: the worker has loaded its data.",
            request: None,
            answer: json_body("Health", health(name)),
            errors: &[],
        },
    });
    routes
}

const FIT_ERRORS: &[Code] = &[
    Code::Unauthorized,
    Code::FitInProgress,
    Code::WrongKind,
    Code::FitFailed,
    Code::TrainingDiverged,
    Code::NoWorkerAvailable,
    Code::WorkerError,
    Code::DeadlineExceeded,
];
const PREDICT_ERRORS: &[Code] = &[
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
    Code::Unauthorized,
    Code::NotFitted,
    Code::WrongKind,
    Code::NoWorkerAvailable,
    Code::Busy,
    Code::WorkerError,
];

/// Every route `role` serves, in the order the services register them.
pub fn routes(role: Role) -> Vec<Route> {
    let mut routes = common(role);
    match role {
        Role::Master => {
            routes.push(Route {
                method: "GET",
                path: paths::STATUS,
                summary: "The master's state, training progress, and each worker's health and last call.",
                request: None,
                answer: free_form(json!({
                    "kind": "aggregation", "state": "fitted", "round": 0, "max_iter": null,
                    "workers": [{"name": "worker-1", "url": "http://192.168.21.2:80", "healthy": true}]
                })),
                errors: &[],
            });
            for (fit, predict, training) in [
                (paths::AGGREGATION_FIT, paths::AGGREGATION_PREDICT, false),
                (paths::PARAMETER_SERVER_FIT, paths::PARAMETER_SERVER_PREDICT, true),
            ] {
                routes.push(Route {
                    method: "POST",
                    path: fit,
                    summary: if training {
                        "Distributed SGD through the parameter server, round by round; no body."
                    } else {
                        "Every worker fits its model on its own data (bagging); no body."
                    },
                    request: None,
                    answer: json_body("FitResponse", fit_answer(Role::Master, training)),
                    errors: FIT_ERRORS,
                });
                routes.push(Route {
                    method: "POST",
                    path: predict,
                    summary: if training {
                        "Predicts with the trained linear model."
                    } else {
                        "Averages the workers' predictions (probabilities for classification)."
                    },
                    request: Some(json_body("PredictRequest", predict_request())),
                    answer: json_body("PredictResponse", predict_answer()),
                    errors: PREDICT_ERRORS,
                });
            }
        }
        Role::Worker => {
            routes.push(Route {
                method: "POST",
                path: paths::MODEL_FIT,
                summary: "Fits this worker's estimator on its data; no body.",
                request: None,
                answer: json_body("FitResponse", fit_answer(Role::Worker, false)),
                errors: FIT_ERRORS,
            });
            routes.push(Route {
                method: "POST",
                path: paths::MODEL_PREDICT,
                summary: "Predicts with this worker's fitted estimator.",
                request: Some(json_body("PredictRequest", predict_request())),
                answer: json_body("PredictResponse", predict_answer()),
                errors: PREDICT_ERRORS,
            });
            routes.push(Route {
                method: "GET",
                path: paths::SGD_DATA_SAMPLE,
                summary:
                    "A few rows in which every class of the shard appears, with the shard's size, means and variances.",
                request: None,
                answer: json_body(
                    "DataSample",
                    to_value(&DataSample {
                        x_columns: vec!["alcohol".into()],
                        x_rows: vec![vec![9.4]],
                        y_train_sample_columns: vec!["quality".into()],
                        y_train_sample_rows: vec![vec![crate::api::YCell::Number(5.0)]],
                        n_samples: 640,
                        mean: vec![10.4],
                        var: vec![1.1],
                        classes: None,
                        compact_steps: true,
                    }),
                ),
                errors: &[Code::WrongKind],
            });
            routes.push(Route {
                method: "POST",
                path: paths::SGD_FIT_STEP,
                summary: "One parameter-server round on this shard: the gradient (or local model change) at the weights sent. JSON, or (the master's rounds without settings, to a worker whose data sample says compact_steps) application/x-chimera-fit-step both ways.",
                request: Some(json_body(
                    "FitStepRequest",
                    to_value(&FitStepRequest {
                        weights: vec![vec![0.0; 11]],
                        bias: vec![0.0],
                        round: 1,
                        fit_id: Some(7_316_443_018_421_911_551),
                        learning_rate: Some(0.01),
                        settings: Some(SgdSettings {
                            loss: crate::config::Loss::SquaredError,
                            penalty: crate::config::Penalty::L2,
                            alpha: 0.0001,
                            l1_ratio: 0.15,
                            huber_delta: 1.35,
                            batch_size: None,
                            random_state: 0,
                            mode: crate::config::SgdMode::Gradient,
                            local_epochs: 1,
                            learning_rate: 0.01,
                            columns: wine_columns(),
                            classes: None,
                            mean: Some(vec![8.3, 0.53, 0.27, 2.5, 0.087, 15.9, 46.5, 0.9967, 3.31, 0.66, 10.4]),
                            scale: Some(vec![1.7, 0.18, 0.19, 1.4, 0.047, 10.5, 32.9, 0.0019, 0.15, 0.17, 1.07]),
                        }),
                    }),
                )),
                answer: json_body(
                    "FitStepResponse",
                    to_value(&FitStepResponse {
                        weights_gradients: vec![vec![-0.42; 11]],
                        bias_gradient: vec![-5.6],
                        n_samples: 640,
                        loss: 16.2,
                        weights: None,
                        bias: None,
                    }),
                ),
                errors: &[
                    Code::InvalidJson,
                    Code::InvalidRequest,
                    Code::InvalidValue,
                    Code::Unauthorized,
                    Code::SgdSettingsUnknown,
                    Code::WrongKind,
                    Code::DeadlineExceeded,
                ],
            });
        }
    }
    routes
}

/// The error shape, with an example for `code`.
fn error_example(code: Code) -> Value {
    to_value(&ErrorBody {
        message: format!("what was wrong and what to do ({})", code.as_str()),
        details: ErrorDetails {
            error_code: code.status(),
            error_message: code.as_str().to_string(),
        },
    })
}

fn content(body: &Body) -> utoipa::openapi::Content {
    let mut c = ContentBuilder::new().example(Some(body.example.clone()));
    if let Some(schema) = body.schema {
        c = c.schema(Some(Ref::from_schema_name(schema)));
    }
    c.build()
}

/// The OpenAPI document of a master or a worker.
pub fn document(role: Role) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes(role) {
        let mut op = OperationBuilder::new().summary(Some(route.summary)).response(
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content(route.answer.media, content(&route.answer)),
        );
        if let Some(body) = &route.request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(body.media, content(body))
                    .required(Some(utoipa::openapi::Required::True))
                    .build(),
            ));
        }
        // Every route may answer 404/405 (wrong path or method) and 500; then its own codes,
        // grouped by status, each status's codes named in its description.
        let mut codes: Vec<Code> = route.errors.to_vec();
        codes.extend([Code::InternalError]);
        let mut statuses: Vec<u16> = codes.iter().map(|c| c.status()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            let here: Vec<Code> = codes.iter().copied().filter(|c| c.status() == status).collect();
            let names: Vec<&str> = here.iter().map(|c| c.as_str()).collect();
            op = op.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(format!("errorMessage: {}", names.join(", ")))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .example(Some(error_example(here[0])))
                            .build(),
                    ),
            );
        }
        let method = if route.method == "GET" {
            HttpMethod::Get
        } else {
            HttpMethod::Post
        };
        paths = paths.path(route.path, PathItem::new(method, op.build()));
    }
    let components = ComponentsBuilder::new()
        .schema("ErrorBody", ErrorBody::schema())
        .schema("ErrorDetails", ErrorDetails::schema())
        .schema("Health", Health::schema())
        .schema("Label", Label::schema())
        .schema("PredRows", PredRows::schema())
        .schema("PredictRequest", PredictRequest::schema())
        .schema("PredictResponse", PredictResponse::schema())
        .schema("FailedWorker", crate::api::FailedWorker::schema())
        .schema("Outcome", crate::api::Outcome::schema())
        .schema("WorkerReport", WorkerReport::schema())
        .schema("FitResponse", FitResponse::schema())
        .schema("TrainingSummary", TrainingSummary::schema())
        .schema("YCell", crate::api::YCell::schema())
        .schema("DataSample", DataSample::schema())
        .schema("SgdSettings", SgdSettings::schema())
        .schema("Loss", crate::config::Loss::schema())
        .schema("Penalty", crate::config::Penalty::schema())
        .schema("SgdMode", crate::config::SgdMode::schema())
        .schema("FitStepRequest", FitStepRequest::schema())
        .schema("FitStepResponse", FitStepResponse::schema())
        .build();
    let (title, description) = match role {
        Role::Master => (
            "Chimera master",
            "The client's side of an experiment: fit and predict by bagging (aggregation) or distributed SGD (parameter server). Errors share one shape: {message, details: {errorCode, errorMessage}}.",
        ),
        Role::Worker => (
            "Chimera worker",
            "What the master calls on each worker: a model worker's fit and predict, an SGD worker's data sample and fit-step. Errors share one shape: {message, details: {errorCode, errorMessage}}.",
        ),
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// `GET /docs`: the document rendered in the browser by a small script on the page itself
/// (no CDN: the page works where nothing can be fetched but this node).
pub const DOCS_PAGE: &str = include_str!("openapi_docs.html");
