//! The reaper: kills orphaned agent tmux sessions — at boot, when a claim's
//! TTL runs out, on its interval, and by hand. Safety first: only names
//! with a marker, never keeper-tui's own session, never an attached one
//! unless by hand, an exact-name kill after a fresh re-check, and an
//! unknown tmux reaps nothing.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::{Loop, LoopCommand, LoopId, LoopReply, PassCtx, PassMode, PassResult, Touched};
use crate::config::ReaperConfig;
use crate::error::{Error, Result};
use crate::report::fmt_age;
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::keeper::{Claim, claims, release_if_unchanged};
use crate::sys::tmux::{Kill, Listing, Session, Tmux, kill_command};

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
}

impl Survey {
    pub fn orphans(&self) -> usize {
        self.rows.iter().filter(|r| r.orphan).count()
    }
}

fn tmux_of(cfg: &ReaperConfig) -> Tmux {
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
    let server = cfg.tmux.describe();
    let sessions = match tmux.list() {
        Listing::Sessions(s) => s,
        Listing::NoServer => {
            return Ok(Survey {
                server,
                at: now,
                grace_secs: cfg.grace_secs,
                state: SurveyState::NoServer,
                rows: Vec::new(),
            });
        }
        Listing::Unknown(why) => {
            return Ok(Survey {
                server,
                at: now,
                grace_secs: cfg.grace_secs,
                state: SurveyState::Unknown(why),
                rows: Vec::new(),
            });
        }
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
            Err(why) => {
                return Ok(Survey {
                    server,
                    at: now,
                    grace_secs: cfg.grace_secs,
                    state: SurveyState::Unknown(format!("its panes: {why}")),
                    rows: Vec::new(),
                });
            }
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
        server,
        at: now,
        grace_secs: cfg.grace_secs,
        state: SurveyState::Listed,
        rows,
    })
}

/// A session the operator named for a reap by hand. `id` is the tmux id
/// of the session they were looking at (the TUI knows it; a name typed on
/// the command line does not): if the name has since passed to another
/// session, that one is spared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub id: Option<String>,
}

impl Named {
    pub fn name(name: impl Into<String>) -> Self {
        Named {
            name: name.into(),
            id: None,
        }
    }
}

/// What became of one session a pass or the operator set out to reap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fate", content = "why")]
pub enum Fate {
    Reaped(String),
    /// It was gone when we got there.
    Gone,
    /// Not killed: something changed since it was judged.
    Spared(String),
    /// Not killed: the rules never let it be reaped.
    Refused(String),
    /// No session of that name (a reap by hand).
    Missing,
    Failed(String),
    /// A dry-run: the command it would run.
    WouldRun(String),
}

/// One reap (a pass, or by hand): each session's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReapReport {
    pub summary: String,
    pub sessions: Vec<(String, Fate)>,
}

impl ReapReport {
    pub fn reaped(&self) -> impl Iterator<Item = &str> {
        self.sessions
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Reaped(_)))
            .map(|(n, _)| n.as_str())
    }

    /// One line per session, as the CLI and the Log show them.
    pub fn lines(&self) -> Vec<String> {
        self.sessions.iter().map(|(n, f)| fate_line(n, f)).collect()
    }
}

impl fmt::Display for ReapReport {
    /// A single session's fate is the whole story; otherwise the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sessions.as_slice() {
            [(name, fate)] => f.write_str(&fate_line(name, fate)),
            _ => f.write_str(&self.summary),
        }
    }
}

pub fn fate_line(name: &str, fate: &Fate) -> String {
    match fate {
        Fate::Reaped(reason) => format!("{name}: reaped ({reason})"),
        Fate::Gone => format!("{name}: already gone"),
        Fate::Spared(why) => format!("{name}: spared: {why}"),
        Fate::Refused(why) => format!("{name}: refused: {why}"),
        Fate::Missing => format!("{name}: no such session (gone already?)"),
        Fate::Failed(e) => {
            format!("{name}: kill failed: {e} (not retried until you reap it by hand)")
        }
        Fate::WouldRun(cmd) => format!("{name}: would run `{cmd}`"),
    }
}

pub struct Reaper {
    pub config: ReaperConfig,
    tmux: Tmux,
    /// The id of keeper-tui's own session.
    own: Option<String>,
    /// Sessions (id, creation time) whose kill failed: reported once and
    /// left to the operator, not retried every pass. Locked only for a
    /// lookup or an update, never across tmux.
    failed: Mutex<HashMap<String, i64>>,
}

impl Reaper {
    pub fn new(config: ReaperConfig) -> Self {
        let tmux = tmux_of(&config);
        let own = own_session(&tmux);
        Reaper {
            config,
            tmux,
            own,
            failed: Mutex::new(HashMap::new()),
        }
    }

    fn failed(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn tmux(&self) -> &Tmux {
        &self.tmux
    }

    pub fn survey(&self, conn: &Connection, now: i64) -> rusqlite::Result<Survey> {
        survey(&self.config, &self.tmux, conn, self.own.as_deref(), now)
    }

    /// The act step for one surveyed session: re-check it (a fresh read of
    /// its claim; then, inside one tmux command, same session and no client
    /// attached unless by hand) and kill it by its exact name. Writes
    /// nothing to the store.
    pub fn recheck_and_kill(
        &self,
        read: &Connection,
        row: &SessionRow,
        by_hand: bool,
        now: i64,
    ) -> Fate {
        let name = &row.session.name;
        // A claim that cannot be read is not "no claim": spare the session.
        let claim = match claims(read) {
            Ok(cs) => cs.into_iter().find(|c| c.name == *name),
            Err(e) => return Fate::Spared(format!("could not re-read its claim ({e})")),
        };
        if let Some(c) = claim.filter(|c| !c.expired(now)) {
            return Fate::Spared(format!("claimed by {} since it was listed", c.owner));
        }
        if !row.marker
            || self.own.as_deref() == Some(row.session.id.as_str())
            || self.config.protected.contains(name)
        {
            return Fate::Spared(row.reason.clone());
        }
        match self.tmux.kill_if_unchanged(&row.session, by_hand) {
            Kill::Killed => Fate::Reaped(row.reason.clone()),
            Kill::Gone => Fate::Gone,
            Kill::Changed if by_hand => Fate::Spared("a new session took the name".into()),
            Kill::Changed => Fate::Spared(
                "it changed since it was judged: renamed, busy again, or a client attached".into(),
            ),
            Kill::Failed(e) => Fate::Failed(e),
        }
    }

    /// Reap named sessions by hand (the TUI's `R`, `keeper-tui reap NAME`):
    /// attached ones too, but never one without a marker, keeper's own, a
    /// protected one, or one with a live claim.
    pub fn reap_by_hand(
        &self,
        ctx: &PassCtx<'_>,
        names: &[Named],
        dry_run: bool,
    ) -> Result<ReapReport> {
        let (read, now) = (ctx.read, ctx.now);
        let survey = self
            .survey(read, now)
            .map_err(|e| Error::from_sqlite(&ctx.store.path, e))?;
        let rows = match &survey.state {
            SurveyState::Listed => survey.rows,
            SurveyState::NoServer => {
                return Err(Error::Refused(format!(
                    "no {} is running: nothing to reap",
                    survey.server
                )));
            }
            SurveyState::Unknown(why) => {
                return Err(Error::Refused(format!(
                    "{}: {why}; reaped nothing",
                    survey.server
                )));
            }
        };
        let mut fates = Vec::new();
        let mut targets = Vec::new();
        for Named { name, id } in names {
            match rows.iter().find(|r| r.session.name == *name) {
                None => fates.push((name.clone(), Fate::Missing)),
                Some(r) if id.as_ref().is_some_and(|id| *id != r.session.id) => fates.push((
                    name.clone(),
                    Fate::Spared("a new session took the name since it was chosen".into()),
                )),
                Some(r) if !r.verdict.reapable_by_hand() => {
                    fates.push((name.clone(), Fate::Refused(r.reason.clone())));
                }
                Some(r) => targets.push(r.clone()),
            }
        }
        if dry_run {
            let n = targets.len();
            fates.extend(targets.into_iter().map(|r| {
                let cmd = kill_command(&self.config.tmux, &r.session);
                (r.session.name, Fate::WouldRun(cmd))
            }));
            return Ok(ReapReport {
                summary: format!("would reap {n} of {} named", names.len()),
                sessions: fates,
            });
        }
        if ctx.stopping() {
            return Err(Error::Refused("shutting down: nothing was reaped".into()));
        }
        self.reap(ctx, &targets, true, fates)
    }

    /// Act (kill each target after its re-check), then record what
    /// happened in one write.
    fn reap(
        &self,
        ctx: &PassCtx<'_>,
        targets: &[SessionRow],
        by_hand: bool,
        mut fates: Vec<(String, Fate)>,
    ) -> Result<ReapReport> {
        let now = ctx.now;
        let mut reaped = Vec::new();
        let mut failures = 0;
        for row in targets {
            let name = &row.session.name;
            let fate = self.recheck_and_kill(ctx.read, row, by_hand, now);
            match &fate {
                Fate::Reaped(reason) => {
                    reaped.push((
                        name.clone(),
                        reason.clone(),
                        row.claim.as_ref().map(|c| c.last_used),
                    ));
                }
                Fate::Failed(_) => {
                    failures += 1;
                    self.failed()
                        .insert(row.session.id.clone(), row.session.created);
                }
                _ => {}
            }
            fates.push((name.clone(), fate));
        }
        let orphans = targets.len();
        let summary = if reaped.is_empty() && orphans == 0 {
            "no_orphans".to_string()
        } else {
            format!("reaped={} orphans={orphans}", reaped.len())
        };
        let session = ctx.store.session_id.clone();
        let kind = LoopId::Reaper.pass_kind();
        ctx.store.write(|tx| {
            for (name, reason, claim_seen) in &reaped {
                insert_event(tx, &session, "session_reaped", Some(name), reason, now)?;
                // Only the expired claim it was judged by: a claim that
                // landed since belongs to a new session of that name.
                if let Some(last_used) = claim_seen {
                    release_if_unchanged(tx, name, *last_used)?;
                }
            }
            record_loop_pass(tx, &session, kind, &summary, "no_orphans", now)
        })?;
        let summary = if failures > 0 {
            format!("{summary} failed={failures}")
        } else {
            summary
        };
        Ok(ReapReport {
            summary,
            sessions: fates,
        })
    }
}

impl Loop for Reaper {
    fn id(&self) -> LoopId {
        LoopId::Reaper
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.interval_secs > 0).then(|| Duration::from_secs(self.config.interval_secs))
    }

    fn run_at_start(&self) -> bool {
        self.config.boot_reap
    }

    fn observe(&self, conn: &Connection, now: i64) -> Option<super::Observation> {
        match self.survey(conn, now) {
            Ok(s) => Some(super::Observation::Sessions(s)),
            Err(e) => {
                tracing::warn!("session survey failed: {e}");
                None
            }
        }
    }

    fn command(&self, cmd: LoopCommand, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        match cmd {
            LoopCommand::Reap(names) => {
                let report = self.reap_by_hand(ctx, &names, false)?;
                // Asked to reap and reaped nothing: the operator hears a no.
                if report.reaped().next().is_none() {
                    return Err(Error::Refused(report.to_string()));
                }
                Ok(LoopReply::Reaped(report))
            }
            other @ LoopCommand::ResetCircuit(_) => {
                Err(Error::Refused(format!("the reaper cannot {other:?}")))
            }
        }
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        // The boot reap is the first scheduled pass; it runs even when
        // later scheduled passes are off.
        let boot = ctx.mode == PassMode::Scheduled && ctx.first && self.config.boot_reap;
        if ctx.mode == PassMode::Scheduled && self.config.interval_secs == 0 && !boot {
            return Ok(PassResult::quiet("disabled"));
        }
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let survey = self
            .survey(ctx.read, ctx.now)
            .map_err(|e| Error::from_sqlite(&ctx.store.path, e))?;
        if let SurveyState::Unknown(why) = &survey.state {
            return Err(Error::Refused(format!(
                "{}: {why}; reaped nothing",
                survey.server
            )));
        }
        let targets: Vec<SessionRow> = {
            let mut failed = self.failed();
            // Forget failures of sessions that are gone.
            failed.retain(|id, created| {
                survey
                    .rows
                    .iter()
                    .any(|r| r.session.id == *id && r.session.created == *created)
            });
            survey
                .rows
                .into_iter()
                .filter(|r| r.orphan && r.session.attached == 0)
                .filter(|r| failed.get(&r.session.id) != Some(&r.session.created))
                .collect()
        };
        if ctx.stopping() {
            return Err(Error::Refused(
                "shutting down: the pass did not start".into(),
            ));
        }
        if let Some(held) = ctx
            .allowed
            .holds(self.config.max_reap_per_pass, targets.len())
        {
            return Ok(PassResult {
                summary: format!("held: would reap {} (limit {})", held.would, held.limit),
                detail: targets
                    .iter()
                    .map(|r| format!("{}: would reap ({})", r.session.name, r.reason))
                    .collect(),
                touched: targets
                    .iter()
                    .map(|r| Touched::Session(r.session.name.clone()))
                    .collect(),
                touched_count: targets.len(),
                held: Some(held),
                ..PassResult::default()
            });
        }
        let report = self.reap(ctx, &targets, false, Vec::new())?;
        let mut detail = report.lines();
        if survey.state == SurveyState::NoServer {
            detail.insert(0, format!("no {} is running", survey.server));
        }
        let touched: Vec<Touched> = report
            .reaped()
            .map(|n| Touched::Session(n.to_string()))
            .collect();
        Ok(PassResult {
            changed: !touched.is_empty(),
            summary: report.summary,
            detail,
            touched_count: touched.len(),
            touched,
            next_look: None,
            stale_in: None,
            held: None,
        })
    }

    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassResult> {
        let survey = self
            .survey(conn, now)
            .map_err(|e| Error::from_sqlite(path, e))?;
        match &survey.state {
            SurveyState::Unknown(why) => {
                return Err(Error::Refused(format!(
                    "{}: {why}; would reap nothing",
                    survey.server
                )));
            }
            SurveyState::NoServer => {
                return Ok(PassResult::quiet(format!(
                    "no {} is running: nothing to reap",
                    survey.server
                )));
            }
            SurveyState::Listed => {}
        }
        let reapable = |r: &SessionRow| r.orphan && r.session.attached == 0;
        let detail: Vec<String> = survey
            .rows
            .iter()
            .filter(|r| r.marker)
            .map(|r| {
                let verb = if reapable(r) { "would reap" } else { "keeps" };
                format!("{}: {verb} ({})", r.session.name, r.reason)
            })
            .collect();
        let n = survey.rows.iter().filter(|r| reapable(r)).count();
        Ok(PassResult {
            summary: format!("would reap {n} of {} session(s)", survey.rows.len()),
            detail,
            touched: survey
                .rows
                .iter()
                .filter(|r| reapable(r))
                .map(|r| Touched::Session(r.session.name.clone()))
                .collect(),
            touched_count: n,
            ..PassResult::default()
        })
    }
}
