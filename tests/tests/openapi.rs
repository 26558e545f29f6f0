//! `GET /openapi.json` and `GET /docs` on the master and the workers: the document lists every
//! route a node serves and nothing it does not, and its examples are requests the real
//! servers accept.

use chimera_shared::api::paths;
use chimera_shared::openapi::{self, Role};
use chimera_tests::{Cluster, Node, TempDir};
use std::collections::BTreeSet;

fn documented(role: Role) -> BTreeSet<(String, String)> {
    openapi::routes(role)
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

fn in_document(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn every_served_route_is_documented_and_nothing_else() {
    let master: BTreeSet<(String, String)> = chimera_master::routes::routes()
        .iter()
        .map(|(m, p, _)| ((*m).to_string(), (*p).to_string()))
        .collect();
    let worker: BTreeSet<(String, String)> = chimera_worker::routes::routes()
        .iter()
        .map(|(m, p, _)| ((*m).to_string(), (*p).to_string()))
        .collect();
    assert_eq!(master, documented(Role::Master), "the master's routes and its document");
    assert_eq!(worker, documented(Role::Worker), "a worker's routes and its document");
    for role in [Role::Master, Role::Worker] {
        let doc = serde_json::to_value(openapi::document(role)).unwrap();
        assert_eq!(in_document(&doc), documented(role));
    }
}

/// Every `$ref` points at a schema the document defines, and every error answer uses the
/// seed's error shape.
#[test]
fn the_document_is_whole_and_names_the_error_shape() {
    for role in [Role::Master, Role::Worker] {
        let doc = serde_json::to_value(openapi::document(role)).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schemas.contains_key(name), "{name} is referenced but not defined");
        }
        let error = &schemas["ErrorBody"];
        assert_eq!(error["required"], serde_json::json!(["message", "details"]));
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for (status, answer) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let c = &answer["content"]["application/json"];
                        assert_eq!(c["schema"]["$ref"], "#/components/schemas/ErrorBody", "{path} {status}");
                        assert_eq!(c["example"]["details"]["errorCode"], status.parse::<u64>().unwrap());
                    }
                }
                assert!(op["responses"]["200"]["content"]
                    .as_object()
                    .is_some_and(|c| !c.is_empty()));
            }
        }
    }
}

fn call(node: &Node, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, Vec<u8>) {
    let client = node.client();
    let answer = match (method, body) {
        ("GET", _) => client.get(path),
        (_, Some(b)) => client.post_json(path, b),
        (_, None) => client.post_bytes(path, b""),
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (answer.status, answer.body)
}

#[test]
fn live_nodes_serve_their_document_its_page_and_its_examples() {
    for (example, fit) in [
        ("bagging-classification", paths::AGGREGATION_FIT),
        ("sgd-regression", paths::PARAMETER_SERVER_FIT),
    ] {
        let dir = TempDir::copy_of(example);
        let cluster = Cluster::start(dir.path());
        let master = &cluster.master;
        let worker = cluster.worker("worker-1");
        let (status, _) = call(master, "POST", fit, None);
        assert_eq!(status, 200, "{example}: fit");
        for (node, role) in [(master, Role::Master), (worker, Role::Worker)] {
            let (status, body) = call(node, "GET", paths::OPENAPI, None);
            assert_eq!(status, 200);
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(in_document(&doc), documented(role));
            let (status, page) = call(node, "GET", paths::DOCS, None);
            assert_eq!(status, 200);
            let page = String::from_utf8(page).unwrap();
            assert!(
                page.contains("fetch(\"openapi.json\")") && page.contains("<html"),
                "{page}"
            );

            // Every documented route answers (never 404 or 405), with its example body when
            // it has one; the examples of this experiment's kind are accepted as they are.
            for route in openapi::routes(role) {
                if route.method == "POST" && route.path.ends_with("/fit") {
                    continue; // Fitted above; a second fit of every kind would only repeat it.
                }
                let body = route.request.as_ref().map(|b| b.example.clone());
                let (status, answer) = call(node, route.method, route.path, body.as_ref());
                assert!(
                    status != 404 && status != 405,
                    "{example}: {} {} answered {status}: {}",
                    route.method,
                    route.path,
                    String::from_utf8_lossy(&answer)
                );
                let ours = match role {
                    Role::Master => route.path.contains(if fit == paths::AGGREGATION_FIT {
                        "aggregation"
                    } else {
                        "parameter-server"
                    }),
                    Role::Worker => route.path.contains(if fit == paths::AGGREGATION_FIT {
                        "/model/"
                    } else {
                        "/sgd/"
                    }),
                };
                if ours || !route.path.starts_with("/v1/") {
                    assert_eq!(
                        status,
                        200,
                        "{example}: {} {}: {}",
                        route.method,
                        route.path,
                        String::from_utf8_lossy(&answer)
                    );
                }
            }
        }
    }
}
