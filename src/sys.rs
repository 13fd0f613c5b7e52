//! The world outside the store: the tmux server agents run in and the
//! processes the watchdog supervises.

pub mod children;
pub mod command;
pub mod files;
pub mod process;
pub mod task;
pub mod tmux;
