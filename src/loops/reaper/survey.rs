//! What the reaper makes of each session, and the evidence it names.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use crate::config::ReaperConfig;
use crate::report::fmt_age;
use crate::store::keeper::{Claim, claims};
use crate::sys::tmux::{Listing, Session, Tmux};

/// One session and what the reaper makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub session: Session,
    pub marker: bool,
    pub claim: Option<Claim>,
    /// An orphan by the rules; attached ones are still only reaped by hand.
    pub orphan: bool,
    /// Why it is or is not an orphan, as of the survey (`reason_at` words
    /// it again for a later moment).
    pub reason: String,
    /// The same decision, for code to act on.
    pub verdict: Verdict,
    /// A running threadkeeper task whose process runs in one of its panes.
    pub task: Option<String>,
}

/// What the rules make of a session. `reason` words it for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NotAgent,
    Own,
    Protected,
    Claimed,
    /// A pane of it runs a running threadkeeper task.
    RunsTask,
    /// A client is attached: someone is looking at it.
    Attached,
    Young,
    /// tmux saw activity in it within `idle_secs`.
    Busy,
    Orphan,
}

impl Verdict {
    /// A reap by hand may take any agent session after its confirm, never
    /// one without a marker, keeper's own, a protected or a claimed one.
    pub fn reapable_by_hand(self) -> bool {
        matches!(
            self,
            Verdict::RunsTask
                | Verdict::Attached
                | Verdict::Young
                | Verdict::Busy
                | Verdict::Orphan
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SurveyState {
    Listed,
    NoServer,
    Unknown(String),
}

/// Every session of the configured server, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Survey {
    pub server: String,
    pub at: i64,
    /// The grace in force, so a verdict can be worded again later.
    pub grace_secs: u64,
    pub state: SurveyState,
    pub rows: Vec<SessionRow>,
    /// The id of the session keeper-tui runs in, when it is on this
    /// server: its activity is mostly keeper-tui's own drawing.
    pub own: Option<String>,
}

impl Survey {
    pub fn orphans(&self) -> usize {
        self.rows.iter().filter(|r| r.orphan).count()
    }
}

pub(super) fn tmux_of(cfg: &ReaperConfig) -> Tmux {
    Tmux::new(cfg.tmux.clone(), Duration::from_millis(cfg.tmux_timeout_ms))
}

/// The id of the session keeper-tui itself runs in, if it runs inside a
/// pane of the configured server (`$TMUX` names the socket, `$TMUX_PANE` the pane).
pub fn own_session(tmux: &Tmux) -> Option<String> {
    let socket = std::env::var("TMUX").ok()?.split(',').next()?.to_string();
    let pane = std::env::var("TMUX_PANE").ok()?;
    tmux.session_of_pane(&pane, &socket)
}

/// Judge one session: an orphan only when every piece of evidence says
/// abandoned.
fn judge(
    s: &Session,
    claim: Option<&Claim>,
    task: Option<&str>,
    cfg: &ReaperConfig,
    own: Option<&str>,
    now: i64,
) -> Verdict {
    let marker = cfg.markers.iter().any(|m| s.name.contains(m.as_str()));
    if !marker {
        return Verdict::NotAgent;
    }
    if own == Some(s.id.as_str()) {
        return Verdict::Own;
    }
    if cfg.protected.contains(&s.name) {
        return Verdict::Protected;
    }
    if claim.is_some_and(|c| !c.expired(now)) {
        return Verdict::Claimed;
    }
    if task.is_some() {
        return Verdict::RunsTask;
    }
    if s.attached > 0 {
        return Verdict::Attached;
    }
    if now - s.created < cfg.grace_secs as i64 {
        return Verdict::Young;
    }
    if now - s.activity < cfg.idle_secs as i64 {
        return Verdict::Busy;
    }
    Verdict::Orphan
}

/// Which session each running task runs in: a task whose process, or an
/// ancestor of it, is a pane's process runs in that pane's session.
fn tasks_by_session(panes: &[(String, i32)], tasks: &[(String, i32)]) -> HashMap<String, String> {
    let by_pid: HashMap<i32, &str> = panes.iter().map(|(s, p)| (*p, s.as_str())).collect();
    let mut found = HashMap::new();
    for (task, pid) in tasks {
        let mut at = Some(*pid);
        // Bounded: a process tree is never this deep, a loop in bad data is.
        for _ in 0..64 {
            let Some(p) = at.filter(|p| *p > 1) else {
                break;
            };
            if let Some(session) = by_pid.get(&p) {
                found
                    .entry((*session).to_string())
                    .or_insert_with(|| task.clone());
                break;
            }
            at = crate::sys::process::inspect(p).and_then(|i| i.parent);
        }
    }
    found
}

impl SessionRow {
    /// Why it is or is not an orphan, in the operator's words, with ages
    /// measured at `now` (so a panel drawn later says what is true then).
    pub fn reason_at(&self, now: i64, grace_secs: u64) -> String {
        match self.verdict {
            Verdict::NotAgent => "not an agent session (no marker)".into(),
            Verdict::Own => "keeper-tui runs in this session".into(),
            Verdict::Protected => "protected in the config".into(),
            Verdict::Claimed => match &self.claim {
                Some(c) => format!(
                    "claimed by {} ({} left)",
                    c.owner,
                    fmt_age(c.ttl_left(now).max(0))
                ),
                None => "claimed".into(),
            },
            Verdict::Young => format!(
                "younger than the grace ({} old, grace {})",
                fmt_age(now - self.session.created),
                fmt_age(grace_secs as i64)
            ),
            Verdict::RunsTask => format!("runs task {}", self.task.as_deref().unwrap_or("?")),
            Verdict::Attached => {
                format!("{} client(s) attached: reap by hand", self.session.attached)
            }
            Verdict::Busy => format!("busy {} ago", fmt_age(now - self.session.activity)),
            Verdict::Orphan => {
                let why = match &self.claim {
                    Some(c) => format!(
                        "claim by {} expired {} ago",
                        c.owner,
                        fmt_age(-c.ttl_left(now))
                    ),
                    None => "no claim".into(),
                };
                format!(
                    "orphan: idle {}, {why}",
                    fmt_age(now - self.session.activity)
                )
            }
        }
    }
}

/// List the sessions (one `list-sessions`) and judge each against the claims.
pub fn survey(
    cfg: &ReaperConfig,
    tmux: &Tmux,
    conn: &Connection,
    own: Option<&str>,
    now: i64,
) -> rusqlite::Result<Survey> {
    judge_listing(cfg, tmux, conn, own, now, tmux.list())
}

/// Judge the sessions of a listing against the claims.
pub(super) fn judge_listing(
    cfg: &ReaperConfig,
    tmux: &Tmux,
    conn: &Connection,
    own: Option<&str>,
    now: i64,
    listing: Listing,
) -> rusqlite::Result<Survey> {
    let server = cfg.tmux.describe();
    let empty = |state| Survey {
        server: server.clone(),
        at: now,
        grace_secs: cfg.grace_secs,
        state,
        rows: Vec::new(),
        own: own.map(str::to_string),
    };
    let sessions = match listing {
        Listing::Sessions(s) => s,
        Listing::NoServer => return Ok(empty(SurveyState::NoServer)),
        Listing::Unknown(why) => return Ok(empty(SurveyState::Unknown(why))),
    };
    let by_name: HashMap<String, Claim> = claims(conn)?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    // Which panes run a running task: evidence that cannot be read means
    // nothing is judged abandoned.
    let tasks = crate::store::tasks::running(conn)?;
    let in_session = if tasks.is_empty() {
        HashMap::new()
    } else {
        match tmux.panes() {
            Ok(panes) => tasks_by_session(&panes, &tasks),
            Err(why) => return Ok(empty(SurveyState::Unknown(format!("its panes: {why}")))),
        }
    };
    let rows = sessions
        .into_iter()
        .map(|s| {
            let claim = by_name.get(&s.name).cloned();
            let task = in_session.get(&s.id).cloned();
            let verdict = judge(&s, claim.as_ref(), task.as_deref(), cfg, own, now);
            let (marker, orphan) = (verdict != Verdict::NotAgent, verdict == Verdict::Orphan);
            let mut row = SessionRow {
                verdict,
                session: s,
                marker,
                claim,
                orphan,
                reason: String::new(),
                task,
            };
            row.reason = row.reason_at(now, cfg.grace_secs);
            row
        })
        .collect();
    Ok(Survey {
        rows,
        ..empty(SurveyState::Listed)
    })
}
