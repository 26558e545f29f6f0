//! The master's workers and every call to them. [`Workers`] is what all HTTP threads share (the
//! list, the call settings, the last call to each, the log); a [`WorkerPool`] adds one thread's
//! awc client (awc clients are not `Send`) and makes the calls: pooled keep-alive connections,
//! the seed's per-call timeout, a short connect timeout so a dead address costs about a second,
//! retries by [`crate::retry`], and every call's latency in the time log and metrics.

use crate::retry::{self, Attempt};
use actix_web::web::Bytes;
use awc::error::{ConnectError, SendRequestError};
use chimera_shared::api::paths;
use chimera_shared::api::Outcome;
use chimera_shared::error::ErrorBody;
use chimera_shared::logs::{NodeLogs, Side};
use chimera_shared::{ApiError, Code};
use futures_util::future::join_all;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct CallSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: u32,
    /// Predict calls wait this long, not `timeout`: a stopped worker must not hold every
    /// predict for the fit's long timeout (`CHIMERA_WORKERS_PREDICT_TIMEOUT`).
    pub predict_timeout: Duration,
    pub max_body_bytes: usize,
    /// Sent as `Authorization: Bearer ...` when the workers ask for it (`CHIMERA_API_TOKEN`).
    pub token: Option<Arc<str>>,
}

/// Bodies above this size are streamed to the workers in slices of [`STREAM_CHUNK_BYTES`].
const STREAM_BODY_BYTES: usize = 1 << 20;
const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// A registered `chimera_worker_call_duration_seconds` series: (endpoint, outcome, handle).
type CallHistogram = (&'static str, Outcome, metrics::Histogram);

/// A worker as the master sees it.
#[derive(Debug, Clone)]
pub struct WorkerRef {
    pub name: String,
    /// The name as a shared metric label (no allocation per call).
    pub label: Arc<str>,
    /// Registered call histograms by (endpoint, outcome): looked up once, not on every call.
    pub histograms: Arc<std::sync::Mutex<Vec<CallHistogram>>>,
    /// Each endpoint's full URL, as text and parsed, built on its first call: a parameter-server
    /// fit calls the same one hundreds of times a second.
    pub endpoints: Arc<std::sync::Mutex<Vec<Endpoint>>>,
    /// `http://HOST:PORT`, no trailing slash.
    pub url: String,
    /// Set when a call got no answer (timeout, refused): the worker is skipped at once until
    /// the background probe ([`probe_down_workers`]) sees its `/healthz` answer again.
    pub down: Arc<AtomicBool>,
}

/// A worker's endpoint: its path, full URL, and that URL parsed (cheap to clone).
#[derive(Debug, Clone)]
pub struct Endpoint {
    path: &'static str,
    url: Arc<str>,
    uri: Option<awc::http::Uri>,
}

/// The last call to each worker, by name: what `/v1/chimera/status` shows.
#[derive(Debug, Default)]
pub struct LastCalls(std::sync::Mutex<std::collections::HashMap<String, LastCall>>);

#[derive(Debug, Clone, serde::Serialize)]
pub struct LastCall {
    pub endpoint: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

impl LastCalls {
    fn record(&self, worker: &str, call: LastCall) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get_mut(worker) {
            Some(slot) => *slot = call,
            None => {
                map.insert(worker.to_string(), call);
            }
        }
    }

    pub fn get(&self, worker: &str) -> Option<LastCall> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(worker)
            .cloned()
    }
}

/// Every second, asks each worker marked down for its `/healthz` (with the connect timeout,
/// at least half a second) and takes it back when it answers. Runs for the life of the
/// master's actix system.
pub async fn probe_down_workers(workers: Arc<Workers>) {
    let limit = health_limit(&workers.settings);
    let client = awc::Client::builder().timeout(limit).finish();
    loop {
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        for w in workers.list.iter().filter(|w| w.is_down()) {
            if answers_health(&client, w, limit).await {
                w.down.store(false, Ordering::SeqCst);
                workers.logs.status(
                    "INFO",
                    &format!("worker {} answers its health check again: taken back", w.name),
                );
            }
        }
    }
}

/// A health probe waits the connect timeout, at least half a second.
fn health_limit(settings: &CallSettings) -> Duration {
    settings.connect_timeout.max(Duration::from_millis(500))
}

/// Whether `worker`'s `/healthz` answers 200 within `limit`.
async fn answers_health(client: &awc::Client, worker: &WorkerRef, limit: Duration) -> bool {
    let request = client.get(format!("{}{}", worker.url, paths::HEALTHZ)).timeout(limit);
    request.send().await.is_ok_and(|r| r.status().is_success())
}

impl WorkerRef {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    pub fn new(name: &str, url: String) -> WorkerRef {
        WorkerRef {
            name: name.to_string(),
            label: name.into(),
            histograms: Arc::default(),
            endpoints: Arc::default(),
            url,
            down: Arc::default(),
        }
    }

    /// The full URL of `path` on this worker, and its parse when it parses.
    fn endpoint(&self, path: &'static str) -> Endpoint {
        let mut cache = self.endpoints.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = cache.iter().find(|e| std::ptr::eq(e.path, path)) {
            return e.clone();
        }
        let url: Arc<str> = format!("{}{path}", self.url).into();
        let e = Endpoint {
            path,
            uri: url.parse().ok(),
            url,
        };
        cache.push(e.clone());
        e
    }

    /// `chimera_worker_call_duration_seconds{worker, endpoint, outcome}` for this worker.
    fn call_histogram(&self, endpoint: &'static str, outcome: Outcome) -> metrics::Histogram {
        let mut cache = self
            .histograms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, h)) = cache
            .iter()
            .find(|(e, o, _)| std::ptr::eq(*e, endpoint) && *o == outcome)
        {
            return h.clone();
        }
        let h = metrics::histogram!(
            "chimera_worker_call_duration_seconds",
            "worker" => self.label.clone(),
            "endpoint" => endpoint,
            "outcome" => outcome.as_str()
        );
        cache.push((endpoint, outcome, h.clone()));
        h
    }
}

/// The 503 when no worker could do a job, naming each worker and what went wrong with it.
pub fn no_worker_available<N: std::fmt::Display, E: std::fmt::Display>(
    what: &str,
    errors: impl IntoIterator<Item = (N, E)>,
) -> ApiError {
    let detail: Vec<String> = errors.into_iter().map(|(n, e)| format!("{n}: {e}")).collect();
    ApiError::new(
        Code::NoWorkerAvailable,
        format!(
            "no worker could {what}; {}. Check that the workers are up (`cargo xtask status`) and read their logs",
            detail.join("; ")
        ),
    )
}

/// How one call ended, after retries.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub outcome: Outcome,
    pub seconds: f64,
    /// The answer's status and body when the worker answered.
    pub status: Option<u16>,
    pub body: Bytes,
    /// The media type asked for in `Accept`, when the answer came in it.
    pub answered_as: Option<&'static str>,
    /// What went wrong, for people (absent when the call succeeded).
    pub error: Option<String>,
}

impl CallResult {
    /// The worker's own error, when it answered with one in the seed's shape.
    pub fn api_error(&self) -> Option<ApiError> {
        let status = self.status?;
        if status < 400 {
            return None;
        }
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .map(|b| ApiError::from_body(status, &b))
    }
}

/// What every HTTP thread shares about the workers.
#[derive(Debug)]
pub struct Workers {
    pub list: Vec<WorkerRef>,
    pub settings: CallSettings,
    pub last_calls: LastCalls,
    pub logs: Arc<NodeLogs>,
}

/// The workers as one HTTP thread calls them.
pub struct WorkerPool {
    workers: Arc<Workers>,
    client: awc::Client,
}

impl WorkerPool {
    pub fn new(workers: Arc<Workers>) -> WorkerPool {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().timeout(workers.settings.connect_timeout))
            .timeout(workers.settings.timeout)
            .disable_redirects()
            .finish();
        WorkerPool { workers, client }
    }

    pub fn list(&self) -> &[WorkerRef] {
        &self.workers.list
    }

    pub fn len(&self) -> usize {
        self.workers.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.list.is_empty()
    }

    /// The same request to every worker at once; results in the workers' order.
    pub async fn call_all(&self, path: &'static str, body: Option<Bytes>) -> Vec<CallResult> {
        self.fan_out(self.workers.list.iter(), path, body, JSON).await
    }

    /// [`Self::call_all`] with a body of `media.content_type`, asking for answers of the media
    /// type `media.accept`.
    pub async fn call_all_as(&self, path: &'static str, body: Bytes, media: Media) -> Vec<CallResult> {
        self.fan_out(self.workers.list.iter(), path, Some(body), media).await
    }

    /// The same request to the workers at these indices at once; results in that order.
    pub async fn call_some(&self, which: &[usize], path: &'static str, body: Option<Bytes>) -> Vec<CallResult> {
        self.fan_out(which.iter().map(|&i| &self.workers.list[i]), path, body, JSON)
            .await
    }

    /// One request to the worker at `index`, with a body of `media.content_type`.
    pub async fn call_one_as(&self, index: usize, path: &'static str, body: Option<Bytes>, media: Media) -> CallResult {
        self.call(&self.workers.list[index], path, body, media).await
    }

    async fn fan_out<'a>(
        &'a self,
        workers: impl Iterator<Item = &'a WorkerRef>,
        path: &'static str,
        body: Option<Bytes>,
        media: Media,
    ) -> Vec<CallResult> {
        join_all(workers.map(|w| self.call(w, path, body.clone(), media))).await
    }

    /// Asks every worker's `/healthz` at once.
    pub async fn probe_health(&self) -> Vec<bool> {
        let limit = health_limit(&self.workers.settings);
        join_all(self.workers.list.iter().map(|w| answers_health(&self.client, w, limit))).await
    }

    /// POSTs (or GETs, without a body) `path` on `worker`, retrying as the policy allows.
    async fn call(&self, worker: &WorkerRef, path: &'static str, body: Option<Bytes>, media: Media) -> CallResult {
        let Workers {
            settings,
            last_calls,
            logs,
            ..
        } = &*self.workers;
        let endpoint = worker.endpoint(path);
        let url = &*endpoint.url;
        if worker.is_down() {
            return CallResult {
                outcome: Outcome::Error,
                seconds: 0.0,
                status: None,
                body: Bytes::new(),
                answered_as: None,
                error: Some(format!(
                    "{url}: skipped: marked down after a call got no answer; it is taken back when its /healthz answers"
                )),
            };
        }
        let timeout = if path == paths::MODEL_PREDICT {
            settings.predict_timeout
        } else {
            settings.timeout
        };
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let attempt_started = Instant::now();
            let result = once(&self.client, settings, timeout, &endpoint, body.clone(), media).await;
            // No answer at all (timeout, refused, reset): skip this worker from now on until
            // the probe sees it healthy; any answer, even an error, means it is up.
            worker.down.store(result.is_err(), Ordering::SeqCst);
            let seconds = attempt_started.elapsed().as_secs_f64();
            // The seed logs every worker call's latency, retries included.
            logs.latency(url, Side::Worker, seconds);
            let outcome = match &result {
                Ok((status, ..)) if *status < 400 => Outcome::Ok,
                Err((Outcome::Timeout, _)) => Outcome::Timeout,
                _ => Outcome::Error,
            };
            worker.call_histogram(path, outcome).record(seconds);
            let attempt = match &result {
                Ok((status, ..)) => Attempt::Answered(*status),
                Err(_) => Attempt::NoAnswer,
            };
            if outcome != Outcome::Ok && retry::should_retry(attempt, tries, settings.max_retries) {
                actix_web::rt::time::sleep(retry::backoff(tries - 1)).await;
                continue;
            }
            let total = started.elapsed().as_secs_f64();
            last_calls.record(
                &worker.name,
                LastCall {
                    endpoint: path.to_string(),
                    outcome,
                    seconds: total,
                },
            );
            return match result {
                Ok((status, body, answered_as)) => {
                    let error = (status >= 400).then(|| describe_error(status, &body));
                    CallResult {
                        outcome,
                        seconds: total,
                        status: Some(status),
                        body,
                        answered_as,
                        error,
                    }
                }
                Err((outcome, message)) => CallResult {
                    outcome,
                    seconds: total,
                    status: None,
                    body: Bytes::new(),
                    answered_as: None,
                    error: Some(format!("{url}: {message}")),
                },
            };
        }
    }
}

/// What a call's body is and what answer it asks for.
#[derive(Debug, Clone, Copy)]
pub struct Media {
    pub content_type: &'static str,
    pub accept: Option<&'static str>,
}

/// JSON both ways, as a client's calls are.
pub const JSON: Media = Media {
    content_type: "application/json",
    accept: None,
};

async fn once(
    client: &awc::Client,
    settings: &CallSettings,
    timeout: Duration,
    endpoint: &Endpoint,
    body: Option<Bytes>,
    media: Media,
) -> Result<(u16, Bytes, Option<&'static str>), (Outcome, String)> {
    let method = if body.is_some() {
        awc::http::Method::POST
    } else {
        awc::http::Method::GET
    };
    // A URL that does not parse goes as text, so awc names what is wrong with it.
    let request = match &endpoint.uri {
        Some(uri) => client.request(method, uri.clone()),
        None => client.request(method, &*endpoint.url),
    };
    let request = match body {
        Some(_) => request.insert_header(("content-type", media.content_type)),
        None => request,
    }
    .timeout(timeout);
    let request = match &settings.token {
        Some(token) => request.insert_header(("authorization", format!("Bearer {token}"))),
        None => request,
    };
    let request = match media.accept {
        Some(media_type) => request.insert_header(("accept", media_type)),
        None => request,
    };
    let sent = match body {
        // A large body goes out as zero-copy slices of the one copy the master holds: sent
        // whole, each connection's encoder would copy it into its write buffer, once per worker.
        Some(body) if body.len() > STREAM_BODY_BYTES => {
            let len = body.len();
            let slices =
                futures_util::stream::iter((0..len).step_by(STREAM_CHUNK_BYTES).map(move |at| {
                    Ok::<_, std::convert::Infallible>(body.slice(at..(at + STREAM_CHUNK_BYTES).min(len)))
                }));
            request
                .send_body(actix_web::body::SizedStream::new(len as u64, slices))
                .await
        }
        Some(body) => request.send_body(body).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|e| match e {
        SendRequestError::Timeout => (Outcome::Timeout, format!("no answer within {timeout:?}")),
        SendRequestError::Connect(ConnectError::Timeout) => (
            Outcome::Timeout,
            format!("could not connect within {:?}", settings.connect_timeout),
        ),
        other => (Outcome::Error, format!("unreachable: {other}")),
    })?;
    let status = response.status().as_u16();
    let answered_as = media
        .accept
        .filter(|&asked| chimera_shared::service::content_type_is(response.headers(), asked));
    let body = response
        .body()
        .limit(settings.max_body_bytes)
        .await
        .map_err(|e| (Outcome::Error, format!("could not read the answer: {e}")))?;
    Ok((status, body, answered_as))
}

fn describe_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => format!("{status} {}: {}", b.details.error_message, b.message),
        Err(_) => format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])),
    }
}
