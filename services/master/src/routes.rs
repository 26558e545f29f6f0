//! The master's HTTP handlers: thin wrappers over [`crate::pool`], [`crate::aggregate`] and
//! [`crate::parameter_server`].

use crate::aggregate;
use crate::batch::{self, Batcher};
use crate::pool::{self, WorkerPool};
use crate::state::MasterState;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chimera_shared::api::{paths, FitResponse, Outcome, PredictBody, PredictShape, WorkerReport};
use chimera_shared::compact;
use chimera_shared::config::MasterSpec;
use chimera_shared::logs::Side;
use chimera_shared::openapi::Role;
use chimera_shared::service::{self, parse_json, read_body};
use chimera_shared::{predict, ApiError, Code};
use std::future::Future;
use std::time::Instant;

/// Bodies above this size are parsed on the blocking pool, not on an HTTP thread (and an
/// aggregation predict this large goes to the workers as compact rows).
const INLINE_BYTES: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (_, path, route) in routes() {
        cfg.route(path, route);
    }
}

/// Everything the master serves, as documented in its `/openapi.json`
/// ([`chimera_shared::openapi::routes`]; a test holds the two to each other).
pub fn routes() -> Vec<service::Served> {
    let [openapi, docs] = service::api_docs(Role::Master);
    vec![
        service::get(paths::HEALTHZ, healthz),
        service::get(paths::METRICS, service::metrics_endpoint),
        openapi,
        docs,
        service::get(paths::READYZ, readyz),
        service::get(paths::STATUS, status),
        service::post(paths::AGGREGATION_FIT, aggregation_fit),
        service::post(paths::AGGREGATION_PREDICT, aggregation_predict),
        service::post(paths::PARAMETER_SERVER_FIT, parameter_server_fit),
        service::post(paths::PARAMETER_SERVER_PREDICT, parameter_server_predict),
    ]
}

async fn healthz() -> HttpResponse {
    service::health("master", "master")
}

/// Ready when at least one worker answers: the master can serve something.
async fn readyz(pool: web::Data<WorkerPool>) -> HttpResponse {
    let healthy = pool.probe_health().await;
    let n = healthy.iter().filter(|h| **h).count();
    let body = serde_json::json!({"ready": n > 0, "workers_healthy": n, "workers": pool.len()});
    if n > 0 {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn status(state: web::Data<MasterState>, pool: web::Data<WorkerPool>) -> HttpResponse {
    let progress = state.progress();
    let healthy = pool.probe_health().await;
    let workers: Vec<serde_json::Value> = pool
        .list()
        .iter()
        .zip(healthy)
        .map(|(w, healthy)| {
            serde_json::json!({
                "name": w.name,
                "url": w.url,
                "healthy": healthy,
                "last_call": state.workers.last_calls.get(&w.name),
            })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "kind": state.spec.kind_name(),
        "state": state.fit_state(),
        "round": progress.round,
        "max_iter": progress.max_iter,
        "last_loss": progress.last_loss,
        "loss_history": progress.loss_history,
        "stop_reason": progress.stop_reason,
        "mode": progress.mode,
        "staleness_histogram": progress.staleness_histogram,
        "workers": workers,
    }))
}

/// Records the master endpoint's latency in the seed's format (`http://HOST:PORT/path`). The
/// buffered lines reach the file within half a second, or at the end of a fit.
fn record_latency(state: &MasterState, req: &HttpRequest, started: Instant) {
    if !state.telemetry {
        return;
    }
    // The address the client used (its Host header), as the seed logs it.
    // Sanitized: a client's Host header must not write its own lines into the log.
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(
            || "master".to_string(),
            |h| chimera_shared::logs::sanitize(h, 100).replace(' ', "?"),
        );
    let url = format!("http://{host}{}", req.path());
    state.logs.latency(&url, Side::Master, started.elapsed().as_secs_f64());
}

fn require_kind(state: &MasterState, kind: &str, path: &str) -> Result<(), ApiError> {
    if state.spec.kind_name() == kind {
        return Ok(());
    }
    Err(ApiError::new(
        Code::WrongKind,
        format!(
            "this master is kind: {} (chimera_master.yaml), so {path} is not served; use the /v1/chimera/{}/ paths",
            state.spec.kind_name(),
            state.spec.kind_name()
        ),
    ))
}

/// Everything both kinds of fit do around their own work: the kind and body checks, one fit
/// at a time, the counters, the status log, the latency line, and the answer.
async fn run_fit<Fut>(
    req: &HttpRequest,
    state: &MasterState,
    body: web::Payload,
    (kind, path): (&str, &str),
    work: impl FnOnce() -> Fut,
) -> Result<HttpResponse, ApiError>
where
    Fut: Future<Output = Result<FitResponse, ApiError>>,
{
    let started = Instant::now();
    require_kind(state, kind, path)?;
    let (body, _large) = read_body(req, body, state.body_limits(), &state.large).await?;
    service::check_empty_fit_body(&body)?;
    let Some(fit) = state.fit.begin() else {
        return Err(ApiError::new(
            Code::FitInProgress,
            "a fit is already running; wait for it to finish (watch it at GET /v1/chimera/status)",
        ));
    };
    metrics::counter!("chimera_fits_started_total").increment(1);
    // Marked before the work: a master killed mid-fit reports that fit failed when it restarts.
    // A client that goes away mid-fit drops this handler: the marker is cleared then too.
    state.persist(true);
    let _clear = PersistOnDrop(state);
    let result = work().await;
    record_latency(state, req, started);
    let answer = match result {
        Ok(mut answer) => {
            fit.succeeded();
            metrics::counter!("chimera_fits_succeeded_total").increment(1);
            answer.seconds.get_or_insert(started.elapsed().as_secs_f64());
            Ok(HttpResponse::Ok().json(answer))
        }
        Err(e) => {
            drop(fit);
            metrics::counter!("chimera_fits_failed_total").increment(1);
            state.logs.status("ERROR", &format!("{kind} fit failed: {}", e.message));
            Err(e)
        }
    };
    state.logs.flush();
    answer
}

/// Writes the master's state when a fit's handler ends, however it ends.
struct PersistOnDrop<'a>(&'a MasterState);

impl Drop for PersistOnDrop<'_> {
    fn drop(&mut self) {
        self.0.persist(false);
    }
}

async fn aggregation_fit(
    req: HttpRequest,
    state: web::Data<MasterState>,
    pool: web::Data<WorkerPool>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    run_fit(&req, &state, body, ("aggregation", paths::AGGREGATION_FIT), || async {
        state
            .logs
            .status("INFO", &format!("aggregation fit started on {} workers", pool.len()));
        let results = pool.call_all(paths::MODEL_FIT, Some(Bytes::from_static(b"{}"))).await;
        let reports: Vec<WorkerReport> = pool
            .list()
            .iter()
            .zip(results)
            .map(|(w, r)| WorkerReport {
                name: w.name.clone(),
                outcome: r.outcome,
                seconds: r.seconds,
                error: r.error,
            })
            .collect();
        for r in &reports {
            let line = match &r.error {
                None => format!("worker {} fitted in {:.4} s", r.name, r.seconds),
                Some(e) => format!("worker {} failed to fit ({}): {e}", r.name, r.outcome.as_str()),
            };
            state
                .logs
                .status(if r.error.is_none() { "INFO" } else { "ERROR" }, &line);
        }
        let ok = reports.iter().filter(|r| r.outcome == Outcome::Ok).count();
        if ok == 0 {
            return Err(pool::no_worker_available(
                "fit",
                reports
                    .iter()
                    .map(|r| (&r.name, r.error.as_deref().unwrap_or_default())),
            ));
        }
        state.logs.status(
            "INFO",
            &format!("aggregation fit finished: {ok} of {} workers fitted", reports.len()),
        );
        let mut answer = FitResponse::ok();
        answer.workers = reports;
        Ok(answer)
    })
    .await
}

async fn parameter_server_fit(
    req: HttpRequest,
    state: web::Data<MasterState>,
    pool: web::Data<WorkerPool>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (task_state, task_pool) = (state.clone(), pool.clone());
    // The rounds run as a task of their own: each worker's answer then wakes that task alone.
    // Run inside this handler, every answer also woke the client connection's dispatcher,
    // which decodes its (empty) read buffer each time: about 5% of the master's work a round.
    // Whatever drops the handler (the server stopping) still ends the fit: the task is aborted.
    let fit = move || async move {
        let task = AbortOnDrop(actix_web::rt::spawn(async move {
            parameter_server_rounds(&task_state, &task_pool).await
        }));
        task.join().await
    };
    run_fit(
        &req,
        &state,
        body,
        ("parameter-server", paths::PARAMETER_SERVER_FIT),
        fit,
    )
    .await
}

/// A spawned task that is aborted when this handle is dropped.
struct AbortOnDrop<T>(actix_web::rt::task::JoinHandle<T>);

impl<T> AbortOnDrop<Result<T, ApiError>> {
    async fn join(mut self) -> Result<T, ApiError> {
        (&mut self.0)
            .await
            .map_err(|e| ApiError::internal(format!("the fit's task failed: {e}")))?
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A parameter-server fit from its first round to the model kept and the answer.
async fn parameter_server_rounds(state: &MasterState, pool: &WorkerPool) -> Result<FitResponse, ApiError> {
    let MasterSpec::ParameterServer(spec) = &state.spec else {
        return Err(ApiError::internal("a parameter-server route on another kind of master"));
    };
    state.logs.status(
        "INFO",
        &format!(
            "parameter-server fit started: up to {} rounds on {} workers",
            spec.max_iter,
            pool.len()
        ),
    );
    let (model, answer) = crate::parameter_server::fit(state, pool, spec).await?;
    state.set_linear_model(model);
    if let Some(t) = &answer.training {
        state.logs.status(
            "INFO",
            &format!(
                "parameter-server fit finished: {} rounds, stop: {}, loss {:.6}",
                t.rounds, t.stop_reason, t.final_loss
            ),
        );
    }
    Ok(answer)
}

async fn aggregation_predict(
    req: HttpRequest,
    state: web::Data<MasterState>,
    pool: web::Data<WorkerPool>,
    batcher: web::Data<Batcher>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    require_kind(&state, "aggregation", paths::AGGREGATION_PREDICT)?;
    let (body, _large) = read_body(&req, body, state.body_limits(), &state.large).await?;
    if body.len() <= INLINE_BYTES {
        // A small predict is checked here and goes out with the others waiting on this thread
        // (see `crate::batch`).
        let request: PredictBody = parse_json(&body)?;
        let columns = predict::check_request(&request, state.limits.max_columns)?;
        require_model(&state)?;
        let task = aggregation_task(&state)?;
        let request = PredictBody {
            columns,
            rows: request.rows,
        };
        let answer = Batcher::predict(batcher, pool, task, request, body).await?;
        record_latency(&state, &req, started);
        return Ok(HttpResponse::Ok().json(answer));
    }
    // A large body is checked here too, so malformed JSON, bad columns or no rows never fan
    // out. One whose numbers take less room as f64 than as text is parsed once, here, and sent
    // to every worker as compact rows, so no worker parses the same text again. Any other body
    // is only shaped (columns, row count) and goes out as it came; each worker parses its
    // numbers. That keeps the master's memory under twice the body: the parse stops once its
    // numbers outgrow their text, and a body the scanner does not take is parsed in one pass
    // (to name its problem) only when its commas, which bound its numbers, say it is not dense.
    let max_columns = state.limits.max_columns;
    let (n_rows, body, rows_type) = service::off_thread_if(true, move || {
        // Parsed on every core (the workers wait for it anyway).
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let parsed = match predict::parse_body_parallel(&body, threads) {
            Ok(request) => Some(request),
            Err(predict::Unscanned::Unusual) if predict::numbers_at_most(&body).saturating_mul(8) < body.len() => {
                Some(parse_json::<PredictBody>(&body)?)
            }
            Err(_) => None,
        };
        if let Some(request) = parsed {
            drop(body); // Parsed: the text is not needed any more.
            predict::check_request(&request, max_columns)?;
            let rows = Bytes::from(compact::encode_rows(&request));
            return Ok((request.rows.n_rows, rows, Some(compact::ROWS_MEDIA_TYPE)));
        }
        let shape: PredictShape = parse_json(&body)?;
        predict::check_column_count(shape.columns.len(), max_columns)?;
        predict::check_columns(&shape.columns)?;
        predict::check_not_empty(shape.rows.0)?;
        Ok((shape.rows.0, body, None))
    })
    .await?;
    require_model(&state)?;
    let task = aggregation_task(&state)?;
    // It also asks the workers for compact answers and sums them as they are decoded: the
    // master then holds about its body's size, not every worker's JSON.
    let media = pool::Media {
        content_type: rows_type.unwrap_or(pool::JSON.content_type),
        accept: Some(compact::MEDIA_TYPE),
    };
    let results = pool.call_all_as(paths::MODEL_PREDICT, body, media).await;
    let (raw, failed, client_errors) = batch::sort_results(&pool, results);
    let combined = service::off_thread_if(true, move || {
        Ok::<_, ApiError>(aggregate::combine_compact(task, n_rows, raw, failed))
    })
    .await?;
    record_latency(&state, &req, started);
    match combined {
        // Written from the sums a few thousand rows at a time: never the whole answer at once.
        Ok(combined) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .streaming(futures_util::stream::iter(
                combined
                    .json_chunks()
                    .map(|chunk| Ok::<_, actix_web::Error>(Bytes::from(chunk))),
            ))),
        Err(failed) => Err(batch::no_answer(client_errors, &failed)),
    }
}

/// An aggregation predict needs a fitted model: the master's answer, not every worker's.
fn require_model(state: &MasterState) -> Result<(), ApiError> {
    if state.has_model() {
        return Ok(());
    }
    Err(ApiError::new(
        Code::NotFitted,
        format!(
            "the master has no fitted model yet: call POST {} first",
            paths::AGGREGATION_FIT
        ),
    ))
}

fn aggregation_task(state: &MasterState) -> Result<chimera_shared::config::TaskKind, ApiError> {
    state
        .task
        .ok_or_else(|| ApiError::internal("an aggregation master without model workers"))
}

async fn parameter_server_predict(
    req: HttpRequest,
    state: web::Data<MasterState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    require_kind(&state, "parameter-server", paths::PARAMETER_SERVER_PREDICT)?;
    let (body, _large) = read_body(&req, body, state.body_limits(), &state.large).await?;
    let Some(model) = state.linear_model() else {
        return Err(ApiError::new(
            Code::NotFitted,
            format!(
                "the parameter server has no model yet: call POST {} first",
                paths::PARAMETER_SERVER_FIT
            ),
        ));
    };
    let max_columns = state.limits.max_columns;
    let answer = service::off_thread_if(body.len() > INLINE_BYTES, move || {
        let request: PredictBody = parse_json(&body)?;
        drop(body); // Parsed: the text is not needed any more.
        predict::check_column_count(request.columns.len(), max_columns)?;
        model.predict(&request)
    })
    .await?;
    record_latency(&state, &req, started);
    Ok(HttpResponse::Ok().json(answer))
}
