//! The TUI: draws the engine's snapshots and turns keys into commands.
//! Nothing here touches the store; the engine does all the I/O.

mod ages;
pub mod app;
mod draw;
mod frame;
pub mod keys;
pub mod layout;
pub mod painted;
pub mod panels;
pub mod popups;
mod screen;
pub mod theme;
mod wake;

use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{Event, KeyEventKind};

pub use self::ages::Ages;
use self::app::{App, Effect, Purpose};
pub use self::draw::{draw, draw_parts};
use self::painted::{Change, Painted, panels_moved};
use self::wake::{Wake, Wakes};
use crate::engine::{Command, EngineHandle, Snapshot};
use crate::store::now_unix;

/// Run the TUI on an already initialised terminal until the operator quits
/// or a signal asks us to stop. Blocks this thread; `engine` is the
/// runtime the engine runs on, where the answers are awaited.
pub fn run_loop(
    terminal: &mut ratatui::DefaultTerminal,
    handle: &EngineHandle,
    mut app: App,
    engine: tokio::runtime::Handle,
) -> std::io::Result<()> {
    let wakes = Wakes::start(engine, handle)?;
    let mut snapshots = handle.snapshots.clone();
    // Ages ("12s ago") and the clock move once a second; nothing else is
    // redrawn unless something happened.
    let mut tick = wake::next_tick();
    let mut screen = Screen {
        dirty: true,
        panels_due: false,
        whole_at_tick: false,
        painted: Painted::default(),
    };
    // Queued in key order; only the answer is awaited apart. True: quit.
    let run = |effects: Vec<Effect>| {
        for effect in effects {
            match effect {
                Effect::Quit => return true,
                // Answered at once and always yes: what the look finds
                // comes as a snapshot.
                Effect::Send(
                    command @ (Command::Observe | Command::ObserveLoop(_)),
                    Purpose::Silent,
                ) => wakes.tell(handle, command),
                Effect::Send(command, purpose) => wakes.send(handle, command, purpose),
            }
        }
        false
    };
    loop {
        screen.show(terminal, &mut app)?;
        let mut next = Some(wakes.next(tick));
        // Whatever else is already queued goes into the same frame.
        while let Some(w) = next {
            match w {
                Wake::Input(ev) => match ev? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        if run(app.on_key(key)) {
                            return Ok(());
                        }
                        screen.dirty = true;
                    }
                    Event::Mouse(m) => {
                        if run(app.on_mouse(m)) {
                            return Ok(());
                        }
                        screen.dirty = true;
                    }
                    Event::Resize(..) => screen.dirty = true,
                    _ => {}
                },
                Wake::Snapshot => {
                    if snapshots.has_changed().unwrap_or(false) {
                        let snap = snapshots.borrow_and_update().clone();
                        screen.snapshot(&mut app, snap);
                    }
                }
                Wake::Reply(purpose, reply) => {
                    // A look asked for answers on the snapshot channel.
                    let quiet = purpose == Purpose::Silent && reply.is_ok();
                    if run(app.on_reply(purpose, reply)) {
                        return Ok(());
                    }
                    screen.dirty |= !quiet;
                }
                Wake::Tick => {
                    let expired = app.tick(Instant::now());
                    if run(app.panel_looks_due(Instant::now())) {
                        return Ok(());
                    }
                    screen.ticked(terminal, &mut app, expired)?;
                    tick = wake::next_tick();
                }
                Wake::Stop => return Ok(()),
            }
            next = wakes.ready(tick);
        }
    }
}

/// What the next frame must draw.
struct Screen {
    /// Something besides time moved: the whole screen is drawn.
    dirty: bool,
    /// A snapshot moved only some panels: they are drawn again at once.
    panels_due: bool,
    /// A snapshot moved only times the screen shows, and not only in
    /// panels: drawn whole at the next tick, with the clock.
    whole_at_tick: bool,
    painted: Painted,
}

impl Screen {
    fn show(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
    ) -> std::io::Result<()> {
        if std::mem::take(&mut self.panels_due) && !self.dirty {
            self.patch(terminal, app)?;
        }
        if std::mem::take(&mut self.dirty) {
            draw_whole(terminal, app, &mut self.painted)?;
        }
        Ok(())
    }

    fn patch(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
    ) -> std::io::Result<()> {
        if let Some(changes) = self.painted.tick(app, now_unix()) {
            write_cells(terminal, &changes)
        } else {
            self.dirty = true;
            Ok(())
        }
    }

    fn snapshot(&mut self, app: &mut App, snap: Arc<Snapshot>) {
        let before = Arc::clone(&app.snapshot);
        // Paused, it is kept for later and nothing moves.
        let news = app.on_snapshot(snap);
        match panels_moved(&before, &app.snapshot) {
            Some(panels) => {
                for p in panels {
                    self.painted.due(p, app);
                }
                self.panels_due |= news;
            }
            None if news => self.dirty = true,
            None => self.whole_at_tick = true,
        }
    }

    /// The clock moved: the parts whose words about time changed are
    /// drawn again, unless something else needs the whole screen.
    fn ticked(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
        message_expired: bool,
    ) -> std::io::Result<()> {
        if message_expired || std::mem::take(&mut self.whole_at_tick) {
            self.dirty = true;
        }
        if self.dirty {
            return Ok(());
        }
        self.patch(terminal, app)
    }
}

/// The whole screen, the terminal's way (its diff against the last whole
/// frame), then the cells that diff could not know were patched since.
fn draw_whole(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    painted: &mut Painted,
) -> std::io::Result<()> {
    let now = now_unix();
    let mut parts = painted::Parts::Whole;
    let done = terminal.draw(|f| {
        let area = f.area();
        parts = draw::draw_parts(f.buffer_mut(), area, app, now);
    })?;
    let fix = painted.whole(done.buffer, parts, now);
    write_cells(terminal, &fix)
}

fn write_cells(terminal: &mut ratatui::DefaultTerminal, changes: &[Change]) -> std::io::Result<()> {
    use ratatui::backend::Backend;
    if changes.is_empty() {
        return Ok(());
    }
    let backend = terminal.backend_mut();
    backend.draw(changes.iter().map(|(x, y, c)| (*x, *y, c)))?;
    backend.flush()
}
