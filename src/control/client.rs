//! Sending one request to a running lab's control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::proto::{Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach lab {lab} at {path}: {source} (is it running? `reachlab status` lists labs)"
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
}

/// Sends `req` to lab `lab` and waits (at most 30 s) for its response.
pub fn call(lab: &str, req: &Request) -> Result<Response, ClientError> {
    let path = super::socket_path(lab);
    let stream = UnixStream::connect(&path).map_err(|source| ClientError::Connect {
        lab: lab.to_string(),
        path: path.display().to_string(),
        source,
    })?;
    let io = |source| ClientError::Io {
        lab: lab.to_string(),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut line = serde_json::to_vec(req).expect("requests serialize");
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
    serde_json::from_str(&reply).map_err(|e| ClientError::Reply {
        lab: lab.to_string(),
        detail: e.to_string(),
    })
}
