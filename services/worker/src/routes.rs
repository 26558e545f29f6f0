//! The worker's HTTP handlers: thin wrappers that parse, call [`crate::ml`], and answer.

use crate::data::Target;
use crate::ml;
use crate::state::WorkerState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, HttpRequest, HttpResponse};
use chimera_shared::api::{paths, FitResponse, FitStepRequest, PredictBody};
use chimera_shared::compact;
use chimera_shared::config::{SgdMode, WorkerKind};
use chimera_shared::openapi::Role;
use chimera_shared::service::{self, parse_json, read_body, read_body_as};
use chimera_shared::{predict, ApiError, Code};
use ndarray::ArrayView2;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (_, path, route) in routes() {
        cfg.route(path, route);
    }
}

/// Everything a worker serves, as documented in its `/openapi.json`
/// ([`chimera_shared::openapi::routes`]; a test holds the two to each other).
pub fn routes() -> Vec<service::Served> {
    let [openapi, docs] = service::api_docs(Role::Worker);
    vec![
        service::get(paths::HEALTHZ, healthz),
        service::get(paths::METRICS, service::metrics_endpoint),
        openapi,
        docs,
        service::get(paths::READYZ, healthz),
        service::post(paths::MODEL_FIT, model_fit),
        service::post(paths::MODEL_PREDICT, model_predict),
        service::get(paths::SGD_DATA_SAMPLE, sgd_data_sample),
        service::post(paths::SGD_FIT_STEP, sgd_fit_step),
    ]
}

async fn healthz(state: web::Data<WorkerState>) -> HttpResponse {
    service::health(&state.name, "worker")
}

/// The teaching knob `delay_ms`: every request but health and metrics waits first, like a
/// straggler on a slow machine.
pub async fn straggler_delay(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let delay = req
        .app_data::<web::Data<WorkerState>>()
        .map_or(0, |s| s.spec.knobs.delay_ms);
    if req.path().starts_with("/v1/") && delay > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
    }
    next.call(req).await
}

async fn model_fit(
    req: HttpRequest,
    state: web::Data<WorkerState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (body, _large) = read_body(&req, body, state.body_limits(), &state.large).await?;
    service::check_empty_fit_body(&body)?;
    let WorkerKind::Model {
        estimator,
        bootstrap,
        random_state,
        ..
    } = &state.spec.kind
    else {
        return Err(ApiError::new(
            Code::WrongKind,
            format!(
                "worker {} is an SGD worker (kind: sgd); it serves {} for the parameter server",
                state.name,
                paths::SGD_FIT_STEP
            ),
        ));
    };
    let Some(fit) = state.fit.begin() else {
        return Err(ApiError::new(
            Code::FitInProgress,
            format!("worker {} is already fitting; wait for it to finish", state.name),
        ));
    };
    state.logs.status("INFO", "fit started");
    metrics::counter!("chimera_fits_started_total").increment(1);
    let started = Instant::now();
    let (estimator, bootstrap, random_state) = (estimator.clone(), *bootstrap, *random_state);
    let worker = state.clone();
    // Training is CPU-bound: keep it off the HTTP threads.
    let fitted = web::block(move || {
        let weights = ml::sample_weights(worker.data.n_rows(), bootstrap, random_state, &worker.name);
        let distinct = weights.iter().filter(|&&w| w > 0.0).count();
        let model = ml::fit(
            &estimator,
            &worker.data,
            &weights,
            ml::bootstrap_seed(random_state, &worker.name),
        )?;
        // Kept before it is served: after a crash, a restart serves this very model.
        if let Err(e) = worker.saved.save(crate::state::MODEL_FILE, &model) {
            worker.logs.status(
                "ERROR",
                &format!("cannot save the model in {}: {e}", worker.saved.dir().display()),
            );
        }
        Ok::<_, ml::FitError>((model, distinct))
    })
    .await
    .map_err(|e| ApiError::internal(format!("the fit thread failed: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    match fitted {
        Ok((model, distinct)) => {
            state.set_model(model);
            fit.succeeded();
            state.logs.status(
                "INFO",
                &format!("fit finished in {seconds:.4} s on {distinct} distinct rows"),
            );
            metrics::counter!("chimera_fits_succeeded_total").increment(1);
            metrics::histogram!("chimera_worker_fit_duration_seconds").record(seconds);
            let mut answer = FitResponse::ok();
            answer.n_samples = Some(distinct);
            answer.seconds = Some(seconds);
            Ok(HttpResponse::Ok().json(answer))
        }
        Err(e) => {
            state.logs.status("ERROR", &format!("fit failed: {e}"));
            metrics::counter!("chimera_fits_failed_total").increment(1);
            Err(ApiError::new(Code::FitFailed, format!("worker {}: {e}", state.name)))
        }
    }
}

/// Bodies above this are parsed and predicted on a blocking thread, so a large request does
/// not hold up the HTTP thread (health checks, other predicts).
const INLINE_PREDICT_BYTES: usize = 256 * 1024;

async fn model_predict(
    req: HttpRequest,
    state: web::Data<WorkerState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (body, _large) = read_body_as(
        &req,
        body,
        state.body_limits(),
        &state.large,
        &[compact::ROWS_MEDIA_TYPE],
    )
    .await?;
    // The master asks for the compact answer on large predicts (see `chimera_shared::compact`).
    let compact = accepts(&req, compact::MEDIA_TYPE);
    // The master's large predicts come as compact rows (parsed once, by the master).
    let rows_body = service::content_type_is(req.headers(), compact::ROWS_MEDIA_TYPE);
    let worker = state.clone();
    let answer = service::off_thread_if(body.len() > INLINE_PREDICT_BYTES, move || {
        let request = if rows_body {
            compact::decode_rows(&body).map_err(|e| ApiError::new(Code::InvalidRequest, e))?
        } else {
            parse_json(&body)?
        };
        let (output, target) = predict_output(&worker, &request)?;
        if compact {
            return Ok(compact_answer(output, target));
        }
        serde_json::to_vec(&ml::answer(output, target)).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let media_type = if compact {
        compact::MEDIA_TYPE
    } else {
        "application/json"
    };
    Ok(HttpResponse::Ok().content_type(media_type).body(answer))
}

/// Values (regression) or class probabilities, as little-endian numbers after a header line,
/// encoded straight from the model's output.
fn compact_answer(output: ml::Output, target: &Target) -> Vec<u8> {
    let header = |n_rows, width, classes| compact::Header { n_rows, width, classes };
    match (output, target) {
        (ml::Output::Probabilities(p), Target::Classification { classes, .. }) => {
            compact::encode(&header(p.nrows(), p.ncols(), Some(classes.clone())), p.iter().copied())
        }
        (ml::Output::Values(v), _) => compact::encode(&header(v.len(), 1, None), v.iter().copied()),
        // `ml::fit` pairs models with targets; a probability matrix's first column otherwise.
        (ml::Output::Probabilities(p), Target::Regression(_)) => {
            compact::encode(&header(p.nrows(), 1, None), p.column(0).iter().copied())
        }
    }
}

/// Parse, check, align, predict: the whole predict up to the answer's encoding.
fn predict_output<'a>(state: &'a WorkerState, request: &PredictBody) -> Result<(ml::Output, &'a Target), ApiError> {
    let columns = predict::check_request(request, state.limits.max_columns)?;
    let Some(model) = state.model() else {
        return Err(ApiError::new(
            Code::NotFitted,
            format!(
                "worker {} has no model yet: call POST {} (or the master's fit) first",
                state.name,
                paths::MODEL_FIT
            ),
        ));
    };
    let order = predict::align(&columns, &state.data.columns)?;
    let rows = &request.rows;
    // Columns sent in training order (the usual case) are predicted on in place; others are
    // gathered into training order first.
    let in_order = rows.width == order.len() && order.iter().enumerate().all(|(j, &o)| j == o);
    let gathered;
    let x = if in_order {
        ArrayView2::from_shape((rows.n_rows, rows.width), &rows.values)
    } else {
        let mut values = Vec::with_capacity(rows.n_rows * order.len());
        for row in rows.values.chunks_exact(rows.width.max(1)).take(rows.n_rows) {
            values.extend(order.iter().map(|&o| row[o]));
        }
        gathered = values;
        ArrayView2::from_shape((rows.n_rows, order.len()), &gathered)
    }
    .map_err(|e| ApiError::new(Code::InternalError, format!("predict rows do not fit their shape: {e}")))?;
    Ok((model.predict(x, state.n_classes()), &state.data.target))
}

fn require_sgd(state: &WorkerState) -> Result<(), ApiError> {
    match state.spec.kind {
        WorkerKind::Sgd { .. } => Ok(()),
        WorkerKind::Model { .. } => Err(ApiError::new(
            Code::WrongKind,
            format!(
                "worker {} is a model worker; the SGD endpoints need kind: sgd in its spec",
                state.name
            ),
        )),
    }
}

async fn sgd_data_sample(state: web::Data<WorkerState>) -> Result<HttpResponse, ApiError> {
    require_sgd(&state)?;
    Ok(HttpResponse::Ok().json(crate::sgd::data_sample(&state.data)))
}

/// Shards up to this many cells step on the HTTP thread: a blocking-pool hop costs more.
const INLINE_STEP_CELLS: usize = 200_000;

/// Sets the flag when dropped: the handler ends (answered, or dropped because the caller
/// went away), so work still running for it on the blocking pool stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn sgd_fit_step(
    req: HttpRequest,
    state: web::Data<WorkerState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_sgd(&state)?;
    let (body, _large) = read_body_as(
        &req,
        body,
        state.body_limits(),
        &state.large,
        &[compact::STEP_MEDIA_TYPE],
    )
    .await?;
    // The master sends lean rounds compact and asks for compact answers (see
    // `chimera_shared::compact`); people and other clients use JSON.
    let request: FitStepRequest = if service::content_type_is(req.headers(), compact::STEP_MEDIA_TYPE) {
        compact::decode_step(&body).map_err(|e| ApiError::new(Code::InvalidRequest, e))?
    } else {
        parse_json(&body)?
    };
    let compact_answer = accepts(&req, compact::STEP_MEDIA_TYPE);
    let kept = state
        .sgd_session
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let (session, new) = crate::sgd::session_for(&state.data, kept.as_ref(), &request, &state.name)?;
    if new {
        *state
            .sgd_session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session.clone());
    }
    let work = crate::sgd::Work {
        deadline: Instant::now() + state.work_timeout,
        cancelled: Arc::new(AtomicBool::new(false)),
    };
    let _cancel = CancelOnDrop(work.cancelled.clone());
    // One pass over a small shard is cheaper inline than a hop to the blocking pool; local
    // epochs multiply the work, so they count.
    let passes = match session.settings.mode {
        SgdMode::Gradient => 1,
        SgdMode::ModelAveraging => session.settings.local_epochs as usize,
    };
    let heavy = session.prepared.x.len().saturating_mul(passes) > INLINE_STEP_CELLS;
    let worker = state.clone();
    let answer = service::off_thread_if(heavy, move || {
        crate::sgd::fit_step(&session, &request, &worker.name, &work)
    })
    .await?;
    match compact_answer.then(|| compact::encode_step_answer(&answer)).flatten() {
        Some(bytes) => Ok(HttpResponse::Ok().content_type(compact::STEP_MEDIA_TYPE).body(bytes)),
        None => Ok(HttpResponse::Ok().json(answer)),
    }
}

/// Whether the request's `Accept` names `media_type`.
fn accepts(req: &HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(media_type))
}
