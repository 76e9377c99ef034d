//! The tokio forwarding loop: one task per TUN reads a packet, hands it to the engine and
//! writes what the engine returns to the TUN it names. Plumbing only; every decision is the
//! engine's. Tasks stop when the stop channel fires and drop their device handles.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};
use tun_rs::AsyncDevice;

use crate::engine::{Engine, PortId, Verdict};

/// Largest packet read from a TUN (no offload yet: one packet per read, at most the MTU).
const BUF_SIZE: usize = 65536;

/// Running forwarding tasks of one lab.
pub struct Forwarder {
    pub engine: Arc<Mutex<Engine>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts one task per device; `devices[i]` is port `i` of the engine.
    pub fn spawn(engine: Engine, devices: Vec<AsyncDevice>) -> Forwarder {
        let engine = Arc::new(Mutex::new(engine));
        let devices: Arc<Vec<AsyncDevice>> = Arc::new(devices);
        let (stop, rx) = watch::channel(false);
        let tasks = (0..devices.len())
            .map(|port| {
                let engine = Arc::clone(&engine);
                let devices = Arc::clone(&devices);
                let rx = rx.clone();
                tokio::spawn(port_loop(port, engine, devices, rx))
            })
            .collect();
        Forwarder {
            engine,
            stop,
            tasks,
        }
    }

    /// Stops every task and waits for them; the devices are closed when this returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn port_loop(
    port: PortId,
    engine: Arc<Mutex<Engine>>,
    devices: Arc<Vec<AsyncDevice>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut out = Vec::with_capacity(1500);
    let mut warned = false;
    loop {
        let n = tokio::select! {
            r = devices[port].recv(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    if !warned {
                        warn!(port, error = %e, "reading from TUN failed");
                        warned = true;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let verdict = {
            let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
            e.handle(port, &mut buf[..n], &mut out)
        };
        trace!(port, len = n, ?verdict, "packet");
        let (to, bytes) = match verdict {
            Verdict::Forward { port: to, len } => (to, &buf[..len]),
            Verdict::Reply { port: to } => (to, &out[..]),
            Verdict::Drop(_) => continue,
        };
        if let Err(e) = devices[to].send(bytes).await {
            debug!(port = to, error = %e, "writing to TUN failed");
        }
    }
}
