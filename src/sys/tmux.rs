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
    /// `session_id` (`$N`): what every kill targets. A server never gives
    /// an id twice, so a session recreated under the same name — even
    /// within the same second — has another id.
    pub id: String,
    pub name: String,
    /// `session_created`, Unix seconds.
    pub created: i64,
    /// The latest of `session_activity` (input) and every window's
    /// `window_activity` (output), Unix seconds: a pane printing keeps its
    /// session busy.
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
    "#{session_id}\t#{session_name}\t#{session_created}\t#{session_activity}\t#{session_attached}";
/// The server's pid rides along on each window line: where to watch it.
const WINDOW_FORMAT: &str = "#{window_id}\t#{session_id}\t#{window_activity}\t#{pid}";

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

    /// Every session (`list-sessions`), with its windows' output counted
    /// as activity (`list-windows -a`) — one tmux process for both.
    pub fn list(&self) -> Listing {
        self.list_watched().0
    }

    /// `list`, and the server's pid when it said it (it does with any
    /// session): its children tell when panes come and go without asking
    /// tmux again.
    pub fn list_watched(&self) -> (Listing, Option<i32>) {
        let stdout = match self.output(&[
            "list-sessions",
            "-F",
            FORMAT,
            ";",
            "list-windows",
            "-a",
            "-F",
            WINDOW_FORMAT,
        ]) {
            Ok(Some(out)) => out,
            Ok(None) => return (Listing::NoServer, None),
            Err(why) => return (Listing::Unknown(why), None),
        };
        // Window lines start with a window id (`@N`), session lines with a
        // session id (`$N`); a name that forged a window line could only
        // make a session look busier, and its own line would not parse.
        let (windows, sessions): (Vec<&str>, Vec<&str>) = stdout
            .lines()
            .filter(|l| !l.is_empty())
            .partition(|l| l.starts_with('@'));
        let mut sessions = match parse(&sessions.join("\n")) {
            Ok(s) => s,
            Err(line) => {
                return (
                    Listing::Unknown(format!("unreadable tmux output: {line:?}")),
                    None,
                );
            }
        };
        match window_activity(&windows) {
            Ok((latest, pid)) => {
                for session in &mut sessions {
                    if let Some(&w) = latest.get(&session.id) {
                        session.activity = session.activity.max(w);
                    }
                }
                (Listing::Sessions(sessions), pid)
            }
            Err(why) => (Listing::Unknown(why), None),
        }
    }

    /// What a listing command printed: `None` when no server runs, `Err`
    /// for anything else that is not an answer (unknown, never "none").
    fn output(&self, args: &[&str]) -> Result<Option<String>, String> {
        match self.run(args) {
            Answer::Out {
                ok: true, stdout, ..
            } => Ok(Some(stdout)),
            Answer::Out {
                ok: false, stderr, ..
            } if no_server(&stderr) => Ok(None),
            Answer::Out { stderr, .. } => Err(format!("tmux failed: {}", stderr.trim())),
            Answer::TimedOut => Err(self.no_answer()),
            Answer::NotRun(e) => Err(e),
        }
    }

    fn no_answer(&self) -> String {
        format!("tmux did not answer within {} ms", self.timeout.as_millis())
    }

    /// A kill that did not succeed: the session or server is gone, or it
    /// failed (said once by the caller, never retried in a loop).
    fn kill_failed(&self, answer: Answer) -> Kill {
        match answer {
            Answer::Out { stderr, .. } if no_session(&stderr) || no_server(&stderr) => Kill::Gone,
            Answer::Out { stderr, .. } => Kill::Failed(stderr.trim().to_string()),
            Answer::TimedOut => Kill::Failed(self.no_answer()),
            Answer::NotRun(e) => Kill::Failed(e),
        }
    }

    /// `(session id, pane pid)` of every pane on the server; no server
    /// means none.
    pub fn panes(&self) -> Result<Vec<(String, i32)>, String> {
        let Some(out) = self.output(&["list-panes", "-a", "-F", "#{session_id}\t#{pane_pid}"])?
        else {
            return Ok(Vec::new());
        };
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split_once('\t')
                    .and_then(|(id, pid)| Some((id.to_string(), pid.parse().ok()?)))
                    .filter(|(id, _)| is_session_id(id))
                    .ok_or_else(|| format!("unreadable tmux output: {l:?}"))
            })
            .collect()
    }

    /// Kill `judged` only if its id still names the session that was
    /// judged: same name, same creation time and, unless `by_hand`, no
    /// client attached and no activity since. The check and the kill run inside one tmux command,
    /// so nothing can change between them. The name never appears where
    /// tmux's command parser reads it (a trailing `;` is a command
    /// separator there): only the id, `$N`, which tmux hands out itself,
    /// and the name inside the condition, escaped as a format string.
    pub fn kill_if_unchanged(&self, judged: &Session, by_hand: bool) -> Kill {
        let id = judged.id.as_str();
        if !is_session_id(id) {
            return Kill::Failed(format!("not a tmux session id: {id:?}"));
        }
        let mut cond = [
            format!("#{{==:#{{session_id}},{id}}}"),
            format!("#{{==:#{{session_name}},{}}}", format_literal(&judged.name)),
            format!("#{{==:#{{session_created}},{}}}", judged.created),
        ]
        .to_vec();
        if !by_hand {
            cond.push("#{==:#{session_attached},0}".into());
            // Nothing typed or printed since it was judged (`e|` compares
            // numbers; the current window stands for the rest).
            for what in ["session_activity", "window_activity"] {
                cond.push(format!("#{{e|<=:#{{{what}}},{}}}", judged.activity));
            }
        }
        let cond = all_of(&cond);
        let kill = format!("kill-session -t '{id}'");
        match self.run(&[
            "if-shell",
            "-F",
            "-t",
            id,
            &cond,
            &kill,
            "display-message -p '#{session_id}'",
        ]) {
            Answer::Out {
                ok: true, stdout, ..
            } if stdout.trim().is_empty() => Kill::Killed,
            Answer::Out {
                ok: true, stdout, ..
            } if stdout.trim() == id => Kill::Changed,
            // A target that no longer exists resolves to some other
            // session's context, which the id it prints gives away.
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

    /// The id of the session a pane belongs to, when the pane is on this
    /// server (`socket` is the server's socket path, as `$TMUX` names it).
    pub fn session_of_pane(&self, pane: &str, socket: &str) -> Option<String> {
        match self.run(&[
            "display-message",
            "-p",
            "-t",
            pane,
            "#{socket_path}\t#{session_id}",
        ]) {
            Answer::Out {
                ok: true, stdout, ..
            } => {
                let (path, id) = stdout.trim_end_matches('\n').rsplit_once('\t')?;
                (path == socket && is_session_id(id)).then(|| id.to_string())
            }
            _ => None,
        }
    }
}

/// The command an operator would type, for confirm popups and logs: the
/// session by its id, quoted for a shell.
pub fn kill_command(server: &Server, session: &Session) -> String {
    let mut parts = vec!["tmux".to_string()];
    parts.extend(server.args());
    parts.extend([
        "kill-session".into(),
        "-t".into(),
        format!("'{}'", session.id),
    ]);
    parts.join(" ")
}

/// `$` and digits, as tmux writes `session_id`.
fn is_session_id(id: &str) -> bool {
    id.strip_prefix('$')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Text that a tmux format reads back as exactly itself: `#`, `,` and `}`
/// escaped with `#`.
fn format_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '#' | ',' | '}') {
            out.push('#');
        }
        out.push(c);
    }
    out
}

/// `#{&&:a,b}` nested: tmux's `&&` takes two operands.
fn all_of(conds: &[String]) -> String {
    match conds {
        [] => "1".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("#{{&&:{first},{}}}", all_of(rest)),
    }
}

type WindowActivity = (std::collections::HashMap<String, i64>, Option<i32>);

/// The latest `window_activity` of each session's windows, and the
/// server's pid, from lines of [`WINDOW_FORMAT`].
fn window_activity(lines: &[&str]) -> Result<WindowActivity, String> {
    let mut latest = std::collections::HashMap::new();
    let mut server = None;
    for l in lines {
        let mut f = l.splitn(4, '\t');
        let (_, id, at, pid) = (f.next(), f.next(), f.next(), f.next());
        let (id, at) = id
            .zip(at.and_then(|a| a.parse::<i64>().ok()))
            .ok_or_else(|| format!("unreadable tmux output: {l:?}"))?;
        server = server.or_else(|| pid.and_then(|p| p.parse::<i32>().ok()));
        let e = latest.entry(id.to_string()).or_insert(at);
        *e = (*e).max(at);
    }
    Ok((latest, server))
}

fn parse(stdout: &str) -> Result<Vec<Session>, String> {
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            // The name may contain anything but a tab; the id comes before
            // it and the numbers after.
            let (id, rest) = line.split_once('\t').ok_or_else(|| line.to_string())?;
            let mut fields = rest.rsplitn(4, '\t');
            let attached = fields.next().and_then(|f| f.parse().ok());
            let activity = fields.next().and_then(|f| f.parse().ok());
            let created = fields.next().and_then(|f| f.parse().ok());
            let name = fields.next();
            match (name, created, activity, attached) {
                (Some(name), Some(created), Some(activity), Some(attached))
                    if is_session_id(id) =>
                {
                    Ok(Session {
                        id: id.to_string(),
                        name: name.to_string(),
                        created,
                        activity,
                        attached,
                    })
                }
                _ => Err(line.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_lines_give_each_session_its_latest_output_and_the_server_pid() {
        let (latest, pid) =
            window_activity(&["@1\t$0\t100\t4321", "@2\t$0\t300\t4321", "@3\t$4\t50\t4321"])
                .unwrap();
        assert_eq!(latest.get("$0"), Some(&300));
        assert_eq!(latest.get("$4"), Some(&50));
        assert_eq!(pid, Some(4321));
        // Without the pid (another tmux's lines) the activity still counts.
        let (latest, pid) = window_activity(&["@1\t$0\t100"]).unwrap();
        assert_eq!((latest.get("$0"), pid), (Some(&100), None));
        assert!(window_activity(&["@1\t$0\tsoon\t4321"]).is_err());
        assert!(window_activity(&["@1"]).is_err());
    }

    #[test]
    fn parses_names_with_spaces_and_rejects_garbage() {
        let out = "$0\tmsg-warm-1\t100\t200\t0\n$12\tmy work session\t5\t6\t2\n";
        let s = parse(out).unwrap();
        assert_eq!(
            s[1],
            Session {
                id: "$12".into(),
                name: "my work session".into(),
                created: 5,
                activity: 6,
                attached: 2
            }
        );
        assert!(parse("not tmux output\n").is_err());
        assert!(parse("12\tname\t1\t2\t0\n").is_err(), "an id without `$`");
    }

    #[test]
    fn the_kill_command_names_the_id() {
        let s = parse("$7\tmsg-warm-1;\t1\t2\t0\n").unwrap();
        assert_eq!(
            kill_command(&Server::Named("x".into()), &s[0]),
            "tmux -L x kill-session -t '$7'"
        );
    }

    #[test]
    fn format_literals_escape_what_tmux_reads() {
        assert_eq!(format_literal("a,b}#{c}"), "a#,b#}##{c#}");
        assert_eq!(format_literal("plain-name;"), "plain-name;");
        assert_eq!(
            all_of(&["A".into(), "B".into(), "C".into()]),
            "#{&&:A,#{&&:B,C}}"
        );
    }
}
