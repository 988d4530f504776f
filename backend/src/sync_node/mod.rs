//! The sync nodes (7001-7003): person records kept consistent by a CRDT, the highest account
//! number agreed through Paxos, switching to CRDT-only under load.
//!
//! The protocol logic is pure code: [`crdt`] (add-wins OR-Set of persons, max register) and
//! [`paxos`] (a message-driven state machine). The node service that does their I/O is not
//! built yet (issue 7 is in progress).

pub mod crdt;
pub mod paxos;
