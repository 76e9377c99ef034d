//! The live changes to a running lab's routing state (`state::Plane`). A `Change` goes in
//! (what a control verb asks for); it is checked with the topology's own rules on a copy
//! (and, for Global Reach across subscriptions, against the keys) and applied whole or not at
//! all; out come the `Effect`s the lab carries out: new forwarding tables to swap in, routes to
//! add or remove in the namespaces, what the MSEEs now announce to each router. Pure: no IO,
//! no clock; a key is made by the caller.

use ipnet::IpNet;

use super::{Announced, CustomerLink, Plane};
use crate::engine::Tables;
pub use crate::topology::GlobalReachAdd;
use crate::topology::{as_v4, as_v6, parse_prefix, rules, GlobalReach, Topology};

/// An authorization key created on a circuit; it serves one connection at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub circuit: String,
    pub name: String,
    pub key: String,
    /// The connection (configured circuit, peer) using it.
    pub used_by: Option<(String, String)>,
}

/// A live change, with the user's input as typed (prefixes as strings): errors read as
/// `reachlab check`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    GlobalReachAdd(GlobalReachAdd),
    GlobalReachRemove {
        circuit: String,
        peer: String,
    },
    /// Link (or, with `link: false`, unlink) a VNet to a circuit; linking an already linked
    /// VNet with a `weight` changes the connection's routing weight.
    VnetLink {
        vnet: String,
        circuit: String,
        link: bool,
        weight: Option<u16>,
    },
    /// A new authorization key `key` (made by the caller) named `name` on `circuit`.
    Authorize {
        circuit: String,
        name: String,
        key: String,
    },
    /// Start (or, with `on: false`, end) maintenance on a circuit's link (0 primary, 1
    /// secondary): its MSEE prepends 12076 to what it advertises to the customer, as Microsoft
    /// does ahead of maintenance, and the lab moves its own traffic off the link.
    Maintenance {
        circuit: String,
        link: usize,
        on: bool,
    },
}

/// What the lab must do after a change.
#[derive(Debug)]
pub enum Effect {
    /// Swap the engine's tables for these, whole.
    Tables(Box<Tables>),
    /// Add or remove routes to these prefixes through every namespace's TUN (the router
    /// addresses of a Global Reach link).
    NamespaceRoutes { prefixes: Vec<IpNet>, add: bool },
    /// The MSEE on `link` now announces `routes` to its router (its whole Adj-RIB-Out toward
    /// it; the session sends the difference).
    Advertise {
        link: CustomerLink,
        routes: Announced,
    },
}

impl Plane {
    /// A circuit's index, or an error naming the circuits there are.
    pub fn circuit_index(&self, name: &str) -> Result<usize, String> {
        self.topo
            .circuit
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.topo.circuit.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "no circuit named \"{name}\"; circuits in this lab: {}",
                    known.join(", ")
                )
            })
    }

    /// The Global Reach connection between two circuits, either way round.
    pub fn find_gr(&self, a: &str, b: &str) -> Option<usize> {
        self.topo.global_reach.iter().position(|g| {
            (g.circuits[0] == a && g.circuits[1] == b) || (g.circuits[0] == b && g.circuits[1] == a)
        })
    }

    /// Applies a change, or refuses it (changing nothing) with the rule's words.
    pub fn apply(&mut self, change: Change) -> Result<Vec<Effect>, String> {
        match change {
            Change::GlobalReachAdd(add) => self.gr_add(&add),
            Change::GlobalReachRemove { circuit, peer } => self.gr_remove(&circuit, &peer),
            Change::VnetLink {
                vnet,
                circuit,
                link,
                weight,
            } => self.vnet_link(&vnet, &circuit, link, weight),
            Change::Authorize { circuit, name, key } => {
                self.authorize(&circuit, &name, key).map(|()| Vec::new())
            }
            Change::Maintenance { circuit, link, on } => {
                let c = self.circuit_index(&circuit)?;
                let which = if link == 0 { "primary" } else { "secondary" };
                if self.maintenance.contains(&(c, link)) == on {
                    return Err(format!(
                        "the {which} link of circuit {circuit} is {} under maintenance",
                        if on { "already" } else { "not" }
                    ));
                }
                if on {
                    self.maintenance.insert((c, link));
                } else {
                    self.maintenance.remove(&(c, link));
                }
                Ok(self.refresh())
            }
        }
    }

    fn gr_add(&mut self, add: &GlobalReachAdd) -> Result<Vec<Effect>, String> {
        let (circuit, peer) = (add.circuit.as_str(), add.peer.as_str());
        let address_prefix = parse_prefix("address_prefix", &add.address_prefix)
            .and_then(|p| as_v4("address_prefix", p))?;
        let ipv6_address_prefix = add
            .ipv6_address_prefix
            .as_deref()
            .map(|p| {
                parse_prefix("ipv6_address_prefix", p).and_then(|p| as_v6("ipv6_address_prefix", p))
            })
            .transpose()?;
        let mut new = self.topo.clone();
        new.global_reach.push(GlobalReach {
            circuits: [circuit.to_string(), peer.to_string()],
            address_prefix,
            ipv6_address_prefix,
        });
        // The rules first (they name unknown circuits), then the authorization.
        let new = checked(new)?;
        let auth = self.check_authorization(circuit, peer, add.authorization_key.as_deref())?;
        let mut effects = self.reconfigure(new);
        if let Some(i) = auth {
            self.auth[i].used_by = Some((circuit.to_string(), peer.to_string()));
        }
        let mut prefixes = vec![IpNet::V4(address_prefix)];
        prefixes.extend(ipv6_address_prefix.map(IpNet::V6));
        effects.push(Effect::NamespaceRoutes {
            prefixes,
            add: true,
        });
        Ok(effects)
    }

    /// Linking circuits of different subscriptions takes an unused key made on the peer.
    fn check_authorization(
        &self,
        circuit: &str,
        peer: &str,
        key: Option<&str>,
    ) -> Result<Option<usize>, String> {
        let a = &self.topo.circuit[self.circuit_index(circuit)?];
        let b = &self.topo.circuit[self.circuit_index(peer)?];
        if a.subscription() == b.subscription() {
            return Ok(None);
        }
        let Some(key) = key else {
            return Err(format!(
                "circuit {peer} is in subscription {} and {circuit} in {}: linking them needs an authorization key created on {peer} (`reachlab circuit authorize {peer} --name NAME`), passed with --authorization-key",
                b.subscription(),
                a.subscription()
            ));
        };
        let Some(i) = self
            .auth
            .iter()
            .position(|x| x.key == key && x.circuit == peer)
        else {
            return Err(format!(
                "authorization key {key} is not valid for circuit {peer}: create one with `reachlab circuit authorize {peer} --name NAME`"
            ));
        };
        if let Some((c, p)) = &self.auth[i].used_by {
            return Err(format!(
                "authorization key {key} ({}) on {peer} is already used by the connection {c} <-> {p}; a key serves one connection",
                self.auth[i].name
            ));
        }
        Ok(Some(i))
    }

    fn gr_remove(&mut self, circuit: &str, peer: &str) -> Result<Vec<Effect>, String> {
        self.circuit_index(circuit)?;
        self.circuit_index(peer)?;
        let Some(i) = self.find_gr(circuit, peer) else {
            return Err(format!(
                "circuits {circuit} and {peer} are not linked by Global Reach; `reachlab global-reach list` shows the connections"
            ));
        };
        let mut new = self.topo.clone();
        let gone = new.global_reach.remove(i);
        let mut effects = self.reconfigure(checked(new)?);
        let [a, b] = &gone.circuits;
        for x in self.auth.iter_mut() {
            if x.used_by
                .as_ref()
                .is_some_and(|(c, p)| (c == a && p == b) || (c == b && p == a))
            {
                x.used_by = None;
            }
        }
        let mut prefixes = vec![IpNet::V4(gone.address_prefix)];
        prefixes.extend(gone.ipv6_address_prefix.map(IpNet::V6));
        effects.push(Effect::NamespaceRoutes {
            prefixes,
            add: false,
        });
        Ok(effects)
    }

    fn authorize(&mut self, circuit: &str, name: &str, key: String) -> Result<(), String> {
        self.circuit_index(circuit)?;
        if name.is_empty() || name.len() > rules::MAX_NAME {
            return Err(format!(
                "authorization name must be 1 to {} characters",
                rules::MAX_NAME
            ));
        }
        if self
            .auth
            .iter()
            .any(|a| a.circuit == circuit && a.name == name)
        {
            return Err(format!(
                "circuit {circuit} already has an authorization named {name}"
            ));
        }
        self.auth.push(Authorization {
            circuit: circuit.to_string(),
            name: name.to_string(),
            key,
            used_by: None,
        });
        Ok(())
    }

    fn vnet_link(
        &mut self,
        vnet: &str,
        circuit: &str,
        link: bool,
        weight: Option<u16>,
    ) -> Result<Vec<Effect>, String> {
        self.circuit_index(circuit)?;
        let Some(v) = self.topo.vnet.iter().position(|v| v.name == vnet) else {
            let known: Vec<&str> = self.topo.vnet.iter().map(|v| v.name.as_str()).collect();
            return Err(format!(
                "no vnet named \"{vnet}\"; VNets in this lab: {}",
                known.join(", ")
            ));
        };
        let mut new = self.topo.clone();
        let linked = new.vnet[v].circuits.iter().any(|c| c == circuit);
        if weight.is_some_and(|w| w > crate::topology::MAX_WEIGHT) {
            return Err(format!(
                "weight {} is out of range; allowed: 0 .. {} (higher is preferred)",
                weight.unwrap_or_default(),
                crate::topology::MAX_WEIGHT
            ));
        }
        let current = new.vnet[v].weight(circuit);
        match (link, linked, weight) {
            (true, true, Some(w)) if w != current => {}
            (true, true, _) => {
                return Err(format!(
                    "vnet {vnet} is already linked to circuit {circuit} (weight {current}); give another --weight to change it"
                ))
            }
            (false, false, _) => {
                return Err(format!("vnet {vnet} is not linked to circuit {circuit}"))
            }
            (true, false, _) => new.vnet[v].circuits.push(circuit.to_string()),
            (false, true, _) => {
                new.vnet[v].circuits.retain(|c| c != circuit);
                new.vnet[v].weights.remove(circuit);
            }
        }
        if let (true, Some(w)) = (link, weight) {
            if w == 0 {
                new.vnet[v].weights.remove(circuit);
            } else {
                new.vnet[v].weights.insert(circuit.to_string(), w);
            }
        }
        Ok(self.reconfigure(checked(new)?))
    }
}

/// `new` validated by the topology rules, its defaults resolved; or the rules' words.
fn checked(mut new: Topology) -> Result<Topology, String> {
    new.validate().map_err(|errs| errs.join("\n"))?;
    new.resolve_defaults();
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    fn seed() -> Plane {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("topologies/no-global-reach.toml"),
        )
        .unwrap();
        Plane::new(Topology::from_source(SourceFile::new("s.toml", text), "s").unwrap())
    }

    fn add(prefix: &str) -> Change {
        Change::GlobalReachAdd(GlobalReachAdd {
            circuit: "er-sv".into(),
            peer: "er-london".into(),
            address_prefix: prefix.into(),
            ipv6_address_prefix: None,
            authorization_key: None,
        })
    }

    #[test]
    fn a_change_comes_out_as_tables_and_namespace_routes() {
        let mut p = seed();
        let effects = p.apply(add("192.168.8.0/29")).unwrap();
        assert!(matches!(&effects[0], Effect::Tables(t) if t.gr.len() == 1));
        assert!(matches!(
            &effects[1],
            Effect::NamespaceRoutes { prefixes, add: true } if prefixes[0].to_string() == "192.168.8.0/29"
        ));
        assert_eq!(p.topology().global_reach.len(), 1);
        let effects = p
            .apply(Change::GlobalReachRemove {
                circuit: "er-london".into(),
                peer: "er-sv".into(),
            })
            .unwrap();
        assert!(matches!(
            &effects[1],
            Effect::NamespaceRoutes { add: false, .. }
        ));
        assert!(p.topology().global_reach.is_empty());
    }

    #[test]
    fn a_refused_change_changes_nothing_and_says_why() {
        let mut p = seed();
        let before = p.topology().clone();
        let e = p.apply(add("192.168.8.0/28")).unwrap_err();
        assert!(e.contains("/29"), "{e}");
        let e = p
            .apply(Change::VnetLink {
                vnet: "uswest".into(),
                circuit: "er-sv".into(),
                link: true,
                weight: None,
            })
            .unwrap_err();
        assert_eq!(
            e,
            "vnet uswest is already linked to circuit er-sv (weight 0); give another --weight to change it"
        );
        assert_eq!(p.topology(), &before);
    }

    #[test]
    fn across_subscriptions_a_key_serves_one_connection() {
        let mut p = seed();
        let mut t = p.topology().clone();
        t.circuit[1].subscription = Some("contoso".into());
        let mut p2 = Plane::new(t);
        let e = p2.apply(add("192.168.8.0/29")).unwrap_err();
        assert!(e.contains("needs an authorization key"), "{e}");
        p2.apply(Change::Authorize {
            circuit: "er-london".into(),
            name: "for-sv".into(),
            key: "k1".into(),
        })
        .unwrap();
        let with_key = Change::GlobalReachAdd(GlobalReachAdd {
            authorization_key: Some("k1".into()),
            ..match add("192.168.8.0/29") {
                Change::GlobalReachAdd(a) => a,
                _ => unreachable!(),
            }
        });
        p2.apply(with_key).unwrap();
        assert_eq!(
            p2.authorizations()[0].used_by,
            Some(("er-sv".into(), "er-london".into()))
        );
        // The first plane never saw the key.
        assert!(p.apply(add("192.168.8.0/29")).is_ok());
    }
}
