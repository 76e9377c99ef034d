//! The lab's control socket: accepts connections, reads bounded request lines, replies one
//! line each. A malformed or oversized request gets an error reply and changes nothing; the
//! lab keeps running whatever a client sends.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::debug;

use super::proto::{
    decode, CaptureStart, Path as LinkPath, Request, Response, CAPTURE_END, CAPTURE_PACKET,
    MAX_REQUEST,
};
use super::Handler;

/// Binds the socket (mode 0600) and serves it until the returned task is aborted.
pub fn serve<T: Handler>(path: &Path, live: Arc<Mutex<T>>) -> std::io::Result<JoinHandle<()>> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, Arc::clone(&live)));
                }
                Err(e) => {
                    debug!(error = %e, "control accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }))
}

async fn connection<T: Handler>(stream: UnixStream, live: Arc<Mutex<T>>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut rd)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let (resp, close) = match decode(&line) {
            Err(refused) => refused,
            Ok(Request::Capture {
                point,
                path,
                count,
                duration_ms,
            }) => {
                let limits = Limits {
                    count,
                    duration: duration_ms.map(Duration::from_millis),
                };
                capture(&live, &point, path, limits, &mut rd, &mut wr).await;
                return;
            }
            Ok(req) => {
                let live = Arc::clone(&live);
                // Changes run `ip` for namespace routes: keep them off the forwarding loop.
                let resp = tokio::task::spawn_blocking(move || {
                    live.lock().unwrap_or_else(|p| p.into_inner()).handle(req)
                })
                .await
                .unwrap_or_else(|_| Response::err("the request handler failed"));
                (resp, false)
            }
        };
        let mut out = serde_json::to_vec(&resp).unwrap_or_default();
        out.push(b'\n');
        if wr.write_all(&out).await.is_err() || close {
            return;
        }
    }
}

/// When a capture ends (besides the client closing the connection).
struct Limits {
    count: Option<u64>,
    duration: Option<Duration>,
}

/// How often a capture collects what the engine copied.
const CAPTURE_TICK: Duration = Duration::from_millis(20);

/// Serves one capture on this connection: the start reply, then packet records until a limit
/// is reached or the client goes away, then the end record. The tap is removed in every case.
async fn capture<T: Handler>(
    live: &Arc<Mutex<T>>,
    point: &str,
    path: Option<LinkPath>,
    limits: Limits,
    rd: &mut BufReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
) {
    let started = live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .start_capture(point, path);
    let (id, engine, desc, wall0, link_type) = match started {
        Ok(c) => (c.tap, c.engine, c.point, c.wall0, c.link_type),
        Err(e) => {
            let _ = write_line(wr, &Response::err(e)).await;
            return;
        }
    };
    let start = Response::ok(CaptureStart {
        point: desc,
        link_type,
    });
    let deadline = limits.duration.map(|d| Instant::now() + d);
    let mut sent = 0u64;
    let mut dropped = 0u64;
    if write_line(wr, &start).await.is_ok() {
        let mut tick = tokio::time::interval(CAPTURE_TICK);
        let mut scratch = [0u8; 256];
        let mut out = Vec::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // Anything from the client, or its going away, ends the capture.
                _ = rd.read(&mut scratch) => break,
            }
            let taken = engine
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .capture_take(id);
            let Some((packets, d)) = taken else { break };
            dropped = d;
            out.clear();
            let mut full = false;
            for c in packets {
                if limits.count.is_some_and(|n| sent >= n) {
                    full = true;
                    break;
                }
                let ns = (wall0 + c.at)
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                out.push(CAPTURE_PACKET);
                out.extend_from_slice(&ns.to_be_bytes());
                out.extend_from_slice(&(c.data.len() as u32).to_be_bytes());
                out.extend_from_slice(&c.data);
                sent += 1;
            }
            if !out.is_empty() && wr.write_all(&out).await.is_err() {
                break;
            }
            if full
                || limits.count.is_some_and(|n| sent >= n)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
        }
    }
    engine
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .capture_stop(id);
    let mut end = vec![CAPTURE_END];
    end.extend_from_slice(&sent.to_be_bytes());
    end.extend_from_slice(&dropped.to_be_bytes());
    let _ = wr.write_all(&end).await;
}

async fn write_line(wr: &mut OwnedWriteHalf, resp: &Response) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(resp).unwrap_or_default();
    out.push(b'\n');
    wr.write_all(&out).await
}
