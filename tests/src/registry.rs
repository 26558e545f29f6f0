//! A small image registry speaking the Docker Registry HTTP API v2, in memory: what `docker
//! push` and `docker stack deploy --resolve-image always` need (blob uploads in chunks,
//! manifests by tag and by digest). No registry image can be pulled on this machine, so the
//! tests of `CHIMERA_REGISTRY` push to this one. Docker treats 127.0.0.0/8 registries as
//! insecure by default, so plain HTTP on loopback works with no engine setting.

use crate::{fresh_listener, Node};
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;

#[derive(Default)]
struct Store {
    /// Digest -> bytes.
    blobs: HashMap<String, Vec<u8>>,
    /// Upload id -> bytes so far.
    uploads: HashMap<String, Vec<u8>>,
    /// (repository, tag or digest) -> (media type, manifest bytes).
    manifests: HashMap<(String, String), (String, Vec<u8>)>,
    next_upload: u64,
}

/// The registry, running until dropped.
pub struct Registry {
    node: Node,
    store: web::Data<Mutex<Store>>,
}

impl Registry {
    pub fn start() -> Registry {
        let store = web::Data::new(Mutex::new(Store::default()));
        let shared = store.clone();
        let node = Node::spawn_server("registry", fresh_listener(), move |listener| {
            Ok(HttpServer::new(move || {
                App::new()
                    .app_data(shared.clone())
                    .app_data(web::PayloadConfig::new(1 << 30))
                    .default_service(web::to(handle))
            })
            .workers(2)
            .listen(listener)?
            .run())
        });
        Registry { node, store }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.node.port)
    }

    /// The repositories that hold a manifest tagged `tag`.
    pub fn tagged(&self, tag: &str) -> Vec<String> {
        let store = self.store.lock().unwrap();
        let mut repos: Vec<String> = store
            .manifests
            .keys()
            .filter(|(_, r)| r == tag)
            .map(|(repo, _)| repo.clone())
            .collect();
        repos.sort();
        repos
    }
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", hex.split_whitespace().next().unwrap_or_default())
}

/// Splits `/v2/<repo>/<kind>/<rest>` at the last `/<kind>/`.
fn split<'a>(path: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let inner = path.strip_prefix("/v2/")?;
    let at = inner.rfind(&format!("/{kind}/"))?;
    Some((&inner[..at], &inner[at + kind.len() + 2..]))
}

fn query(req: &HttpRequest, key: &str) -> Option<String> {
    req.query_string().split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%3a", ":"))
    })
}

async fn handle(req: HttpRequest, body: web::Bytes, store: web::Data<Mutex<Store>>) -> HttpResponse {
    let path = req.path().to_string();
    let method = req.method().as_str().to_string();
    let mut store = store.lock().unwrap();
    if path == "/v2/" || path == "/v2" {
        return HttpResponse::Ok()
            .insert_header(("Docker-Distribution-API-Version", "registry/2.0"))
            .json(serde_json::json!({}));
    }
    if let Some((repo, id)) = split(&path, "blobs/uploads") {
        let location = |id: &str| format!("/v2/{repo}/blobs/uploads/{id}");
        return match method.as_str() {
            // A new upload (a cross-repository mount is declined by starting one).
            "POST" => {
                store.next_upload += 1;
                let id = format!("u{}", store.next_upload);
                store.uploads.insert(id.clone(), body.to_vec());
                HttpResponse::Accepted()
                    .insert_header((header::LOCATION, location(&id)))
                    .insert_header(("Docker-Upload-UUID", id))
                    .insert_header((header::RANGE, "0-0"))
                    .finish()
            }
            "PATCH" => {
                let Some(data) = store.uploads.get_mut(id) else {
                    return HttpResponse::NotFound().finish();
                };
                data.extend_from_slice(&body);
                let end = data.len().saturating_sub(1);
                HttpResponse::Accepted()
                    .insert_header((header::LOCATION, location(id)))
                    .insert_header(("Docker-Upload-UUID", id.to_string()))
                    .insert_header((header::RANGE, format!("0-{end}")))
                    .finish()
            }
            "PUT" => {
                let (Some(mut data), Some(digest)) = (store.uploads.remove(id), query(&req, "digest")) else {
                    return HttpResponse::NotFound().finish();
                };
                data.extend_from_slice(&body);
                if sha256(&data) != digest {
                    return HttpResponse::BadRequest()
                        .json(serde_json::json!({"errors": [{"code": "DIGEST_INVALID"}]}));
                }
                store.blobs.insert(digest.clone(), data);
                HttpResponse::Created()
                    .insert_header((header::LOCATION, format!("/v2/{repo}/blobs/{digest}")))
                    .insert_header(("Docker-Content-Digest", digest))
                    .finish()
            }
            _ => HttpResponse::MethodNotAllowed().finish(),
        };
    }
    if let Some((_, digest)) = split(&path, "blobs") {
        let Some(data) = store.blobs.get(digest) else {
            return HttpResponse::NotFound().finish();
        };
        let mut answer = HttpResponse::Ok();
        answer
            .insert_header(("Docker-Content-Digest", digest.to_string()))
            .content_type("application/octet-stream");
        return if method == "HEAD" {
            answer.no_chunking(data.len() as u64).finish()
        } else {
            answer.body(data.clone())
        };
    }
    if let Some((repo, reference)) = split(&path, "manifests") {
        if method == "PUT" {
            let media = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/vnd.docker.distribution.manifest.v2+json")
                .to_string();
            let digest = sha256(&body);
            let entry = (media, body.to_vec());
            store
                .manifests
                .insert((repo.to_string(), reference.to_string()), entry.clone());
            store.manifests.insert((repo.to_string(), digest.clone()), entry);
            return HttpResponse::Created()
                .insert_header((header::LOCATION, format!("/v2/{repo}/manifests/{digest}")))
                .insert_header(("Docker-Content-Digest", digest))
                .finish();
        }
        let Some((media, data)) = store.manifests.get(&(repo.to_string(), reference.to_string())) else {
            return HttpResponse::NotFound().json(serde_json::json!({"errors": [{"code": "MANIFEST_UNKNOWN"}]}));
        };
        let mut answer = HttpResponse::Ok();
        answer
            .insert_header(("Docker-Content-Digest", sha256(data)))
            .content_type(media.as_str());
        return if method == "HEAD" {
            answer.no_chunking(data.len() as u64).finish()
        } else {
            answer.body(data.clone())
        };
    }
    HttpResponse::NotFound().finish()
}
