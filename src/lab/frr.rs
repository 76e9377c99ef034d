//! FRR as a site's router: the daemons (zebra, bfdd, bgpd from the distribution's package) run
//! inside the site's namespace with everything of theirs (config, pid files, vty and zserv
//! sockets, log) in one directory of the lab's, stopped by their PIDs. The configuration they
//! get is `crate::ce`'s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the distribution installs FRR's daemons.
pub const FRR_DIR: &str = "/usr/lib/frr";
/// The daemons a site runs, in starting order (bgpd and bfdd talk through zebra).
const DAEMONS: [&str; 3] = ["zebra", "bfdd", "bgpd"];

pub use crate::ce::{config, SiteRouter};

#[derive(Debug, thiserror::Error)]
pub enum FrrError {
    #[error("FRR is not installed ({0} missing): install the frr package (scripts/install-deps.sh does)")]
    Missing(String),
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
}

/// FRR daemons running in a namespace, all their files in `dir`.
#[derive(Debug)]
pub struct Daemons {
    pub namespace: String,
    pub dir: PathBuf,
}

impl Daemons {
    /// Writes `conf` to DIR/frr.conf and starts zebra, bfdd and bgpd in namespace `ns`. `dir` is
    /// made (and given to user frr, whom the daemons run as).
    pub fn start(ns: &str, dir: &Path, conf: &str) -> Result<Daemons, FrrError> {
        for d in DAEMONS {
            let p = Path::new(FRR_DIR).join(d);
            if !p.exists() {
                return Err(FrrError::Missing(p.display().to_string()));
            }
        }
        let failed = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| FrrError::Failed {
                what,
                detail: e.to_string(),
            }
        };
        std::fs::create_dir_all(dir).map_err(failed("making FRR's directory"))?;
        std::fs::write(dir.join("frr.conf"), conf).map_err(failed("writing frr.conf"))?;
        let _ = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(dir)
            .status();
        let d = Daemons {
            namespace: ns.to_string(),
            dir: dir.to_path_buf(),
        };
        let zserv = dir.join("zserv.api");
        for daemon in DAEMONS {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]);
            cmd.arg(Path::new(FRR_DIR).join(daemon));
            if daemon == "bfdd" {
                cmd.arg("--bfdctl").arg(dir.join("bfdd.sock"));
            }
            let out = cmd
                .arg("-d")
                .arg("-f")
                .arg(dir.join("frr.conf"))
                .arg("-i")
                .arg(dir.join(format!("{daemon}.pid")))
                .arg("--vty_socket")
                .arg(dir)
                .arg("-z")
                .arg(&zserv)
                .output()
                .map_err(failed(&format!("starting {daemon}")))?;
            if !out.status.success() {
                d.stop();
                return Err(FrrError::Failed {
                    what: format!("starting {daemon} in namespace {ns}"),
                    detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            if daemon == "zebra" {
                // bgpd connects to zebra's socket: wait for it.
                let deadline = Instant::now() + Duration::from_secs(5);
                while !zserv.exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(d)
    }

    /// The daemons' PIDs, from their pid files.
    pub fn pids(&self) -> Vec<i32> {
        pids(&self.dir)
    }

    /// Runs vtysh commands against these daemons; their output.
    pub fn vtysh(&self, cmds: &[&str]) -> String {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespace, "vtysh", "--vty_socket"])
            .arg(&self.dir);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        c.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Stops the daemons by their PIDs and removes their directory.
    pub fn stop(&self) {
        stop(&self.dir);
    }
}

/// The PIDs in the daemons' pid files that still belong to those daemons (a daemon killed
/// without cleaning up leaves its file, and its PID may have gone to another process since).
fn pids(dir: &Path) -> Vec<i32> {
    DAEMONS
        .iter()
        .filter_map(|d| {
            let pid: i32 = std::fs::read_to_string(dir.join(format!("{d}.pid")))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == *d).then_some(pid)
        })
        .collect()
}

/// Stops the FRR daemons whose pid files are in `dir` (SIGTERM, then SIGKILL after 3 s) and
/// removes `dir`. Also serves `down` after the lab's process was killed.
pub fn stop(dir: &Path) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let alive = |p: i32| Path::new(&format!("/proc/{p}/exe")).exists();
    let list = pids(dir);
    for p in &list {
        let _ = kill(Pid::from_raw(*p), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while list.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in list.iter().filter(|p| alive(**p)) {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site that announces IPv4 only, on a circuit with an IPv6 peering: its IPv6 sessions
    /// are still activated (in IPv6 unicast), so they come up and learn IPv6 routes.
    #[test]
    fn ipv6_neighbours_are_activated_without_ipv6_prefixes_of_the_sites_own() {
        let mut r = SiteRouter {
            hostname: "sf".into(),
            asn: 65001,
            router_id: "192.168.100.1".parse().unwrap(),
            neighbors: vec![
                "192.168.100.2".parse().unwrap(),
                "fd00:100::2".parse().unwrap(),
            ],
            networks: vec!["10.0.1.0/24".parse().unwrap()],
            connect_retry: 2,
            lan_source: None,
            lan_source_v6: None,
            passwords: Default::default(),
        };
        let c = config(&r, Path::new("/tmp/frr.log"));
        let v6 = c
            .split(" address-family ipv6 unicast\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no IPv6 block:\n{c}"));
        assert!(v6.contains("  neighbor fd00:100::2 activate\n"), "{c}");
        assert!(!v6.contains("network"), "{c}");
        // Neither IPv6 neighbours nor prefixes: no IPv6 block at all.
        r.neighbors.pop();
        let c = config(&r, Path::new("/tmp/frr.log"));
        assert!(!c.contains("address-family ipv6"), "{c}");
    }

    #[test]
    fn a_site_config_peers_with_both_msees_and_announces_its_own_prefixes_only() {
        let r = SiteRouter {
            hostname: "sf".into(),
            asn: 65001,
            router_id: "192.168.100.1".parse().unwrap(),
            neighbors: vec![
                "192.168.100.2".parse().unwrap(),
                "192.168.100.6".parse().unwrap(),
                "fd00:100::2".parse().unwrap(),
                "fd00:100::6".parse().unwrap(),
            ],
            networks: vec![
                "10.0.1.0/24".parse().unwrap(),
                "fd00:1::/64".parse().unwrap(),
            ],
            connect_retry: 2,
            lan_source: Some("10.0.1.1".parse().unwrap()),
            lan_source_v6: Some("fd00:1::1".parse().unwrap()),
            passwords: [
                ("192.168.100.6".parse().unwrap(), "s3cret".to_string()),
                ("fd00:100::6".parse().unwrap(), "s3cret".to_string()),
            ]
            .into_iter()
            .collect(),
        };
        let c = config(&r, Path::new("/run/reachlab/lab/frr/sf/frr.log"));
        for line in [
            "router bgp 65001",
            " bgp router-id 192.168.100.1",
            " neighbor 192.168.100.2 remote-as 12076",
            " neighbor 192.168.100.6 remote-as 12076",
            " neighbor 192.168.100.6 timers connect 2",
            " neighbor 192.168.100.2 bfd profile msee",
            " neighbor 192.168.100.6 password s3cret",
            " neighbor 192.168.100.6 update-source 192.168.100.5",
            "  transmit-interval 300",
            "  detect-multiplier 3",
            "  network 10.0.1.0/24",
            "  network fd00:1::/64",
            " neighbor fd00:100::2 remote-as 12076",
            " neighbor fd00:100::6 update-source fd00:100::5",
            " neighbor fd00:100::6 password s3cret",
            " neighbor fd00:100::2 bfd profile msee",
            "  no neighbor fd00:100::2 activate",
            "  neighbor fd00:100::6 activate",
            "  neighbor fd00:100::6 filter-list reachlab-own out",
            " set src fd00:1::1",
            "ipv6 protocol bgp route-map reachlab-lan-source-v6",
            "bgp as-path access-list reachlab-own permit ^$",
            "  neighbor 192.168.100.6 filter-list reachlab-own out",
            "  maximum-paths 2",
            " set src 10.0.1.1",
            "ip protocol bgp route-map reachlab-lan-source",
        ] {
            assert!(c.lines().any(|l| l == line), "missing {line:?} in\n{c}");
        }
        // Each session carries its own family only; two paths in each.
        let v6_af = c.split(" address-family ipv6 unicast").nth(1).unwrap();
        assert!(!v6_af.contains("192.168.100.2"), "{c}");
        let v4_af = c.split(" address-family ipv4 unicast").nth(1).unwrap();
        let v4_af = v4_af.split("exit-address-family").next().unwrap();
        assert!(!v4_af.contains("fd00:100::2 filter-list"), "{c}");
        assert_eq!(c.matches("  maximum-paths 2").count(), 2, "{c}");
    }
}
