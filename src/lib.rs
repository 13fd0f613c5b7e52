//! keeper-tui: the operator's console for a threadkeeper store.
pub mod actions;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod logging;
pub mod loops;
pub mod report;
pub mod store;
pub mod sys;
pub mod tui;
pub mod ui;
pub mod verbs;
