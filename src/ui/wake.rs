//! What wakes the UI thread, on one queue. The thread sleeps on that queue
//! with a timeout at the clock's next second, so it wakes once a second
//! and once for each key, snapshot or answer, never more: no timer wheel
//! waking it early to re-sleep, no input poll on every turn.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::Event;
use tokio::runtime::Handle;
use tokio::signal::unix::{SignalKind, signal};

use super::app::Purpose;
use crate::engine::{EngineError, EngineHandle, Reply};

pub enum Wake {
    Input(std::io::Result<Event>),
    /// The engine published a snapshot (read the newest from the watch).
    Snapshot,
    Reply(Purpose, Reply),
    /// SIGTERM or SIGHUP, or the engine is gone.
    Stop,
    /// The clock's next second.
    Tick,
}

pub struct Wakes {
    tx: Sender<Wake>,
    rx: Receiver<Wake>,
    engine: Handle,
}

impl Wakes {
    /// Start the sources: a thread reading the terminal, and on the
    /// engine's runtime one task passing on snapshots and one on signals.
    pub fn start(engine: Handle, handle: &EngineHandle) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let input = tx.clone();
        std::thread::Builder::new()
            .name("keeper-keys".into())
            .spawn(move || {
                loop {
                    let ev = ratatui::crossterm::event::read();
                    let failed = ev.is_err();
                    if input.send(Wake::Input(ev)).is_err() || failed {
                        break;
                    }
                }
            })?;
        let (mut term, mut hup) = {
            let _in = engine.enter();
            (
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            )
        };
        let stop = tx.clone();
        engine.spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = stop.send(Wake::Stop);
        });
        let mut snapshots = handle.snapshots.clone();
        let news = tx.clone();
        engine.spawn(async move {
            while snapshots.changed().await.is_ok() {
                snapshots.borrow_and_update();
                if news.send(Wake::Snapshot).is_err() {
                    return;
                }
            }
            let _ = news.send(Wake::Stop);
        });
        Ok(Wakes { tx, rx, engine })
    }

    /// Wait for the next wake, or the clock's tick at `tick`.
    pub fn next(&self, tick: Instant) -> Wake {
        match self
            .rx
            .recv_timeout(tick.saturating_duration_since(Instant::now()))
        {
            Ok(w) => w,
            Err(RecvTimeoutError::Timeout) => Wake::Tick,
            Err(RecvTimeoutError::Disconnected) => Wake::Stop,
        }
    }

    /// A wake already queued, without waiting.
    pub fn ready(&self) -> Option<Wake> {
        self.rx.try_recv().ok()
    }

    /// Send a command; its answer comes back as a wake.
    pub fn send(&self, handle: &EngineHandle, command: crate::engine::Command, purpose: Purpose) {
        let answer = {
            let _in = self.engine.enter();
            handle.send(command)
        };
        let tx = self.tx.clone();
        self.engine.spawn(async move {
            let reply = answer.await.unwrap_or(Err(EngineError::Stopped));
            let _ = tx.send(Wake::Reply(purpose, reply));
        });
    }

    /// Send a command whose answer nobody waits for.
    pub fn tell(&self, handle: &EngineHandle, command: crate::engine::Command) {
        let _in = self.engine.enter();
        drop(handle.send(command));
    }
}

/// Just after the clock's next whole second: the time shown changes on
/// the second, not up to a second late.
pub fn next_tick() -> Instant {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(Duration::ZERO, |d| {
            Duration::from_nanos(u64::from(d.subsec_nanos()))
        });
    Instant::now() + Duration::from_secs(1).saturating_sub(into) + Duration::from_millis(2)
}
