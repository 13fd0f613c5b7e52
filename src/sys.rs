//! The world outside the store: the tmux server agents run in.

pub mod tmux;
