//! The watchdog: finds a dead, hung or outdated bridge process and heals it
//! in tiers — restart marker, SIGTERM, SIGKILL and a confirmed restart —
//! one step per evaluation, with a cooldown and a circuit breaker. Nothing
//! is signalled unless it is still the process we mean.

mod heal;
mod health;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

pub use self::heal::CONFIRM_WITHIN;
pub use self::health::{Health, check, short};
use super::{
    Change, Loop, LoopCommand, LoopId, LoopReply, Observation, PassCtx, PassMode, PassResult,
    Touched,
};
use crate::config::{ProcessConfig, WatchdogConfig};
use crate::error::{Error, Result};
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::keeper::{
    HealState, LeaseHolder, claim_heals, heal_state, release_heals, save_heal_state,
};
use crate::sys::process::now_precise;

/// Processes healed at once in one pass.
const HEAL_WORKERS: usize = 8;

/// One process in a pass: its config, how it looks, its heal state, and
/// what to do.
type Plan<'a> = (&'a ProcessConfig, Health, HealState, Step);

/// One process row for the Bridges panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeRow {
    pub health: Health,
    pub state: HealState,
    pub breaker_limit: u32,
}

/// What one evaluation decides for one process.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Healthy; `reset` when it has proved itself and old heal state is left.
    Healthy {
        reset: bool,
    },
    /// Healthy but freshly (re)started and not yet beating: the heal state
    /// stays until it proves itself, looked at again at `until`.
    Settling {
        until: f64,
    },
    Cooldown {
        until: i64,
    },
    Broken {
        alert: bool,
        until: i64,
    },
    Act(u8),
}

fn decide(p: &ProcessConfig, h: &Health, st: &HealState, now: i64) -> Step {
    let dirty = st.tier != 0 || st.failures != 0;
    if h.healthy() {
        if dirty && !h.proven {
            let clock = health::beat_clock(&p.heartbeat_file, &h.liveness).unwrap_or(now as f64);
            return Step::Settling {
                until: clock + p.heartbeat_stale_secs as f64,
            };
        }
        return Step::Healthy { reset: dirty };
    }
    if st.last_action_at > 0 && now - st.last_action_at < p.cooldown_secs as i64 {
        return Step::Cooldown {
            until: st.last_action_at + p.cooldown_secs as i64,
        };
    }
    if st.failures >= p.breaker_limit {
        return Step::Broken {
            alert: now - st.last_alert_at >= p.quiet_secs as i64,
            until: st.last_alert_at.max(now) + p.quiet_secs as i64,
        };
    }
    let mut tier = if h.liveness.pid().is_none() {
        3
    } else {
        (st.tier + 1).min(3)
    };
    if tier == 1 && p.restart_markers.is_empty() {
        tier = 2;
    }
    Step::Act(tier)
}

/// What the record step writes for one process.
struct Record {
    state: HealState,
    events: Vec<(&'static str, String, String)>,
    message: Option<String>,
    touched: Option<Touched>,
}

pub struct Watchdog {
    pub config: WatchdogConfig,
    /// When a healthy pass was last recorded: each healthy look need not
    /// become a write to the store.
    last_noop_record: AtomicI64,
}

impl Watchdog {
    pub fn new(config: WatchdogConfig) -> Self {
        Watchdog {
            config,
            last_noop_record: AtomicI64::new(0),
        }
    }

    pub fn rows(&self, conn: &Connection, now: i64) -> rusqlite::Result<Vec<BridgeRow>> {
        let nowf = now_precise().max(now as f64);
        self.config
            .processes
            .iter()
            .map(|p| {
                Ok(BridgeRow {
                    health: check(p, nowf),
                    state: heal_state(conn, &p.name)?,
                    breaker_limit: p.breaker_limit,
                })
            })
            .collect()
    }

    fn process(&self, name: &str) -> Result<&ProcessConfig> {
        self.config
            .processes
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = self
                    .config
                    .processes
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                Error::Refused(format!(
                    "no supervised process {name:?}; configured: {}",
                    names.join(", ")
                ))
            })
    }

    /// Forget a process's heal state, closing its circuit breaker.
    pub fn reset(
        &self,
        store: &crate::store::WriteStore,
        read: &Connection,
        name: &str,
    ) -> Result<String> {
        let p = self.process(name)?;
        let old = heal_state(read, &p.name).map_err(|e| Error::from_sqlite(&store.path, e))?;
        let st = HealState {
            name: p.name.clone(),
            last_action: "reset by the operator".into(),
            started_group: old.started_group,
            ..HealState::default()
        };
        store.write(|tx| save_heal_state(tx, &st))?;
        Ok(format!("{name}: heal state reset, circuit closed"))
    }

    /// Claim every process about to be healed; one another keeper-tui is
    /// healing right now waits (a short cooldown) and is named.
    fn claim_heals(plans: &mut [Plan<'_>], ctx: &PassCtx<'_>) -> Result<Vec<String>> {
        let acting: Vec<&str> = plans
            .iter()
            .filter(|(.., s)| matches!(s, Step::Act(_)))
            .map(|(p, ..)| p.name.as_str())
            .collect();
        if acting.is_empty() {
            return Ok(Vec::new());
        }
        // Long enough for a tier 3: the grace, a SIGKILL, a confirm.
        let longest = plans.iter().map(|(p, ..)| p.grace_secs).max().unwrap_or(0);
        let until = ctx.now + longest as i64 + 30;
        let me = LeaseHolder::this_process();
        let others = ctx
            .store
            .with_conn(None, |c| claim_heals(c, &me, &acting, ctx.now, until))?;
        let mut said = Vec::new();
        for (name, pid) in others {
            if let Some(plan) = plans.iter_mut().find(|(p, ..)| p.name == name) {
                plan.3 = Step::Cooldown { until: ctx.now + 5 };
                said.push(format!(
                    "{name}: another keeper-tui (pid {pid}) is healing it"
                ));
            }
        }
        Ok(said)
    }

    /// Act on every plan, up to `HEAL_WORKERS` at once, in plan order in
    /// the result. Once keeper-tui stops, plans not yet started are left.
    fn act_all(plans: &[Plan<'_>], ctx: &PassCtx<'_>) -> Vec<Record> {
        let acting: Vec<usize> = (0..plans.len())
            .filter(|&i| {
                !matches!(
                    plans[i].3,
                    Step::Healthy { reset: false }
                        | Step::Settling { .. }
                        | Step::Cooldown { .. }
                        | Step::Broken { alert: false, .. }
                )
            })
            .collect();
        // A connection is not shared between threads: only the clock and
        // the stop flag go along.
        let (now, stop_flag) = (ctx.now, ctx.stopping);
        let stopping = || stop_flag.load(Ordering::SeqCst);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        let work = || {
            loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&i) = acting.get(k) else { break };
                if stopping() {
                    break;
                }
                let (p, h, st, step) = &plans[i];
                if let Some(r) = Self::act_one(p, h, st.clone(), step, now, &stopping) {
                    done.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((i, r));
                }
            }
        };
        let workers = acting.len().min(HEAL_WORKERS);
        if workers <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(work);
                }
            });
        }
        let mut done = done
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    /// The act step for one process, and what to record of it.
    fn act_one(
        p: &ProcessConfig,
        h: &Health,
        mut st: HealState,
        step: &Step,
        now: i64,
        stopping: &dyn Fn() -> bool,
    ) -> Option<Record> {
        match *step {
            Step::Healthy { reset: false }
            | Step::Settling { .. }
            | Step::Cooldown { .. }
            | Step::Broken { alert: false, .. } => None,
            Step::Healthy { reset: true } => Some(Record {
                state: HealState {
                    name: p.name.clone(),
                    last_action: "healthy again".into(),
                    started_group: st.started_group,
                    ..HealState::default()
                },
                events: Vec::new(),
                message: Some(format!("{} healthy again", p.name)),
                touched: None,
            }),
            Step::Broken { alert: true, .. } => {
                st.last_alert_at = now;
                let text = format!(
                    "{} circuit broken after {} restarts that did not come back healthy: no action until `keeper-tui watchdog reset {}` ({})",
                    p.name,
                    st.failures,
                    p.name,
                    h.why()
                );
                Some(Record {
                    state: st,
                    events: vec![("circuit_broken", p.name.clone(), text.clone())],
                    message: Some(text),
                    touched: None,
                })
            }
            Step::Act(tier) => {
                let acted = heal::act(p, h, &st, tier, stopping);
                st.tier = tier;
                st.last_action_at = crate::store::now_unix();
                st.last_action.clone_from(&acted.text);
                if let Some(g) = acted.started_group {
                    st.started_group = g;
                }
                if acted.restart_attempted {
                    st.failures += 1;
                }
                let mut events =
                    vec![("heal", format!("{}:tier{tier}", p.name), acted.text.clone())];
                let mut message = acted.text;
                if st.failures >= p.breaker_limit {
                    // Said when it opens, not a quiet period later.
                    message = format!(
                        "{message}; {} circuit broken after {} restarts that did not come back healthy: no action until `keeper-tui watchdog reset {}`",
                        p.name, st.failures, p.name
                    );
                    st.last_alert_at = st.last_action_at;
                    events.push((
                        "circuit_broken",
                        p.name.clone(),
                        format!(
                            "{}: {} restarts in a row did not come back healthy; the watchdog stops acting",
                            p.name, st.failures
                        ),
                    ));
                }
                Some(Record {
                    state: st,
                    events,
                    message: Some(message),
                    touched: Some(Touched::Process {
                        name: p.name.clone(),
                        pid: acted.pid,
                    }),
                })
            }
        }
    }

    /// When to look again, from the decisions just made: a firm moment
    /// (a cooldown's end, a fresh process due to prove itself, the next
    /// alert), and the moment a healthy process goes stale unless it
    /// beats first.
    fn next_looks(
        steps: &[(f64, Step)],
        acted_at: i64,
        cooldowns: &[u64],
        nowf: f64,
    ) -> (Option<Duration>, Option<Duration>) {
        let within = |at: f64| Duration::from_secs_f64((at - nowf).max(0.0));
        let mut firm: Option<f64> = None;
        let mut stale: Option<f64> = None;
        let earliest = |slot: &mut Option<f64>, at: f64| {
            *slot = Some(slot.map_or(at, |s| s.min(at)));
        };
        for ((stale_at, step), cooldown) in steps.iter().zip(cooldowns) {
            match step {
                Step::Healthy { .. } => earliest(&mut stale, *stale_at),
                Step::Settling { until } => earliest(&mut firm, *until),
                Step::Cooldown { until } | Step::Broken { until, .. } => {
                    earliest(&mut firm, *until as f64);
                }
                Step::Act(_) => earliest(&mut firm, (acted_at + *cooldown as i64) as f64),
            }
        }
        (firm.map(within), stale.map(within))
    }
}

impl Loop for Watchdog {
    fn id(&self) -> LoopId {
        LoopId::Watchdog
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.tick_secs > 0).then(|| Duration::from_secs(self.config.tick_secs))
    }

    fn run_at_start(&self) -> bool {
        !self.config.processes.is_empty()
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let now = ctx.now;
        let nowf = now_precise().max(now as f64);
        let sql = |e| Error::from_sqlite(&ctx.store.path, e);
        // Plan: what each process looks like, and what its heal state says to do.
        let mut plans = Vec::new();
        for p in &self.config.processes {
            let h = check(p, nowf);
            let st = heal_state(ctx.read, &p.name).map_err(sql)?;
            let step = decide(p, &h, &st, now);
            plans.push((p, h, st, step));
        }
        if ctx.stopping() && plans.iter().any(|(.., s)| matches!(s, Step::Act(_))) {
            return Err(Error::ShuttingDown("the heal did not start"));
        }
        let elsewhere = Self::claim_heals(&mut plans, ctx)?;
        // Act, with no database lock held, each process on its own: one
        // tier 3's grace and confirm never hold up the others.
        let records = Self::act_all(&plans, ctx);
        let mut messages: Vec<String> = records.iter().filter_map(|r| r.message.clone()).collect();
        messages.extend(elsewhere);
        let all_healthy = plans
            .iter()
            .all(|(.., s)| matches!(s, Step::Healthy { .. }));
        let summary = if !messages.is_empty() {
            messages.join("; ")
        } else if all_healthy {
            "all_healthy".to_string()
        } else {
            let waiting: Vec<String> = plans
                .iter()
                .filter(|(.., s)| !matches!(s, Step::Healthy { .. }))
                .map(|(p, _, _, s)| match s {
                    Step::Settling { .. } => {
                        format!("{} restarted, waiting for its first heartbeat", p.name)
                    }
                    Step::Cooldown { until } => {
                        format!("{} unhealthy, next step in {}s", p.name, until - now)
                    }
                    _ => format!("{} unhealthy, circuit broken", p.name),
                })
                .collect();
            waiting.join("; ")
        };
        let noop_due = now - self.last_noop_record.load(Ordering::SeqCst)
            >= self.config.tick_secs.max(60) as i64;
        let record_pass =
            !messages.is_empty() || (all_healthy && (noop_due || ctx.mode == PassMode::Forced));
        // Record: one transaction for every process.
        if !records.is_empty() || record_pass {
            let session = ctx.store.session_id.clone();
            let kind = LoopId::Watchdog.pass_kind();
            ctx.store.write(|tx| {
                release_heals(tx, &LeaseHolder::this_process())?;
                for r in &records {
                    save_heal_state(tx, &r.state)?;
                    for (kind, target, text) in &r.events {
                        insert_event(tx, &session, kind, Some(target), text, now)?;
                    }
                }
                if record_pass {
                    record_loop_pass(tx, &session, kind, &summary, "all_healthy", now)?;
                }
                Ok(())
            })?;
            if record_pass && messages.is_empty() {
                self.last_noop_record.store(now, Ordering::SeqCst);
            }
        }
        let steps: Vec<(f64, Step)> = plans
            .iter()
            .map(|(p, h, _, s)| {
                let clock = health::beat_clock(&p.heartbeat_file, &h.liveness).unwrap_or(nowf);
                (clock + p.heartbeat_stale_secs as f64, s.clone())
            })
            .collect();
        let cooldowns: Vec<u64> = plans.iter().map(|(p, ..)| p.cooldown_secs).collect();
        let acted_at = crate::store::now_unix();
        let (next_look, stale_in) = Self::next_looks(&steps, acted_at, &cooldowns, now_precise());
        Ok(PassResult {
            changed: !records.is_empty(),
            summary,
            detail: messages,
            touched_count: records.iter().filter(|r| r.touched.is_some()).count(),
            touched: records.into_iter().filter_map(|r| r.touched).collect(),
            next_look,
            stale_in,
            held: None,
        })
    }

    fn command(&self, cmd: LoopCommand, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        match cmd {
            LoopCommand::ResetCircuit(name) => {
                self.reset(ctx.store, ctx.read, &name)?;
                Ok(LoopReply::CircuitReset { name })
            }
            other => Err(Error::Refused(format!("the watchdog cannot {other:?}"))),
        }
    }

    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassResult> {
        let rows = self
            .rows(conn, now)
            .map_err(|e| Error::from_sqlite(path, e))?;
        let detail: Vec<String> = rows
            .iter()
            .map(|r| {
                if r.health.healthy() {
                    format!("{}: healthy", r.health.name)
                } else {
                    format!(
                        "{}: unhealthy ({}), last tier {}",
                        r.health.name,
                        r.health.why(),
                        r.state.tier
                    )
                }
            })
            .collect();
        let sick: Vec<&BridgeRow> = rows.iter().filter(|r| !r.health.healthy()).collect();
        Ok(PassResult {
            summary: format!("{} of {} unhealthy", sick.len(), rows.len()),
            detail,
            touched: sick
                .iter()
                .map(|r| Touched::Process {
                    name: r.health.name.clone(),
                    pid: r.health.liveness.pid(),
                })
                .collect(),
            touched_count: sick.len(),
            ..PassResult::default()
        })
    }

    fn observe(&self, conn: &Connection, now: i64) -> Option<super::Observation> {
        self.rows(conn, now).ok().map(Observation::Bridges)
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        self.config
            .processes
            .iter()
            .flat_map(|p| [p.heartbeat_file.clone(), p.pid_file.clone()])
            .collect()
    }

    /// Heartbeats every few hundred ms need not each be looked at: once a
    /// second, or a quarter of the shortest threshold when that is less, so
    /// the stale timer always moves before it fires.
    fn look_every(&self) -> Duration {
        let shortest = self
            .config
            .processes
            .iter()
            .map(|p| p.heartbeat_stale_secs)
            .min()
            .unwrap_or(4);
        Duration::from_millis((shortest * 250).clamp(50, 1000))
    }

    /// A heartbeat or pid file changed: when does the first process go
    /// stale, and how the processes look now. Reads files and the process
    /// table only: no version command, no store.
    fn on_change(&self, _read: &Connection, now: i64) -> Change {
        let nowf = now_precise().max(now as f64);
        let mut look_in: Option<f64> = None;
        let rows = self
            .config
            .processes
            .iter()
            .map(|p| {
                let health = health::check_files(p, nowf);
                let due = health::stale_in(p, &health, nowf);
                look_in = Some(look_in.map_or(due, |l| l.min(due)));
                BridgeRow {
                    health,
                    state: HealState {
                        name: p.name.clone(),
                        ..HealState::default()
                    },
                    breaker_limit: p.breaker_limit,
                }
            })
            .collect();
        Change {
            look_in: look_in.map(Duration::from_secs_f64),
            seen: Some(Observation::Heartbeats(rows)),
        }
    }
}
