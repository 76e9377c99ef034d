//! Control traffic on a queue of its own: a router link's TUN gets one more queue than the
//! lab has workers, and a steering program (TUNSETSTEERINGEBPF) puts BGP (TCP port 179) and
//! BFD (UDP 3784, 3785, 4784) of either family on that last queue, everything else on queue 0.
//! The forwarding worker reads the control queue first; a flood from the site fills and
//! overflows queue 0's ring only, so the router's sessions do not go down with the flood's
//! dropped packets.
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
const RSH64_K: u8 = 0x77;
const AND64_K: u8 = 0x57;
const LSH64_K: u8 = 0x67;
const LD_ABS_B: u8 = 0x30;
const LD_IND_H: u8 = 0x48;
const JEQ_K: u8 = 0x15;
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

/// The steering program: `control` for BGP and BFD, 0 for the rest. Registers: r6 the
/// packet (LD_ABS/LD_IND read it), r7 the transport protocol, r8 the transport header's
/// offset.
fn program(control: u32) -> Vec<Insn> {
    let ctl = control as i32;
    let mut p = vec![
        insn(MOV64_X, 6, 1, 0, 0),  // 0: r6 = ctx
        insn(LD_ABS_B, 0, 0, 0, 0), // 1: r0 = version/IHL byte
        insn(RSH64_K, 0, 0, 0, 4),  // 2: r0 = IP version
        insn(JEQ_K, 0, 0, 3, 4),    // 3: IPv4 -> 7
        insn(JEQ_K, 0, 0, 9, 6),    // 4: IPv6 -> 14
        insn(MOV64_K, 0, 0, 0, 0),  // 5: other: data
        insn(EXIT, 0, 0, 0, 0),     // 6
        // IPv4: protocol at 9, header length from IHL.
        insn(LD_ABS_B, 0, 0, 0, 9),  // 7
        insn(MOV64_X, 7, 0, 0, 0),   // 8: r7 = protocol
        insn(LD_ABS_B, 0, 0, 0, 0),  // 9
        insn(AND64_K, 0, 0, 0, 0xf), // 10
        insn(LSH64_K, 0, 0, 0, 2),   // 11: r0 = IHL * 4
        insn(MOV64_X, 8, 0, 0, 0),   // 12: r8 = transport offset
    ];
    p.push(insn(JA, 0, 0, 3, 0)); // 13: IPv4 skips the IPv6 part -> 17
                                  // IPv6: next header at 6, transport right after the fixed header (no extension headers:
                                  // BGP and BFD carry none).
    p.push(insn(LD_ABS_B, 0, 0, 0, 6)); // 14
    p.push(insn(MOV64_X, 7, 0, 0, 0)); // 15
    p.push(insn(MOV64_K, 8, 0, 0, 40)); // 16
                                        // 17: the transport.
    p.push(insn(JEQ_K, 7, 0, 2, 17)); // 17: UDP -> 20
    p.push(insn(JEQ_K, 7, 0, 6, 6)); // 18: TCP -> 25
    p.push(insn(JA, 0, 0, 9, 0)); // 19: -> data (29)
                                  // UDP: destination port.
    p.push(insn(LD_IND_H, 0, 8, 0, 2)); // 20
    p.push(insn(JEQ_K, 0, 0, 9, i32::from(BFD_PORTS[0]))); // 21 -> 31
    p.push(insn(JEQ_K, 0, 0, 8, i32::from(BFD_PORTS[1]))); // 22 -> 31
    p.push(insn(JEQ_K, 0, 0, 7, i32::from(BFD_PORTS[2]))); // 23 -> 31
    p.push(insn(JA, 0, 0, 4, 0)); // 24: -> data (29)
                                  // TCP: either port.
    p.push(insn(LD_IND_H, 0, 8, 0, 0)); // 25
    p.push(insn(JEQ_K, 0, 0, 4, i32::from(BGP_PORT))); // 26 -> 31
    p.push(insn(LD_IND_H, 0, 8, 0, 2)); // 27
    p.push(insn(JEQ_K, 0, 0, 2, i32::from(BGP_PORT))); // 28 -> 31
                                                       // Data.
    p.push(insn(MOV64_K, 0, 0, 0, 0)); // 29
    p.push(insn(EXIT, 0, 0, 0, 0)); // 30
                                    // Control.
    p.push(insn(MOV64_K, 0, 0, 0, ctl)); // 31
    p.push(insn(EXIT, 0, 0, 0, 0)); // 32
    p
}

/// Loads the steering program (BPF_PROG_TYPE_SOCKET_FILTER) for a TUN whose control queue is
/// `control`; the verifier's log in the error when it is refused.
pub fn load(control: u32) -> io::Result<OwnedFd> {
    let insns = program(control);
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
        let p = program(1);
        assert_eq!(p.len(), 33);
        // Every jump lands inside the program.
        for (i, x) in p.iter().enumerate() {
            if x.code == JEQ_K || x.code == JA {
                let to = i as i64 + 1 + i64::from(x.off);
                assert!((0..p.len() as i64).contains(&to), "insn {i} jumps to {to}");
            }
        }
        assert_eq!(p.last().map(|x| x.code), Some(EXIT));
    }

    /// In the kernel (root, BPF_PROG_TEST_RUN): BGP and BFD of both families go to the
    /// control queue, everything else to queue 0.
    #[test]
    fn bgp_and_bfd_are_steered_to_the_control_queue() {
        if !nix::unistd::geteuid().is_root() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("loading a BPF program needs root, and CI runs as root");
            }
            eprintln!("\n*** SKIPPED bgp_and_bfd_are_steered_to_the_control_queue: needs root (bpf) ***\n");
            return;
        }
        let prog = load(2).expect("the verifier takes it");
        for v6 in [false, true] {
            let q = |proto, s, d| test_run(&prog, &packet(v6, proto, s, d)).unwrap();
            assert_eq!(q(6, 40000, 179), 2, "BGP to the MSEE, v6 {v6}");
            assert_eq!(q(6, 179, 40000), 2, "BGP from the MSEE");
            assert_eq!(q(17, 49152, 3784), 2, "BFD");
            assert_eq!(q(17, 49152, 4784), 2, "multihop BFD");
            assert_eq!(q(17, 49152, 3785), 2, "BFD echo");
            assert_eq!(q(17, 40000, 5201), 0, "iperf3 UDP");
            assert_eq!(q(6, 40000, 5201), 0, "iperf3 TCP");
            assert_eq!(q(17, 3784, 40000), 0, "only BFD's destination port");
            assert_eq!(q(1, 0, 0), 0, "ICMP");
        }
        // An IPv4 header with options: the ports are found after it.
        let mut p = packet(false, 17, 1, 3784);
        p[0] = 0x46;
        p.splice(20..20, [0u8; 4]);
        assert_eq!(test_run(&prog, &p).unwrap(), 2);
    }
}
