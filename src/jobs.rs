//! Configured jobs: commands keeper runs on a schedule, for each ended
//! session transcript, or on the operator's word. Their runs live in the
//! store (`store/jobs.rs`); what happened to them, in order, is the event
//! log here, which outlives pruned runs and can be read without the store.

pub mod log;
pub mod queue;
pub mod runner;
pub mod seen;
