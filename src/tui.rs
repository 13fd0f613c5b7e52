//! The TUI front door: terminal setup and teardown around `ui::run_loop`,
//! with the engine running beside it on the same runtime.

use std::process::ExitCode;

use crate::config::Settings;
use crate::demo::{DemoWorld, simulate};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ui::app::App;
use crate::ui::theme::Theme;

pub fn run(settings: Settings, demo: bool, mouse: bool) -> Result<ExitCode> {
    // Before anything is made (a demo world, a store under --create): a
    // run that cannot draw leaves nothing behind.
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(Error::Usage(
            "the TUI needs a terminal on stdout; for the loops without one, run `keeper-tui engine`".into(),
        ));
    }
    let world = if demo {
        eprintln!("keeper-tui: building a demo world …");
        let w = DemoWorld::create()?;
        eprintln!(
            "keeper-tui: demo world in {} (removed on exit)",
            w.dir.display()
        );
        Some(w)
    } else {
        None
    };
    let settings = match &world {
        Some(w) => {
            let mut s = w.settings();
            s.config.read_only = settings.config.read_only;
            s
        }
        None => settings,
    };
    let _log = crate::logging::init(&settings.log_dir, false)?;
    let tmux_server = settings.config.reaper.tmux.clone();
    // The engine on a runtime of its own, with one worker: its async work
    // is moving values and timers (its blocking work has its own threads),
    // and a second worker woke with the first at every event to look for
    // work to steal. A terminal slow to take output stalls only the UI,
    // never the loops.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(crate::engine::BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("cannot start the async runtime: {e}")))?;
    // The UI runs on this thread, outside the runtime: it sleeps on its
    // own queue until the clock's next second or the next event.
    let result = (|| {
        let (engine, handle) = Engine::new(settings)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let engine_task = rt.spawn(engine.run(async move {
            let _ = stopped.await;
        }));
        let agents = world.as_ref().map(|w| rt.spawn(simulate(w.db.clone())));
        let mut app = App::new(handle.snapshots.borrow().clone(), Theme::from_env());
        app.demo = world.as_ref().map(|w| w.dir.display().to_string());
        app.mouse = if mouse {
            crate::ui::app::Mouse::On
        } else {
            crate::ui::app::Mouse::Off
        };
        app.reap_command = Some(Box::new(move |session| {
            crate::sys::tmux::kill_command(&tmux_server, session)
        }));

        // color-eyre's hooks are installed by main before this point, so a
        // panic restores the terminal first and then reports.
        let mut terminal = ratatui::try_init()
            .map_err(|e| Error::Io(format!("cannot set up the terminal: {e}")))?;
        only_the_ui_thread_restores_on_panic();
        if mouse {
            let _ = ratatui::crossterm::execute!(
                std::io::stdout(),
                ratatui::crossterm::event::EnableMouseCapture
            );
        }
        let ui = crate::ui::run_loop(&mut terminal, &handle, app, rt.handle().clone());
        if mouse {
            let _ = ratatui::crossterm::execute!(
                std::io::stdout(),
                ratatui::crossterm::event::DisableMouseCapture
            );
        }
        ratatui::restore();

        if let Some(a) = agents {
            a.abort();
        }
        let _ = stop.send(());
        let engine_result = rt
            .block_on(engine_task)
            .map_err(|e| Error::Io(format!("engine task failed: {e}")))?;
        ui.map_err(|e| Error::Io(format!("terminal error: {e}")))?;
        engine_result
    })();
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    if let Some(w) = &world {
        eprintln!("keeper-tui: demo world {} removed", w.dir.display());
    }
    drop(world);
    result.map(|()| ExitCode::SUCCESS)
}

/// A panic in a background job is caught and answered as a failure while
/// the screen goes on: it must not restore the terminal under the running
/// UI. Only a panic on this (the UI's) thread restores and reports; the
/// others go to the log.
fn only_the_ui_thread_restores_on_panic() {
    let ui_thread = std::thread::current().id();
    let restore_and_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            // The terminal must stop sending mouse reports before it is
            // handed back.
            let _ = ratatui::crossterm::execute!(
                std::io::stdout(),
                ratatui::crossterm::event::DisableMouseCapture
            );
            restore_and_report(info);
        } else {
            tracing::error!("panic in a background job: {info}");
        }
    }));
}
