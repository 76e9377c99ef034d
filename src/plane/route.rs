//! A route as an MSEE or a VNet gateway holds it, and the decision processes that pick the
//! best of several (../shared/reference/msee-bgp.md, "Path selection").

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The MSEE's ASN.
pub use crate::topology::rules::MICROSOFT_ASN;
/// The ASN of every VNet gateway.
pub const GATEWAY_ASN: u32 = 65515;
/// The community an MSEE tags what it passes over Global Reach with.
pub const GLOBAL_REACH_COMMUNITY: (u16, u16) = (12076, 12077);
/// LOCAL_PREF when a route carries none.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Where an MSEE learned a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// From the customer's router on this circuit (eBGP), site by index.
    Customer { site: usize },
    /// From the gateway of a VNet linked to this circuit (eBGP, AS 65515), VNet by index.
    Gateway { vnet: usize },
    /// Over a Global Reach connection (iBGP in AS 12076) from the peer circuit's MSEE.
    GlobalReach { peer: usize, gr: usize },
}

impl Origin {
    /// eBGP-learned (customer or gateway), as opposed to iBGP over Global Reach.
    pub fn is_ebgp(self) -> bool {
        !matches!(self, Origin::GlobalReach { .. })
    }
}

/// One path to a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: IpNet,
    pub next_hop: IpAddr,
    /// AS_PATH, nearest AS first.
    pub as_path: Vec<u32>,
    pub local_pref: Option<u32>,
    /// Cisco-style weight (local to the router; a VNet connection's routing weight).
    pub weight: u32,
    pub origin: Origin,
    pub communities: Vec<(u16, u16)>,
}

/// The path attributes a speaker announces with a route (RFC 4271 section 5), as the plane
/// holds them; `bgp::wire` encodes and decodes this same type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// 0 IGP, 1 EGP, 2 incomplete.
    pub origin: u8,
    /// AS_PATH flattened (AS_SETs included in order), nearest first.
    pub as_path: Vec<u32>,
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<(u16, u16)>,
}

/// An AS path as az and routers print it: "12076 65002".
pub struct PathDisplay<'a>(pub &'a [u32]);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// The BGP decision process of an MSEE, as far as its routes differ: highest weight, highest
/// LOCAL_PREF, shortest AS_PATH, eBGP over iBGP, then the lowest next hop (a stable tie-break).
/// `Ordering::Less` means `a` is better.
pub fn msee_order(a: &Route, b: &Route) -> Ordering {
    b.weight
        .cmp(&a.weight)
        .then_with(|| {
            b.local_pref
                .unwrap_or(DEFAULT_LOCAL_PREF)
                .cmp(&a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF))
        })
        .then_with(|| a.as_path.len().cmp(&b.as_path.len()))
        .then_with(|| b.origin.is_ebgp().cmp(&a.origin.is_ebgp()))
        .then_with(|| a.next_hop.cmp(&b.next_hop))
        .then_with(|| a.origin.cmp(&b.origin))
}

/// Azure's order on the VNet side for one prefix (longest match is the table's): the
/// connection's weight (higher wins), then the shortest AS path. Equal routes share the
/// traffic (ECMP, up to 4 circuits; reachlab takes the first circuit listed until then).
pub fn gateway_order(a: &Route, b: &Route) -> Ordering {
    b.weight
        .cmp(&a.weight)
        .then_with(|| a.as_path.len().cmp(&b.as_path.len()))
}

/// Whether an ASN is private (RFC 6996: 64512-65534, 4200000000-4294967294).
pub fn is_private(asn: u32) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

/// Cisco's `remove-private-as` toward a neighbour in AS `neighbour`: private ASNs are removed
/// only when the path holds nothing but private ASNs, and nothing is removed when the path
/// contains the neighbour's own ASN.
pub fn remove_private_as(path: &[u32], neighbour: u32) -> Vec<u32> {
    if path.contains(&neighbour) || !path.iter().all(|a| is_private(*a)) {
        path.to_vec()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &[u32], weight: u32, origin: Origin) -> Route {
        Route {
            prefix: "10.0.0.0/24".parse().unwrap(),
            next_hop: "192.0.2.1".parse().unwrap(),
            as_path: path.to_vec(),
            local_pref: None,
            weight,
            origin,
            communities: Vec::new(),
        }
    }

    #[test]
    fn msee_prefers_weight_then_shorter_path_then_ebgp() {
        let cust = Origin::Customer { site: 0 };
        let gr = Origin::GlobalReach { peer: 1, gr: 0 };
        assert_eq!(
            msee_order(&r(&[65001, 65001], 10, gr), &r(&[65001], 0, cust)),
            Ordering::Less
        );
        assert_eq!(
            msee_order(&r(&[65001], 0, gr), &r(&[65001, 65001], 0, cust)),
            Ordering::Less
        );
        assert_eq!(
            msee_order(&r(&[65001], 0, cust), &r(&[65001], 0, gr)),
            Ordering::Less
        );
        let mut lp = r(&[65001, 1], 0, gr);
        lp.local_pref = Some(200);
        assert_eq!(msee_order(&lp, &r(&[65001], 0, cust)), Ordering::Less);
    }

    #[test]
    fn gateway_prefers_weight_then_shorter_path() {
        let g = Origin::Customer { site: 0 };
        assert_eq!(
            gateway_order(&r(&[1, 2, 3, 4], 100, g), &r(&[1], 0, g)),
            Ordering::Less
        );
        assert_eq!(
            gateway_order(&r(&[1], 0, g), &r(&[1, 2], 0, g)),
            Ordering::Less
        );
        assert_eq!(
            gateway_order(&r(&[1], 0, g), &r(&[2], 0, g)),
            Ordering::Equal
        );
    }

    #[test]
    fn remove_private_as_has_ciscos_semantics() {
        assert_eq!(
            remove_private_as(&[65002], MICROSOFT_ASN),
            Vec::<u32>::new()
        );
        assert_eq!(remove_private_as(&[65515], 65001), Vec::<u32>::new());
        // A public ASN in the path: nothing removed.
        assert_eq!(remove_private_as(&[65002, 3356], 65001), vec![65002, 3356]);
        // The neighbour's own ASN in the path: nothing removed (the loop shows).
        assert_eq!(remove_private_as(&[65001], 65001), vec![65001]);
        assert!(is_private(4_200_000_000) && !is_private(12076));
    }
}
