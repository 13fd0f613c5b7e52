//! `keeper-tui --demo`: a throwaway world in a temp directory — a seeded
//! store with thirty days of loop activity, stale threads for the janitor,
//! agent sessions on a private tmux server, a bridge under the watchdog,
//! jobs on a schedule and for ended transcripts, and a few simulated
//! agents writing while you watch. Removed on exit. The product never
//! depends on anything here.

mod agents;
pub mod bridge;
mod jobs;
mod world;

pub use agents::simulate;
pub use jobs::DIR_VAR;
pub use world::{DemoWorld, guard};
