//! The lab's control socket: accepts connections, reads bounded request lines, replies one
//! line each. A malformed or oversized request gets an error reply and changes nothing; the
//! lab keeps running whatever a client sends.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::debug;

use super::proto::{decode, Response, MAX_REQUEST};
use crate::lab::live::LiveLab;

/// Binds the socket (mode 0600) and serves it until the returned task is aborted.
pub fn serve(path: &Path, live: Arc<Mutex<LiveLab>>) -> std::io::Result<JoinHandle<()>> {
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

async fn connection(stream: UnixStream, live: Arc<Mutex<LiveLab>>) {
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
