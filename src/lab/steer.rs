//! Control traffic on a queue of its own: a router link's TUN gets one more queue than the
//! lab has workers, and a steering program (TUNSETSTEERINGEBPF) puts BGP (TCP port 179) and
//! BFD (UDP 3784, 3785, 4784) of either family on that last queue, and everything else on
//! the workers' queues by a hash of its addresses and ports (a flow stays on one queue, so
//! its packets stay in order). Worker 0 reads the control queue first; a flood from the
//! site fills and overflows the data queues' rings only, so the router's sessions do not go
//! down with the flood's dropped packets.
//!
//! An Ethernet port's packet sockets use the same program to pick a member of their fanout
//! group (`port`): there too the packet starts at its IP header.
//!
//! The program is a handful of eBPF instructions (a socket filter reading the packet with
//! LD_ABS / LD_IND), assembled here and loaded with the bpf(2) system call: no crate loads raw
//! instructions without an ELF object and a BPF toolchain, and this is all it needs.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Ports whose traffic is control: BGP (TCP), BFD single-hop, echo and multihop (UDP).
pub const BGP_PORT: u16 = 179;
pub const BFD_PORTS: [u16; 3] = [3784, 3785, 4784];

/// One eBPF instruction (linux/bpf.h `struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const XOR64_X: u8 = 0xaf;
const RSH64_K: u8 = 0x77;
const AND64_K: u8 = 0x57;
const LSH64_K: u8 = 0x67;
const MUL32_K: u8 = 0x24;
const RSH32_K: u8 = 0x74;
const MOD32_K: u8 = 0x94;
const LD_ABS_B: u8 = 0x30;
const LD_ABS_H: u8 = 0x28;
const LD_ABS_W: u8 = 0x20;
const LD_IND_H: u8 = 0x48;
const LD_IND_W: u8 = 0x40;
const JEQ_K: u8 = 0x15;
const JSET_K: u8 = 0x45;
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

/// A few lines of assembler: instructions, and jumps to named labels resolved at the end.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<(&'static str, usize)>,
    jumps: Vec<(usize, &'static str)>,
}

impl Asm {
    fn op(&mut self, code: u8, dst: u8, src: u8, imm: i32) {
        self.insns.push(insn(code, dst, src, 0, imm));
    }

    /// `code` (JEQ_K, JSET_K, JA) on `dst` and `imm`, to `to`.
    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: &'static str) {
        self.jumps.push((self.insns.len(), to));
        self.insns.push(insn(code, dst, 0, 0, imm));
    }

    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.insns.len()));
    }

    fn ret(&mut self, value: i32) {
        self.op(MOV64_K, 0, 0, value);
        self.op(EXIT, 0, 0, 0);
    }

    fn finish(mut self) -> Vec<Insn> {
        for (at, to) in self.jumps {
            let target = self
                .labels
                .iter()
                .find(|(n, _)| *n == to)
                .unwrap_or_else(|| panic!("no label {to}"))
                .1;
            self.insns[at].off = (target as i64 - at as i64 - 1) as i16;
        }
        self.insns
    }
}

/// Multiplier of the flow hash (Knuth's multiplicative hashing: 2^32 / the golden ratio).
const GOLDEN: u32 = 0x9e37_79b1;

/// The steering program for a TUN read by `workers` workers: BGP and BFD to queue `workers`
/// (the control queue); any other packet to a queue in `0..workers` by a hash of its
/// addresses and, for TCP and UDP outside IPv4 fragments, its ports, so each flow stays on
/// one queue (one worker, in order). Registers: r6 the packet (LD_ABS/LD_IND read it), r7
/// the transport protocol (0 for an IPv4 fragment: no ports), r8 the transport header's
/// offset, r9 the IP version, then the hash.
fn program(workers: u32) -> Vec<Insn> {
    let mut a = Asm::default();
    a.op(MOV64_X, 6, 1, 0); // r6 = ctx
    a.op(LD_ABS_B, 0, 0, 0); // version/IHL byte
    a.op(RSH64_K, 0, 0, 4);
    a.op(MOV64_X, 9, 0, 0); // r9 = IP version
    a.jump(JEQ_K, 0, 4, "v4");
    a.jump(JEQ_K, 0, 6, "v6");
    a.ret(0); // neither: queue 0
              // IPv4: protocol at 9, header length from IHL; a fragment has no ports to read.
    a.label("v4");
    a.op(LD_ABS_B, 0, 0, 9);
    a.op(MOV64_X, 7, 0, 0);
    a.op(LD_ABS_B, 0, 0, 0);
    a.op(AND64_K, 0, 0, 0xf);
    a.op(LSH64_K, 0, 0, 2);
    a.op(MOV64_X, 8, 0, 0);
    a.op(LD_ABS_H, 0, 0, 6); // flags and fragment offset
    a.jump(JSET_K, 0, 0x3fff, "fragment"); // MF, or an offset
    a.jump(JA, 0, 0, "transport");
    a.label("fragment");
    a.op(MOV64_K, 7, 0, 0);
    a.jump(JA, 0, 0, "transport");
    // IPv6: next header at 6, the transport right after the fixed header (BGP and BFD carry
    // no extension headers; a packet with one is data, hashed by its addresses).
    a.label("v6");
    a.op(LD_ABS_B, 0, 0, 6);
    a.op(MOV64_X, 7, 0, 0);
    a.op(MOV64_K, 8, 0, 40);
    a.label("transport");
    a.jump(JEQ_K, 7, 17, "udp");
    a.jump(JEQ_K, 7, 6, "tcp");
    a.jump(JA, 0, 0, "data");
    // UDP: BFD by its destination port.
    a.label("udp");
    a.op(LD_IND_H, 0, 8, 2);
    for port in BFD_PORTS {
        a.jump(JEQ_K, 0, i32::from(port), "control");
    }
    a.jump(JA, 0, 0, "data");
    // TCP: BGP by either port.
    a.label("tcp");
    a.op(LD_IND_H, 0, 8, 0);
    a.jump(JEQ_K, 0, i32::from(BGP_PORT), "control");
    a.op(LD_IND_H, 0, 8, 2);
    a.jump(JEQ_K, 0, i32::from(BGP_PORT), "control");
    a.label("data");
    if workers <= 1 {
        a.ret(0);
    } else {
        a.jump(JEQ_K, 9, 6, "hash6");
        a.op(LD_ABS_W, 0, 0, 12); // source
        a.op(MOV64_X, 9, 0, 0);
        a.op(LD_ABS_W, 0, 0, 16); // destination
        a.op(XOR64_X, 9, 0, 0);
        a.jump(JA, 0, 0, "ports");
        a.label("hash6");
        a.op(MOV64_K, 9, 0, 0);
        for word in (8..40).step_by(4) {
            a.op(LD_ABS_W, 0, 0, word); // both addresses, a word at a time
            a.op(XOR64_X, 9, 0, 0);
        }
        a.label("ports");
        a.jump(JEQ_K, 7, 6, "with-ports");
        a.jump(JEQ_K, 7, 17, "with-ports");
        a.jump(JA, 0, 0, "mix");
        a.label("with-ports");
        a.op(LD_IND_W, 0, 8, 0); // both ports
        a.op(XOR64_X, 9, 0, 0);
        a.label("mix");
        a.op(MOV64_X, 0, 9, 0);
        a.op(MUL32_K, 0, 0, GOLDEN as i32);
        a.op(RSH32_K, 0, 0, 16);
        a.op(MOD32_K, 0, 0, workers as i32);
        a.op(EXIT, 0, 0, 0);
    }
    a.label("control");
    a.ret(workers as i32);
    a.finish()
}

/// Loads the steering program (BPF_PROG_TYPE_SOCKET_FILTER) for a TUN with a queue for each
/// of `workers` workers and a control queue after them; the verifier's log in the error when
/// it is refused.
pub fn load(workers: u32) -> io::Result<OwnedFd> {
    let insns = program(workers);
    let license = c"GPL";
    let mut log = vec![0u8; 16 * 1024];
    // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    // log_size, log_buf (the rest zero).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: `attr` is a valid bpf_attr for BPF_PROG_LOAD whose pointers (instructions,
    // license, log buffer) outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            5, // BPF_PROG_LOAD
            attr.as_mut_ptr(),
            attr.len() as u32,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        return Err(io::Error::new(
            e.kind(),
            format!("loading the control-steering program: {e}: {}", text.trim()),
        ));
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Makes the TUN of `queue_fd` steer by `prog` (TUNSETSTEERINGEBPF); the TUN keeps its own
/// reference to the program.
pub fn attach(queue_fd: &OwnedFd, prog: &OwnedFd) -> io::Result<()> {
    /// _IOR('T', 224, int)
    const TUNSETSTEERINGEBPF: libc::c_ulong = 0x8004_54e0;
    let fd: libc::c_int = prog.as_raw_fd();
    // SAFETY: the ioctl reads one int, the program's descriptor, from the pointer.
    let rc = unsafe {
        libc::ioctl(
            queue_fd.as_raw_fd(),
            TUNSETSTEERINGEBPF,
            std::ptr::from_ref(&fd),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs `prog` on `packet` (an IP packet) in the kernel (BPF_PROG_TEST_RUN): the queue it
/// picks. For tests.
pub fn test_run(prog: &OwnedFd, packet: &[u8]) -> io::Result<u32> {
    // test_run for socket filters takes an Ethernet frame and starts the program at its
    // payload.
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(if packet.first().is_some_and(|b| b >> 4 == 6) {
        &[0x86, 0xdd]
    } else {
        &[0x08, 0x00]
    });
    frame.extend_from_slice(packet);
    // union bpf_attr for BPF_PROG_TEST_RUN: prog_fd, retval (out), data_size_in,
    // data_size_out, data_in, data_out, repeat, duration.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    attr[16..24].copy_from_slice(&(frame.as_ptr() as u64).to_ne_bytes());
    attr[32..36].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: `attr` is a valid bpf_attr for BPF_PROG_TEST_RUN; `frame` outlives the call
    // and no output buffer is given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            10, // BPF_PROG_TEST_RUN
            attr.as_mut_ptr(),
            attr.len() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u32::from_ne_bytes(attr[4..8].try_into().expect("4 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 or IPv6 packet with a transport header of `proto` from `sport` to `dport`.
    fn packet(v6: bool, proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut p = if v6 {
            let mut h = vec![0u8; 40];
            h[0] = 0x60;
            h[6] = proto;
            h
        } else {
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[9] = proto;
            h
        };
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0u8; 16]);
        p
    }

    #[test]
    fn the_program_is_well_formed() {
        for workers in [1, 2, 4] {
            let p = program(workers);
            // Every jump lands forward, inside the program (the verifier wants no loops).
            for (i, x) in p.iter().enumerate() {
                if [JEQ_K, JSET_K, JA].contains(&x.code) {
                    let to = i as i64 + 1 + i64::from(x.off);
                    assert!(x.off >= 0 && to < p.len() as i64, "insn {i} jumps to {to}");
                }
            }
            assert_eq!(p.last().map(|x| x.code), Some(EXIT));
        }
        // One worker: no hash to compute.
        assert!(program(1).len() < program(2).len());
    }

    /// In the kernel (root, BPF_PROG_TEST_RUN): BGP and BFD of both families go to the
    /// control queue; everything else to the workers' queues, a flow always to the same one,
    /// and flows spread over all of them.
    #[test]
    fn bgp_and_bfd_go_to_the_control_queue_and_flows_spread_over_the_workers() {
        if !nix::unistd::geteuid().is_root() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("loading a BPF program needs root, and CI runs as root");
            }
            eprintln!("\n*** SKIPPED bgp_and_bfd_go_to_the_control_queue: needs root (bpf) ***\n");
            return;
        }
        for workers in [1u32, 2, 3] {
            let prog = load(workers).expect("the verifier takes it");
            let ctl = workers;
            for v6 in [false, true] {
                let q = |proto, s, d| test_run(&prog, &packet(v6, proto, s, d)).unwrap();
                assert_eq!(q(6, 40000, 179), ctl, "BGP to the MSEE, v6 {v6}");
                assert_eq!(q(6, 179, 40000), ctl, "BGP from the MSEE");
                assert_eq!(q(17, 49152, 3784), ctl, "BFD");
                assert_eq!(q(17, 49152, 4784), ctl, "multihop BFD");
                assert_eq!(q(17, 49152, 3785), ctl, "BFD echo");
                assert!(q(17, 3784, 40000) < workers, "only BFD's destination port");
                assert!(q(1, 0, 0) < workers, "ICMP");
                // A flow's packets always meet the same queue; flows meet every queue.
                let mut seen = vec![0; workers as usize];
                for sport in 40000..40064 {
                    for proto in [6, 17] {
                        let first = q(proto, sport, 5201);
                        assert!(first < workers, "data to a control queue: {first}");
                        assert_eq!(q(proto, sport, 5201), first, "the same flow moved");
                        seen[first as usize] += 1;
                    }
                }
                assert!(
                    seen.iter().all(|n| *n > 0),
                    "{workers} workers, v6 {v6}: {seen:?}"
                );
            }
            // An IPv4 header with options: the ports are found after it.
            let mut p = packet(false, 17, 1, 3784);
            p[0] = 0x46;
            p.splice(20..20, [0u8; 4]);
            assert_eq!(test_run(&prog, &p).unwrap(), ctl);
            // IPv4 fragments of one datagram (the first with ports, a later one with payload
            // where ports would be) meet the same queue.
            let mut first = packet(false, 17, 40001, 5201);
            first[6] = 0x20; // more fragments
            let mut later = packet(false, 17, 7777, 9999);
            later[7] = 0xb9; // an offset
            for sport in 0..16u16 {
                first[20..22].copy_from_slice(&(40000 + sport).to_be_bytes());
                assert_eq!(
                    test_run(&prog, &first).unwrap(),
                    test_run(&prog, &later).unwrap(),
                    "fragments split, {workers} workers"
                );
            }
        }
    }
}
