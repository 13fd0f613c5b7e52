//! What wakes the UI thread, on one queue. The thread sleeps on that queue
//! with a timeout at the clock's next second, so it wakes once a second
//! and once for each key, snapshot or answer, never more: no timer wheel
//! waking it early to re-sleep, no input poll on every turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Tells the terminal's reader to stop reading: keys typed while
    /// keeper-tui shuts down belong to the shell.
    done: Arc<AtomicBool>,
}

impl Drop for Wakes {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// How long the reader waits for input before it looks whether to stop.
const READ_PATIENCE: Duration = Duration::from_secs(5);

impl Wakes {
    /// Start the sources: a thread reading the terminal, and on the
    /// engine's runtime one task passing on snapshots and one on signals.
    pub fn start(engine: Handle, handle: &EngineHandle) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let input = tx.clone();
        let done = Arc::new(AtomicBool::new(false));
        let stop_reading = Arc::clone(&done);
        std::thread::Builder::new()
            .name("keeper-keys".into())
            .spawn(move || {
                use ratatui::crossterm::event::{poll, read};
                // Input is taken only once it is there and the UI still
                // runs.
                while !stop_reading.load(Ordering::SeqCst) {
                    let ev = match poll(READ_PATIENCE) {
                        Ok(false) => continue,
                        Ok(true) if stop_reading.load(Ordering::SeqCst) => break,
                        Ok(true) => read(),
                        Err(e) => Err(e),
                    };
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
        Ok(Wakes {
            tx,
            rx,
            engine,
            done,
        })
    }

    /// Wait for the next wake, or the clock's tick at `tick`. A tick that
    /// is due comes first: a stream of keys or mouse moves must not hold
    /// off the clock, the looks and message expiry.
    pub fn next(&self, tick: Instant) -> Wake {
        let now = Instant::now();
        if now >= tick {
            return Wake::Tick;
        }
        match self.rx.recv_timeout(tick - now) {
            Ok(w) => w,
            Err(RecvTimeoutError::Timeout) => Wake::Tick,
            Err(RecvTimeoutError::Disconnected) => Wake::Stop,
        }
    }

    /// A wake already queued, without waiting; none once the clock's
    /// tick at `tick` is due, so that a frame is drawn and the tick comes.
    pub fn ready(&self, tick: Instant) -> Option<Wake> {
        if Instant::now() >= tick {
            return None;
        }
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
