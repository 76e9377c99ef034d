//! A circuit link's Ethernet port on the host: the interface a topology's `ports` names,
//! found where it is (in its namespace, or reachlab's own) and read and written through
//! packet sockets (one per forwarding worker and one for the link's BGP and BFD, in one
//! fanout group that `steer`'s program demultiplexes), without changing it. Nothing here is
//! set on the interface: no address, no MTU, no state. Promiscuous mode (the MSEE has a MAC
//! of its own, which a NIC would filter) is a membership of the sockets, so the kernel takes
//! it back when they close, also when the process is killed. The link layer (MACs, 802.1Q,
//! ARP) is the engine's (`engine::ether`); this module owns only the sockets and the checks
//! before `up`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::topology::PortSpec;

use super::netns;

/// What `up` needs to know about a port's interface before it takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub ifindex: u32,
    pub mtu: u32,
    pub up: bool,
}

/// Why a port cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(
        "port {port}: namespace {ns} does not exist (ip netns list shows the namespaces there are)"
    )]
    NoNamespace { port: String, ns: String },
    #[error("port {port}: there is no interface {name}{where_} (is its container or VM running?)")]
    NoInterface {
        port: String,
        name: String,
        where_: String,
    },
    #[error("port {port}: {name} is not an Ethernet interface (link type {kind})")]
    NotEthernet {
        port: String,
        name: String,
        kind: String,
    },
    #[error(
        "port {port}: {name} is down; bring it up (ip{netns} link set {name} up) and run up again"
    )]
    Down {
        port: String,
        name: String,
        netns: String,
    },
    #[error("port {port}: {name} is lab {lab}'s port already; one interface attaches one link")]
    Busy {
        port: String,
        name: String,
        lab: String,
    },
    #[error("port {port}: {what}: {source}")]
    Io {
        port: String,
        what: String,
        #[source]
        source: io::Error,
    },
}

/// Finds an existing interface (`PortSpec::Interface`): it must be there, Ethernet and up.
pub fn find(spec: &PortSpec) -> Result<Found, PortError> {
    let PortSpec::Interface { netns: ns, name } = spec else {
        unreachable!("find is for interfaces that exist; a VXLAN is made")
    };
    let port = spec.to_string();
    if let Some(n) = ns {
        if !netns::netns_exists(n) {
            return Err(PortError::NoNamespace {
                port,
                ns: n.clone(),
            });
        }
    }
    let mut cmd = std::process::Command::new("ip");
    if let Some(n) = ns {
        cmd.args(["-n", n]);
    }
    let out = cmd
        .args(["-j", "link", "show", "dev", name])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| PortError::Io {
            port: port.clone(),
            what: "running ip link show".into(),
            source,
        })?;
    let where_ = ns
        .as_ref()
        .map(|n| format!(" in namespace {n}"))
        .unwrap_or_default();
    if !out.status.success() {
        return Err(PortError::NoInterface {
            port,
            name: name.clone(),
            where_,
        });
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let link = &json[0];
    let kind = link["link_type"].as_str().unwrap_or("unknown").to_string();
    if kind != "ether" {
        return Err(PortError::NotEthernet {
            port,
            name: name.clone(),
            kind,
        });
    }
    let up = link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"));
    if !up {
        return Err(PortError::Down {
            port,
            name: name.clone(),
            netns: ns.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default(),
        });
    }
    Ok(Found {
        ifindex: link["ifindex"].as_u64().unwrap_or(0) as u32,
        mtu: link["mtu"].as_u64().unwrap_or(1500) as u32,
        up,
    })
}

/// Checks a port on this host before `up` makes anything: an existing interface must be
/// there, Ethernet and up; a VXLAN's name must be free. Returns the interface's name and
/// whether the lab makes it (a VXLAN).
pub fn check(spec: &PortSpec) -> Result<(String, bool), PortError> {
    match spec {
        PortSpec::Interface { name, .. } => find(spec).map(|_| (name.clone(), false)),
        PortSpec::Vxlan { vni, .. } => vxlan_check(spec).map(|()| (vxlan_name(*vni), true)),
    }
}

/// The name of the VXLAN interface reachlab makes for a port with VNI `vni`.
pub fn vxlan_name(vni: u32) -> String {
    format!("rlvx{vni}")
}

/// Checks that a VXLAN port can be made: its namespace exists and no interface has its name.
pub fn vxlan_check(spec: &PortSpec) -> Result<(), PortError> {
    let PortSpec::Vxlan { netns: ns, vni, .. } = spec else {
        return Ok(());
    };
    let name = vxlan_name(*vni);
    let as_interface = PortSpec::Interface {
        netns: ns.clone(),
        name: name.clone(),
    };
    match find(&as_interface) {
        Err(PortError::NoInterface { .. }) => Ok(()),
        Err(e @ PortError::NoNamespace { .. }) => Err(e),
        _ => Err(PortError::Io {
            port: spec.to_string(),
            what: format!("making VXLAN interface {name}"),
            source: io::Error::other(
                "an interface of that name exists already (another lab's VXLAN with that VNI?)",
            ),
        }),
    }
}

/// Makes the kernel VXLAN interface of a VXLAN port (up, otherwise as the kernel makes it:
/// learning, the UDP port given, MTU from the underlay) and returns its name.
pub fn vxlan_make(spec: &PortSpec) -> Result<String, PortError> {
    let PortSpec::Vxlan {
        netns: ns,
        remote,
        vni,
        dst_port,
    } = spec
    else {
        unreachable!("vxlan_make is for VXLAN ports")
    };
    let name = vxlan_name(*vni);
    let ip = |args: &[&str]| -> Result<(), PortError> {
        let mut cmd = std::process::Command::new("ip");
        if let Some(n) = ns {
            cmd.args(["-n", n]);
        }
        let out = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| PortError::Io {
                port: spec.to_string(),
                what: "running ip".into(),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PortError::Io {
                port: spec.to_string(),
                what: format!("ip {}", args.join(" ")),
                source: io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            })
        }
    };
    let (vni, port, remote) = (vni.to_string(), dst_port.to_string(), remote.to_string());
    ip(&[
        "link", "add", &name, "type", "vxlan", "id", &vni, "remote", &remote, "dstport", &port,
    ])?;
    ip(&["link", "set", &name, "up"])?;
    Ok(name)
}

/// Removes a VXLAN interface the lab made (what `down` does, also after a crash).
pub fn vxlan_remove(ns: Option<&str>, name: &str) -> io::Result<()> {
    let mut cmd = std::process::Command::new("ip");
    if let Some(n) = ns {
        cmd.args(["-n", n]);
    }
    let out = cmd
        .args(["link", "del", name])
        .stdin(std::process::Stdio::null())
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    // Gone already (its namespace removed with it) is what we want.
    if out.status.success()
        || err.contains("Cannot find device")
        || err.contains("Cannot open network namespace")
    {
        Ok(())
    } else {
        Err(io::Error::other(err.trim().to_string()))
    }
}

/// A port's packet sockets: one per forwarding worker, and one that only the link's BGP and
/// BFD reach (read first), all in one fanout group that the steering program (`steer`)
/// demultiplexes: a flow's frames meet one worker, in order. Where the kernel refuses the
/// group (no BPF), one socket for everything.
pub struct Sockets {
    pub data: Vec<OwnedFd>,
    pub control: Option<OwnedFd>,
}

/// Non-blocking packet sockets on interface `ifindex` in namespace `ns` (None: ours), for
/// `workers` workers: every frame the interface receives (not those sent from this host), the
/// virtio-net header in front of each when `vnet_hdr` (GSO super-frames both ways, as on an
/// offloading TUN).
pub fn open(ns: Option<&str>, ifindex: u32, vnet_hdr: bool, workers: usize) -> io::Result<Sockets> {
    in_netns(ns, move || match group(ifindex, vnet_hdr, workers.max(1)) {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::warn!(ifindex, error = %e, "no fanout group on the port: one socket, read by one worker, BGP and BFD with the traffic");
            Ok(Sockets {
                data: vec![socket(ifindex, vnet_hdr)?],
                control: None,
            })
        }
    })
}

/// One packet socket as `open` makes them, alone (no group): every frame of the interface.
pub fn open_one(ns: Option<&str>, ifindex: u32, vnet_hdr: bool) -> io::Result<OwnedFd> {
    in_netns(ns, move || socket(ifindex, vnet_hdr))
}

/// Runs `f` on a thread inside namespace `ns` (None: ours). The thread dies afterwards; a
/// socket made there stays bound to the interface it was bound to (and a fanout group is
/// that namespace's).
fn in_netns<T: Send + 'static>(
    ns: Option<&str>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = ns.map(String::from);
    std::thread::spawn(move || -> io::Result<T> {
        if let Some(ns) = ns {
            let file = std::fs::File::open(netns::netns_path(&ns))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
        }
        f()
    })
    .join()
    .map_err(|_| io::Error::other("the namespace thread panicked"))?
}

/// `workers` data sockets and a control socket joined, in that order, to a new fanout group
/// (PACKET_FANOUT_EBPF: the steering program's answer is the member's index).
fn group(ifindex: u32, vnet_hdr: bool, workers: usize) -> io::Result<Sockets> {
    let prog = super::steer::load(workers as u32)?;
    // Frames this host sends out of the interface are not the CE's: the group's own hook
    // must skip them too (a member's PACKET_IGNORE_OUTGOING is its own hook's).
    let flags = libc::PACKET_FANOUT_EBPF | libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    let mut members = Vec::with_capacity(workers + 1);
    let mut id = 0u32;
    for i in 0..=workers {
        let fd = socket(ifindex, vnet_hdr)?;
        if i == 0 {
            // The kernel picks an id unused in this namespace; the others join it.
            set_int(
                &fd,
                libc::PACKET_FANOUT,
                ((flags | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16) as libc::c_int,
            )?;
            id = get_int(&fd, libc::PACKET_FANOUT)? as u32 & 0xffff;
            set_int(&fd, libc::PACKET_FANOUT_DATA, prog.as_raw_fd())?;
        } else {
            set_int(&fd, libc::PACKET_FANOUT, (id | flags << 16) as libc::c_int)?;
        }
        members.push(fd);
    }
    let control = members.pop();
    Ok(Sockets {
        data: members,
        control,
    })
}

fn set_int(fd: &OwnedFd, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: the option's value is one int, read from a live local.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn get_int(fd: &OwnedFd, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live local `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

fn socket(ifindex: u32, vnet_hdr: bool) -> io::Result<OwnedFd> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // Protocol 0 until bound: no frame of another interface slips in before `bind`.
    // SAFETY: plain syscalls on a descriptor this function owns; every pointer passed
    // points at a live local of the size given.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = fd.as_raw_fd();
        let set = |opt: libc::c_int, v: libc::c_int| {
            check(libc::setsockopt(
                raw,
                libc::SOL_PACKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ))
        };
        if vnet_hdr {
            set(libc::PACKET_VNET_HDR, 1)?;
        }
        // The kernel takes an 802.1Q tag off a received frame into metadata: ask for it.
        set(libc::PACKET_AUXDATA, 1)?;
        // Room for bursts both ways, as a TUN's queue has (a veth has no backpressure: what
        // does not fit is dropped). FORCE: root may exceed the sysctl limits; without it,
        // the defaults stay.
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            let v: libc::c_int = SOCKET_BUFFER;
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        // What this host sends out of the interface is not the CE's.
        set(PACKET_IGNORE_OUTGOING, 1)?;
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        check(libc::bind(
            raw,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        ))?;
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as i32,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        check(libc::setsockopt(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&mreq as *const libc::packet_mreq).cast(),
            std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        ))?;
        Ok(fd)
    }
}

/// Frames the kernel dropped at packet socket `fd` (its receive buffer full) since the last
/// call: the kernel's count starts again from zero when read (PACKET_STATISTICS).
pub fn take_drops(fd: RawFd) -> io::Result<u64> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live local `st`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(u64::from(st.tp_drops))
    }
}

/// Headroom `recv` wants in front of a frame: room to put back an 802.1Q tag.
pub const TAG_ROOM: usize = 4;

/// Reads one frame from a port's socket without waiting, as it was on the wire: the 802.1Q
/// tag that the kernel moved into metadata is put back after the MAC addresses (and the
/// virtio-net header's offsets moved past it). `prefix` is the virtio-net header's length
/// (0 without). The frame is `buf[start..start + len]`: `Ok(Some((start, len)))`;
/// `Ok(None)` when nothing is waiting.
pub fn recv(fd: RawFd, buf: &mut [u8], prefix: usize) -> io::Result<Option<(usize, usize)>> {
    if buf.len() <= TAG_ROOM + prefix + 12 {
        return Err(io::Error::other("buffer too small for a frame"));
    }
    let mut iov = libc::iovec {
        iov_base: buf[TAG_ROOM..].as_mut_ptr().cast(),
        iov_len: buf.len() - TAG_ROOM,
    };
    // Room for one tpacket_auxdata control message (u64-aligned).
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; every pointer in it points at a live local or into
    // `buf`, with the lengths given.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut tag = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    tag = Some((tpid, aux.tp_vlan_tci));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        (n as usize, tag)
    };
    let (n, tag) = n;
    let Some((tpid, tci)) = tag else {
        return Ok(Some((TAG_ROOM, n)));
    };
    if n < prefix + 12 {
        return Ok(Some((TAG_ROOM, n)));
    }
    // The header and the MAC addresses move forward into the room; the tag goes after them.
    let macs = prefix + 12;
    buf.copy_within(TAG_ROOM..TAG_ROOM + macs, 0);
    buf[macs..macs + 2].copy_from_slice(&tpid.to_be_bytes());
    buf[macs + 2..macs + 4].copy_from_slice(&tci.to_be_bytes());
    if prefix > 0 {
        crate::engine::wire::virtio::shift(&mut buf[..prefix], TAG_ROOM as isize);
    }
    Ok(Some((0, n + TAG_ROOM)))
}

/// Receive and send buffer of a port's socket, in bytes (the kernel doubles it for its
/// bookkeeping).
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// PACKET_IGNORE_OUTGOING (Linux 4.20), not in every libc release.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// The MSEE's MAC on a port: locally administered, the same for a lab's circuit link on
/// every run (a CE's ARP cache stays right across restarts), different between links.
pub fn msee_mac(lab: &str, circuit: &str, path: usize) -> [u8; 6] {
    // FNV-1a: stable across Rust releases, unlike the std hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in lab.bytes().chain([0]).chain(circuit.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let b = h.to_be_bytes();
    [0x02, 0x12, b[0], b[1], b[2], path as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_msee_mac_is_local_unicast_stable_and_differs_per_link() {
        let a = msee_mac("lab", "er-sv", 0);
        assert_eq!(a[0] & 0b11, 0b10, "locally administered, unicast");
        assert_eq!(a, msee_mac("lab", "er-sv", 0));
        assert_ne!(a, msee_mac("lab", "er-sv", 1));
        assert_ne!(a, msee_mac("lab", "er-ld", 0));
        assert_ne!(a, msee_mac("lab2", "er-sv", 0));
    }
}
