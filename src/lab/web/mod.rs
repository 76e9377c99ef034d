//! The lab's live view in a browser (`reachlab up --web ADDR`, `reachlab web`): one page
//! embedded in the binary (no CDN, no external font: it works on an offline lab VM), the lab's
//! picture as `graph` draws it, the counters turned into rates once a second (`rates`) and
//! pushed to the page (server-sent events), and the switches (Global Reach, circuit links,
//! VNet links, the reachability matrix). A write is parsed by `parse_write` (pure, fuzzed)
//! into the control request the CLI sends, and goes through the same control path
//! (`LiveLab::handle`), so the same rules refuse it in the same words and the CLI sees the
//! change. Changes only with `--web-control`; on a non-loopback address, then only with the
//! token the lab prints. The endpoints' JSON is the CLI's `--output json`.

pub mod rates;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::live::LiveLab;
use crate::control::proto::{GlobalReachAdd, Path, Request};
use crate::topology::GlobalReach;
use rates::{CircuitReading, DirReading, LinkReading, Rates, Reading};

const PAGE: &str = include_str!("index.html");

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
    rates: Arc<Mutex<Rates>>,
    /// Global Reach connections this view has seen and that are gone now: drawn as removed,
    /// so "add it back" is one click.
    removed: Arc<Mutex<Vec<GlobalReach>>>,
    /// The latest snapshot, for the event stream.
    snap: watch::Sender<Arc<String>>,
}

fn error(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": why.into()}))).into_response()
}

impl App {
    fn live(&self) -> std::sync::MutexGuard<'_, LiveLab> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, req: Request) -> Response {
        let r = self.live().handle(req);
        if r.ok {
            Json(r.result).into_response()
        } else {
            error(StatusCode::BAD_REQUEST, r.error.unwrap_or_default())
        }
    }

    /// The refusal of a write, if it may not go ahead.
    fn refuse_write(&self, headers: &HeaderMap) -> Option<Response> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        refusal(&self.access, auth).map(|why| error(StatusCode::FORBIDDEN, why))
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

/// A write the page's endpoints refuse before the lab sees it: the HTTP status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub status: u16,
    pub reason: String,
}

fn bad(status: u16, reason: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrRemove {
    circuit: String,
    peer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VnetQuery {
    #[serde(default)]
    weight: Option<u16>,
}

/// The write endpoints, as the control requests the CLI sends:
///
/// - `POST /api/global-reach` with `{"circuit", "peer", "address_prefix"[, "ipv6_address_prefix"]}`
/// - `DELETE /api/global-reach?circuit=C&peer=P`
/// - `POST /api/circuit/CIRCUIT/{primary|secondary}/{fail|restore}`
/// - `POST /api/vnet/VNET/CIRCUIT/{link|unlink}[?weight=N]`
///
/// Anything else is a 4xx with the reason (404 no such endpoint, 405 wrong method, 400 a body
/// or value that does not parse, 415 a body that is not JSON). Pure.
pub fn parse_write(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Request, BadRequest> {
    let segs: Vec<String> = path
        .strip_prefix("/api/")
        .unwrap_or("")
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let json = |body: &[u8]| -> Result<GlobalReachAdd, BadRequest> {
        serde_json::from_slice(body).map_err(|e| {
            bad(
                if body.first().is_none_or(|b| b.is_ascii_whitespace() || *b == b'{') {
                    400
                } else {
                    415
                },
                format!("the body: {e}: write {{\"circuit\": C, \"peer\": P, \"address_prefix\": \"192.168.8.0/29\"}}"),
            )
        })
    };
    let method_is = |want: &[&str]| -> Result<(), BadRequest> {
        if want.contains(&method) {
            Ok(())
        } else {
            Err(bad(
                405,
                format!("{method} {path}: use {}", want.join(" or ")),
            ))
        }
    };
    match segs.as_slice() {
        ["global-reach"] => match method {
            "POST" => {
                Ok(Request::GlobalReachAdd(json(body)?))
            }
            "DELETE" => {
                let q: GrRemove = serde_urlencoded::from_str(query)
                    .map_err(|e| bad(400, format!("the query: {e}: write ?circuit=C&peer=P")))?;
                Ok(Request::GlobalReachRemove {
                    circuit: q.circuit,
                    peer: q.peer,
                })
            }
            _ => Err(bad(405, format!("{method} {path}: use POST (add) or DELETE (remove)"))),
        },
        ["circuit", circuit, link, action] => {
            method_is(&["POST"])?;
            let path = match *link {
                "primary" => Path::Primary,
                "secondary" => Path::Secondary,
                other => return Err(bad(400, format!("no link \"{other}\": primary or secondary"))),
            };
            let up = match *action {
                "fail" => false,
                "restore" => true,
                other => return Err(bad(400, format!("no action \"{other}\": fail or restore"))),
            };
            Ok(Request::CircuitLink {
                circuit: circuit.to_string(),
                path,
                up,
            })
        }
        ["vnet", vnet, circuit, action] => {
            method_is(&["POST"])?;
            let q: VnetQuery = serde_urlencoded::from_str(query).map_err(|e| {
                bad(400, format!("the query: {e}: write ?weight=N (0-32000) or nothing"))
            })?;
            match *action {
                "link" => Ok(Request::VnetLink {
                    vnet: vnet.to_string(),
                    circuit: circuit.to_string(),
                    weight: q.weight,
                }),
                "unlink" if q.weight.is_some() => {
                    Err(bad(400, "unlink takes no weight".to_string()))
                }
                "unlink" => Ok(Request::VnetUnlink {
                    vnet: vnet.to_string(),
                    circuit: circuit.to_string(),
                }),
                other => Err(bad(400, format!("no action \"{other}\": link or unlink"))),
            }
        }
        _ => Err(bad(
            404,
            format!("no endpoint {path}: the page's writes are /api/global-reach, /api/circuit/C/LINK/ACTION, /api/vnet/V/C/ACTION and /api/test"),
        )),
    }
}

/// A live view being served: its task (abort it to stop serving), where, and the token changes
/// need on a non-loopback address.
pub struct Serving {
    pub task: JoinHandle<()>,
    pub bound: SocketAddr,
    pub token: Option<String>,
}

/// Starts the live view of `live` on `addr`, on the current tokio runtime: `up --web` and
/// `reachlab web` both start it here. With `control` on a non-loopback address, changes need
/// the token it makes.
pub fn start(
    addr: SocketAddr,
    live: Arc<Mutex<LiveLab>>,
    control: bool,
) -> std::io::Result<Serving> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let token = (control && !addr.ip().is_loopback()).then(super::live::new_key);
    let access = Access {
        control,
        token: token.clone(),
    };
    let task = spawn(tokio::net::TcpListener::from_std(listener)?, live, access);
    Ok(Serving { task, bound, token })
}

/// How a running lab starts its live view when `reachlab web` asks (`LiveLab::set_web`):
/// `start` on `listen`, recorded in the lab's state so `status` shows the newest.
pub fn starter(live: &Arc<Mutex<LiveLab>>, lab: &str) -> super::live::WebStarter {
    let me = Arc::downgrade(live);
    let lab = lab.to_string();
    Box::new(move |listen: &str, control: bool| {
        let addr: SocketAddr = listen
            .parse()
            .map_err(|_| format!("--listen {listen}: write ADDR:PORT, e.g. 127.0.0.1:8080"))?;
        let live = me
            .upgrade()
            .ok_or("this lab cannot serve a live view (it is shutting down)")?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "no runtime to serve the live view on".to_string())?;
        let _guard = handle.enter();
        let serving =
            start(addr, live, control).map_err(|e| format!("listening on {addr}: {e}"))?;
        tracing::info!(bound = %serving.bound, control, "serving the live view");
        if let Ok(mut st) = super::state::LabState::load(&lab) {
            st.web = Some(serving.bound.to_string());
            st.web_control = control;
            st.web_token = serving.token.clone();
            let _ = st.save();
        }
        Ok(crate::control::proto::WebServing {
            url: format!("http://{}/", serving.bound),
            control,
            token: serving.token,
        })
    })
}

fn spawn(
    listener: tokio::net::TcpListener,
    live: Arc<Mutex<LiveLab>>,
    access: Access,
) -> JoinHandle<()> {
    let (snap, _) = watch::channel(Arc::new(String::new()));
    let app = App {
        live,
        access,
        rates: Arc::default(),
        removed: Arc::default(),
        snap,
    };
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/graph.svg", get(graph))
        .route("/api/lab", get(lab))
        .route("/api/events", get(events))
        .route("/api/test", post(reachability))
        .fallback(write)
        .with_state(app.clone());
    tokio::spawn(async move {
        // The sampler lives as long as the server: aborting this task ends both.
        // (Not sampled before: `reachlab web` starts this with the lab locked.)
        let sampler = async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sample(&app);
            }
        };
        tokio::select! {
            _ = axum::serve(listener, router) => {}
            () = sampler => {}
        }
    })
}

/// The engine's counters now.
fn read(live: &LiveLab) -> Reading {
    let now = live.now();
    let engine = live.engine();
    let e = engine.lock().unwrap_or_else(|p| p.into_inner());
    let stats = e.circuit_stats();
    let circuits = e
        .tables()
        .circuits
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let up = e.links(i);
            let s = stats.get(i).cloned().unwrap_or_default();
            let link = |p: usize| LinkReading {
                up: up[p],
                dirs: [
                    DirReading {
                        bytes: s.input[p].bytes,
                        packets: s.input[p].packets,
                        queue: e.queue_delay(i, p, 0, now),
                        drops: e.link_drops(i, p, 0),
                    },
                    DirReading {
                        bytes: s.output[p].bytes,
                        packets: s.output[p].packets,
                        queue: e.queue_delay(i, p, 1, now),
                        drops: e.link_drops(i, p, 1),
                    },
                ],
            };
            CircuitReading {
                name: c.name.clone(),
                links: [link(0), link(1)],
                drops: crate::engine::DropReason::ALL
                    .iter()
                    .map(|r| (r.name().to_string(), s.drops[r.index()]))
                    .collect(),
            }
        })
        .collect();
    Reading { at: now, circuits }
}

/// Reads the counters, and publishes the snapshot to the event streams.
fn sample(app: &App) {
    let reading = read(&app.live());
    app.rates
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(reading);
    let s = snapshot(app).to_string();
    app.snap.send_replace(Arc::new(s));
}

/// Global Reach connections seen earlier and gone now (remembered from here on).
fn removed(app: &App, now: &[GlobalReach]) -> Vec<GlobalReach> {
    let mut seen = app.removed.lock().unwrap_or_else(|p| p.into_inner());
    let same = |a: &GlobalReach, b: &GlobalReach| {
        let mut x = a.circuits.clone();
        let mut y = b.circuits.clone();
        x.sort();
        y.sort();
        x == y
    };
    for g in now {
        seen.retain(|s| !same(s, g));
        seen.push(g.clone());
    }
    seen.iter()
        .filter(|s| !now.iter().any(|g| same(s, g)))
        .cloned()
        .collect()
}

async fn graph(State(app): State<App>) -> Response {
    let now = app.live().topology().global_reach.clone();
    let gone = removed(&app, &now);
    let svg = app.live().graph_svg(gone);
    ([("content-type", "image/svg+xml")], svg).into_response()
}

/// The lab as the page draws it: per circuit the counters as `stats CIRCUIT --output json`
/// gives them, the rates, the BGP neighbours as `routes CIRCUIT --summary --output json`;
/// every Global Reach connection as `global-reach list --output json`, and those removed
/// while this view ran; the VNets and their circuits.
fn snapshot(app: &App) -> serde_json::Value {
    let rates: Vec<rates::CircuitRates> = app
        .rates
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .last()
        .to_vec();
    let lv = app.live();
    let names: Vec<(String, Option<u64>)> = {
        let engine = lv.engine();
        let e = engine.lock().unwrap_or_else(|p| p.into_inner());
        e.tables()
            .circuits
            .iter()
            .map(|c| (c.name.clone(), c.timing.rate_bps))
            .collect()
    };
    let circuits: Vec<serde_json::Value> = names
        .into_iter()
        .map(|(c, rate)| {
            // As `stats CIRCUIT --output json` prints it (az's get-stats keys).
            let stats = lv
                .stats(&c)
                .map(|s| serde_json::to_value(crate::az::stats(&s)).unwrap_or_default())
                .unwrap_or_default();
            let sessions: Vec<serde_json::Value> = [Path::Primary, Path::Secondary]
                .into_iter()
                .map(|path| {
                    lv.routes_summary(&c, path, None)
                        .map(|s| serde_json::to_value(s).unwrap_or_default())
                        .unwrap_or_default()
                })
                .collect();
            let rates = rates.iter().find(|r| r.circuit == c);
            serde_json::json!({
                "name": c,
                "bandwidth_bps": rate,
                "stats": stats,
                "rates": rates,
                "sessions": sessions,
            })
        })
        .collect();
    let gr = serde_json::to_value(lv.gr_list(None).unwrap_or_default()).unwrap_or_default();
    let now = lv.topology().global_reach.clone();
    let vnets: Vec<serde_json::Value> = lv
        .topology()
        .vnet
        .iter()
        .map(|v| serde_json::json!({"name": v.name, "circuits": v.circuits}))
        .collect();
    let lab = lv.topology().lab.name.clone();
    drop(lv);
    let gone: Vec<serde_json::Value> = removed(app, &now)
        .into_iter()
        .map(|g| {
            serde_json::json!({
                "circuit": g.circuits[0],
                "peer": g.circuits[1],
                "address_prefix": g.address_prefix.to_string(),
                "ipv6_address_prefix": g.ipv6_address_prefix.map(|p| p.to_string()),
            })
        })
        .collect();
    serde_json::json!({
        "lab": lab,
        "control": app.access.control,
        "circuits": circuits,
        "global_reach": gr,
        "global_reach_removed": gone,
        "vnets": vnets,
    })
}

async fn lab(State(app): State<App>) -> Json<serde_json::Value> {
    Json(snapshot(&app))
}

/// The snapshot as the sampler publishes it, once a second (the latest at once on connect).
async fn events(
    State(app): State<App>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let mut rx = app.snap.subscribe();
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            let data = rx.borrow_and_update().clone();
            // Empty until the first sample.
            if !data.is_empty() {
                return Some((Ok(Event::default().event("lab").data(data.as_str())), rx));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `reachlab test` from the page: every pair pinged from its namespace, against the rules
/// for the lab as it is now; the reply is `reachlab test --output json`'s.
async fn reachability(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    let (topo, links) = {
        let mut lv = app.live();
        let links = lv.carrying_links();
        (lv.topology().clone(), links)
    };
    let lab = topo.lab.name.clone();
    let st = match super::state::LabState::load(&lab) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the lab's state: {e}"),
            )
        }
    };
    let probes = tokio::task::spawn_blocking(move || {
        let up = |c: &str, v6: bool| {
            topo.circuit
                .iter()
                .position(|x| x.name == c)
                .is_some_and(|i| links[usize::from(v6)][i] != [false, false])
        };
        super::pingall::run(&st, &topo, &up, 1, 16)
    })
    .await
    .unwrap_or_default();
    let mismatches = probes.iter().filter(|p| !p.matches()).count();
    Json(serde_json::json!({"lab": lab, "probes": probes, "mismatches": mismatches}))
        .into_response()
}

/// Every other request: a write (`parse_write`), allowed by `refusal`, through the control
/// path.
async fn write(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !uri.path().starts_with("/api/") || method == Method::GET {
        return error(
            StatusCode::NOT_FOUND,
            format!("no page {}: the live view is at /", uri.path()),
        );
    }
    if let Some(r) = app.refuse_write(&headers) {
        return r;
    }
    match parse_write(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        &body,
    ) {
        Ok(req) => app.handle(req),
        Err(b) => error(
            StatusCode::from_u16(b.status).unwrap_or(StatusCode::BAD_REQUEST),
            b.reason,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_endpoint_parses_to_the_clis_request() {
        assert_eq!(
            parse_write(
                "POST",
                "/api/global-reach",
                "",
                br#"{"circuit":"er-sv","peer":"er-london","address_prefix":"192.168.8.0/29"}"#
            ),
            Ok(Request::GlobalReachAdd(GlobalReachAdd {
                circuit: "er-sv".into(),
                peer: "er-london".into(),
                address_prefix: "192.168.8.0/29".into(),
                ipv6_address_prefix: None,
                authorization_key: None,
            }))
        );
        assert_eq!(
            parse_write(
                "DELETE",
                "/api/global-reach",
                "circuit=er-sv&peer=er%2Dlondon",
                b""
            ),
            Ok(Request::GlobalReachRemove {
                circuit: "er-sv".into(),
                peer: "er-london".into(),
            })
        );
        assert_eq!(
            parse_write("POST", "/api/circuit/er%2Dsv/secondary/restore", "", b""),
            Ok(Request::CircuitLink {
                circuit: "er-sv".into(),
                path: Path::Secondary,
                up: true,
            })
        );
        assert_eq!(
            parse_write("POST", "/api/vnet/uswest/er-sv/link", "weight=200", b""),
            Ok(Request::VnetLink {
                vnet: "uswest".into(),
                circuit: "er-sv".into(),
                weight: Some(200),
            })
        );
        assert_eq!(
            parse_write("POST", "/api/vnet/uswest/er-sv/unlink", "", b""),
            Ok(Request::VnetUnlink {
                vnet: "uswest".into(),
                circuit: "er-sv".into(),
            })
        );
    }

    #[test]
    fn bad_writes_get_a_4xx_with_the_reason() {
        let status = |m: &str, p: &str, q: &str, b: &[u8]| {
            let e = parse_write(m, p, q, b).unwrap_err();
            assert!(!e.reason.is_empty());
            (e.status, e.reason)
        };
        assert_eq!(status("POST", "/api/nothing", "", b"").0, 404);
        assert_eq!(status("PUT", "/api/global-reach", "", b"").0, 405);
        assert_eq!(status("GET", "/api/circuit/a/primary/fail", "", b"").0, 405);
        let (code, why) = status("POST", "/api/global-reach", "", b"circuit=a");
        assert_eq!(code, 415, "{why}");
        let (code, why) = status("POST", "/api/global-reach", "", br#"{"circuit":"a"}"#);
        assert_eq!(code, 400);
        assert!(why.contains("peer"), "{why}");
        let (code, why) = status(
            "POST",
            "/api/global-reach",
            "",
            br#"{"circuit":"a","peer":"b","address_prefix":"x","colour":1}"#,
        );
        assert_eq!(code, 400);
        assert!(why.contains("colour"), "{why}");
        assert!(status("DELETE", "/api/global-reach", "circuit=a", b"")
            .1
            .contains("peer"));
        assert!(status("POST", "/api/circuit/a/tertiary/fail", "", b"")
            .1
            .contains("primary or secondary"));
        assert!(status("POST", "/api/circuit/a/primary/explode", "", b"")
            .1
            .contains("fail or restore"));
        assert!(status("POST", "/api/vnet/v/a/link", "weight=lots", b"")
            .1
            .contains("weight"));
        assert!(status("POST", "/api/vnet/v/a/unlink", "weight=1", b"")
            .1
            .contains("no weight"));
        assert!(status("POST", "/api/vnet/v/a/merge", "", b"")
            .1
            .contains("link or unlink"));
    }

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
