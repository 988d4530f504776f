//! Fuzz targets for the lab's parsers (issue #13), one test each, run by `make test` for a
//! short budget and by `make fuzz` for longer (see the README's "Fuzzing"):
//! - [`socketio_frames`] — the dashboard's Engine.IO / Socket.IO codec (`shared::socketio`);
//! - [`shop_requests`] — the shop's JSON bodies, queries and path ids, through its router;
//! - [`sync_updates`] — the sync node's `update_data` / `add_name` payloads;
//! - [`replication_batches`] — a mirror store applying a batch of the primary's change log.
//!
//! Each replays its corpus (`backend/tests/fuzz_corpus/<target>/`), then mutates it
//! ([`harness`]).

mod harness;
mod replication_batches;
mod shop_requests;
mod socketio_frames;
mod sync_updates;
