//! reachlab: a packet-level userspace emulator of Azure ExpressRoute Global Reach.
//!
//! Each branch site and Azure VNet of a lab is a network namespace whose TUN device this
//! process holds; a forwarding engine with one longest-prefix-match table per circuit (its
//! MSEE's) carries packets between them, so ordinary `ping`, `traceroute` and `iperf3` run
//! across the emulated circuits and Global Reach connections.
//!
//! Module map, pure core first:
//! - [`catalogue`]: peering locations and Azure regions (geopolitical region, Global Reach
//!   availability, coordinates) and published backbone RTTs; compiled in from `catalogue.toml`.
//! - [`topology`]: the lab file format, its data model and the validation rules.
//! - [`model`]: the latency model: published RTTs between regions, else great-circle distance.
//! - [`diag`]: `file:line:col` diagnostics for topology errors.
//! - [`plane`]: the Microsoft side's routing: one RIB per MSEE (circuit x link) and per VNet
//!   gateway, from the customer's router, the VNet gateways and Global Reach; best paths, and
//!   the engine's tables compiled from them.
//! - [`engine`]: the pure forwarding core: typed packet views, route tables, the hop pipeline
//!   (TTL, checksums, ICMP errors), drop counters, timing (shapers, delay lines, loss) and
//!   capture taps. No IO, no clock of its own, no tokio.
//! - [`graph`]: pictures of a lab (SVG, Graphviz DOT, Mermaid).
//! - [`az`]: the lab's objects in az CLI's JSON shapes (route tables, stats, circuits, Global
//!   Reach connections).
//!
//! The IO shell:
//! - [`lab`]: a lab's lifecycle on this machine: names, state files under /run/reachlab,
//!   namespaces and TUN devices, the tokio forwarding loop, teardown, and `live`: the running
//!   lab behind the control socket (changes through `plane::Plane`, their effects carried out),
//!   `metrics` (Prometheus endpoint), `pingall` (the reachability matrix `test` prints), `frr`
//!   (a site's FRR: its configuration, its daemons) and `bgp` (the MSEEs' sessions with the
//!   sites' routers on the lab's runtime).
//! - [`control`]: the control socket: protocol (one JSON message per line), server (over the
//!   `control::Handler` interface the running lab implements), client.
//! - [`bfd`]: single-hop BFD as the MSEE runs it (300 ms x 3, passive): the control packet and
//!   a session state machine on the caller's clock.
//! - [`bgp`]: BGP as the MSEE speaks it: wire format, a session state machine on the
//!   caller's clock, and the tokio speaker that runs one over TCP.
//! - [`cli`]: one module per verb (`check`, `up`, `down`, `exec`, `status`, `locations`,
//!   `global-reach`, `circuit`, `vnet`, `routes`, `stats`, `export`, `capture`, `graph`,
//!   `test`, `completions`, `iperf`, `schema`), a thin layer over `topology`, `lab` and
//!   `control`.

pub mod az;
pub mod bfd;
pub mod bgp;
pub mod catalogue;
pub mod cli;
pub mod control;
pub mod diag;
pub mod engine;
pub mod graph;
pub mod lab;
pub mod model;
pub mod paths;
pub mod plane;
pub mod topology;
