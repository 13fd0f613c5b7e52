//! The reaper: kills orphaned agent tmux sessions — at boot, when a claim's
//! TTL runs out, on its interval, and by hand. Safety first: only names
//! with a marker, never keeper-tui's own session, never an attached one
//! unless by hand, an exact-name kill after a fresh re-check, and an
//! unknown tmux reaps nothing.

mod report;
mod survey;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{Loop, LoopCommand, LoopId, LoopReply, PassCtx, PassMode, PassResult, Touched};
use crate::config::ReaperConfig;
use crate::error::{Error, Result};
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::keeper::{claims, release_if_unchanged};
use crate::sys::children::Children;
use crate::sys::tmux::{Kill, Tmux, kill_command};

pub use self::report::*;
pub use self::survey::*;

pub struct Reaper {
    pub config: ReaperConfig,
    tmux: Tmux,
    /// The id of keeper-tui's own session.
    own: Option<String>,
    /// Sessions (id, creation time) whose kill failed: reported once and
    /// left to the operator, not retried every pass. Locked only for a
    /// lookup or an update, never across tmux.
    failed: Mutex<HashMap<String, i64>>,
    /// The server's panes when the last look listed them. Locked only for
    /// a lookup or an update, never across tmux.
    seen: Mutex<Option<Seen>>,
}

/// What a look's listing saw of the tmux server.
struct Seen {
    server: Children,
    /// The server's children just before that listing; `None` when they
    /// were not known then (the first listing of this server).
    panes: Option<Vec<i32>>,
    at: Instant,
}

/// A look lists the sessions again at least this often, panes or not:
/// activity, attached clients and claims change without a pane coming or
/// going.
const RELIST_EVERY: Duration = Duration::from_secs(15);

impl Reaper {
    pub fn new(config: ReaperConfig) -> Self {
        let tmux = tmux_of(&config);
        let own = own_session(&tmux);
        Reaper {
            config,
            tmux,
            own,
            failed: Mutex::new(HashMap::new()),
            seen: Mutex::new(None),
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

    fn seen(&self) -> std::sync::MutexGuard<'_, Option<Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the last look still stands: the server's panes are those
    /// it listed, and it is recent. A session, window or pane that comes or
    /// goes forks or ends a child of the server.
    fn seen_holds(seen: &Seen) -> bool {
        seen.at.elapsed() < RELIST_EVERY && seen.panes.is_some() && seen.server.now() == seen.panes
    }

    /// A look for the Sessions panel: `None` while the last one stands,
    /// else a new listing, judged.
    pub fn look(&self, conn: &Connection, now: i64) -> rusqlite::Result<Option<Survey>> {
        let before = {
            let mut seen = self.seen();
            if seen.as_ref().is_some_and(Self::seen_holds) {
                return Ok(None);
            }
            seen.take()
                .and_then(|s| s.server.now().map(|panes| (s.server, panes)))
        };
        let (listing, pid) = self.tmux.list_watched();
        let seen = match (before, pid) {
            // Children read before the listing vouch for it: one that came
            // during the listing differs from them at the next look.
            (Some((server, panes)), Some(pid)) if server.pid() == pid => Some(Seen {
                server,
                panes: Some(panes),
                at: Instant::now(),
            }),
            (_, pid) => pid.and_then(watch_server).map(|server| Seen {
                server,
                panes: None,
                at: Instant::now(),
            }),
        };
        *self.seen() = seen;
        judge_listing(
            &self.config,
            &self.tmux,
            conn,
            self.own.as_deref(),
            now,
            listing,
        )
        .map(Some)
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
        // What was killed shows at the next look, not only after the
        // server has reaped its panes.
        if !targets.is_empty() {
            *self.seen() = None;
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

    /// Two reads of /proc, from files kept open.
    fn last_look_holds(&self) -> bool {
        self.seen().as_ref().is_some_and(Self::seen_holds)
    }

    fn observe(&self, conn: &Connection, now: i64) -> Option<super::Observation> {
        match self.look(conn, now) {
            Ok(s) => s.map(super::Observation::Sessions),
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
            other => Err(Error::Refused(format!("the reaper cannot {other:?}"))),
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

/// Watch the process tmux named as its server, if /proc here shows a tmux
/// server at that pid: in another pid namespace (a container sharing the
/// socket) the number names some other process, whose children say
/// nothing of tmux. Without a watch every look lists tmux.
fn watch_server(pid: i32) -> Option<Children> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    comm.starts_with("tmux")
        .then(|| Children::of(pid))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process whose children stay as they are: none.
    struct Quiet(std::process::Child);

    impl Drop for Quiet {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn quiet() -> Quiet {
        Quiet(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap(),
        )
    }

    fn seen(of: &Quiet, panes: Option<Vec<i32>>, ago: Duration) -> Seen {
        let server = Children::of(of.0.id() as i32).unwrap();
        Seen {
            server,
            panes,
            at: Instant::now().checked_sub(ago).unwrap(),
        }
    }

    #[test]
    fn only_a_tmux_server_is_watched() {
        let q = quiet();
        assert!(watch_server(q.0.id() as i32).is_none(), "sleep is no tmux");
        assert!(watch_server(-1).is_none());
    }

    #[test]
    fn the_last_look_stands_while_the_panes_stay_and_it_is_recent() {
        let q = quiet();
        let seen = |panes, ago| seen(&q, panes, ago);
        let now = Children::of(q.0.id() as i32).unwrap().now().unwrap();
        assert!(Reaper::seen_holds(&seen(Some(now.clone()), Duration::ZERO)));
        // Unknown panes vouch for nothing; other panes mean a session came
        // or went; an old listing is listed again for activity and claims.
        assert!(!Reaper::seen_holds(&seen(None, Duration::ZERO)));
        let mut other = now.clone();
        other.push(i32::MAX);
        assert!(!Reaper::seen_holds(&seen(Some(other), Duration::ZERO)));
        assert!(!Reaper::seen_holds(&seen(
            Some(now),
            RELIST_EVERY + Duration::from_secs(1)
        )));
    }
}
