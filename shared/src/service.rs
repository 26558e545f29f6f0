//! HTTP glue shared by the master and the workers: error answers in the seed's shape, body
//! reading with a size limit, JSON parsing that names the exact path of a bad value, health,
//! Prometheus metrics and `tracing` set-up. Handlers stay thin; this is where the plumbing lives.

use crate::api::Health;
use crate::config::LogFormat;
use crate::error::{ApiError, Code};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::de::DeserializeOwned;
use std::sync::OnceLock;
use std::time::Instant;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status_code());
        if self.code == Code::Busy {
            answer.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        if self.code == Code::Unauthorized {
            answer.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        answer.json(self.body())
    }
}

/// Counts the large requests (bodies over [`crate::config::env::LARGE_BODY_BYTES`]) a node is
/// handling, so a few clients sending hundreds of megabytes at once cannot exhaust its memory:
/// past `max` of them, the next is a 503 with `Retry-After`.
#[derive(Debug)]
pub struct LargeRequests {
    max: usize,
    active: std::sync::atomic::AtomicUsize,
}

/// A large request in progress: it leaves the count when dropped (answered, failed, or the
/// client went away).
#[derive(Debug)]
pub struct LargePermit<'a>(&'a LargeRequests);

impl Drop for LargePermit<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl LargeRequests {
    pub fn new(max: usize) -> LargeRequests {
        LargeRequests {
            max,
            active: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `None` for a small body; a permit for a large one while there is room; else 503.
    pub fn admit(&self, body_bytes: usize) -> Result<Option<LargePermit<'_>>, ApiError> {
        if body_bytes <= crate::config::env::LARGE_BODY_BYTES {
            return Ok(None);
        }
        let before = self.active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let permit = LargePermit(self);
        if before >= self.max {
            return Err(ApiError::new(
                Code::Busy,
                format!(
                    "this node is already handling {} large request(s) (CHIMERA_MAX_LARGE_REQUESTS); retry in a second, or send smaller batches",
                    self.max
                ),
            ));
        }
        Ok(Some(permit))
    }
}

/// The bearer token a node asks for, and on which paths (`CHIMERA_API_TOKEN`). Registered as
/// app data; [`require_token`] enforces it.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub token: Option<std::sync::Arc<str>>,
    /// Whether `path` needs the token.
    pub protects: fn(&str) -> bool,
}

/// Middleware body: a protected path without `Authorization: Bearer <CHIMERA_API_TOKEN>` is a
/// 401. Health and metrics stay open for Docker and Prometheus.
pub async fn require_token(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = req.app_data::<web::Data<TokenPolicy>>().and_then(|policy| {
        let token = policy.token.as_deref()?;
        if !(policy.protects)(req.path()) {
            return None;
        }
        let sent = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        (!same_secret(sent.trim().as_bytes(), token.as_bytes())).then(|| {
            ApiError::new(
                Code::Unauthorized,
                format!(
                    "{} needs Authorization: Bearer <CHIMERA_API_TOKEN>; send the experiment's token",
                    req.path()
                ),
            )
        })
    });
    match refused {
        Some(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a request body may be: at most `max_bytes`, all of it sent within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: std::time::Duration,
}

/// Reads a request body within its limits. A `Content-Length` over the limit is refused before
/// a byte is read (413); a body still arriving after the timeout is cut off (408), so a client
/// sending a byte a second cannot hold a connection; a non-empty body whose `Content-Type` is
/// not JSON is refused (415). No content type at all is allowed, as the original's clients
/// send fit without one. A large body also needs room among the node's large requests
/// (`large`, 503 when full): the permit returned holds it until dropped.
pub async fn read_body<'a>(
    req: &HttpRequest,
    payload: web::Payload,
    limits: BodyLimits,
    large: &'a LargeRequests,
) -> Result<(web::Bytes, Option<LargePermit<'a>>), ApiError> {
    read_body_as(req, payload, limits, large, &[]).await
}

/// [`read_body`] that also accepts the media types `also` (a worker's predict takes the
/// master's compact rows).
pub async fn read_body_as<'a>(
    req: &HttpRequest,
    payload: web::Payload,
    limits: BodyLimits,
    large: &'a LargeRequests,
    also: &[&str],
) -> Result<(web::Bytes, Option<LargePermit<'a>>), ApiError> {
    let too_large = move || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!(
                "the request body is larger than {} bytes; send fewer rows per request or raise CHIMERA_MAX_BODY_BYTES",
                limits.max_bytes
            ),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(too_large());
    }
    // Admitted before reading when the size is declared, so refused bodies are never held.
    let mut permit = large.admit(declared.map_or(0, |n| n as usize))?;
    let read = async move {
        let mut payload = payload;
        let mut body = web::BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::new(Code::InvalidRequest, format!("could not read the request body: {e}")))?;
            if body.len() + chunk.len() > limits.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    let body = actix_web::rt::time::timeout(limits.timeout, read).await.map_err(|_| {
        ApiError::new(
            Code::RequestTimeout,
            format!(
                "the request body did not arrive within {:?}; send it at once (CHIMERA_CLIENT_TIMEOUT)",
                limits.timeout
            ),
        )
    })??;
    if !body.iter().all(u8::is_ascii_whitespace) {
        check_json_content_type(req, also)?;
    }
    if permit.is_none() {
        permit = large.admit(body.len())?;
    }
    Ok((body, permit))
}

/// Runs `work` on the blocking pool when it is `heavy` (a large body to parse, many rows to
/// combine), so an HTTP thread stays free for health checks and small requests; else inline,
/// since a hop to the pool costs more than small work.
pub async fn off_thread_if<T: Send + 'static>(
    heavy: bool,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if !heavy {
        return work();
    }
    web::block(work)
        .await
        .map_err(|e| ApiError::internal(format!("the worker thread failed: {e}")))?
}

/// `application/json`, any `+json` type, or one of `also`; no `Content-Type` at all is allowed.
fn check_json_content_type(req: &HttpRequest, also: &[&str]) -> Result<(), ApiError> {
    let Some(essence) = content_type_essence(req.headers()).map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    if essence == "application/json" || essence.ends_with("+json") || also.contains(&essence.as_str()) {
        return Ok(());
    }
    let text = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Err(ApiError::new(
        Code::UnsupportedMediaType,
        format!(
            "the body's Content-Type is {:?}; send JSON with Content-Type: application/json",
            crate::logs::sanitize(&text, 80)
        ),
    ))
}

/// Whether a `Content-Type` header, without its parameters, is `expected` (in any case):
/// a request's (`req.headers()`) or an answer's (the master reading its workers).
pub fn content_type_is(headers: &actix_web::http::header::HeaderMap, expected: &str) -> bool {
    content_type_essence(headers).is_some_and(|m| m.eq_ignore_ascii_case(expected))
}

/// A `Content-Type` header without its parameters, as sent (`None` without one).
fn content_type_essence(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let value = headers.get(actix_web::http::header::CONTENT_TYPE)?;
    Some(value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim())
}

/// Parses JSON, naming the path of the first bad value (`X_pred_rows[3][1]: invalid type: null,
/// expected f64`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            Code::InvalidJson,
            "the request body is empty; send a JSON object",
        ));
    }
    // The plain parser first: tracking the path costs every request, and only a refused
    // body needs it for its message, so that one is parsed again.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            Code::InvalidJson
        } else {
            Code::InvalidRequest
        };
        let message = if path == "." || path.is_empty() {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at {path}: {inner}")
        };
        ApiError::new(code, message)
    })?;
    // One JSON value and nothing after it but white space.
    de.end()
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// Fit takes an empty body or `{}`: it has no parameters, so a field in the body is a
/// mistake (a typo for a spec key, say) and is named rather than ignored.
pub fn check_empty_fit_body(body: &[u8]) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) if fields.is_empty() => Ok(()),
        Ok(serde_json::Value::Object(fields)) => Err(ApiError::new(
            Code::InvalidRequest,
            format!(
                "fit takes no parameters, but the body has {:?}; send an empty body or {{}} (settings live in the spec files)",
                fields.keys().take(10).collect::<Vec<_>>()
            ),
        )),
        Ok(_) => Err(ApiError::new(
            Code::InvalidRequest,
            "fit takes no parameters: send an empty body or {}",
        )),
        Err(e) => Err(ApiError::new(Code::InvalidJson, format!("invalid JSON body: {e}"))),
    }
}

pub fn health(node: &str, role: &str) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        node: node.into(),
        role: role.into(),
    })
}

/// Unknown paths answer 404 in the seed's error shape, naming the path.
#[allow(clippy::unused_async)] // an actix handler is an async fn
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        Code::NotFound,
        format!(
            "no endpoint {} {}; see the README for the REST paths",
            req.method(),
            req.path()
        ),
    ))
}

// ------------------------------------------------------------------------------------------------
// The binaries' shared `main`
// ------------------------------------------------------------------------------------------------

/// What differs between `chimera-master` and `chimera-worker` at start-up; the rest of their
/// `main` is [`Binary::main`] and the helpers below, written once.
pub struct Binary {
    pub name: &'static str,
    pub version: &'static str,
    /// The topology variable that holds this node's port (`CHIMERA_MASTER_PORT`, ...).
    pub port_variable: &'static str,
    pub default_port: u16,
    /// The variable a user changes when a local process may not bind its port.
    pub port_setting: &'static str,
}

impl Binary {
    /// `NAME [serve]` runs `serve` with the experiment folder (`CHIMERA_EXPERIMENT_DIR`, else
    /// the working directory); `NAME healthcheck` exits 0 when this node's `/healthz` answers
    /// (a `FROM scratch` image has no curl for Docker's healthcheck); `NAME --version`.
    pub fn main(&self, serve: impl FnOnce(&std::path::Path)) {
        let dir = std::path::PathBuf::from(std::env::var("CHIMERA_EXPERIMENT_DIR").unwrap_or_else(|_| ".".into()));
        match std::env::args().nth(1).as_deref() {
            None | Some("serve") => serve(&dir),
            Some("healthcheck") => {
                if let Err(e) = crate::healthcheck::run(&dir, self.port_variable, self.default_port) {
                    self.fail(e);
                }
            }
            Some("--version" | "-V") => println!("{} {}", self.name, self.version),
            Some(other) => self.fail(format!(
                "unknown command {other:?}; use `serve` (the default) or `healthcheck`"
            )),
        }
    }

    /// One line on stderr and exit status 2: how a bad configuration stops a node.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        eprintln!("{}: error: {message}", self.name);
        std::process::exit(2)
    }

    /// Logging to stdout, the Prometheus recorder (or metrics off), and the configuration's
    /// warnings, in that order, so the warnings reach the log.
    pub fn start_telemetry(&self, exp: &crate::config::Experiment) {
        init_telemetry(exp.env.log_format, &exp.env.log_level);
        if exp.env.telemetry {
            prometheus();
            register_counters();
        } else {
            disable_metrics();
        }
        for w in &exp.warnings {
            tracing::warn!("{w}");
        }
    }

    /// Binds this node's address (`CHIMERA_LISTEN_HOST`/`_PORT`, else `port`), or stops with
    /// a line that says what to change.
    pub fn bind(&self, exp: &crate::config::Experiment, port: u16) -> (std::net::TcpListener, std::net::SocketAddr) {
        let addr = exp.source.listen(port).unwrap_or_else(|e| self.fail(e));
        let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
            let hint = if addr.port() < 1024 {
                format!(
                    " (ports below 1024 need root; set {} to ports >= 1024)",
                    self.port_setting
                )
            } else {
                String::new()
            };
            self.fail(format!("cannot listen on {addr}: {e}{hint}"))
        });
        (listener, addr)
    }

    /// Serves until stopped (SIGTERM/SIGINT: in-flight requests finish).
    pub fn run(
        &self,
        listener: std::net::TcpListener,
        build: impl FnOnce(std::net::TcpListener) -> std::io::Result<actix_web::dev::Server>,
    ) {
        let result = actix_web::rt::System::new().block_on(async move { build(listener)?.await });
        if let Err(e) = result {
            self.fail(format!("server stopped: {e}"));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Metrics
// ------------------------------------------------------------------------------------------------

/// Histogram buckets in seconds, from 100 µs (a loopback hop) to 100 s (the seed's timeout).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 100.0,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();
static TELEMETRY_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns metrics off for this process (`CHIMERA_TELEMETRY=off`): no recorder is installed, so
/// every `metrics` macro is a no-op, and `/metrics` says so.
pub fn disable_metrics() {
    TELEMETRY_OFF.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn metrics_enabled() -> bool {
    !TELEMETRY_OFF.load(std::sync::atomic::Ordering::SeqCst)
}

/// Registers the counters at 0, so a scrape sees them before the first event (Prometheus
/// convention: a missing series and a zero are different things).
pub fn register_counters() {
    for name in [
        "chimera_fits_started_total",
        "chimera_fits_succeeded_total",
        "chimera_fits_failed_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// `chimera_ps_staleness`: how many updates behind a gradient was (0 is fresh).
const STALENESS_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0];

/// Installs the process-wide Prometheus recorder once (tests start several servers per process).
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("chimera_ps_staleness".into()), STALENESS_BUCKETS))
            .expect("the bucket lists are not empty");
        match builder.install_recorder() {
            Ok(handle) => {
                // Histograms keep raw samples until upkeep folds them in: without this, memory
                // grows with every request between two scrapes.
                let upkeep = handle.clone();
                let _ = std::thread::Builder::new()
                    .name("chimera-metrics-upkeep".into())
                    .spawn(move || loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        upkeep.run_upkeep();
                    });
                handle
            }
            // Another recorder is already global (a test harness): keep a private one for /metrics.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// One served route: `(method, path, handler)`. The services list theirs as a table (see
/// [`crate::openapi::routes`], which a test holds them to) and register it in one loop.
pub type Served = (&'static str, &'static str, actix_web::Route);

pub fn get<F, Args>(path: &'static str, handler: F) -> Served
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    ("GET", path, web::get().to(handler))
}

pub fn post<F, Args>(path: &'static str, handler: F) -> Served
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    ("POST", path, web::post().to(handler))
}

/// `GET /openapi.json` and `GET /docs` for a node of `role`.
pub fn api_docs(role: crate::openapi::Role) -> [Served; 2] {
    use std::sync::OnceLock;
    static MASTER: OnceLock<String> = OnceLock::new();
    static WORKER: OnceLock<String> = OnceLock::new();
    let cell = match role {
        crate::openapi::Role::Master => &MASTER,
        crate::openapi::Role::Worker => &WORKER,
    };
    let json: &'static str = cell.get_or_init(|| {
        crate::openapi::document(role)
            .to_json()
            .expect("the document serializes")
    });
    [
        get(crate::api::paths::OPENAPI, move || async move {
            HttpResponse::Ok().content_type("application/json").body(json)
        }),
        get(crate::api::paths::DOCS, || async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(crate::openapi::DOCS_PAGE)
        }),
    ]
}

#[allow(clippy::unused_async)] // an actix handler is an async fn
pub async fn metrics_endpoint() -> HttpResponse {
    if !metrics_enabled() {
        return ApiError::new(Code::NotFound, "metrics are off on this node (CHIMERA_TELEMETRY=off)").error_response();
    }
    let handle = prometheus();
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Middleware body: times every request into `chimera_http_request_duration_seconds` labelled
/// by the route pattern (bounded), method and status.
pub async fn record_request_metrics(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // Static label values: bounded by construction, and an index into registered handles.
    let endpoint = crate::api::paths::ALL
        .iter()
        .position(|p| *p == req.path())
        .unwrap_or(crate::api::paths::ALL.len());
    let method = match *req.method() {
        actix_web::http::Method::GET => 0,
        actix_web::http::Method::POST => 1,
        _ => 2,
    };
    let res = next.call(req).await?;
    request_histogram(endpoint, method, status_index(res.status().as_u16())).record(started.elapsed().as_secs_f64());
    Ok(res)
}

const METHODS: [&str; 3] = ["GET", "POST", "other"];
const STATUSES: [&str; 16] = [
    "200", "400", "401", "404", "405", "408", "409", "413", "415", "422", "500", "501", "502", "503", "504", "other",
];
const ENDPOINTS: usize = crate::api::paths::ALL.len() + 1;
const REQUEST_SLOTS: usize = ENDPOINTS * METHODS.len() * STATUSES.len();

/// `chimera_http_request_duration_seconds{endpoint, method, status}`, registered on first use
/// and then taken from a fixed table: no registry lookup on the request path.
fn request_histogram(endpoint: usize, method: usize, status: usize) -> metrics::Histogram {
    static HANDLES: OnceLock<Vec<OnceLock<metrics::Histogram>>> = OnceLock::new();
    let table = HANDLES.get_or_init(|| (0..REQUEST_SLOTS).map(|_| OnceLock::new()).collect());
    let slot = (endpoint * METHODS.len() + method) * STATUSES.len() + status;
    table[slot]
        .get_or_init(|| {
            let name = crate::api::paths::ALL.get(endpoint).copied().unwrap_or("unmatched");
            metrics::histogram!(
                "chimera_http_request_duration_seconds",
                "endpoint" => name,
                "method" => METHODS[method],
                "status" => STATUSES[status]
            )
        })
        .clone()
}

/// The codes these services answer, in `STATUSES` order; any other is "other" (the last slot).
const STATUS_CODES: [u16; 15] = [
    200, 400, 401, 404, 405, 408, 409, 413, 415, 422, 500, 501, 502, 503, 504,
];

fn status_index(code: u16) -> usize {
    STATUS_CODES
        .iter()
        .position(|c| *c == code)
        .unwrap_or(STATUSES.len() - 1)
}

// ------------------------------------------------------------------------------------------------
// Telemetry
// ------------------------------------------------------------------------------------------------

/// Structured `tracing` to stdout, as text or JSON (`CHIMERA_LOG_FORMAT`). Safe to call twice.
pub fn init_telemetry(format: LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PredictRequest;

    #[test]
    fn bad_values_are_named_by_path() {
        let e =
            parse_json::<PredictRequest>(br#"{"X_pred_columns": ["a"], "X_pred_rows": [[1.0], [null]]}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("X_pred_rows[1][0]") && e.message.contains("null"),
            "{}",
            e.message
        );
        let e = parse_json::<PredictRequest>(br#"{"X_pred_columns": ["a"], "X_pred_rows": [["x"]]}"#).unwrap_err();
        assert!(e.message.contains("X_pred_rows[0][0]"), "{}", e.message);
        let e = parse_json::<PredictRequest>(b"{not json").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = parse_json::<PredictRequest>(br#"{"X_pred_rows": []}"#).unwrap_err();
        assert!(e.message.contains("X_pred_columns"), "{}", e.message);
        assert_eq!(parse_json::<PredictRequest>(b"  ").unwrap_err().code, "invalid_json");
    }

    #[test]
    fn fit_bodies() {
        assert!(check_empty_fit_body(b"").is_ok());
        assert!(check_empty_fit_body(b"{}").is_ok());
        assert_eq!(check_empty_fit_body(b"[1]").unwrap_err().status, 400);
        assert_eq!(check_empty_fit_body(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(check_empty_fit_body(b"{} x").unwrap_err().code, "invalid_json");
        let e = check_empty_fit_body(br#"{"max_iter": 5}"#).unwrap_err();
        assert!(e.message.contains("max_iter"), "{}", e.message);
    }

    #[test]
    fn trailing_bytes_after_the_json_are_refused() {
        let ok = br#"{"X_pred_columns": ["a"], "X_pred_rows": [[1.0]]}  "#;
        assert!(parse_json::<PredictRequest>(ok).is_ok());
        let e = parse_json::<PredictRequest>(br#"{"X_pred_columns": ["a"], "X_pred_rows": [[1.0]]} {}"#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        assert!(e.message.contains("trailing"), "{}", e.message);
    }
}
