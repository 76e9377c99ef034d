//! A running lab's routing state, owned here: the topology and the authorization keys (the
//! configuration), the MSEEs' Adj-RIB-In from their customers, their Loc-RIBs and the VNet
//! gateways' RIBs (kept computed, not recomputed on every read), and the Adj-RIB-Out toward
//! every real router. Changes (`changes`) go in; out come the `Effect`s the lab carries out,
//! among them `Effect::Advertise` whenever what an MSEE sends a router changes. A change to
//! what one router announces recomputes only the RIBs it can touch, and in them only the
//! prefixes it changed; the engine's tables are kept and updated in place the same way. Pure: no IO, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::changes::{Authorization, Effect};
use super::speakers::update_adj_rib_out;
use super::{adj_rib_out, AdjRibIn, Announced, CustomerLink, Routing};
use crate::engine::Tables;
use crate::topology::Topology;
use ipnet::IpNet;

/// The routing state of a running lab.
#[derive(Debug, Clone)]
pub struct Plane {
    pub(super) topo: Topology,
    pub(super) auth: Vec<Authorization>,
    /// What each site's router announces on each link.
    adj_rib_in: AdjRibIn,
    /// Circuit links (circuit, link) under maintenance.
    pub(super) maintenance: BTreeSet<(usize, usize)>,
    /// Every Loc-RIB, as the configuration and `adj_rib_in` make them.
    loc_rib: Routing,
    /// What each MSEE announces to each real router (sites with `router` other than static).
    adj_rib_out: BTreeMap<CustomerLink, Announced>,
    /// The engine's tables as last compiled: a router's change updates them in place.
    tables: Tables,
}

impl Plane {
    /// A validated topology (defaults resolved), as the lab came up.
    pub fn new(topo: Topology) -> Plane {
        let adj_rib_in = AdjRibIn::static_routers(&topo);
        let loc_rib = super::routing(&topo, &adj_rib_in);
        let tables = super::compile::compile(&topo, &loc_rib, &adj_rib_in, &Default::default());
        let mut plane = Plane {
            topo,
            auth: Vec::new(),
            adj_rib_in,
            maintenance: Default::default(),
            loc_rib,
            adj_rib_out: BTreeMap::new(),
            tables,
        };
        plane.readvertise(|_| true);
        plane
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    pub fn authorizations(&self) -> &[Authorization] {
        &self.auth
    }

    /// The circuit links under maintenance, (circuit, link).
    pub fn maintenance(&self) -> &BTreeSet<(usize, usize)> {
        &self.maintenance
    }

    /// What each site's router announces (the Adj-RIB-In).
    pub fn adj_rib_in(&self) -> &AdjRibIn {
        &self.adj_rib_in
    }

    /// Every RIB as the lab stands now.
    pub fn routing(&self) -> &Routing {
        &self.loc_rib
    }

    /// Every circuit link whose customer end is a real router: per such site, per circuit it
    /// is on, the primary then the secondary (the order of the engine's link ports).
    pub fn router_links(&self) -> Vec<CustomerLink> {
        let t = &self.topo;
        let mut v = Vec::new();
        for (site, s) in t
            .site
            .iter()
            .enumerate()
            .filter(|(_, s)| s.router.is_real())
        {
            for name in &s.circuits {
                if let Some(circuit) = t.circuit.iter().position(|c| &c.name == name) {
                    v.extend((0..2).map(|link| CustomerLink {
                        site,
                        circuit,
                        link,
                    }));
                }
            }
        }
        v
    }

    /// What the MSEE on `link` announces to its router now (its Adj-RIB-Out toward it): its
    /// best routes, with one more 12076 while the link is under maintenance. Empty for a link
    /// without a real router.
    pub fn advertised(&self, link: CustomerLink) -> Announced {
        self.adj_rib_out.get(&link).cloned().unwrap_or_default()
    }

    /// What site `link.site`'s router now announces on the link in one family (`v6`): that
    /// family's session's accepted routes. The other family's routes on the link, from its own
    /// session, stay as they are; routes of the other family in `routes` are left out.
    pub fn set_customer_family(
        &mut self,
        link: CustomerLink,
        v6: bool,
        routes: Announced,
    ) -> Vec<Effect> {
        let is_v6 = |p: &IpNet| matches!(p, IpNet::V6(_));
        let mut all: Announced = self
            .adj_rib_in
            .get(link.site, link.circuit, link.link)
            .into_iter()
            .flatten()
            .filter(|(p, _)| is_v6(p) != v6)
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        all.extend(routes.into_iter().filter(|(p, _)| is_v6(p) == v6));
        self.set_customer(link, all)
    }

    /// What site `link.site`'s router now announces on the link (a BGP session's accepted
    /// routes): the RIBs it touches follow, then the engine's tables and what the MSEEs
    /// concerned announce to their routers. Nothing when it announces what it did.
    pub fn set_customer(&mut self, link: CustomerLink, routes: Announced) -> Vec<Effect> {
        let old = self.adj_rib_in.get(link.site, link.circuit, link.link);
        if old == Some(&routes) {
            return Vec::new();
        }
        // The prefixes whose announcement changed; only their routes can change anywhere.
        let none = Announced::new();
        let old = old.unwrap_or(&none);
        let changed: BTreeSet<IpNet> = old
            .keys()
            .chain(routes.keys())
            .filter(|p| old.get(p) != routes.get(p))
            .copied()
            .collect();
        self.adj_rib_in
            .set(link.site, link.circuit, link.link, routes);
        let touched = super::update_routing(
            &self.topo,
            &self.adj_rib_in,
            &mut self.loc_rib,
            link.circuit,
            link.link,
            &changed,
        );
        super::compile::update(
            &mut self.tables,
            &self.topo,
            &self.loc_rib,
            &self.adj_rib_in,
            &self.maintenance,
            link.site,
            &touched,
            &changed,
        );
        let mut effects = vec![Effect::Tables(Box::new(self.tables.clone()))];
        for l in self.router_links() {
            if l.link != link.link || !touched.contains(&l.circuit) {
                continue;
            }
            let Some(mut out) = self.adj_rib_out.get(&l).cloned() else {
                continue;
            };
            let maintenance = self.maintenance.contains(&(l.circuit, l.link));
            update_adj_rib_out(
                &mut out,
                &self.topo,
                &self.loc_rib,
                l,
                maintenance,
                &changed,
            );
            if self.adj_rib_out.get(&l) != Some(&out) {
                self.adj_rib_out.insert(l, out.clone());
                effects.push(Effect::Advertise {
                    link: l,
                    routes: out,
                });
            }
        }
        effects
    }

    /// The engine's tables compiled whole from the lab as it stands, kept for the next change.
    pub(super) fn compile(&mut self) -> Tables {
        self.tables = super::compile::compile(
            &self.topo,
            &self.loc_rib,
            &self.adj_rib_in,
            &self.maintenance,
        );
        self.tables.clone()
    }

    /// The engine's tables as they stand.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Makes `new` (validated, defaults resolved) the lab's configuration: every RIB is
    /// recomputed. The tables to swap in, and what changes for each router.
    pub(super) fn reconfigure(&mut self, new: Topology) -> Vec<Effect> {
        self.loc_rib = super::routing(&new, &self.adj_rib_in);
        self.topo = new;
        self.refresh()
    }

    /// After a change that leaves the RIBs as they are but not what is made of them
    /// (maintenance): the tables and every router's Adj-RIB-Out again.
    pub(super) fn refresh(&mut self) -> Vec<Effect> {
        let mut effects = vec![Effect::Tables(Box::new(self.compile()))];
        effects.extend(self.readvertise(|_| true));
        effects
    }

    /// Recomputes the Adj-RIB-Out of the router links `which` selects; an `Advertise` for each
    /// that changed.
    fn readvertise(&mut self, which: impl Fn(&CustomerLink) -> bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        for l in self.router_links().into_iter().filter(|l| which(l)) {
            let routes = adj_rib_out(
                &self.topo,
                &self.loc_rib,
                l.circuit,
                l.link,
                l.site,
                self.maintenance.contains(&(l.circuit, l.link)),
            );
            if self.adj_rib_out.get(&l) != Some(&routes) {
                self.adj_rib_out.insert(l, routes.clone());
                effects.push(Effect::Advertise { link: l, routes });
            }
        }
        effects
    }
}
