//! BGP as the MSEE speaks it: the wire format (`wire`) and the session, a pure state machine
//! on the caller's clock (`session`): bytes and time in, bytes and events out, the next timer
//! from `poll_timeout`. No sockets here; the lab's shell (`lab::bgp`, its speaker) carries the
//! bytes over TCP.

pub mod session;
pub mod wire;
