//! Talking to a tmux server. Every answer is tri-state: tmux answered (the
//! sessions, possibly none), there is no server (so no sessions), or tmux
//! did not answer in time or said something we cannot read — *unknown*,
//! and unknown never reaps (a busy tmux once looked "gone" and every live
//! session was purged).

use std::time::Duration;

use super::command::{self, Ran};

use serde::Serialize;

/// Which server: the default one, `-L name`, or `-S path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum Server {
    #[default]
    Default,
    Named(String),
    Socket(std::path::PathBuf),
}

impl Server {
    fn args(&self) -> Vec<String> {
        match self {
            Server::Default => Vec::new(),
            Server::Named(n) => vec!["-L".into(), n.clone()],
            Server::Socket(p) => vec!["-S".into(), p.display().to_string()],
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Server::Default => "the default tmux server".into(),
            Server::Named(n) => format!("tmux server -L {n}"),
            Server::Socket(p) => format!("tmux server -S {}", p.display()),
        }
    }
}

/// One session as tmux reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub name: String,
    /// `session_created`, Unix seconds.
    pub created: i64,
    /// `session_activity`, Unix seconds.
    pub activity: i64,
    /// `session_attached`: clients attached right now.
    pub attached: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Listing {
    Sessions(Vec<Session>),
    /// No server is running: there are no sessions to reap.
    NoServer,
    /// tmux did not answer in time, or answered something unreadable.
    Unknown(String),
}

/// Result of one kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Kill {
    Killed,
    /// It was already gone when we got there.
    Gone,
    /// Still there but no longer the session judged: a new one took the
    /// name, or a client attached.
    Changed,
    Failed(String),
}

const FORMAT: &str =
    "#{session_name}\t#{session_created}\t#{session_activity}\t#{session_attached}";

#[derive(Debug, Clone)]
pub struct Tmux {
    pub server: Server,
    pub timeout: Duration,
}

/// What one tmux invocation came back with.
enum Answer {
    Out {
        ok: bool,
        stdout: String,
        stderr: String,
    },
    TimedOut,
    NotRun(String),
}

/// Only a server that is plainly not there counts as "no server"; any
/// other failure to connect (permission denied, …) is unknown.
fn no_server(stderr: &str) -> bool {
    stderr.contains("no server running")
        || (stderr.contains("error connecting to") && stderr.contains("No such file or directory"))
}

fn no_session(stderr: &str) -> bool {
    // Only `kill` asks for a single session now.
    stderr.contains("can't find session") || stderr.contains("session not found")
}

impl Tmux {
    pub fn new(server: Server, timeout: Duration) -> Self {
        Tmux { server, timeout }
    }

    /// Run tmux with our server arguments, killing it if it overruns.
    fn run(&self, args: &[&str]) -> Answer {
        let server = self.server.args();
        let mut line: Vec<&str> = vec!["tmux"];
        line.extend(server.iter().map(String::as_str));
        line.extend_from_slice(args);
        match command::run(&line, None, self.timeout) {
            Ran::Exited {
                status,
                stdout,
                stderr,
            } => Answer::Out {
                ok: status.success(),
                stdout,
                stderr,
            },
            Ran::TimedOut => Answer::TimedOut,
            Ran::NotRun(e) => Answer::NotRun(e),
        }
    }

    /// Every session, in one `list-sessions` call.
    pub fn list(&self) -> Listing {
        match self.run(&["list-sessions", "-F", FORMAT]) {
            Answer::Out {
                ok: true, stdout, ..
            } => match parse(&stdout) {
                Ok(s) => Listing::Sessions(s),
                Err(line) => Listing::Unknown(format!("unreadable tmux output: {line:?}")),
            },
            Answer::Out {
                ok: false, stderr, ..
            } if no_server(&stderr) => Listing::NoServer,
            Answer::Out { stderr, .. } => {
                Listing::Unknown(format!("tmux failed: {}", stderr.trim()))
            }
            Answer::TimedOut => Listing::Unknown(format!(
                "tmux did not answer within {} ms",
                self.timeout.as_millis()
            )),
            Answer::NotRun(e) => Listing::Unknown(e),
        }
    }

    /// One session by exact name, as it is right now: a fresh listing,
    /// matched by the whole name (tmux targets match prefixes and answer
    /// ambiguously for missing sessions).
    pub fn get(&self, name: &str) -> Result<Option<Session>, String> {
        match self.list() {
            Listing::Sessions(all) => Ok(all.into_iter().find(|s| s.name == name)),
            Listing::NoServer => Ok(None),
            Listing::Unknown(why) => Err(why),
        }
    }

    /// A kill that did not succeed: the session or server is gone, or it
    /// failed (said once by the caller, never retried in a loop).
    fn kill_failed(&self, answer: Answer) -> Kill {
        match answer {
            Answer::Out { stderr, .. } if no_session(&stderr) || no_server(&stderr) => Kill::Gone,
            Answer::Out { stderr, .. } => Kill::Failed(stderr.trim().to_string()),
            Answer::TimedOut => Kill::Failed(format!(
                "tmux did not answer within {} ms",
                self.timeout.as_millis()
            )),
            Answer::NotRun(e) => Kill::Failed(e),
        }
    }

    /// `tmux kill-session -t =NAME`: the `=` makes tmux match the exact
    /// name, never a prefix.
    pub fn kill(&self, name: &str) -> Kill {
        let target = format!("={name}");
        match self.run(&["kill-session", "-t", &target]) {
            Answer::Out { ok: true, .. } => Kill::Killed,
            failed => self.kill_failed(failed),
        }
    }

    /// Kill `name` only if it is still the session that was judged: same
    /// creation time and, unless `attached_ok`, no client attached. The
    /// check and the kill run inside one tmux command, so nothing can
    /// change between them. Names tmux's command parser would read
    /// differently fall back to a fresh listing and a plain kill.
    pub fn kill_if_unchanged(&self, name: &str, created: i64, attached_ok: bool) -> Kill {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'));
        if !plain {
            return match self.get(name) {
                Ok(None) => Kill::Gone,
                Ok(Some(s)) if s.created != created || (!attached_ok && s.attached > 0) => {
                    Kill::Changed
                }
                Ok(Some(_)) => self.kill(name),
                Err(e) => Kill::Failed(e),
            };
        }
        let same = format!("#{{==:#{{session_created}},{created}}}");
        let cond = if attached_ok {
            same
        } else {
            format!("#{{&&:{same},#{{==:#{{session_attached}},0}}}}")
        };
        let target = format!("={name}:");
        let kill = format!("kill-session -t ={name}");
        match self.run(&[
            "if-shell",
            "-F",
            "-t",
            &target,
            &cond,
            &kill,
            "display-message -p '#{session_name}'",
        ]) {
            // A target that no longer exists resolves to some other
            // session's context; the name it prints tells the cases apart.
            Answer::Out {
                ok: true, stdout, ..
            } if stdout.trim().is_empty() => Kill::Killed,
            Answer::Out {
                ok: true, stdout, ..
            } if stdout.trim() == name => Kill::Changed,
            Answer::Out { ok: true, .. } => Kill::Gone,
            failed => self.kill_failed(failed),
        }
    }

    /// Start a detached session running `command` (no config file read).
    pub fn new_session(&self, name: &str, command: &str) -> Result<(), String> {
        match self.run(&["-f", "/dev/null", "new-session", "-d", "-s", name, command]) {
            Answer::Out { ok: true, .. } => Ok(()),
            Answer::Out { stderr, .. } => Err(stderr.trim().to_string()),
            Answer::TimedOut => Err("tmux did not answer".into()),
            Answer::NotRun(e) => Err(e),
        }
    }

    /// The server's socket file, while it runs.
    pub fn socket_path(&self) -> Option<String> {
        match self.run(&["display-message", "-p", "#{socket_path}"]) {
            Answer::Out {
                ok: true, stdout, ..
            } => Some(stdout.trim().to_string()).filter(|p| !p.is_empty()),
            _ => None,
        }
    }

    /// Stop the server and every session on it.
    pub fn kill_server(&self) {
        let _ = self.run(&["kill-server"]);
    }

    /// The session a pane belongs to, when the pane is on this server
    /// (`socket` is the server's socket path, as `$TMUX` names it).
    pub fn session_of_pane(&self, pane: &str, socket: &str) -> Option<String> {
        match self.run(&[
            "display-message",
            "-p",
            "-t",
            pane,
            "#{socket_path}\t#{session_name}",
        ]) {
            Answer::Out {
                ok: true, stdout, ..
            } => {
                let (path, name) = stdout.trim_end_matches('\n').split_once('\t')?;
                (path == socket && !name.is_empty()).then(|| name.to_string())
            }
            _ => None,
        }
    }
}

/// The command an operator would type, for confirm popups and logs.
pub fn kill_command(server: &Server, name: &str) -> String {
    let mut parts = vec!["tmux".to_string()];
    parts.extend(server.args());
    parts.extend(["kill-session".into(), "-t".into(), format!("={name}")]);
    parts.join(" ")
}

fn parse(stdout: &str) -> Result<Vec<Session>, String> {
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            // The name may contain anything but a tab; the numbers follow it.
            let mut fields = line.rsplitn(4, '\t');
            let attached = fields.next().and_then(|f| f.parse().ok());
            let activity = fields.next().and_then(|f| f.parse().ok());
            let created = fields.next().and_then(|f| f.parse().ok());
            let name = fields.next();
            match (name, created, activity, attached) {
                (Some(name), Some(created), Some(activity), Some(attached)) => Ok(Session {
                    name: name.to_string(),
                    created,
                    activity,
                    attached,
                }),
                _ => Err(line.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_rejects_garbage() {
        let out = "msg-warm-1\t100\t200\t0\nmy work session\t5\t6\t2\n";
        let s = parse(out).unwrap();
        assert_eq!(
            s[1],
            Session {
                name: "my work session".into(),
                created: 5,
                activity: 6,
                attached: 2
            }
        );
        assert!(parse("not tmux output\n").is_err());
    }

    #[test]
    fn the_kill_command_is_exact() {
        assert_eq!(
            kill_command(&Server::Named("x".into()), "msg-warm-1"),
            "tmux -L x kill-session -t =msg-warm-1"
        );
        assert_eq!(
            kill_command(&Server::Default, "a"),
            "tmux kill-session -t =a"
        );
    }
}
