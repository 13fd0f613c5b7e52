//! Completion hooks: a POST to the operator's URL when a task ends or is
//! cancelled. Which deliveries are owed is decided in the store, in the
//! same write that ends the task (`store/hooks.rs`); this module checks the
//! address ([`address`]) and sends one attempt ([`send`]).
pub mod address;
pub mod send;
