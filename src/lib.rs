//! keeper-tui: the operator's console for a threadkeeper store.
//!
//! Where to start, in the order data flows:
//!
//! - [`cli`] and [`verbs`]: the command line. `keeper-tui` alone opens the
//!   TUI ([`tui`]); every other verb is a one-shot that runs the same code
//!   the engine runs for the matching key ([`actions`]).
//! - [`config`]: the TOML config, read with serde and checked, with every
//!   error naming its key, line and column.
//! - [`store`]: the threadkeeper SQLite file — opening it read-only for
//!   panels and read-write for the one writer, its layouts (0.8 and 0.21),
//!   the rows keeper writes (`store/threads.rs`, `store/events.rs`), its
//!   own `keeper_*` tables (`store/keeper.rs`) and the snapshot figures
//!   (`store/snapshot.rs`).
//! - [`sys`]: the world outside the store — running a command with a
//!   timeout (`sys/command.rs`), tmux (`sys/tmux.rs`), processes and
//!   signals through sysinfo (`sys/process.rs`).
//! - [`loops`]: the janitor, the reaper and the watchdog. Each pass plans
//!   from a read-only connection, acts with no lock held, and records in
//!   one short write.
//! - [`engine`]: one actor per loop, the store view, and the hub that owns
//!   what the screen shows and publishes it as snapshots; commands come in
//!   as values and are answered with typed replies.
//! - [`ui`]: the ratatui front end — state and keys in `ui/app.rs` and
//!   `ui/keys.rs`, one widget per panel in `ui/panels/`, popups in
//!   `ui/popups/`. It draws snapshots and sends commands; it does no I/O.
//! - [`report`]: `status` as text and JSON; [`logging`]: the log file;
//!   [`text`]: store and tmux text made safe to show on a terminal.
//! - [`demo`]: the `--demo` world, kept apart from the product.
pub mod actions;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod hooks;
pub mod jobs;
pub mod logging;
pub mod loops;
pub mod report;
pub mod store;
pub mod sys;
pub mod text;
pub mod tui;
pub mod ui;
pub mod verbs;
