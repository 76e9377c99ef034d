//! Sending one request to a running lab's control socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::proto::{
    check_version, encode, CaptureStart, Request, Response, CAPTURE_END, CAPTURE_PACKET,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach lab {lab} at {path}: {source} ({})",
        connect_hint(source)
    )]
    Connect {
        lab: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to lab {lab}: {source}")]
    Io {
        lab: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lab {lab} sent a reply that is not understood: {detail}")]
    Reply { lab: String, detail: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Version(String),
}

/// What to do about a socket that does not answer.
fn connect_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "the control socket is root's, mode 0600: run reachlab with sudo"
        }
        _ => "is it running? `reachlab status` lists labs",
    }
}

/// How a capture ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureEnd {
    /// Packets the lab sent.
    pub packets: u64,
    /// Packets the lab dropped because they were not read fast enough.
    pub dropped: u64,
}

/// Runs a capture: sends `req` (a `Request::Capture`), calls `started` with the lab's
/// description of the point and the raw socket (shut its write side down to end the capture
/// early), then `packet` with each packet's time since the Unix epoch and its bytes, until the
/// lab ends the capture. An error from `packet` (say, a closed pipe) ends it too.
pub fn capture(
    lab: &str,
    req: &Request,
    started: impl FnOnce(&CaptureStart, &UnixStream),
    mut packet: impl FnMut(Duration, &[u8]) -> std::io::Result<()>,
) -> Result<CaptureEnd, ClientError> {
    let stream = connect(lab)?;
    let io = |source| ClientError::Io {
        lab: lab.to_string(),
        source,
    };
    let bad = |detail: String| ClientError::Reply {
        lab: lab.to_string(),
        detail,
    };
    (&stream).write_all(&encode(req)).map_err(io)?;
    let mut rd = BufReader::new(&stream);
    let mut reply = String::new();
    rd.read_line(&mut reply).map_err(io)?;
    let resp: Response = serde_json::from_str(&reply).map_err(|e| bad(e.to_string()))?;
    check_version(lab, &resp).map_err(ClientError::Version)?;
    if !resp.ok {
        return Err(ClientError::Refused(
            resp.error.unwrap_or_else(|| "refused".into()),
        ));
    }
    let start: CaptureStart =
        serde_json::from_value(resp.result).map_err(|e| bad(e.to_string()))?;
    started(&start, &stream);
    let mut data = Vec::new();
    let mut received = 0u64;
    loop {
        let mut tag = [0u8; 1];
        rd.read_exact(&mut tag).map_err(io)?;
        match tag[0] {
            CAPTURE_PACKET => {
                let mut head = [0u8; 12];
                rd.read_exact(&mut head).map_err(io)?;
                let ns = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
                let len = u32::from_be_bytes(head[8..].try_into().expect("4 bytes")) as usize;
                if len > 1 << 20 {
                    return Err(bad(format!("a captured packet of {len} bytes")));
                }
                data.resize(len, 0);
                rd.read_exact(&mut data).map_err(io)?;
                received += 1;
                if packet(Duration::from_nanos(ns), &data).is_err() {
                    // The reader went away: end the capture, collect the end record.
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    let _ = std::io::copy(&mut rd.take(1 << 24), &mut std::io::sink());
                    return Ok(CaptureEnd {
                        packets: received,
                        dropped: 0,
                    });
                }
            }
            CAPTURE_END => {
                let mut tail = [0u8; 16];
                rd.read_exact(&mut tail).map_err(io)?;
                return Ok(CaptureEnd {
                    packets: u64::from_be_bytes(tail[..8].try_into().expect("8 bytes")),
                    dropped: u64::from_be_bytes(tail[8..].try_into().expect("8 bytes")),
                });
            }
            t => return Err(bad(format!("unknown capture record {t:#04x}"))),
        }
    }
}

fn connect(lab: &str) -> Result<UnixStream, ClientError> {
    let path = crate::paths::socket_path(lab);
    UnixStream::connect(&path).map_err(|source| ClientError::Connect {
        lab: lab.to_string(),
        path: path.display().to_string(),
        source,
    })
}

/// Sends `req` to lab `lab` and waits (at most 30 s) for its response.
pub fn call(lab: &str, req: &Request) -> Result<Response, ClientError> {
    let stream = connect(lab)?;
    let io = |source| ClientError::Io {
        lab: lab.to_string(),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    (&stream).write_all(&encode(req)).map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
    let resp: Response = serde_json::from_str(&reply).map_err(|e| ClientError::Reply {
        lab: lab.to_string(),
        detail: e.to_string(),
    })?;
    check_version(lab, &resp).map_err(ClientError::Version)?;
    Ok(resp)
}
