//! reachlab: a packet-level userspace emulator of Azure ExpressRoute Global Reach.
//!
//! Each branch site and Azure VNet of a lab is a network namespace whose TUN device this
//! process holds; a forwarding engine with one longest-prefix-match table per circuit (its
//! MSEE's) carries packets between them, so ordinary `ping`, `traceroute` and `iperf3` run
//! across the emulated circuits and Global Reach connections.
//!
//! Layering, top floor first: a module imports only from modules on lower floors (or its own
//! children), never upward and never in a circle.
//! 1. [`cli`]: one module per verb, a thin layer over `lab`, `control` and `topology`.
//! 2. [`lab`]: a lab's lifecycle on this machine: names, state files, namespaces and TUN
//!    devices, the tokio forwarding loop, teardown; `live` (the running lab behind the control
//!    socket: dispatch and effects carried out in `live`, reads in `live::show`, the session
//!    book in `live::sessions`), `bgp` (the MSEEs' BGP and BFD sessions, and `bgp::speaker`,
//!    the tokio shell around one session), `web` (the live view), `metrics`, `pingall`, `frr`.
//! 3. [`az`] (az CLI's JSON shapes, import and export), [`clab`] (`export -o containerlab`)
//!    and [`graph`] (SVG, DOT, Mermaid).
//! 4. [`bgp`]: BGP's wire format and session state machine, pure (bytes and time in, bytes
//!    and events out); [`ce`]: the customer edge's configuration (FRR's), from the topology.
//! 5. [`control`]: the control socket: protocol (one JSON message per line, typed replies),
//!    server (over the `control::Handler` interface the running lab implements), client.
//! 6. [`plane`]: the Microsoft side's routing, pure: Adj-RIB-In from the customers, one
//!    Loc-RIB per MSEE (circuit x link) and per VNet gateway, Adj-RIB-Out toward each router,
//!    live changes in and their effects out, the engine's tables compiled from best paths.
//! 7. [`engine`]: the pure forwarding core: typed packet views, route tables, the hop pipeline
//!    (TTL, checksums, ICMP errors), drop counters, timing (shapers, delay lines, loss) and
//!    capture taps. No IO, no clock of its own, no tokio.
//! 8. [`topology`] (the lab file format, its schema and rules) and [`model`] (the latency
//!    model: published RTTs between regions, else great-circle distance).
//! 9. The ground floor: [`catalogue`] (peering locations and Azure regions, compiled in from
//!    `catalogue.toml`), [`diag`] (`file:line:col` diagnostics), [`bfd`] (single-hop BFD as
//!    the MSEE runs it, on the caller's clock), [`paths`] (where a lab's runtime files live).

pub mod az;
pub mod bfd;
pub mod bgp;
pub mod catalogue;
pub mod ce;
pub mod clab;
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
