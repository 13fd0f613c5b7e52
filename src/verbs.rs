//! The one-shot CLI verbs. Each returns text for stdout or an `Error`
//! whose `Display` is the whole message for stderr.

mod jobs;
mod sessions;
mod tasks;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use crate::actions;
use crate::cli::{Cli, EngineArgs, PassArgs, SeedArgs, StatusArgs, Verb};
use crate::config::{Config, Settings};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::loops::janitor::Janitor;
use crate::loops::reaper::Reaper;
use crate::loops::{Allowed, Loop, LoopId, PassMode};
use crate::report;
use crate::store::seed::{SeedSpec, seed};
use crate::store::snapshot::{RollupState, StoreView};
use crate::store::{ReadStore, WriteStore, now_unix};

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Before the config is loaded: a fresh copy of the defaults is how an
    // operator replaces a broken file.
    if let Some(Verb::Config) = cli.command {
        return print_default_config();
    }
    // The guard must run whatever the operator's config says.
    if let Some(Verb::DemoGuard(a)) = &cli.command {
        return demo_guard(a);
    }
    let (config, config_path) = Config::load(cli.global.config.as_deref())?;
    let mut settings = Settings::resolve(config, config_path, cli.global.db.as_deref());
    settings.create_store = cli.global.create;
    let Some(command) = cli.command else {
        settings.config.read_only |= cli.read_only;
        return crate::tui::run(settings, cli.demo, !cli.no_mouse);
    };
    if cli.demo || cli.read_only || cli.no_mouse {
        return Err(Error::Refused(
            "--demo, --read-only and --no-mouse belong to the TUI (no command); `engine` takes its own --read-only".into(),
        ));
    }
    match command {
        Verb::Status(a) => status(&settings, &a),
        Verb::Pass(a) => pass(&settings, &a),
        Verb::Reopen(a) => {
            let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
            let done = actions::reopen_thread(&store, &a.thread_id, a.note.as_deref(), now_unix())?;
            out(&done.to_string())
        }
        Verb::Undo(a) => undo(&settings, a.pass),
        Verb::Engine(a) => engine(settings, &a),
        Verb::Info => info(&settings),
        Verb::Seed(a) => seed_verb(&a),
        Verb::Sessions(a) => sessions::sessions(&settings, &a),
        Verb::Reap(a) => sessions::reap(&settings, &a),
        Verb::Claim(a) => sessions::claim_verb(&settings, &a),
        Verb::Touch(a) => sessions::touch_verb(&settings, &a),
        Verb::Release(a) => sessions::release_verb(&settings, &a),
        Verb::Watchdog(v) => watchdog_verb(&settings, &v),
        Verb::Tasks(a) => tasks::tasks(&settings, &a),
        Verb::Cancel(a) => tasks::cancel(&settings, &a),
        Verb::Hooks(a) => tasks::hooks(&settings, &a),
        Verb::Jobs(a) => jobs::jobs(&settings, &a),
        Verb::Bridge(a) => crate::demo::bridge::run(&a).map(|()| ExitCode::SUCCESS),
        Verb::DemoGuard(a) => demo_guard(&a),
        Verb::Config => print_default_config(),
    }
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "a verb like the others, whose results `run` returns"
)]
fn print_default_config() -> Result<ExitCode> {
    // As is, without `out`'s extra newline, so the output is the file byte
    // for byte.
    let _ = std::io::stdout()
        .lock()
        .write_all(crate::config::DEFAULT_CONFIG_TOML.as_bytes());
    Ok(ExitCode::SUCCESS)
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "every verb ends in `out(..)`; the Result keeps call sites uniform"
)]
pub(crate) fn out(text: &str) -> Result<ExitCode> {
    out_exact(&crate::text::printable_lines(text))
}

/// Machine-readable output (`--json`): exactly as produced.
#[allow(clippy::unnecessary_wraps, reason = "as `out`")]
pub(crate) fn out_exact(text: &str) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = writeln!(stdout, "{text}");
    Ok(ExitCode::SUCCESS)
}

fn status(settings: &Settings, a: &StatusArgs) -> Result<ExitCode> {
    let window = a.window_days.unwrap_or(settings.config.window_days);
    let mut view =
        StoreView::open_cached(&settings.db_path, window, settings.cache_dir.as_deref())?;
    let figures = view.figures(now_unix())?;
    keep_rollup(settings, &mut view);
    if a.json {
        out_exact(&report::json(&settings.db_path, &figures))
    } else {
        out(&report::text(&figures))
    }
}

/// A rollup that could not be used, or cannot be kept, is worth a line in
/// the log file, never a failed `status` (nor a word on its output, which
/// scripts read).
fn keep_rollup(settings: &Settings, view: &mut StoreView) {
    let doubt = match view.rollup_state() {
        RollupState::Redone(d) => Some(d.to_string()),
        _ => None,
    };
    let kept = view.save_rollup().err();
    if doubt.is_none() && kept.is_none() {
        return;
    }
    let Ok(_log) = crate::logging::init(&settings.log_dir, false) else {
        return;
    };
    if let Some(d) = doubt {
        tracing::info!("status: the kept rollup was not used: {d}; counted the store afresh");
    }
    if let Some(e) = kept {
        tracing::warn!("status: cannot keep the rollup: {e}");
    }
}

fn pass(settings: &Settings, a: &PassArgs) -> Result<ExitCode> {
    let lp: Box<dyn Loop> = match a.loop_id {
        LoopId::Janitor => {
            let mut cfg = settings.config.janitor.clone();
            if let Some(d) = a.days {
                cfg.idle_close_days = d;
            }
            Box::new(Janitor::new(cfg))
        }
        LoopId::Reaper
        | LoopId::Watchdog
        | LoopId::Reconciler
        | LoopId::Hooks
        | LoopId::Jobs
        | LoopId::Watcher
            if a.days.is_some() =>
        {
            return Err(Error::Usage(format!(
                "--days belongs to the janitor, not the {}",
                a.loop_id
            )));
        }
        LoopId::Reaper => Box::new(Reaper::new(settings.config.reaper.clone())),
        LoopId::Watchdog => Box::new(crate::loops::watchdog::Watchdog::new(
            settings.config.watchdog.clone(),
        )),
        LoopId::Reconciler => Box::new(crate::loops::reconciler::Reconciler::new(
            settings.config.tasks.clone(),
            settings.config.hooks.clone(),
        )),
        LoopId::Hooks => Box::new(crate::loops::hooks::HookSender::new(
            settings.config.hooks.clone(),
            &settings.db_path,
        )),
        // A one-shot process would start runs and leave them unwatched.
        LoopId::Jobs if !a.dry_run => {
            return Err(Error::Refused(
                "jobs run inside `keeper-tui engine` or the TUI, which wait on what they start; `keeper-tui jobs run NAME` queues one for them (`pass jobs --dry-run` shows what a pass would start)".into(),
            ));
        }
        LoopId::Jobs => Box::new(crate::jobs::runner::JobRunner::new(settings)),
        LoopId::Watcher => Box::new(crate::loops::watcher::Watcher::new(
            settings.config.watcher.clone(),
            settings.config.jobs.clone(),
        )),
    };
    let now = now_unix();
    let report = if a.dry_run {
        let read = ReadStore::open(&settings.db_path)?;
        lp.dry_run(&read.conn, &read.path, now)?
    } else {
        let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
        let allowed = if a.yes {
            Allowed::Any
        } else {
            Allowed::Configured
        };
        let r = actions::run_pass_allowed(
            lp.as_ref(),
            &settings.db_path,
            &store,
            PassMode::Forced,
            allowed,
            now,
        )?;
        if let Some(held) = r.held {
            return Err(past_the_limit(a.loop_id, held));
        }
        r
    };
    let mut text = format!("{}: {}", a.loop_id, report.summary);
    for line in &report.detail {
        text.push_str("\n  ");
        text.push_str(line);
    }
    out(&text)
}

fn undo(settings: &Settings, pass: Option<i64>) -> Result<ExitCode> {
    let Some(pass) = pass else {
        let read = ReadStore::open(&settings.db_path)?;
        let passes = crate::store::undo::undoable(&read.conn)
            .map_err(|e| Error::from_sqlite(&read.path, e))?;
        if passes.is_empty() {
            return out("no janitor pass to undo");
        }
        let now = now_unix();
        let lines: Vec<String> = passes
            .iter()
            .map(|p| {
                format!(
                    "#{}  {} ago  closed {}",
                    p.id,
                    crate::report::fmt_age(now - p.at),
                    p.closed
                )
            })
            .collect();
        return out(&format!(
            "janitor passes that can be undone:\n{}",
            lines.join("\n")
        ));
    };
    let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
    let done = actions::undo_pass(&store, pass, now_unix())?;
    out(&done.to_string())
}

#[allow(clippy::unnecessary_wraps, reason = "a verb like the others")]
fn demo_guard(a: &crate::cli::DemoGuardArgs) -> Result<ExitCode> {
    crate::demo::guard(a);
    Ok(ExitCode::SUCCESS)
}

/// A pass that would change more than its limit, and did nothing.
pub(crate) fn past_the_limit(id: LoopId, held: crate::loops::Held) -> Error {
    let (verb, _) = id.changes();
    let (one, many, key) = match id {
        LoopId::Janitor => ("thread", "threads", "[janitor].max_close_per_pass"),
        LoopId::Reaper => ("session", "sessions", "[reaper].max_reap_per_pass"),
        LoopId::Watchdog => ("process", "processes", "the limit"),
        LoopId::Reconciler => ("task", "tasks", "the limit"),
        LoopId::Hooks => ("hook", "hooks", "the limit"),
        LoopId::Jobs => ("run", "runs", "the limit"),
        LoopId::Watcher => ("session", "sessions", "[watcher].max_new_per_pass"),
    };
    // One is above a limit of 0.
    let what = if held.would == 1 { one } else { many };
    Error::Refused(format!(
        "{id}: would {verb} {} {what}, more than {key} ({}); nothing was changed. See them with `keeper-tui pass {id} --dry-run`, then run `keeper-tui pass {id} --yes`",
        held.would, held.limit
    ))
}

fn engine(settings: Settings, a: &EngineArgs) -> Result<ExitCode> {
    let mut settings = settings;
    settings.config.read_only |= a.read_only;
    let _guard = crate::logging::init(&settings.log_dir, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(crate::engine::BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let (engine, handle) = Engine::new(settings)?;
        let printer = tokio::spawn(crate::logging::print_notices(handle.clone()));
        let result = engine.run(crate::logging::shutdown_signal()).await;
        printer.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

fn info(settings: &Settings) -> Result<ExitCode> {
    let c = &settings.config;
    let mut t = String::new();
    let w = &mut t;
    let cfg = settings.config_path.as_ref().map_or_else(
        || match crate::config::default_config_path() {
            Some(p) => format!("{} (not present: defaults in use)", p.display()),
            None => "none (no $HOME): defaults in use".into(),
        },
        |p| p.display().to_string(),
    );
    let _ = writeln!(w, "config:    {cfg}");
    if settings.db_path.as_os_str().is_empty() {
        let _ = writeln!(
            w,
            "database:  none (no --db, THREADKEEPER_DB, [store].db or $HOME): name it with --db PATH or THREADKEEPER_DB=PATH"
        );
    } else {
        let _ = writeln!(
            w,
            "database:  {} (from {})",
            settings.db_path.display(),
            settings.db_from
        );
    }
    let layout = match ReadStore::open(&settings.db_path) {
        Ok(r) => format!(
            "{} (user_version {}, journal {}, {} tables)",
            r.layout.kind.describe(),
            r.layout.user_version,
            r.layout.journal_mode,
            r.layout.tables.len()
        ),
        Err(e) => format!("unavailable: {e}"),
    };
    let _ = writeln!(w, "layout:    {layout}");
    let _ = writeln!(
        w,
        "log:       {}",
        settings.log_dir.join(crate::logging::LOG_FILE).display()
    );
    let _ = writeln!(
        w,
        "session:   {} (events.session_id of keeper's rows)",
        c.session_id
    );
    let _ = writeln!(w, "window:    {} days", c.window_days);
    let _ = writeln!(w, "read-only: {}", c.read_only);
    let _ = writeln!(
        w,
        "refresh:   on file change, debounced {} ms",
        c.debounce_ms
    );
    let _ = writeln!(w, "loops:");
    let j = &c.janitor;
    let every = if j.interval_secs == 0 {
        "off (interval_secs = 0; forced passes still run)".to_string()
    } else {
        format!("every {} s", j.interval_secs)
    };
    let _ = writeln!(
        w,
        "  janitor   {every}, closes threads idle > {}",
        crate::store::threads::days_shown(j.idle_close_days)
    );
    let reaper = &c.reaper;
    let every = if reaper.interval_secs == 0 {
        "off".to_string()
    } else {
        format!("every {} s", reaper.interval_secs)
    };
    let markers: Vec<String> = reaper.markers.iter().map(|m| format!("{m:?}")).collect();
    let _ = write!(
        w,
        "  reaper    {every}, markers {}, grace {} s, boot reap {}, {}",
        markers.join(" "),
        reaper.grace_secs,
        if reaper.boot_reap { "on" } else { "off" },
        reaper.tmux.describe()
    );
    let wd = &c.watchdog;
    let names: Vec<&str> = wd.processes.iter().map(|p| p.name.as_str()).collect();
    let _ = write!(
        w,
        "\n  watchdog  {}",
        if names.is_empty() {
            "no supervised processes ([[watchdog.process]] in the config)".to_string()
        } else {
            format!("{} (tick {} s)", names.join(", "), wd.tick_secs)
        }
    );
    out(&t)
}

fn watchdog_verb(settings: &Settings, v: &crate::cli::WatchdogVerb) -> Result<ExitCode> {
    use crate::loops::watchdog::Watchdog;
    let wd = Watchdog::new(settings.config.watchdog.clone());
    let none = "no supervised processes: add [[watchdog.process]] tables to the config (`keeper-tui config` prints an example)";
    match v {
        // Nothing to report is a report, not a failure.
        crate::cli::WatchdogVerb::Status if wd.config.processes.is_empty() => out(none),
        crate::cli::WatchdogVerb::Reset(_) if wd.config.processes.is_empty() => {
            Err(Error::Usage(none.into()))
        }
        crate::cli::WatchdogVerb::Status => {
            let read = ReadStore::open(&settings.db_path)?;
            let now = now_unix();
            let rows = wd
                .rows(&read.conn, now)
                .map_err(|e| Error::from_sqlite(&read.path, e))?;
            let mut lines = Vec::new();
            for r in rows {
                let h = &r.health;
                let pid = h
                    .liveness
                    .pid()
                    .map_or_else(|| "-".into(), |p| p.to_string());
                let beat = h
                    .heartbeat_age
                    .map_or_else(|| "none".into(), |a| format!("{a}s"));
                let verdict = if h.healthy() {
                    "healthy".to_string()
                } else {
                    h.why()
                };
                let breaker = if r.state.failures >= r.breaker_limit {
                    "  CIRCUIT BROKEN"
                } else {
                    ""
                };
                lines.push(format!(
                    "{}: pid {pid}, heartbeat {beat}, version {}, tier {}, failures {}/{}{breaker} — {verdict}",
                    h.name,
                    h.stamp.as_deref().unwrap_or("?"),
                    r.state.tier,
                    r.state.failures,
                    r.breaker_limit
                ));
                if r.state.last_action_at > 0 {
                    lines.push(format!(
                        "  last: {} ({} ago)",
                        r.state.last_action,
                        crate::report::fmt_age(now - r.state.last_action_at)
                    ));
                } else if !r.state.last_action.is_empty() {
                    lines.push(format!("  last: {}", r.state.last_action));
                }
            }
            out(&lines.join("\n"))
        }
        crate::cli::WatchdogVerb::Reset(a) => {
            let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
            let read = ReadStore::open(&settings.db_path)?;
            out(&wd.reset(&store, &read.conn, &a.name)?)
        }
    }
}

fn seed_verb(a: &SeedArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    eprintln!(
        "seeding {} threads, {} events, {} notes into {} ...",
        a.threads,
        a.events,
        a.notes,
        a.path.display()
    );
    let spec = SeedSpec {
        threads: a.threads,
        events: a.events,
        notes: a.notes,
        seed: a.seed,
        now: a.now.unwrap_or_else(now_unix),
        span_days: a.days,
    };
    let c = seed(&a.path, spec)?;
    out(&format!(
        "seeded {}: threads active={} idle={} closed={}, {} events, {} notes in {:.1} s",
        a.path.display(),
        c.active,
        c.idle,
        c.closed,
        a.events,
        a.notes,
        started.elapsed().as_secs_f64()
    ))
}
