//! Logging for the long-running front doors: a file log always (nothing on
//! stdout while a TUI owns the terminal), plus stderr for headless runs.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::engine::EngineHandle;
use crate::error::{Error, Result};

pub const LOG_FILE: &str = "keeper-tui.log";

/// Lines waiting for the log file before a writer waits.
const LOG_QUEUE_LINES: usize = 4_096;

/// Start logging to `dir/keeper-tui.log`; keep the guard alive until exit
/// so buffered lines are flushed.
pub fn init(dir: &Path, stderr: bool) -> Result<WorkerGuard> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Io(format!(
            "cannot create log directory {}: {e}",
            dir.display()
        ))
    })?;
    let appender = tracing_appender::rolling::never(dir, LOG_FILE);
    // The default queue holds 128,000 lines: 4 MiB resident in every run,
    // the biggest single block of a TUI that idles at a few MiB of data.
    // A few thousand lines absorb any burst the loops make; past that the
    // producer waits for the file rather than dropping a line of the only
    // record of what happened.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(false)
        .finish(appender);
    // `KEEPER_LOG=debug`, or per target (`keeper_tui=debug,info`); a value
    // that does not parse leaves the default.
    let filter = std::env::var("KEEPER_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter).with(file);
    let result = if stderr {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init()
    } else {
        registry.try_init()
    };
    result.map_err(|e| Error::Io(format!("cannot start logging: {e}")))?;
    Ok(guard)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Headless engines have no screen: say when the store figures change.
pub async fn print_notices(handle: EngineHandle) {
    let mut rx = handle.snapshots;
    let mut last_refresh = None;
    while rx.changed().await.is_ok() {
        let snap = rx.borrow_and_update().clone();
        let at = snap.last_refresh.as_ref().map(|r| (r.at, r.took_us));
        if at != last_refresh
            && let (Some(r), Some(f)) = (&snap.last_refresh, &snap.store)
        {
            tracing::debug!(
                took_us = r.took_us,
                new_events = r.stats.new_events,
                events_high_water = f.events_high_water,
                "store refreshed"
            );
        }
        last_refresh = at;
    }
}
