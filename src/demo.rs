//! `keeper-tui --demo`: a throwaway world in a temp directory — a seeded
//! store with thirty days of loop activity, stale threads for the janitor,
//! and a few simulated agents writing while you watch. Removed on exit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::config::{Config, Settings};
use crate::error::{Error, Result};
use crate::store::now_unix;
use crate::store::seed::{LOOP_KINDS, OUTCOME_KINDS, Rng, SeedSpec, seed};

/// The demo's directory and its private tmux server; both go away when
/// dropped, whatever the exit path.
pub struct DemoWorld {
    pub dir: PathBuf,
    pub db: PathBuf,
    /// `tmux -L` name of the demo's own server: the operator's sessions are
    /// never the demo reaper's business.
    pub tmux_socket: String,
}

impl Drop for DemoWorld {
    fn drop(&mut self) {
        // The demo bridge (and any restart the watchdog made) goes too.
        if let Some((pid, _)) = crate::sys::process::read_pid_file(
            &crate::bridge::Files::in_dir(&self.bridge_dir()).pid,
        ) && crate::sys::process::read_proc(pid)
            .is_some_and(|p| p.cmdline.contains("bridge --dir"))
        {
            let _ = crate::sys::process::signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
        // tmux leaves its socket file behind after kill-server: ask where it is first.
        let socket_path = std::process::Command::new("tmux")
            .args([
                "-L",
                &self.tmux_socket,
                "display-message",
                "-p",
                "#{socket_path}",
            ])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty());
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.tmux_socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
        if let Some(p) = socket_path {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

fn start_demo_sessions(socket: &str) {
    for name in DEMO_SESSIONS {
        let started = std::process::Command::new("tmux")
            .args([
                "-L",
                socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                name,
                "sleep 86400",
            ])
            .stderr(std::process::Stdio::null())
            .status();
        if !started.is_ok_and(|s| s.success()) {
            tracing::info!("demo: tmux unavailable, the Sessions panel will say so");
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
        start_demo_sessions(&world.tmux_socket);
        std::fs::create_dir_all(world.bridge_dir()).map_err(|e| {
            Error::Io(format!(
                "cannot create {}: {e}",
                world.bridge_dir().display()
            ))
        })?;
        crate::sys::process::start_detached(
            &world.bridge_argv(),
            None,
            &world.bridge_dir().join("bridge.log"),
        )
        .map_err(|e| Error::Io(format!("cannot start the demo bridge: {e}")))?;
        let store = crate::store::WriteStore::open_existing(&world.db, "keeper-demo")?;
        store
            .with_busy_timeout(None, |c| {
                crate::store::keeper::claim(c, "msg-warm-1003", "demo-jobs", 3600, now_unix())
            })
            .map_err(|e| Error::from_sqlite(&world.db, e))?;
        Ok(world)
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
        config.reaper.tmux = crate::sys::tmux::Server::Named(self.tmux_socket.clone());
        config.reaper.grace_secs = 20;
        config.reaper.interval_secs = 90;
        config.reaper.boot_reap = false;
        let files = crate::bridge::Files::in_dir(&self.bridge_dir());
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
        config.log_dir = Some(self.dir.join("log"));
        Settings::resolve(config, None, Some(&self.db))
    }
}

/// Play a few agents: every couple of seconds a loop of threadkeeper's
/// records a pass, an outcome lands, or a note touches a recent thread.
pub async fn simulate(db: PathBuf) {
    let mut rng = Rng::new(now_unix() as u64);
    let mut tick = tokio::time::interval(Duration::from_millis(2500));
    loop {
        tick.tick().await;
        let db = db.clone();
        let seed = rng.next_u64();
        let done = tokio::task::spawn_blocking(move || one_step(&db, seed)).await;
        if let Ok(Err(e)) = done {
            tracing::debug!("demo agent step failed: {e}");
        }
    }
}

fn one_step(db: &Path, seed: u64) -> rusqlite::Result<()> {
    let mut rng = Rng::new(seed);
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let now = now_unix();
    let session = format!("s_demo_{}", rng.below(4));
    match rng.below(10) {
        0..=4 => {
            let kind = rng.weighted(LOOP_KINDS);
            if kind == "janitor_pass" {
                return Ok(());
            }
            conn.execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,?3,'ok',?4)",
                params![session, kind, now.to_string(), now],
            )?;
        }
        5..=6 => {
            let kind = rng.weighted(OUTCOME_KINDS);
            conn.execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,'','demo',?3)",
                params![session, kind, now],
            )?;
        }
        _ => {
            let id: Option<String> = conn
                .query_row(
                    "SELECT id FROM threads WHERE state='active' ORDER BY last_touched_at DESC LIMIT 1 OFFSET ?1",
                    [rng.below(20) as i64],
                    |r| r.get(0),
                )
                .ok();
            if let Some(id) = id {
                let text = format!("demo agent step {}", rng.hex(4));
                let tx = conn.unchecked_transaction()?;
                tx.execute(
                    "INSERT INTO notes (thread_id, content, kind, created_at, session_id) VALUES (?1,?2,'move',?3,?4)",
                    params![id, text, now, session],
                )?;
                tx.execute(
                    "UPDATE threads SET last_touched_at=?1, last_move=?2 WHERE id=?3",
                    params![now, text, id],
                )?;
                tx.execute(
                    "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,'note:move',?2,?3,?4)",
                    params![session, id, text, now],
                )?;
                tx.commit()?;
            }
        }
    }
    Ok(())
}
