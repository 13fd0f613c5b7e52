//! The reaper: kills orphaned agent tmux sessions — at boot, when a claim's
//! TTL runs out, on its interval, and by hand. Safety first: only names
//! with a marker, never keeper-tui's own session, never an attached one
//! unless by hand, an exact-name kill after a fresh re-check, and an
//! unknown tmux reaps nothing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::{Loop, LoopId, PassMode, PassReport};
use crate::config::ReaperConfig;
use crate::error::{Error, Result};
use crate::report::fmt_age;
use crate::store::WriteStore;
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::keeper::{Claim, claims, release};
use crate::sys::tmux::{Kill, Listing, Session, Tmux, kill_command};

/// One session and what the reaper makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub session: Session,
    pub marker: bool,
    pub claim: Option<Claim>,
    /// An orphan by the rules; attached ones are still only reaped by hand.
    pub orphan: bool,
    /// Why it is or is not an orphan, in the operator's words.
    pub reason: String,
    /// The same decision, for code to act on.
    pub verdict: Verdict,
}

/// What the rules make of a session. `reason` words it for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NotAgent,
    Own,
    Protected,
    Claimed,
    Young,
    Orphan,
}

impl Verdict {
    /// A reap by hand may take orphans and young ones (attached or not),
    /// never a non-agent, keeper's own, a protected or a claimed session.
    pub fn reapable_by_hand(self) -> bool {
        matches!(self, Verdict::Young | Verdict::Orphan)
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

/// The session keeper-tui itself runs in, if it runs inside a pane of the
/// configured server (`$TMUX` names the socket, `$TMUX_PANE` the pane).
pub fn own_session(tmux: &Tmux) -> Option<String> {
    let socket = std::env::var("TMUX").ok()?.split(',').next()?.to_string();
    let pane = std::env::var("TMUX_PANE").ok()?;
    tmux.session_of_pane(&pane, &socket)
}

/// Judge one session.
fn judge(
    s: &Session,
    claim: Option<&Claim>,
    cfg: &ReaperConfig,
    own: Option<&str>,
    now: i64,
) -> (Verdict, String) {
    let marker = cfg.markers.iter().any(|m| s.name.contains(m.as_str()));
    if !marker {
        return (Verdict::NotAgent, "not an agent session (no marker)".into());
    }
    if own == Some(s.name.as_str()) {
        return (Verdict::Own, "keeper-tui runs in this session".into());
    }
    if cfg.protected.contains(&s.name) {
        return (Verdict::Protected, "protected in the config".into());
    }
    if let Some(c) = claim
        && !c.expired(now)
    {
        return (
            Verdict::Claimed,
            format!("claimed by {} ({} left)", c.owner, fmt_age(c.ttl_left(now))),
        );
    }
    let age = now - s.created;
    if age < cfg.grace_secs as i64 {
        return (
            Verdict::Young,
            format!(
                "younger than the grace ({} old, grace {})",
                fmt_age(age),
                fmt_age(cfg.grace_secs as i64)
            ),
        );
    }
    let why = match claim {
        Some(c) => format!(
            "claim by {} expired {} ago",
            c.owner,
            fmt_age(-c.ttl_left(now))
        ),
        None => "no claim".into(),
    };
    let attached = if s.attached > 0 {
        format!("; {} client(s) attached: reap by hand", s.attached)
    } else {
        String::new()
    };
    (Verdict::Orphan, format!("orphan: {why}{attached}"))
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
                state: SurveyState::NoServer,
                rows: Vec::new(),
            });
        }
        Listing::Unknown(why) => {
            return Ok(Survey {
                server,
                at: now,
                state: SurveyState::Unknown(why),
                rows: Vec::new(),
            });
        }
    };
    let by_name: HashMap<String, Claim> = claims(conn)?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let rows = sessions
        .into_iter()
        .map(|s| {
            let claim = by_name.get(&s.name).cloned();
            let (verdict, reason) = judge(&s, claim.as_ref(), cfg, own, now);
            let (marker, orphan) = (verdict != Verdict::NotAgent, verdict == Verdict::Orphan);
            SessionRow {
                verdict,
                session: s,
                marker,
                claim,
                orphan,
                reason,
            }
        })
        .collect();
    Ok(Survey {
        server,
        at: now,
        state: SurveyState::Listed,
        rows,
    })
}

/// What happened to one session a pass set out to reap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reaped(String),
    Gone,
    Spared(String),
    Failed(String),
}

/// Re-check one session right before the kill: same session (same
/// creation time), still an orphan by a fresh look at its claim, and not
/// attached unless by hand. Then kill it by its exact name.
fn reap_one(
    cfg: &ReaperConfig,
    tmux: &Tmux,
    conn: &Connection,
    row: &SessionRow,
    by_hand: bool,
    own: Option<&str>,
    now: i64,
) -> Outcome {
    let name = &row.session.name;
    // A claim that cannot be read is not "no claim": spare the session.
    let claim = match claims(conn) {
        Ok(cs) => cs.into_iter().find(|c| c.name == *name),
        Err(e) => return Outcome::Spared(format!("could not re-read its claim ({e})")),
    };
    if let Some(c) = claim.filter(|c| !c.expired(now)) {
        return Outcome::Spared(format!("claimed by {} since it was listed", c.owner));
    }
    if !row.marker || own == Some(name.as_str()) || cfg.protected.contains(name) {
        return Outcome::Spared(row.reason.clone());
    }
    match tmux.kill_if_unchanged(name, row.session.created, by_hand) {
        Kill::Killed => Outcome::Reaped(row.reason.clone()),
        Kill::Gone => Outcome::Gone,
        Kill::Changed if by_hand => Outcome::Spared("a new session took the name".into()),
        Kill::Changed => {
            Outcome::Spared("a new session took the name, or a client attached".into())
        }
        Kill::Failed(e) => Outcome::Failed(e),
    }
}

pub struct Reaper {
    pub config: ReaperConfig,
    tmux: Tmux,
    own: Option<String>,
    /// Sessions (name, creation time) whose kill failed: reported once and
    /// left to the operator, not retried every pass.
    failed: HashMap<String, i64>,
    /// Whether the first scheduled pass (the boot reap) has run.
    booted: bool,
}

impl Reaper {
    pub fn new(config: ReaperConfig) -> Self {
        let tmux = tmux_of(&config);
        let own = own_session(&tmux);
        Reaper {
            config,
            tmux,
            own,
            failed: HashMap::new(),
            booted: false,
        }
    }

    /// The last step for one surveyed session: re-check it (same session,
    /// still an orphan by a fresh read of its claim, not attached unless by
    /// hand) and kill it by its exact name. Writes nothing to the store.
    pub fn recheck_and_kill(
        &self,
        conn: &Connection,
        row: &SessionRow,
        by_hand: bool,
        now: i64,
    ) -> Outcome {
        reap_one(
            &self.config,
            &self.tmux,
            conn,
            row,
            by_hand,
            self.own.as_deref(),
            now,
        )
    }

    pub fn tmux(&self) -> &Tmux {
        &self.tmux
    }

    pub fn survey(&self, conn: &Connection, now: i64) -> rusqlite::Result<Survey> {
        survey(&self.config, &self.tmux, conn, self.own.as_deref(), now)
    }

    /// Reap named sessions by hand (the TUI's `R`, `keeper-tui reap NAME`):
    /// attached ones too, but never one without a marker, keeper's own, a
    /// protected one, or one with a live claim.
    pub fn reap_by_hand(
        &mut self,
        store: &mut WriteStore,
        names: &[String],
        dry_run: bool,
        now: i64,
    ) -> Result<PassReport> {
        let sql = |e| Error::from_sqlite(&store.path, e);
        let survey = self.survey(&store.conn, now).map_err(sql)?;
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
        let mut targets = Vec::new();
        let mut detail = Vec::new();
        for name in names {
            match rows.iter().find(|r| r.session.name == *name) {
                None => detail.push(format!("{name}: no such session (gone already?)")),
                Some(r) if !r.verdict.reapable_by_hand() => {
                    detail.push(format!("{name}: refused: {}", r.reason));
                }
                Some(r) => targets.push(r.clone()),
            }
        }
        if dry_run {
            detail.extend(targets.iter().map(|r| {
                format!(
                    "{}: would run `{}`",
                    r.session.name,
                    kill_command(&self.config.tmux, &r.session.name)
                )
            }));
            return Ok(PassReport {
                summary: format!("would reap {} of {} named", targets.len(), names.len()),
                detail,
                wrote: false,
            });
        }
        let report = self.reap(store, &targets, true, now, detail)?;
        Ok(report)
    }

    /// Kill `targets` (after each one's re-check) and record what happened.
    fn reap(
        &mut self,
        store: &mut WriteStore,
        targets: &[SessionRow],
        by_hand: bool,
        now: i64,
        mut detail: Vec<String>,
    ) -> Result<PassReport> {
        let mut reaped = Vec::new();
        let mut failures = 0;
        for row in targets {
            let name = &row.session.name;
            match self.recheck_and_kill(&store.conn, row, by_hand, now) {
                Outcome::Reaped(reason) => {
                    detail.push(format!("{name}: reaped ({reason})"));
                    self.failed.remove(name);
                    reaped.push((name.clone(), reason));
                }
                Outcome::Gone => detail.push(format!("{name}: already gone")),
                Outcome::Spared(why) => detail.push(format!("{name}: spared: {why}")),
                Outcome::Failed(e) => {
                    failures += 1;
                    detail.push(format!(
                        "{name}: kill failed: {e} (not retried until you reap it by hand)"
                    ));
                    self.failed.insert(name.clone(), row.session.created);
                }
            }
        }
        let orphans = targets.len();
        let summary = if reaped.is_empty() && orphans == 0 {
            "no_orphans".to_string()
        } else {
            format!("reaped={} orphans={orphans}", reaped.len())
        };
        let session = store.session_id.clone();
        let kind = LoopId::Reaper.pass_kind();
        store.write(|tx| {
            for (name, reason) in &reaped {
                insert_event(tx, &session, "session_reaped", Some(name), reason, now)?;
                release(tx, name)?;
            }
            record_loop_pass(tx, &session, kind, &summary, "no_orphans", now)
        })?;
        let summary = if failures > 0 {
            format!("{summary} failed={failures}")
        } else {
            summary
        };
        Ok(PassReport {
            summary,
            detail,
            wrote: true,
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

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn pass(&mut self, store: &mut WriteStore, mode: PassMode, now: i64) -> Result<PassReport> {
        // The boot reap is the first scheduled pass; it runs even when
        // later scheduled passes are off.
        let first = !std::mem::replace(&mut self.booted, true);
        let boot = mode == PassMode::Scheduled && first && self.config.boot_reap;
        if mode == PassMode::Scheduled && self.config.interval_secs == 0 && !boot {
            return Ok(PassReport {
                summary: "disabled".into(),
                ..PassReport::default()
            });
        }
        if mode == PassMode::DryRun {
            return self.dry_run(&store.conn, &store.path, now);
        }
        let survey = self
            .survey(&store.conn, now)
            .map_err(|e| Error::from_sqlite(&store.path, e))?;
        if let SurveyState::Unknown(why) = &survey.state {
            return Err(Error::Refused(format!(
                "{}: {why}; reaped nothing",
                survey.server
            )));
        }
        let targets: Vec<SessionRow> = survey
            .rows
            .into_iter()
            .filter(|r| r.orphan && r.session.attached == 0)
            .filter(|r| self.failed.get(&r.session.name) != Some(&r.session.created))
            .collect();
        let mut report = self.reap(store, &targets, false, now, Vec::new())?;
        if survey.state == SurveyState::NoServer {
            report
                .detail
                .insert(0, format!("no {} is running", survey.server));
        }
        Ok(report)
    }

    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassReport> {
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
                return Ok(PassReport {
                    summary: format!("no {} is running: nothing to reap", survey.server),
                    ..PassReport::default()
                });
            }
            SurveyState::Listed => {}
        }
        let detail: Vec<String> = survey
            .rows
            .iter()
            .filter(|r| r.marker)
            .map(|r| {
                let verb = if r.orphan && r.session.attached == 0 {
                    "would reap"
                } else {
                    "keeps"
                };
                format!("{}: {verb} ({})", r.session.name, r.reason)
            })
            .collect();
        let n = survey
            .rows
            .iter()
            .filter(|r| r.orphan && r.session.attached == 0)
            .count();
        Ok(PassReport {
            summary: format!("would reap {n} of {} session(s)", survey.rows.len()),
            detail,
            wrote: false,
        })
    }
}
