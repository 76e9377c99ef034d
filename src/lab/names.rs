//! Names of what a lab makes on the host, derived from lab and endpoint names.
//!
//! Namespaces are `rl-<lab>-<endpoint>` (validated names are at most 32 characters each, well
//! inside the kernel's limits). TUN devices are created *inside* their own namespace, so their
//! names cannot collide with any device reachlab did not make; they are `rl-<endpoint>` cut to
//! the kernel's 15 characters, with a short hash when cut so two endpoints never share one.

/// The kernel's interface name limit (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Prefix of every namespace reachlab makes.
pub const NETNS_PREFIX: &str = "rl-";

/// The namespace holding the MSEEs' own addresses (their BGP sockets). A dot, which no site
/// or VNet name has, keeps it apart from theirs.
pub fn msee_netns_name(lab: &str) -> String {
    format!("rl-{lab}.msee")
}

pub fn netns_name(lab: &str, endpoint: &str) -> String {
    format!("{NETNS_PREFIX}{lab}-{endpoint}")
}

pub fn tun_name(endpoint: &str) -> String {
    let full = format!("rl-{endpoint}");
    if full.len() <= IFNAME_MAX {
        return full;
    }
    // FNV-1a: stable across runs and builds (unlike std's RandomState).
    let hash = endpoint.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = IFNAME_MAX - "rl-".len() - 5;
    format!("rl-{}-{:04x}", &endpoint[..keep], hash & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tun_names_fit_and_stay_distinct() {
        assert_eq!(tun_name("sf"), "rl-sf");
        assert_eq!(tun_name("london"), "rl-london");
        let a = tun_name("a-very-long-branch-name-1");
        let b = tun_name("a-very-long-branch-name-2");
        assert!(a.len() <= IFNAME_MAX && b.len() <= IFNAME_MAX);
        assert_ne!(a, b);
        assert_eq!(netns_name("global-reach", "sf"), "rl-global-reach-sf");
    }
}
