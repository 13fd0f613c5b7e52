//! The one way keeper-tui runs another program and waits for it: tmux, `git
//! rev-parse`, a version command. Both pipes are drained while the program
//! runs (a child writing more than a pipe buffer would otherwise block and
//! look hung), and a program that overruns its time is killed and reaped.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
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

/// Run `argv` (no shell) with stdin closed, wait at most `timeout`.
pub fn run(argv: &[&str], cwd: Option<&Path>, timeout: Duration) -> Ran {
    let Some((program, rest)) = argv.split_first() else {
        return Ran::NotRun("empty command".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::NotRun(format!("cannot run {program}: {e}")),
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    // Short first naps: most of these programs answer within a few ms.
    let mut nap = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ran::TimedOut;
            }
            Ok(None) => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ran::NotRun(format!("waiting for {program} failed: {e}"));
            }
        }
    };
    Ran::Exited {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
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
