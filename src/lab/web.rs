//! The lab's live view in a browser (`reachlab up --web ADDR`): one page embedded in the
//! binary (no CDN, no external font: it works on an offline lab VM), the lab's picture as
//! `graph` draws it, the counters pushed once a second (server-sent events), and the switches
//! (Global Reach, circuit links). Every action goes through the control path the CLI uses
//! (`control::Target::handle`), so the same rules refuse it in the same words and the CLI sees
//! the change. Changes only with `--web-control`; on a non-loopback address, then only with
//! the token the lab prints. The endpoints' JSON is the CLI's `--output json`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::task::JoinHandle;

use super::live::LiveLab;
use crate::control::proto::{Path, Request};

const PAGE: &str = include_str!("web/index.html");

/// Who may change the lab from the page.
#[derive(Debug, Clone)]
pub struct Access {
    /// `--web-control` given.
    pub control: bool,
    /// Required with control on a non-loopback address (Authorization: Bearer TOKEN).
    pub token: Option<String>,
}

#[derive(Clone)]
struct App {
    live: Arc<Mutex<LiveLab>>,
    access: Access,
}

impl App {
    fn handle(&self, req: Request) -> Response {
        let r = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .handle(req);
        if r.ok {
            Json(r.result).into_response()
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": r.error.unwrap_or_default()})),
            )
                .into_response()
        }
    }

    /// The refusal of a write, if it may not go ahead.
    fn refuse_write(&self, headers: &HeaderMap) -> Option<Response> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        refusal(&self.access, auth).map(|why| {
            (
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({"error": why})),
            )
                .into_response()
        })
    }
}

/// Why a change from the page is refused (None: it may go ahead), given the request's
/// Authorization header.
fn refusal(access: &Access, authorization: Option<&str>) -> Option<&'static str> {
    if !access.control {
        return Some("read-only view: start the lab with --web-control to change it from the page");
    }
    match &access.token {
        Some(t) if authorization.and_then(|v| v.strip_prefix("Bearer ")) != Some(t.as_str()) => {
            Some("this address is not loopback: changes need the token the lab printed (Authorization: Bearer TOKEN)")
        }
        _ => None,
    }
}

/// Serves the page and its endpoints on `addr` until the returned task is aborted.
pub async fn serve(
    addr: SocketAddr,
    live: Arc<Mutex<LiveLab>>,
    access: Access,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((spawn(listener, live, access), bound))
}

/// `serve` on a listener already bound (non-blocking), from inside the lab's runtime.
pub fn serve_std(
    listener: std::net::TcpListener,
    live: Arc<Mutex<LiveLab>>,
    access: Access,
) -> std::io::Result<JoinHandle<()>> {
    Ok(spawn(
        tokio::net::TcpListener::from_std(listener)?,
        live,
        access,
    ))
}

fn spawn(
    listener: tokio::net::TcpListener,
    live: Arc<Mutex<LiveLab>>,
    access: Access,
) -> JoinHandle<()> {
    let app = App { live, access };
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/graph.svg", get(graph))
        .route("/api/lab", get(lab))
        .route("/api/events", get(events))
        .route("/api/global-reach", post(gr_add).delete(gr_remove))
        .route("/api/circuit/{circuit}/{path}/{action}", post(circuit_link))
        .route("/api/vnet/{vnet}/{circuit}/{action}", post(vnet_link))
        .with_state(app);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

async fn graph(State(app): State<App>) -> Response {
    let svg = app
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .graph_svg();
    ([("content-type", "image/svg+xml")], svg).into_response()
}

/// The lab as the page draws it: every circuit's counters and link states, every Global Reach
/// connection, as `stats CIRCUIT --output json` and `global-reach list --output json` give them.
fn snapshot(app: &App) -> serde_json::Value {
    let mut lv = app.live.lock().unwrap_or_else(|p| p.into_inner());
    let names: Vec<String> = lv
        .topology()
        .circuit
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let circuits: Vec<serde_json::Value> = names
        .into_iter()
        .map(|c| {
            let r = lv.handle(Request::Stats { circuit: c.clone() });
            // As `stats CIRCUIT --output json` prints it (az's get-stats keys).
            let stats = serde_json::from_value::<crate::control::proto::CircuitStatsInfo>(r.result)
                .map(|s| serde_json::to_value(crate::az::stats(&s)).unwrap_or_default())
                .unwrap_or_default();
            serde_json::json!({"name": c, "stats": stats})
        })
        .collect();
    let gr = lv.handle(Request::GlobalReachList { circuit: None }).result;
    let vnets: Vec<serde_json::Value> = lv
        .topology()
        .vnet
        .iter()
        .map(|v| serde_json::json!({"name": v.name, "circuits": v.circuits}))
        .collect();
    serde_json::json!({
        "lab": lv.topology().lab.name,
        "control": app.access.control,
        "circuits": circuits,
        "global_reach": gr,
        "vnets": vnets,
    })
}

async fn lab(State(app): State<App>) -> Json<serde_json::Value> {
    Json(snapshot(&app))
}

/// The snapshot once a second.
async fn events(
    State(app): State<App>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((app, true), |(app, first)| async move {
        if !first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let data = snapshot(&app).to_string();
        Some((Ok(Event::default().event("lab").data(data)), (app, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct GrAdd {
    circuit: String,
    peer: String,
    address_prefix: String,
    #[serde(default)]
    ipv6_address_prefix: Option<String>,
}

async fn gr_add(State(app): State<App>, headers: HeaderMap, Json(b): Json<GrAdd>) -> Response {
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    app.handle(Request::GlobalReachAdd {
        circuit: b.circuit,
        peer: b.peer,
        address_prefix: b.address_prefix,
        ipv6_address_prefix: b.ipv6_address_prefix,
        authorization_key: None,
    })
}

#[derive(Deserialize)]
struct GrRemove {
    circuit: String,
    peer: String,
}

async fn gr_remove(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<GrRemove>,
) -> Response {
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    app.handle(Request::GlobalReachRemove {
        circuit: q.circuit,
        peer: q.peer,
    })
}

async fn circuit_link(
    State(app): State<App>,
    headers: HeaderMap,
    UrlPath((circuit, path, action)): UrlPath<(String, String, String)>,
) -> Response {
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    let path = match path.as_str() {
        "primary" => Path::Primary,
        "secondary" => Path::Secondary,
        other => return (
            StatusCode::BAD_REQUEST,
            Json(
                serde_json::json!({"error": format!("no link \"{other}\": primary or secondary")}),
            ),
        )
            .into_response(),
    };
    let up =
        match action.as_str() {
            "fail" => false,
            "restore" => true,
            other => return (
                StatusCode::BAD_REQUEST,
                Json(
                    serde_json::json!({"error": format!("no action \"{other}\": fail or restore")}),
                ),
            )
                .into_response(),
        };
    app.handle(Request::CircuitLink { circuit, path, up })
}

/// Link or unlink a VNet from the page: `vnet link` / `vnet unlink`.
async fn vnet_link(
    State(app): State<App>,
    headers: HeaderMap,
    UrlPath((vnet, circuit, action)): UrlPath<(String, String, String)>,
) -> Response {
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    match action.as_str() {
        "link" => app.handle(Request::VnetLink {
            vnet,
            circuit,
            weight: None,
        }),
        "unlink" => app.handle(Request::VnetUnlink { vnet, circuit }),
        other => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": format!("no action \"{other}\": link or unlink")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_control_and_on_a_public_address_the_token() {
        let ro = Access {
            control: false,
            token: None,
        };
        assert!(refusal(&ro, None).unwrap().contains("read-only"));
        let local = Access {
            control: true,
            token: None,
        };
        assert_eq!(refusal(&local, None), None);
        let public = Access {
            control: true,
            token: Some("k".into()),
        };
        assert!(refusal(&public, None).unwrap().contains("token"));
        assert!(refusal(&public, Some("Bearer x")).is_some());
        assert_eq!(refusal(&public, Some("Bearer k")), None);
    }
}
