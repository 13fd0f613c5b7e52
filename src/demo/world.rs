//! The demo's world: a temp directory with a seeded store, a private tmux
//! server with agent sessions, a bridge under the watchdog, and jobs fed
//! by a schedule and by agent transcripts. Removed when dropped, whatever
//! the exit path.

use std::path::PathBuf;
use std::time::Duration;

use super::bridge::Files;
use crate::config::{Config, Settings};
use crate::error::{Error, Result};
use crate::store::now_unix;
use crate::store::seed::{SeedSpec, seed};
use crate::sys::process::{Identity, Target, inspect, read_pid_file, signal_checked};
use crate::sys::tmux::{Server, Tmux};

/// The demo's directory and its private tmux server; both go away when
/// dropped, whatever the exit path.
pub struct DemoWorld {
    pub dir: PathBuf,
    pub db: PathBuf,
    /// `tmux -L` name of the demo's own server: the operator's sessions are
    /// never the demo reaper's business.
    pub tmux_socket: String,
}

impl DemoWorld {
    fn tmux(&self) -> Tmux {
        Tmux::new(Server::Named(self.tmux_socket.clone()), TMUX_TIMEOUT)
    }
}

/// How often the guard looks for the keeper-tui that made the world.
const GUARD_LOOKS: Duration = Duration::from_millis(250);

/// `keeper-tui demo-guard`: wait, in a session of its own (no terminal's
/// SIGHUP reaches it), until the keeper-tui that made the world has ended
/// — `q`, a signal, `kill -9`, its pane killed — then remove the world.
/// A clean exit has done it already; doing it again is harmless.
pub fn guard(a: &crate::cli::DemoGuardArgs) {
    let alive = || inspect(a.parent).is_some_and(|i| !i.zombie && i.started_at == a.started);
    while alive() {
        std::thread::sleep(GUARD_LOOKS);
    }
    drop(DemoWorld {
        db: a.dir.join("threadkeeper.sqlite"),
        dir: a.dir.clone(),
        tmux_socket: a.socket.clone(),
    });
}

impl Drop for DemoWorld {
    fn drop(&mut self) {
        // First, while the store that records them is still there.
        super::jobs::stop_runs(&self.db);
        // The demo bridge (and any restart the watchdog made) goes too.
        if let Some((pid, _)) = read_pid_file(&Files::in_dir(&self.bridge_dir()).pid)
            && let Some(info) = inspect(pid)
        {
            let pattern = format!("bridge --dir {}", self.bridge_dir().display());
            let t = Target::of(&info, Identity::Pattern(pattern), Some(pid));
            let _ = signal_checked(&t, nix::sys::signal::Signal::SIGKILL);
        }
        let tmux = self.tmux();
        // tmux leaves its socket file behind after kill-server: ask where it is first.
        let socket_path = tmux.socket_path();
        tmux.kill_server();
        if let Some(p) = socket_path {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TMUX_TIMEOUT: Duration = Duration::from_secs(5);

/// Agent sessions for the demo: two orphans, one claimed, one agent with a
/// prefix, and two that are not agents at all.
const DEMO_SESSIONS: &[&str] = &[
    "msg-warm-1001",
    "msg-warm-1002",
    "msg-warm-1003",
    "echo-msg-warm-1718",
    "topic-12476",
    "scratch",
];

fn start_demo_sessions(tmux: &Tmux) {
    for name in DEMO_SESSIONS {
        if let Err(e) = tmux.new_session(name, "sleep 86400") {
            tracing::info!("demo: tmux unavailable ({e}), the Sessions panel will say so");
            return;
        }
    }
}

impl DemoWorld {
    pub fn create() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("keeper-demo-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Io(format!(
                "cannot create the demo directory {}: {e}",
                dir.display()
            ))
        })?;
        let tmux_socket = format!("keeper-demo-{}", std::process::id());
        let world = DemoWorld {
            db: dir.join("threadkeeper.sqlite"),
            dir,
            tmux_socket,
        };
        let spec = SeedSpec {
            threads: 1500,
            events: 40_000,
            notes: 8000,
            seed: 7,
            now: now_unix(),
            span_days: 30,
        };
        seed(&world.db, spec)?;
        super::jobs::lay_out_transcripts(&world.dir)?;
        start_demo_sessions(&world.tmux());
        world.run_tasks_in_agents();
        std::fs::create_dir_all(world.bridge_dir()).map_err(|e| {
            Error::Io(format!(
                "cannot create {}: {e}",
                world.bridge_dir().display()
            ))
        })?;
        world.start_guard()?;
        crate::sys::process::start_detached(
            &world.bridge_argv(),
            None,
            &world.bridge_dir().join("bridge.log"),
        )
        .map_err(|e| Error::Io(format!("cannot start the demo bridge: {e}")))?;
        let store = crate::store::WriteStore::open_existing(&world.db, "keeper-demo")?;
        store.with_conn(None, |c| {
            crate::store::keeper::claim(c, "msg-warm-1003", "demo-jobs", 3600, now_unix())
        })?;
        Ok(world)
    }

    /// The seeded running tasks name made-up pids, which the reconciler
    /// would end at once. Two become the processes of agent sessions (a
    /// cancel ends the session's process, and the reaper sees the task),
    /// the third a task in a visible terminal (pid 0).
    fn run_tasks_in_agents(&self) {
        let tmux = self.tmux();
        let crate::sys::tmux::Listing::Sessions(sessions) = tmux.list() else {
            return;
        };
        let Ok(panes) = tmux.panes() else {
            return;
        };
        let pid_of = |name: &str| {
            let id = &sessions.iter().find(|s| s.name == name)?.id;
            panes.iter().find(|(s, _)| s == id).map(|(_, p)| *p)
        };
        let pids: Vec<i64> = ["msg-warm-1001", "msg-warm-1002"]
            .iter()
            .filter_map(|n| pid_of(n).map(i64::from))
            .chain([0])
            .collect();
        let now = now_unix();
        let pointed =
            crate::store::WriteStore::open_existing(&self.db, "keeper-demo").and_then(|s| {
                s.write(|tx| {
                    let ids: Vec<String> = tx
                        .prepare("SELECT id FROM tasks WHERE ended_at IS NULL ORDER BY id")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    for (id, pid) in ids.iter().zip(&pids) {
                        tx.execute(
                            "UPDATE tasks SET pid = ?1, started_at = ?2 WHERE id = ?3",
                            rusqlite::params![pid, now, id],
                        )?;
                    }
                    Ok(())
                })
            });
        if let Err(e) = pointed {
            tracing::info!("demo: running tasks left as seeded: {e}");
        }
    }

    /// The guard that removes the world if this process ends without
    /// doing it (`kill -9`, its terminal gone).
    fn start_guard(&self) -> Result<()> {
        let me = std::process::id() as i32;
        let started = inspect(me).map_or(0, |i| i.started_at);
        let exe = std::env::current_exe()
            .map_or_else(|_| "keeper-tui".into(), |p| p.display().to_string());
        let argv = vec![
            exe,
            "demo-guard".into(),
            "--parent".into(),
            me.to_string(),
            "--started".into(),
            started.to_string(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--socket".into(),
            self.tmux_socket.clone(),
        ];
        crate::sys::process::start_detached(&argv, None, std::path::Path::new("/dev/null"))
            .map(|_| ())
            .map_err(|e| Error::Io(format!("cannot start the demo's guard: {e}")))
    }

    pub fn bridge_dir(&self) -> PathBuf {
        self.dir.join("bridge")
    }

    /// A bridge that ignores SIGTERM: a hang (create `bridge/bridge.hang`)
    /// climbs all three tiers before the watchdog brings it back.
    fn bridge_argv(&self) -> Vec<String> {
        let exe = std::env::current_exe()
            .map_or_else(|_| "keeper-tui".into(), |p| p.display().to_string());
        let dir = self.bridge_dir().display().to_string();
        vec![
            exe,
            "bridge".into(),
            "--dir".into(),
            dir,
            "--version".into(),
            "demo-1".into(),
            "--heartbeat-ms".into(),
            "500".into(),
            "--ignore-sigterm".into(),
        ]
    }

    /// Short intervals so things visibly happen; the janitor waits for its
    /// interval (or a forced pass) so the operator sees it close threads.
    pub fn settings(&self) -> Settings {
        let mut config = Config::default();
        config.janitor.interval_secs = 120;
        config.janitor.run_at_start = false;
        // The demo's sessions are fresh: they turn orphan after the grace and
        // the scheduled pass reaps them while you watch (or press R).
        config.reaper.tmux = Server::Named(self.tmux_socket.clone());
        config.reaper.grace_secs = 20;
        config.reaper.idle_secs = 20;
        config.reaper.interval_secs = 90;
        config.reaper.boot_reap = false;
        let files = Files::in_dir(&self.bridge_dir());
        config.watchdog.tick_secs = 5;
        config.watchdog.processes = vec![crate::config::ProcessConfig {
            name: "bridge".into(),
            pid_file: files.pid,
            heartbeat_file: files.heartbeat,
            heartbeat_stale_secs: 5,
            version_file: Some(files.version),
            version_repo: None,
            version_command: None,
            restart_markers: vec![files.marker],
            start: self.bridge_argv(),
            cwd: None,
            log_file: self.bridge_dir().join("bridge.log"),
            cmdline_pattern: Some(format!("bridge --dir {}", self.bridge_dir().display())),
            cooldown_secs: 5,
            grace_secs: 2,
            breaker_limit: 3,
            quiet_secs: 60,
        }];
        super::jobs::configure(&mut config, &self.dir);
        config.log_dir = Some(self.dir.join("log"));
        let mut settings = Settings::resolve(config, None, Some(&self.db));
        // The demo's store goes with its directory; so does its rollup.
        settings.cache_dir = Some(self.dir.join("cache"));
        settings
    }
}
