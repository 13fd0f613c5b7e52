//! The one way keeper-tui runs another program and waits for it: tmux, `git
//! rev-parse`, a version command. Both pipes are drained while the program
//! runs (a child writing more than a pipe buffer would otherwise block and
//! look hung), and a program that overruns its time is killed and reaped.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// What one run came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    Exited {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    /// Killed after `timeout`; what it printed until then is dropped.
    TimedOut,
    /// It could not be started (not installed, no permission, empty argv).
    NotRun(String),
}

impl Ran {
    /// Trimmed stdout of a successful run; `None` for anything else or
    /// for empty output.
    pub fn stdout_if_ok(self) -> Option<String> {
        match self {
            Ran::Exited { status, stdout, .. } if status.success() => {
                Some(stdout.trim().to_string()).filter(|s| !s.is_empty())
            }
            _ => None,
        }
    }
}

/// Run `argv` (no shell) with stdin closed, wait at most `timeout`. The
/// program leads a process group of its own, so whatever it leaves behind
/// holding its output (`sleep 300 &`) is killed with the group once the
/// program has exited and the timeout has passed: reading never waits on a
/// grandchild.
pub fn run(argv: &[&str], cwd: Option<&Path>, timeout: Duration) -> Ran {
    let Some((program, rest)) = argv.split_first() else {
        return Ran::NotRun("empty command".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::NotRun(format!("cannot run {program}: {e}")),
    };
    let group = child.id() as i32;
    let stdout = Drain::start(child.stdout.take());
    let stderr = Drain::start(child.stderr.take());
    let deadline = Instant::now() + timeout;
    // Short first naps: most of these programs answer within a few ms.
    let mut nap = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(group);
                let _ = child.kill();
                let _ = child.wait();
                return Ran::TimedOut;
            }
            Ok(None) => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                kill_group(group);
                let _ = child.kill();
                let _ = child.wait();
                return Ran::NotRun(format!("waiting for {program} failed: {e}"));
            }
        }
    };
    if !(stdout.wait_until(deadline) && stderr.wait_until(deadline)) {
        // Something it started still holds a pipe.
        kill_group(group);
        let grace = Instant::now() + Duration::from_millis(100);
        stdout.wait_until(grace);
        stderr.wait_until(grace);
    }
    Ran::Exited {
        status,
        stdout: stdout.text(),
        stderr: stderr.text(),
    }
}

fn kill_group(group: i32) {
    if group > 1 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A pipe read to its end on a thread of its own, its bytes readable at
/// any moment: a pipe that never ends is left to its thread, not waited on.
struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Drain {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&bytes);
        std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = p.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&chunk[..n]);
                }
            }
            let _ = tx.send(());
        });
        Drain { bytes, done }
    }

    /// Has the pipe ended by `deadline`?
    fn wait_until(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        !matches!(
            self.done.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bigger_than_a_pipe_is_read_while_the_program_runs() {
        let ran = run(
            &["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"],
            None,
            Duration::from_secs(10),
        );
        match ran {
            Ran::Exited { status, stdout, .. } => {
                assert!(status.success());
                assert_eq!(stdout.len(), 300_000);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_program_that_overruns_is_killed() {
        let started = Instant::now();
        assert_eq!(
            run(&["sleep", "30"], None, Duration::from_millis(200)),
            Ran::TimedOut
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_child_left_holding_the_output_does_not_hang_the_runner() {
        let started = Instant::now();
        let ran = run(
            &["sh", "-c", "echo v1; sleep 300 & echo $!"],
            None,
            Duration::from_millis(500),
        );
        let Ran::Exited { status, stdout, .. } = ran else {
            panic!("{ran:?}");
        };
        assert!(status.success());
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some("v1"));
        let sleep: i32 = lines.next().unwrap().trim().parse().unwrap();
        // The sleep went with its group: gone, or a zombie nobody reaped yet.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{sleep}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone() {
            assert!(Instant::now() < deadline, "sleep {sleep} still runs");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_missing_program_is_not_run() {
        assert!(matches!(
            run(&["keeper-no-such-program"], None, Duration::from_secs(1)),
            Ran::NotRun(_)
        ));
        assert!(matches!(
            run(&[], None, Duration::from_secs(1)),
            Ran::NotRun(_)
        ));
    }
}
