//! Driving the real binary in a real terminal: a private tmux server per
//! test (`tmux -L keeper-test-…`, never the default server), keys sent with
//! `send-keys`, the screen read with `capture-pane`.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own, killed on drop.
pub struct Tmux {
    pub socket: String,
    socket_path: PathBuf,
    /// The session the terminal program runs in.
    pub session: String,
}

impl Tmux {
    pub fn start(dir: &Path, width: u16, height: u16) -> Self {
        Self::start_in(dir, width, height, "main")
    }

    /// Start the server with its first session named `session`.
    pub fn start_in(dir: &Path, width: u16, height: u16, session: &str) -> Self {
        let socket = format!(
            "keeper-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut t = Tmux {
            socket,
            socket_path: PathBuf::new(),
            session: session.to_string(),
        };
        let rc = t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-c",
            dir.to_str().unwrap(),
            "env PS1='ready$ ' bash --norc --noprofile",
        ]);
        assert!(
            rc.status.success(),
            "tmux would not start: {}",
            String::from_utf8_lossy(&rc.stderr)
        );
        t.socket_path = PathBuf::from(t.format("#{socket_path}"));
        t
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    pub fn type_line(&self, line: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", &self.session, "-l", line])
                .status
                .success()
        );
        self.keys(&["Enter"]);
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    pub fn format(&self, f: &str) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["display-message", "-p", "-t", &self.session, f])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Wait (bounded) until the screen satisfies `pred`; returns that screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

/// The TUI is gone and the shell waits: the last line is a bare prompt.
pub fn back_at_prompt(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end() == "ready$")
}

/// The demo directory, from the database path in the title bar.
pub fn demo_dir(screen: &str) -> Option<PathBuf> {
    let title = screen
        .lines()
        .find(|l| l.contains("keeper-tui ") && l.contains("DEMO"))?;
    let db = title
        .split_whitespace()
        .find(|w| w.ends_with("/threadkeeper.sqlite"))?;
    PathBuf::from(db).parent().map(PathBuf::from)
}
