//! The forwarding loop: one worker per TUN queue, each a task on a thread and runtime of its
//! own (the control plane runs beside them, not in their way). A worker drains its queue of
//! every TUN of the lab in turn (the kernel spreads flows over the queues by hash, so a flow's
//! packets meet one worker, in order), hands each packet to the engine and writes what the
//! engine returns straight to the TUN it names (no channel hop, no hand-off between threads).
//! The engine is shared, behind one lock held only while a packet is looked up; each worker
//! serves its own lane of the engine's delay lines, so what a worker queued it writes, in
//! order. Plumbing only; every decision is the engine's.
//!
//! Waiting: the lab's TUNs sit in one epoll set, and each pass reads only those that hold
//! packets. After a packet the loop polls the set again at once, so a reply that the
//! destination namespace produced while we wrote the request (its stack runs inside our
//! write) is forwarded without a wake-up. While traffic is dense it spins for a short window
//! after the last packet; a window that finds nothing turns spinning off until packets are
//! dense again, so an idle lab's trickle of BFD and keepalives costs one wake-up per packet.
//! Then it sleeps on the set. `Poll::Busy` never sleeps.
//!
//! With offload the TUNs carry a virtio-net header before each packet and the kernel hands
//! over GSO super-packets of up to 64 KB: the engine looks each up and rewrites it once, and
//! it is written to the egress TUN with its header unchanged, so the receiving namespace gets
//! it as one GSO packet (segmented, or not, by the kernel as it needs). Replies the engine
//! originates get a zeroed header (no GSO, checksums complete).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, trace, warn};

use super::rings::SocketDrops;
use crate::engine::{Engine, FrameIn, PortId, Verdict};

/// What the loop needs to move one packet: the engine, the devices, the clock and the reply
/// buffers.
struct Plumbing {
    engine: Arc<Mutex<Engine>>,
    /// Port `i`'s descriptor at `i`: a TUN (IP packets), or a packet socket bound to an
    /// Ethernet interface (frames; the engine's link layer frames and unframes them); none
    /// for a port with nothing behind it on this host (an external router's LAN). Written
    /// with plain `write`s: a write does not wait, the packet goes straight up the receiving
    /// namespace's stack.
    devices: Vec<Option<OwnedFd>>,
    /// virtio-net header length in front of each packet (0 without offload).
    hdr: usize,
    out: Vec<u8>,
    /// The link header (or ARP request) for a packet leaving by an Ethernet port.
    l2: Vec<u8>,
    /// The engine's clock: time since this instant.
    epoch: Instant,
    /// The engine lane this worker queues into and serves.
    lane: usize,
}

/// How a packet leaves: as it is, behind the link header in `Plumbing::l2`, or not at all
/// (the CE's MAC is not known: the ARP request in `l2` goes instead).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Ip,
    Ether,
    Arp,
}

impl Framing {
    fn of(framed: Option<bool>) -> Framing {
        match framed {
            None => Framing::Ip,
            Some(true) => Framing::Ether,
            Some(false) => Framing::Arp,
        }
    }
}

impl Plumbing {
    /// Hands `pkt` (as read from `port`, header included) to the engine and writes what it
    /// returns.
    fn process(&mut self, port: PortId, pkt: &mut [u8]) {
        let hdr = self.hdr;
        if pkt.len() < hdr {
            return;
        }
        let (verdict, start, framing) = {
            let mut e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            e.use_lane(self.lane);
            let now = self.epoch.elapsed();
            let start = match e.frame_in(now, port, pkt, &mut self.out) {
                FrameIn::Ip { start } => start,
                FrameIn::Reply => {
                    drop(e);
                    self.emit(port, None, Framing::Ip, Body::Out);
                    return;
                }
                FrameIn::Drop(_) => return,
            };
            let pkt = &mut pkt[start..];
            let gso_size = if hdr > 0 {
                crate::engine::wire::virtio::gso_size(&pkt[..hdr])
            } else {
                0
            };
            let verdict = e.handle_at(now, port, pkt, gso_size, &mut self.out);
            let framed = match verdict {
                Verdict::Forward { port: to, len } => {
                    e.frame_out(now, to, &pkt[hdr..hdr + len], &mut self.l2)
                }
                Verdict::Reply { port: to } => e.frame_out(now, to, &self.out, &mut self.l2),
                Verdict::Queued | Verdict::Drop(_) => None,
            };
            (verdict, start, Framing::of(framed))
        };
        trace!(port, len = pkt.len(), ?verdict, "packet");
        let pkt = &pkt[start..];
        match verdict {
            // The common case, a packet between TUNs: one write, headers and all.
            Verdict::Forward { port: to, len } if framing == Framing::Ip => {
                self.write_whole(to, &pkt[..hdr + len]);
            }
            Verdict::Forward { port: to, len } => self.emit(
                to,
                Some(&pkt[..hdr]),
                framing,
                Body::Packet(&pkt[hdr..hdr + len]),
            ),
            Verdict::Reply { port: to } => self.emit(to, None, framing, Body::Out),
            Verdict::Queued | Verdict::Drop(_) => {}
        }
    }

    /// Writes one packet to port `to`: `header` (the virtio-net header it came with; None:
    /// one the engine originated, zeroed), the link header when `framing` says, then the
    /// body. A packet socket's header offsets count from the Ethernet header, a TUN's from
    /// the IP header: they are moved by the link header's length.
    fn emit(&self, to: PortId, header: Option<&[u8]>, framing: Framing, body: Body) {
        let Some(Some(fd)) = self.devices.get(to) else {
            return;
        };
        let body = match (framing, body) {
            (Framing::Arp, _) => &[][..],
            (_, Body::Packet(b)) => b,
            (_, Body::Out) => &self.out[..],
        };
        let mut vhdr = [0u8; tun_rs::VIRTIO_NET_HDR_LEN];
        let mut parts = [IoSlice::new(&[]); 3];
        let mut n = 0;
        if self.hdr > 0 {
            if let Some(h) = header {
                vhdr.copy_from_slice(&h[..self.hdr]);
                if framing == Framing::Ether
                    && !crate::engine::wire::virtio::shift(&mut vhdr, self.l2.len() as isize)
                {
                    return;
                }
            }
            parts[n] = IoSlice::new(&vhdr);
            n += 1;
        }
        if framing != Framing::Ip {
            parts[n] = IoSlice::new(&self.l2);
            n += 1;
        }
        parts[n] = IoSlice::new(body);
        n += 1;
        if let Err(e) = nix::sys::uio::writev(fd, &parts[..n]) {
            debug!(port = to, error = %e, "writing to the port failed");
        }
    }

    /// Writes a frame to port `to` as it is (its virtio-net header, when there is one, in
    /// front).
    fn write_whole(&self, to: PortId, frame: &[u8]) {
        if let Some(Some(fd)) = self.devices.get(to) {
            if let Err(e) = nix::unistd::write(fd, frame) {
                debug!(port = to, error = %e, "writing to the port failed");
            }
        }
    }

    /// Writes every queued packet that is due; returns how many.
    fn transmit_due(&mut self) -> usize {
        let mut n = 0;
        loop {
            let (next, framing) = {
                let mut e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
                e.use_lane(self.lane);
                let now = self.epoch.elapsed();
                let next = e.poll_transmit(now);
                let framed = match &next {
                    Some((port, frame)) if frame.len() >= self.hdr => {
                        e.frame_out(now, *port, &frame[self.hdr..], &mut self.l2)
                    }
                    _ => None,
                };
                (next, Framing::of(framed))
            };
            let Some((port, frame)) = next else { return n };
            n += 1;
            if framing == Framing::Ip {
                self.write_whole(port, &frame);
            } else if frame.len() >= self.hdr {
                let (h, body) = frame.split_at(self.hdr);
                self.emit(port, Some(h), framing, Body::Packet(body));
            }
        }
    }

    /// How long until the engine next has a packet due (None: nothing queued).
    fn until_due(&self) -> Option<Duration> {
        let mut e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        e.use_lane(self.lane);
        e.poll_timeout()
            .map(|d| d.saturating_sub(self.epoch.elapsed()))
    }
}

/// What `emit` writes after the headers: a packet, or the engine's reply in `Plumbing::out`.
enum Body<'a> {
    Packet(&'a [u8]),
    Out,
}

/// Wakes the loop when a queued packet is due: a timerfd (ns resolution, no slack once the
/// process's timer slack is set to 1 ns), since tokio's timer has 1 ms granularity.
struct DueTimer {
    fd: tokio::io::unix::AsyncFd<Registered<nix::sys::timerfd::TimerFd>>,
    /// How late a wake-up comes after the timer fires, learned (a moving average of what
    /// each wake-up measured): the timer is set this much early and the loop polls the rest,
    /// so a deadline is met to within microseconds without a fixed spin per packet.
    late: Duration,
}

/// A descriptor-owning value (a nix timerfd, an epoll set) as tokio registers it: `AsyncFd`
/// wants `AsRawFd`, which nix's types do not implement.
struct Registered<T>(T, RawFd);

impl<T> AsRawFd for Registered<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.1
    }
}

/// Registers `owner`, whose open descriptor is `fd`, with tokio for reading.
fn register<T>(owner: T, fd: RawFd) -> io::Result<tokio::io::unix::AsyncFd<Registered<T>>> {
    // SAFETY: `fd` is owned by `owner`, which the AsyncFd owns for its whole life, so the
    // descriptor stays open and the same while it is registered.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(
            Registered(owner, fd),
            tokio::io::Interest::READABLE,
        )
    }
    .map_err(|e| io::Error::other(e.to_string()))
}

impl DueTimer {
    fn new() -> io::Result<DueTimer> {
        use nix::sys::timerfd::{ClockId, TimerFlags};
        // Wake-ups at the deadline, not up to 50 us later (the default slack).
        let _ = nix::sys::prctl::set_timerslack(1);
        let t = nix::sys::timerfd::TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let raw = std::os::fd::AsFd::as_fd(&t).as_raw_fd();
        let fd = register(t, raw)?;
        Ok(DueTimer { fd, late: SPIN })
    }

    /// How close a deadline must be for the loop to poll until it rather than sleep.
    fn margin(&self) -> Duration {
        self.late + MARGIN_GUARD
    }

    /// Completes a wake-up's latency before `due` from now (`margin`), and learns how late
    /// the wake-up came.
    async fn sleep_until_near(&mut self, due: Duration) {
        let after = due.saturating_sub(self.margin());
        let start = Instant::now();
        self.sleep(after).await;
        let late = start.elapsed().saturating_sub(after).min(SPIN * 4);
        self.late = (self.late * 7 + late) / 8;
    }

    /// Completes `after` from now.
    async fn sleep(&self, after: Duration) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let after = after.max(Duration::from_nanos(1));
        if self
            .fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(after)),
                TimerSetTimeFlags::empty(),
            )
            .is_err()
        {
            tokio::time::sleep(after).await;
            return;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            match guard.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(_) => return,
                Err(_would_block) => continue,
            }
        }
    }
}

/// Largest read: a 64 KB GSO super-packet, its virtio-net header, and on a port its
/// Ethernet header with a tag.
const BUF_SIZE: usize = 65536 + tun_rs::VIRTIO_NET_HDR_LEN + 18 + super::port::TAG_ROOM;
/// Packets taken from one TUN before moving to the next (fairness between ports).
const BATCH: usize = 64;
/// How long the loop keeps polling after the last packet before it sleeps: back-to-back
/// packets of a flow then cost no wake-up. Measured: see scripts/bench-throughput.sh.
const SPIN: Duration = Duration::from_micros(50);
/// Added to the learned wake-up latency when the timer is set early (its jitter).
const MARGIN_GUARD: Duration = Duration::from_micros(5);
/// A sleep shorter than this means packets are dense: the loop spins after the next one.
const DENSE: Duration = Duration::from_micros(200);
/// Packets between yields to the runtime (control socket, stop signal) while busy.
const YIELD_EVERY: usize = 256;

/// How the forwarding loop waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Spin briefly after traffic, then sleep until a TUN is readable: no CPU when idle.
    Sleep,
    /// Never sleep: no wake-up latency at all, one core kept busy while the lab runs.
    Busy,
}

/// How the IO shell moves packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoOptions {
    pub poll: Poll,
    /// Try TUN offload (GSO super-packets); false: plain I/O, one packet per read.
    pub offload: bool,
    /// Forwarding workers, each with its own queue of every TUN (at least one).
    pub workers: usize,
}

/// The default number of forwarding workers: half the machine's cores (at least one, at most
/// `MAX_WORKERS`). Every packet reachlab forwards is also sent and received by stacks on the
/// same machine (a lab's iperf3 took 0.9 of a core at 19 Gbit/s on a 2-core machine), and
/// most of a worker's time is the kernel's TUN copies and the receiver's stack run inside its
/// writes (perf): a worker per core leaves the endpoints none. Measured on 2 cores, a second
/// worker gained nothing (scripts/bench-throughput.sh: TCP 4 streams 1.08x, 1 stream 0.87x,
/// 64-byte UDP 0.94x against one).
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores / 2).clamp(1, MAX_WORKERS)
}

/// Workers beyond this are not used by default (`up --workers` may ask for more).
pub const MAX_WORKERS: usize = 4;

/// What is behind one port of the engine.
pub enum Device {
    /// A TUN in an endpoint's namespace (IP packets): one descriptor per queue, non-blocking;
    /// worker `i` reads the `i`th. `control`: a queue that only control traffic reaches (a
    /// router link's BGP and BFD, `steer`), read first by worker 0.
    Tun {
        queues: Vec<OwnedFd>,
        control: Option<OwnedFd>,
    },
    /// Packet sockets bound to an Ethernet interface (non-blocking): frames. One per worker
    /// (a fanout group spreads the flows) or one in all; `control`: the group's member that
    /// only the link's BGP and BFD reach, read first by worker 0.
    Packet {
        sockets: Vec<OwnedFd>,
        control: Option<OwnedFd>,
    },
    /// Nothing on this host: the port is never read and what the engine sends it is dropped.
    Absent,
}

impl Device {
    /// A TUN's queues, without a control queue.
    pub fn tun(queues: Vec<OwnedFd>) -> Device {
        Device::Tun {
            queues,
            control: None,
        }
    }
}

/// The running forwarding loop of one lab, on a thread of its own.
pub struct Forwarder {
    pub engine: Arc<Mutex<Engine>>,
    /// The engine's clock: its `now` is the time since this instant.
    pub epoch: Instant,
    stop: watch::Sender<bool>,
    /// Per worker, told when its loop has ended and dropped its devices.
    done: Vec<oneshot::Receiver<()>>,
    /// Hands the workers the packet sockets of a port whose interface came back.
    pub attach: Attacher,
    /// Ports whose interface went away (the loop closed their socket); `None` once taken.
    pub detached: Option<mpsc::UnboundedReceiver<PortId>>,
    /// Per Ethernet port, what the kernel dropped at its sockets, as the workers collect it.
    pub socket_drops: Arc<SocketDrops>,
}

impl Forwarder {
    /// Starts forwarding on `workers` threads (each its own single-threaded runtime), so the
    /// control plane's work (RIBs, BGP, BFD, the control socket) never holds a packet up and
    /// a packet burst never holds up a BFD timer; `devices[i]` is port `i` of the engine.
    /// Worker `w` reads queue `w` of each TUN and socket `w` of each Ethernet port (with
    /// fewer, the rest is read by worker 0 only); worker 0 reads the control queues.
    pub fn spawn(
        mut engine: Engine,
        devices: Vec<Device>,
        offload: bool,
        poll: Poll,
        workers: usize,
    ) -> io::Result<Forwarder> {
        let workers = workers.max(1);
        engine.set_lanes(workers);
        let engine = Arc::new(Mutex::new(engine));
        let (stop, rx) = watch::channel(false);
        let epoch = Instant::now();
        // Per worker, per port: the descriptor it writes, whether it also reads it, and a
        // control queue it reads first.
        let n = devices.len();
        let socket_drops = Arc::new(SocketDrops::new(n));
        let mut per_worker: Vec<Ports> = (0..workers)
            .map(|_| Ports {
                devices: Vec::with_capacity(n),
                reads: Vec::with_capacity(n),
                control: (0..n).map(|_| None).collect(),
                frames: Vec::with_capacity(n),
                attach: mpsc::unbounded_channel().1,
                detached: mpsc::unbounded_channel().0,
                drops: Arc::clone(&socket_drops),
            })
            .collect();
        for (port, d) in devices.into_iter().enumerate() {
            let frames = matches!(d, Device::Packet { .. });
            for w in per_worker.iter_mut() {
                w.frames.push(frames);
            }
            match d {
                Device::Tun { queues, control }
                | Device::Packet {
                    sockets: queues,
                    control,
                } => {
                    for (ports, a) in per_worker.iter_mut().zip(share(queues, control, workers)) {
                        ports.reads.push(a.reads);
                        ports.devices.push(a.fd);
                        ports.control[port] = a.control;
                    }
                }
                Device::Absent => {
                    for ports in per_worker.iter_mut() {
                        ports.devices.push(None);
                        ports.reads.push(false);
                    }
                }
            }
        }
        let (detach_tx, detached) = mpsc::unbounded_channel();
        let mut attach = Vec::with_capacity(workers);
        let mut done = Vec::with_capacity(workers);
        for (lane, mut ports) in per_worker.into_iter().enumerate() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (done_tx, done_rx) = oneshot::channel();
            let (to_worker, from_up) = mpsc::unbounded_channel();
            attach.push(to_worker);
            ports.attach = from_up;
            ports.detached = detach_tx.clone();
            let (shared, rx) = (Arc::clone(&engine), rx.clone());
            std::thread::Builder::new()
                .name(format!("reachlab-fwd{lane}"))
                .spawn(move || {
                    rt.block_on(forward(shared, ports, offload, poll, epoch, rx, lane));
                    let _ = done_tx.send(());
                })?;
            done.push(done_rx);
        }
        Ok(Forwarder {
            engine,
            epoch,
            stop,
            done,
            attach: Attacher(attach),
            detached: Some(detached),
            socket_drops,
        })
    }

    /// Stops forwarding and waits for every worker; the devices are closed when this returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // An error: that thread is gone already (it panicked), and its devices with it.
        for d in self.done {
            let _ = d.await;
        }
    }
}

/// What one worker gets of a device: the descriptor it writes (and reads, when `reads`) and
/// a control queue it reads first.
struct Share {
    fd: Option<OwnedFd>,
    reads: bool,
    control: Option<OwnedFd>,
}

/// A device's queues (or sockets) shared out over `workers` workers: worker `w` reads the
/// `w`th; one without a queue of its own writes through a copy of the first and reads
/// nothing; the control queue is worker 0's.
fn share(queues: Vec<OwnedFd>, control: Option<OwnedFd>, workers: usize) -> Vec<Share> {
    let first = queues.first().and_then(|q| q.try_clone().ok());
    let mut queues = queues.into_iter();
    let mut control = control;
    (0..workers)
        .map(|_| {
            let own = queues.next();
            Share {
                reads: own.is_some(),
                fd: own.or_else(|| first.as_ref().and_then(|f| f.try_clone().ok())),
                control: control.take(),
            }
        })
        .collect()
}

/// Hands the workers the sockets of an Ethernet port whose interface came back.
#[derive(Clone)]
pub struct Attacher(Vec<mpsc::UnboundedSender<(PortId, Share)>>);

impl Attacher {
    /// How many workers it hands sockets to.
    pub fn workers(&self) -> usize {
        self.0.len()
    }

    /// Gives each worker its share of port `port`'s new sockets; false when the workers are
    /// gone.
    pub fn attach(&self, port: PortId, sockets: super::port::Sockets) -> bool {
        let shares = share(sockets.data, sockets.control, self.0.len());
        self.0
            .iter()
            .zip(shares)
            .all(|(tx, s)| tx.send((port, s)).is_ok())
    }
}

/// Reads one packet without waiting; `Ok(None)` when the TUN is empty.
fn read_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `fd` is an open TUN descriptor
    // owned by an `AsyncDevice` that outlives this call. The fd is non-blocking (tokio).
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(e)
    }
}

/// What the loop reads and writes, and how Ethernet ports come and go.
struct Ports {
    /// Per port, the descriptor the worker writes to (and reads, where `reads` says).
    devices: Vec<Option<OwnedFd>>,
    reads: Vec<bool>,
    /// Per port, a queue only control traffic reaches, read before the others.
    control: Vec<Option<OwnedFd>>,
    /// `frames[i]`: port `i` is a packet socket (frames, 802.1Q tags in metadata).
    frames: Vec<bool>,
    /// Shares of the sockets of ports whose interface came back.
    attach: mpsc::UnboundedReceiver<(PortId, Share)>,
    /// Told of a port whose interface went away.
    detached: mpsc::UnboundedSender<PortId>,
    /// Where the drops at the packet sockets it reads are added up.
    drops: Arc<SocketDrops>,
}

/// The loop.
async fn forward(
    engine: Arc<Mutex<Engine>>,
    ports: Ports,
    offload: bool,
    poll: Poll,
    epoch: Instant,
    mut stop: watch::Receiver<bool>,
    lane: usize,
) {
    let Ports {
        devices,
        reads,
        mut control,
        frames,
        attach: mut attached,
        detached,
        drops,
    } = ports;
    // Whether any port is a packet socket, whose drops this worker collects.
    let sockets = frames.iter().any(|f| *f);
    // What this worker reads: its queue of each TUN (where it has one), and control queues.
    let mut fds: Vec<Option<RawFd>> = devices
        .iter()
        .zip(&reads)
        .map(|(d, r)| d.as_ref().filter(|_| *r).map(|d| d.as_raw_fd()))
        .collect();
    let mut control_fds: Vec<Option<RawFd>> = control
        .iter()
        .map(|c| c.as_ref().map(|c| c.as_raw_fd()))
        .collect();
    let mut ready = match ReadySet::new(&fds, &control_fds) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "no epoll set for the lab's TUNs; nothing is forwarded");
            return;
        }
    };
    let mut p = Plumbing {
        engine,
        devices,
        hdr: if offload {
            tun_rs::VIRTIO_NET_HDR_LEN
        } else {
            0
        },
        out: Vec::with_capacity(1500),
        l2: Vec::with_capacity(64),
        epoch,
        lane,
    };
    let mut timer = match DueTimer::new() {
        Ok(t) => Some(t),
        Err(e) => {
            warn!(error = %e, "no timerfd; delayed packets wake on tokio's 1 ms timer");
            None
        }
    };
    let mut buf = vec![0u8; BUF_SIZE];
    let mut spin = Spin::default();
    let mut since_yield = 0usize;
    let mut incoming: Option<(PortId, Share)> = None;
    let mut attach_closed = false;
    // When the sockets' drops were last collected, and whether packets moved since.
    let mut drops_read = Instant::now();
    let mut drops_unread = false;
    loop {
        let mut moved = 0usize;
        // Control queues come first: a router's BGP and BFD never wait behind a flood.
        for i in 0..ready.poll() {
            let port = ready.port(i);
            let fd = if ready.is_control(i) {
                control_fds.get(port).copied().flatten()
            } else {
                fds.get(port).copied().flatten()
            };
            let Some(fd) = fd else {
                continue;
            };
            for _ in 0..BATCH {
                let read = if frames[port] {
                    super::port::recv(fd, &mut buf, p.hdr)
                } else {
                    read_now(fd, &mut buf).map(|n| n.map(|n| (0, n)))
                };
                match read {
                    Ok(Some((start, n))) => {
                        moved += 1;
                        p.process(port, &mut buf[start..start + n]);
                        // Keep deadlines while a batch is being read.
                        if moved % 8 == 0 {
                            moved += p.transmit_due();
                        }
                    }
                    Ok(None) => break,
                    Err(e) if frames[port] => {
                        // Its interface is gone (a container stopped): the link is down
                        // until an interface of that name is back and attached anew.
                        if lane == 0 {
                            warn!(port, error = %e, "an Ethernet port lost its interface; its link is down until it returns");
                        }
                        collect_drops(port, &fds, &control_fds, &drops);
                        for fd in [fds[port].take(), control_fds[port].take()]
                            .into_iter()
                            .flatten()
                        {
                            ready.forget(fd);
                        }
                        p.devices[port] = None;
                        control[port] = None;
                        p.engine
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .set_attached(port, false);
                        let _ = detached.send(port);
                        break;
                    }
                    Err(e) => {
                        warn!(port, error = %e, "reading from the port failed; no longer read");
                        ready.forget(fd);
                        break;
                    }
                }
            }
        }
        moved += p.transmit_due();
        if stop.has_changed().unwrap_or(true) {
            break;
        }
        while let Some((port, share)) = incoming.take().or_else(|| attached.try_recv().ok()) {
            if port >= fds.len() {
                continue;
            }
            // What it still had (sockets the interface's return made stale) goes first.
            collect_drops(port, &fds, &control_fds, &drops);
            for fd in [fds[port].take(), control_fds[port].take()]
                .into_iter()
                .flatten()
            {
                ready.forget(fd);
            }
            control[port] = None;
            let Some(fd) = share.fd else { continue };
            if share.reads && ready.add(fd.as_raw_fd(), port as u64).is_ok() {
                fds[port] = Some(fd.as_raw_fd());
            }
            if let Some(c) = share.control {
                if ready.add(c.as_raw_fd(), port as u64 | CONTROL).is_ok() {
                    control_fds[port] = Some(c.as_raw_fd());
                    control[port] = Some(c);
                }
            }
            p.devices[port] = Some(fd);
            if lane == 0 {
                info!(port, "an Ethernet port has its interface again");
            }
            p.engine
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_attached(port, true);
        }
        if moved > 0 {
            spin.moved(Instant::now());
            since_yield += moved;
            drops_unread = sockets;
            if since_yield >= YIELD_EVERY {
                since_yield = 0;
                if sockets && drops_read.elapsed() >= DROPS_EVERY {
                    collect_all_drops(&frames, &fds, &control_fds, &drops);
                    drops_read = Instant::now();
                }
                tokio::task::yield_now().await;
            }
            continue;
        }
        let due = p.until_due();
        match poll {
            Poll::Busy => {
                // Never sleeps: what a burst left dropped is counted once it is 100 ms old.
                if drops_unread && drops_read.elapsed() >= DROPS_EVERY {
                    collect_all_drops(&frames, &fds, &control_fds, &drops);
                    drops_read = Instant::now();
                    drops_unread = false;
                }
                tokio::task::yield_now().await;
                continue;
            }
            Poll::Sleep if spin.keep_spinning(Instant::now()) => {
                std::hint::spin_loop();
                continue;
            }
            // A deadline closer than a wake-up takes: poll until it.
            Poll::Sleep if due.is_some_and(|d| d < timer.as_ref().map_or(SPIN, |t| t.margin())) => {
                std::hint::spin_loop();
                continue;
            }
            Poll::Sleep => {}
        }
        // Before sleeping: what a burst left dropped is counted now, not at the next one.
        if drops_unread {
            collect_all_drops(&frames, &fds, &control_fds, &drops);
            drops_read = Instant::now();
            drops_unread = false;
        }
        let wake = async {
            match (due, &mut timer) {
                // Wake a wake-up's latency early and poll the rest: the deadline is met to
                // within microseconds rather than a wake-up's latency late.
                (Some(d), Some(t)) => t.sleep_until_near(d).await,
                (Some(d), None) => tokio::time::sleep(d).await,
                (None, _) => std::future::pending::<()>().await,
            }
        };
        let slept = Instant::now();
        tokio::select! {
            _ = ready.wait() => {}
            // A port to attach: attached below.
            a = attached.recv(), if !attach_closed => {
                attach_closed = a.is_none();
                incoming = a;
            }
            _ = wake => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        spin.woke(now, now - slept);
    }
}

/// How often a busy worker collects the drops at the packet sockets it reads (an idle one
/// does before it sleeps).
const DROPS_EVERY: Duration = Duration::from_millis(100);

/// Adds what the kernel dropped at port `port`'s packet sockets that this worker reads (its
/// data socket and control socket, `fds` and `control`) to `drops`.
fn collect_drops(
    port: PortId,
    fds: &[Option<RawFd>],
    control: &[Option<RawFd>],
    drops: &SocketDrops,
) {
    for fd in [fds.get(port), control.get(port)]
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(n) = super::port::take_drops(*fd) {
            if n > 0 {
                drops.add(port, n);
            }
        }
    }
}

/// `collect_drops` for every port that is a packet socket (`frames`).
fn collect_all_drops(
    frames: &[bool],
    fds: &[Option<RawFd>],
    control: &[Option<RawFd>],
    drops: &SocketDrops,
) {
    for (port, _) in frames.iter().enumerate().filter(|(_, f)| **f) {
        collect_drops(port, fds, control, drops);
    }
}

/// Marks a control queue's epoll data (the port in the low bits).
const CONTROL: u64 = 1 << 32;

/// The lab's TUNs in one level-triggered epoll set, itself registered with tokio: a pass
/// reads only the TUNs that hold packets, not every TUN of the lab, and the loop sleeps on
/// this one descriptor.
struct ReadySet {
    fd: tokio::io::unix::AsyncFd<Registered<Epoll>>,
    events: Vec<EpollEvent>,
}

impl ReadySet {
    /// A set over `fds` and `control` (port `i` is `fds[i]` and, for its control queue,
    /// `control[i]`; none: nothing to read).
    fn new(fds: &[Option<RawFd>], control: &[Option<RawFd>]) -> io::Result<ReadySet> {
        let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let all = fds
            .iter()
            .enumerate()
            .map(|(port, fd)| (port as u64, *fd))
            .chain(
                control
                    .iter()
                    .enumerate()
                    .map(|(port, fd)| (port as u64 | CONTROL, *fd)),
            );
        let mut n = 0;
        for (data, fd) in all {
            let Some(fd) = fd else { continue };
            // SAFETY: `fd` belongs to a device that the forwarding loop owns and keeps open
            // for as long as this set lives.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, data))?;
            n += 1;
        }
        let raw = ep.0.as_raw_fd();
        let fd = register(ep, raw)?;
        Ok(ReadySet {
            fd,
            events: vec![EpollEvent::empty(); n.max(fds.len()).max(1)],
        })
    }

    /// Watches one more descriptor: `data` is its port, with `CONTROL` for a control queue.
    fn add(&self, fd: RawFd, data: u64) -> io::Result<()> {
        // SAFETY: the descriptor is open and owned by the loop's devices while watched.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        self.fd
            .get_ref()
            .0
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, data))
            .map_err(io::Error::from)
    }

    /// How many TUNs hold packets now (without waiting); `port(i)` names them, control
    /// queues first.
    fn poll(&mut self) -> usize {
        let n = self
            .fd
            .get_ref()
            .0
            .wait(&mut self.events, EpollTimeout::ZERO)
            .unwrap_or(0);
        let ready = &mut self.events[..n];
        if ready.iter().any(|e| e.data() & CONTROL != 0) {
            ready.sort_unstable_by_key(|e| e.data() & CONTROL == 0);
        }
        n
    }

    fn port(&self, i: usize) -> PortId {
        (self.events[i].data() & !CONTROL) as PortId
    }

    /// Whether the `i`th ready descriptor is a control queue.
    fn is_control(&self, i: usize) -> bool {
        self.events[i].data() & CONTROL != 0
    }

    /// Stops watching a TUN that can no longer be read (it would be reported ready forever).
    fn forget(&self, fd: RawFd) {
        // SAFETY: as in `new`; the descriptor is still open.
        let _ = self
            .fd
            .get_ref()
            .0
            .delete(unsafe { BorrowedFd::borrow_raw(fd) });
    }

    /// Completes when some TUN may hold a packet. Readiness is cleared here and the set is
    /// polled again at once: level-triggered, it still reports any packet that is waiting,
    /// and one that arrives later makes the set readable anew.
    async fn wait(&self) {
        if let Ok(mut guard) = self.fd.readable().await {
            guard.clear_ready();
        }
    }
}

/// Whether the loop keeps polling after traffic before it sleeps. It does while that pays (a
/// packet came during the window, or a sleep ended almost as soon as it began: packets are
/// dense) and stops after a window that found nothing, so a trickle of control packets (BFD,
/// keepalives) costs one wake-up each and no spinning.
#[derive(Debug, Default)]
struct Spin {
    on: bool,
    /// The last pass found nothing and the loop went on polling.
    spinning: bool,
    last_packet: Option<Instant>,
}

impl Spin {
    /// A pass moved packets at `now`.
    fn moved(&mut self, now: Instant) {
        if self.spinning {
            self.on = true;
        }
        self.spinning = false;
        self.last_packet = Some(now);
    }

    /// A pass found nothing: keep polling (true) or sleep.
    fn keep_spinning(&mut self, now: Instant) -> bool {
        let within = self.last_packet.is_some_and(|t| now - t < SPIN);
        if self.on && within {
            self.spinning = true;
            return true;
        }
        if self.spinning {
            // A whole window without a packet: spinning did not pay.
            self.on = false;
        }
        self.spinning = false;
        false
    }

    /// The loop slept for `slept` and woke at `now`.
    fn woke(&mut self, now: Instant, slept: Duration) {
        if slept < DENSE {
            self.on = true;
        }
        self.last_packet = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn a_trickle_of_packets_costs_no_spinning_and_dense_traffic_spins() {
        let t0 = Instant::now();
        let mut s = Spin::default();
        // A BFD packet every few milliseconds: each is read, the loop sleeps at once.
        for i in 0..5u32 {
            let t = t0 + 3000 * US * i;
            s.woke(t, 3000 * US);
            s.moved(t);
            assert!(!s.keep_spinning(t + US), "spun after a lone packet {i}");
        }
        // A sleep that ends almost at once: packets are dense, so the loop spins after them.
        let t = t0 + 20_000 * US;
        s.woke(t, 30 * US);
        s.moved(t);
        assert!(s.keep_spinning(t + 10 * US));
        // A packet during the window keeps spinning on.
        s.moved(t + 20 * US);
        assert!(s.keep_spinning(t + 60 * US));
        // A whole window with nothing turns it off, also for the next packet.
        assert!(!s.keep_spinning(t + 20 * US + SPIN));
        let t = t + 5000 * US;
        s.woke(t, 4900 * US);
        s.moved(t);
        assert!(!s.keep_spinning(t + US));
    }
}
