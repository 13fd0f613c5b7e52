//! The UI's state and how keys, snapshots and replies change it. No I/O:
//! every effect on the world leaves as a `Command` value for the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::widgets::TableState;

use super::keys::{self, Action, Panel, action_for};
use super::panels::loops::LoopRow;
use super::theme::Theme;
use crate::engine::{Command, Outcome, Reply, Snapshot};
use crate::loops::reaper::Named;
use crate::loops::{LoopCommand, LoopId};
use crate::store::threads::{ThreadAnchor, ThreadFilter};
use crate::ui::panels::log::LogState;

mod act;
mod input;
mod jobs;
mod lists;
mod mouse;
mod nav;
mod tasks;
mod threads;
mod whole;

pub use self::input::{Edit, LineInput};
pub use self::jobs::JobRow;
pub use self::lists::{SortBy, sort_columns};
pub use self::mouse::Mouse;
pub use self::threads::group;

/// Spells the tmux command that reaps a session, for the confirm popup.
pub type KillCommand = Box<dyn Fn(&crate::sys::tmux::Session) -> String + Send>;

/// How long a status-bar message stays.
pub const MESSAGE_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    pub text: String,
    pub error: bool,
    pub until: Instant,
}

/// What a confirm popup would do once confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub operation: String,
    pub target: String,
    /// The exact effect, e.g. the tmux command a reap runs.
    pub detail: Option<String>,
    pub command: Command,
    /// Focus starts on Cancel: Enter alone never confirms.
    pub on_confirm: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Detail {
        title: String,
        text: String,
        scroll: u16,
    },
    Confirm(Confirm),
}

/// Why a reply came back, so it lands in the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Message,
    /// A dry-run before a forced pass: its answer opens the confirm.
    Review(LoopId),
    /// The newest undoable janitor pass: its answer opens the confirm.
    ReviewUndo,
    Detail(String),
    Silent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command, Purpose),
    Quit,
}

pub struct App {
    pub snapshot: Arc<Snapshot>,
    /// The newest snapshot while paused; shown on resume.
    pending: Option<Arc<Snapshot>>,
    pub focus: Panel,
    pub loops: TableState,
    pub outcomes: TableState,
    pub threads: TableState,
    pub log: LogState,
    pub sessions: TableState,
    pub bridges: TableState,
    pub tasks: TableState,
    pub jobs: TableState,
    /// The Threads panel's query to the engine (its text comes from the
    /// panel's input).
    pub filter: ThreadFilter,
    /// The panel whose filter is being typed.
    pub editing: Option<Panel>,
    /// Each panel's filter text, by panel number.
    pub inputs: [LineInput; 9],
    pub sorts: [SortBy; 9],
    /// What each cursor is on (loop kind, thread id, session name, …).
    cursors: [Option<String>; 9],
    /// The focused panel takes the whole body.
    pub zoomed: bool,
    /// Where the panels were at the last frame: for the mouse, page moves
    /// and which panels ask for fresh looks.
    pub slots: Vec<super::layout::Slot>,
    /// The last frame was too small to show panels.
    pub too_small: bool,
    /// Mouse reports are acted on (off with `--no-mouse`: whatever reaches
    /// the input then, say from a terminal another program left in mouse
    /// mode, is ignored).
    pub mouse: Mouse,
    pub popup: Option<Popup>,
    pub status: Option<StatusMessage>,
    pub paused: bool,
    pub theme: Theme,
    pub demo: Option<String>,
    /// How far the help popup can scroll at the size last drawn.
    pub help_max_scroll: u16,
    /// Which panel each shared slot showed last: Stores or Outcomes; one
    /// of the middle panels; Sessions, Tasks or Jobs.
    pub side: Panel,
    pub right: Panel,
    pub lower: Panel,
    last_sessions_look: Option<Instant>,
    /// Where the Threads panel's window of the store is.
    paging: threads::Paging,
    /// The task the cursor is on, kept across refreshes by its id.
    task_cursor: Option<String>,
    last_task_look: Option<Instant>,
    /// The job or run the Jobs cursor is on.
    job_cursor: Option<jobs::JobKey>,
    last_jobs_look: Option<Instant>,
    /// The Loops panel's rows and what they were built from: each tick of
    /// the clock reads them again.
    loop_rows: std::cell::RefCell<Option<lists::LoopRowsMemo>>,
    /// The newest engine notice already shown, so each new one (a scheduled
    /// heal, a reap) reaches the status bar once.
    seen_notice: Option<(i64, String)>,
    /// How to spell the kill command for the confirm popup (the server's
    /// `-L`/`-S` arguments included); plain `tmux kill-session` if unset.
    pub reap_command: Option<KillCommand>,
}

impl App {
    pub fn new(snapshot: Arc<Snapshot>, theme: Theme) -> Self {
        App {
            snapshot,
            pending: None,
            focus: Panel::Loops,
            loops: TableState::default().with_selected(Some(0)),
            outcomes: TableState::default().with_selected(Some(0)),
            threads: TableState::default().with_selected(Some(0)),
            log: LogState::default(),
            sessions: TableState::default().with_selected(Some(0)),
            bridges: TableState::default().with_selected(Some(0)),
            tasks: TableState::default().with_selected(Some(0)),
            jobs: TableState::default().with_selected(Some(0)),
            filter: ThreadFilter::default(),
            editing: None,
            inputs: Default::default(),
            sorts: [SortBy::default(); 9],
            cursors: Default::default(),
            zoomed: false,
            slots: Vec::new(),
            too_small: false,
            mouse: Mouse::On,
            popup: None,
            status: None,
            paused: false,
            theme,
            demo: None,
            help_max_scroll: u16::MAX,
            side: Panel::Stores,
            right: Panel::Threads,
            lower: Panel::Sessions,
            last_sessions_look: None,
            paging: threads::Paging::default(),
            task_cursor: None,
            last_task_look: None,
            job_cursor: None,
            last_jobs_look: None,
            loop_rows: std::cell::RefCell::new(None),
            seen_notice: None,
            reap_command: None,
        }
    }

    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error,
            until: Instant::now() + MESSAGE_FOR,
        });
    }

    /// A new snapshot from the engine; whether to redraw now. Paused: kept
    /// for later. Only times moved: the next clock tick draws it.
    pub fn on_snapshot(&mut self, snap: Arc<Snapshot>) -> bool {
        if self.paused {
            self.pending = Some(snap);
            return false;
        }
        let now = !snap.timing_only;
        let old = std::mem::replace(&mut self.snapshot, snap);
        self.follow_moved(&old);
        self.threads_arrived();
        self.show_new_notice();
        now
    }

    /// Each cursor back on its item in the lists a new snapshot changed;
    /// a list that did not change keeps its cursor where it is anyway.
    fn follow_moved(&mut self, old: &Snapshot) {
        let new = Arc::clone(&self.snapshot);
        for p in crate::ui::painted::moved(old, &new) {
            match p {
                Panel::Tasks => self.follow_task(),
                Panel::Jobs => self.follow_job(),
                Panel::Stores => {}
                p => self.follow(p),
            }
        }
    }

    /// What the engine did on its own (a heal, a reap, a failure) shows in
    /// the status bar as well as in the Log.
    fn show_new_notice(&mut self) {
        let Some(newest) = self.snapshot.notices.last() else {
            return;
        };
        let key = (newest.at, newest.text.to_string());
        let first_look = self.seen_notice.is_none();
        if self.seen_notice.as_ref() != Some(&key) {
            self.seen_notice = Some(key);
            // The notices already there when the screen opened are history.
            if !first_look {
                let (text, error) = (newest.text.to_string(), newest.error);
                self.say(text, error);
            }
        }
    }

    pub fn on_reply(&mut self, purpose: Purpose, reply: Reply) -> Vec<Effect> {
        match (purpose, reply) {
            (Purpose::Silent, Ok(_)) => {}
            (Purpose::Detail(title), Ok(outcome)) => {
                self.popup = Some(Popup::Detail {
                    title,
                    text: outcome.to_string(),
                    scroll: 0,
                });
            }
            (Purpose::Review(id), Ok(Outcome::DryRun { result, .. })) => {
                return self.review(id, &result);
            }
            (Purpose::ReviewUndo, Ok(Outcome::Undoable(Some(pass)))) => {
                let ago = crate::report::fmt_age(crate::store::now_unix() - pass.at);
                self.popup = Some(Popup::Confirm(Confirm {
                    operation: "undo".into(),
                    target: format!(
                        "janitor pass #{} ({ago} ago, closed {})",
                        pass.id, pass.closed
                    ),
                    detail: Some(
                        "reopens every thread it closed that nobody touched since, as a note would"
                            .into(),
                    ),
                    command: Command::Undo(pass.id),
                    on_confirm: false,
                }));
            }
            (Purpose::Message | Purpose::Review(_) | Purpose::ReviewUndo, Ok(outcome)) => {
                self.say(outcome.to_string(), false);
            }
            (_, Err(e)) => self.say(e.to_string(), true),
        }
        Vec::new()
    }

    /// What a forced pass would do is known: nothing runs at once; anything
    /// else asks first, naming the count and the first items, and the pass
    /// then changes no more than that.
    fn review(&mut self, id: LoopId, would: &crate::loops::PassResult) -> Vec<Effect> {
        if would.touched_count == 0 {
            self.say(format!("forcing a {} pass…", id.name()), false);
            return vec![Effect::Send(Command::ForcePass(id), Purpose::Message)];
        }
        let n = would.touched_count;
        let (verb, what) = id.changes();
        let names: Vec<String> = would
            .touched
            .iter()
            .take(6)
            .map(ToString::to_string)
            .collect();
        let more = n.saturating_sub(names.len());
        let listed = if more > 0 {
            format!("{}, … +{more}", names.join(", "))
        } else {
            names.join(", ")
        };
        self.popup = Some(Popup::Confirm(Confirm {
            operation: verb.into(),
            target: format!("{n} {what}"),
            detail: Some(format!("{}: {listed}", would.summary)),
            command: Command::ForceAgreed { id, count: n },
            on_confirm: false,
        }));
        Vec::new()
    }

    /// Once a second: drop an expired message. True when something changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.status.as_ref().is_some_and(|s| s.until <= now) {
            self.status = None;
            return true;
        }
        false
    }

    fn clamp_selections(&mut self) {
        for p in [
            Panel::Loops,
            Panel::Outcomes,
            Panel::Threads,
            Panel::Sessions,
            Panel::Bridges,
        ] {
            self.follow(p);
        }
        self.follow_task();
        self.follow_job();
    }

    /// Handle one key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return vec![Effect::Quit];
        }
        // Nothing acts that the operator cannot see: not a popup, not a
        // filter being typed, not a panel. Esc still closes them; q quits.
        if self.too_small {
            return self.on_key_too_small(key);
        }
        if let Some(p) = self.editing {
            return self.on_filter_key(p, key);
        }
        if let Some(popup) = self.popup.take() {
            return self.on_popup_key(popup, key);
        }
        self.on_panel_key(key)
    }

    fn on_key_too_small(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('q') => return vec![Effect::Quit],
            KeyCode::Esc => {
                self.editing = None;
                self.popup = None;
                return Vec::new();
            }
            _ => {}
        }
        self.say(
            format!(
                "terminal too small: make it at least {}×{} to act",
                super::layout::MIN_WIDTH,
                super::layout::MIN_HEIGHT
            ),
            true,
        );
        Vec::new()
    }

    fn on_panel_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match action_for(key, self.focus) {
            // With the store unreadable there is no panel to act on.
            Some(action) if self.snapshot.store.is_none() && !keys::is_global(action) => {
                self.say(
                    "the store is unreadable: only r (retry), ? and q work until it is back",
                    true,
                );
                Vec::new()
            }
            Some(action) => self.act(action),
            None => Vec::new(),
        }
    }

    /// Typing in a panel's filter: the list narrows as each key lands.
    fn on_filter_key(&mut self, p: Panel, key: KeyEvent) -> Vec<Effect> {
        let edit = self.inputs[lists::slot(p)].key(key);
        if matches!(edit, Edit::Done | Edit::Cancelled) {
            self.editing = None;
        }
        if matches!(edit, Edit::Changed | Edit::Cancelled) {
            return self.filter_changed(p);
        }
        Vec::new()
    }

    /// Another filter makes another list: it starts from its top, not
    /// wherever the old cursor's thread lands in it.
    fn new_thread_list(&mut self) {
        self.paging.anchor = ThreadAnchor::Top;
        self.paging.jump = None;
        self.paging.pending_move = 0;
        self.cursors[lists::slot(Panel::Threads)] = None;
    }

    fn filter_changed(&mut self, p: Panel) -> Vec<Effect> {
        match p {
            Panel::Threads => {
                let text = self.inputs[lists::slot(p)].text.clone();
                // A space typed changes no match: the list stays put.
                if text.trim() == self.filter.text.trim() {
                    self.filter.text = text;
                    return Vec::new();
                }
                self.filter.text = text;
                self.threads.select(Some(0));
                // Another list: it starts from its top.
                self.new_thread_list();
                vec![Effect::Send(
                    Command::SetThreadQuery(self.thread_query()),
                    Purpose::Silent,
                )]
            }
            Panel::Tasks => {
                self.follow_task();
                Vec::new()
            }
            Panel::Jobs => {
                self.follow_job();
                Vec::new()
            }
            Panel::Log => {
                self.log.bottom();
                Vec::new()
            }
            p => {
                self.follow(p);
                Vec::new()
            }
        }
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent) -> Vec<Effect> {
        let scroll_by = |s: u16| match key.code {
            KeyCode::Char('j') | KeyCode::Down => s.saturating_add(1),
            KeyCode::Char('k') | KeyCode::Up => s.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => s.saturating_add(10),
            KeyCode::PageUp => s.saturating_sub(10),
            KeyCode::Char('g') | KeyCode::Home => 0,
            KeyCode::Char('G') | KeyCode::End => u16::MAX,
            _ => s,
        };
        let closes = matches!(key.code, KeyCode::Esc | KeyCode::Char('q'));
        match popup {
            Popup::Help { scroll } if !closes && key.code != KeyCode::Char('?') => {
                self.popup = Some(Popup::Help {
                    scroll: scroll_by(scroll).min(self.help_max_scroll),
                });
            }
            Popup::Detail {
                title,
                text,
                scroll,
            } if !closes && key.code != KeyCode::Enter => {
                self.popup = Some(Popup::Detail {
                    title,
                    text,
                    scroll: scroll_by(scroll),
                });
            }
            Popup::Confirm(mut c) => match key.code {
                KeyCode::Left
                | KeyCode::Right
                | KeyCode::Tab
                | KeyCode::BackTab
                | KeyCode::Char('h' | 'l') => {
                    c.on_confirm = !c.on_confirm;
                    self.popup = Some(Popup::Confirm(c));
                }
                KeyCode::Char('y') => return self.confirmed(c),
                KeyCode::Enter if c.on_confirm => return self.confirmed(c),
                KeyCode::Enter | KeyCode::Esc | KeyCode::Char('n' | 'q') => {
                    self.say("cancelled", false);
                }
                _ => self.popup = Some(Popup::Confirm(c)),
            },
            _ => {}
        }
        Vec::new()
    }

    fn confirmed(&mut self, c: Confirm) -> Vec<Effect> {
        self.say(format!("{} {}…", c.operation, c.target), false);
        vec![Effect::Send(c.command, Purpose::Message)]
    }

    fn selected_loop(&self) -> Option<LoopRow> {
        self.loop_rows()
            .get(self.loops.selected().unwrap_or(0))
            .cloned()
    }

    fn selected_thread(&self) -> Option<String> {
        self.snapshot
            .threads
            .rows
            .get(self.threads.selected().unwrap_or(0))
            .map(|t| t.id.clone())
    }

    fn list_len(&self) -> usize {
        match self.focus {
            Panel::Loops => self.loop_rows().len(),
            Panel::Outcomes => self.outcome_rows().len(),
            Panel::Threads => self.snapshot.threads.rows.len(),
            Panel::Log => self.snapshot.notices.len(),
            Panel::Sessions => self.session_list().len(),
            Panel::Bridges => self.bridge_rows().len(),
            Panel::Tasks => self.task_lines().len(),
            Panel::Jobs => self.job_rows().len(),
            Panel::Stores => 0,
        }
    }

    fn mv(&mut self, to: impl FnOnce(usize, usize) -> usize) {
        let len = self.list_len();
        let p = self.focus;
        if let Some(state) = self.table_mut(p) {
            if len == 0 {
                state.select(None);
            } else {
                let at = state.selected().unwrap_or(0);
                state.select(Some(to(at, len).min(len - 1)));
            }
        }
        self.remember(p);
    }

    /// Moves in the Log go by notice and keep to its filter.
    fn mv_log(&mut self, action: Action) {
        let snap = Arc::clone(&self.snapshot);
        let filter = self.inputs[lists::slot(Panel::Log)].text.clone();
        let page = self.log.page().max(1);
        match action {
            Action::Down => self.log.down(&snap.notices, &filter, 1),
            Action::Up => self.log.up(&snap.notices, &filter, 1),
            Action::PageDown => self.log.down(&snap.notices, &filter, page),
            Action::PageUp => self.log.up(&snap.notices, &filter, page),
            Action::Top => self.log.top(&snap.notices, &filter),
            _ => self.log.bottom(),
        }
    }

    /// Refused up front, never after a confirm: nothing that changes the
    /// store runs in read-only mode.
    fn refused_read_only(&mut self, action: Action) -> bool {
        if self.snapshot.read_only
            && matches!(
                action,
                Action::ForcePass
                    | Action::ForceAll
                    | Action::Undo
                    | Action::Reopen
                    | Action::Reap
                    | Action::ResetBreaker
                    | Action::Cancel
                    | Action::Redeliver
                    | Action::Retry
                    | Action::RunNow
            )
        {
            self.say(
                format!(
                    "read-only mode: refused to {}; restart without --read-only to act",
                    action_words(action)
                ),
                true,
            );
            return true;
        }
        false
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        if self.refused_read_only(action) {
            return Vec::new();
        }
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.popup = Some(Popup::Help { scroll: 0 }),
            Action::FocusNext => return self.focus_on(self.step_focus(true)),
            Action::FocusPrev => return self.focus_on(self.step_focus(false)),
            Action::Focus(p) => return self.focus_on(p),
            Action::Down
            | Action::Up
            | Action::Top
            | Action::Bottom
            | Action::PageDown
            | Action::PageUp
            | Action::Zoom
            | Action::SortNext
            | Action::SortPrev
            | Action::SortReverse => return self.navigate(action),
            Action::Filter => {
                self.editing = Some(self.focus);
            }
            Action::CycleState => {
                self.filter.state = match self.filter.state.as_deref() {
                    None => Some("active".into()),
                    Some("active") => Some("idle".into()),
                    Some("idle") => Some("closed".into()),
                    _ => None,
                };
                self.threads.select(Some(0));
                self.new_thread_list();
                return vec![Effect::Send(
                    Command::SetThreadQuery(self.thread_query()),
                    Purpose::Silent,
                )];
            }
            Action::Close if self.zoomed => self.zoomed = false,
            Action::Close if self.focus == Panel::Threads => {
                if !self.filter.text.is_empty() || self.filter.state.is_some() {
                    self.inputs[lists::slot(Panel::Threads)].clear();
                    self.filter = ThreadFilter::default();
                    self.new_thread_list();
                    return vec![Effect::Send(
                        Command::SetThreadQuery(self.thread_query()),
                        Purpose::Silent,
                    )];
                }
            }
            Action::Close => {
                let p = self.focus;
                if !self.inputs[lists::slot(p)].is_empty() {
                    self.inputs[lists::slot(p)].clear();
                    return self.filter_changed(p);
                }
            }
            Action::Details => return self.details(),
            Action::ForcePass if self.focus == Panel::Bridges => return self.evaluate_bridges(),
            Action::ForcePass => return self.force_selected(false),
            Action::DryRun => return self.force_selected(true),
            Action::ForceAll => {
                self.popup = Some(Popup::Confirm(Confirm {
                    operation: "force a pass of".into(),
                    target: "every loop".into(),
                    command: Command::ForceAll,
                    detail: None,
                    on_confirm: false,
                }));
            }
            Action::Reopen => return self.reopen_selected(),
            Action::Undo => return self.undo_newest(),
            Action::Pause => {
                self.paused = !self.paused;
                if self.paused {
                    self.say("paused: the screen holds still; p resumes", false);
                } else {
                    if let Some(s) = self.pending.take() {
                        self.snapshot = s;
                        self.clamp_selections();
                    }
                    self.say("live updates resumed", false);
                }
            }
            Action::Reap => return self.reap_selected(),
            Action::Cancel if self.focus == Panel::Jobs => return self.cancel_run_selected(),
            Action::Cancel => return self.cancel_selected(),
            Action::Retry => return self.retry_selected(),
            Action::RunNow => return self.run_now_selected(),
            Action::Redeliver => return self.redeliver_selected(),
            Action::ResetBreaker => return self.reset_breaker_selected(),
            Action::Refresh => {
                self.say("refreshing…", false);
                return vec![Effect::Send(Command::Refresh, Purpose::Message)];
            }
        }
        Vec::new()
    }

    fn details(&mut self) -> Vec<Effect> {
        match self.focus {
            Panel::Threads => match self.selected_thread() {
                Some(id) => vec![Effect::Send(
                    Command::ThreadDetail(id.clone()),
                    Purpose::Detail(format!("thread {id}")),
                )],
                None => Vec::new(),
            },
            Panel::Tasks => self.task_details(),
            Panel::Jobs => self.job_details(),
            Panel::Outcomes | Panel::Sessions | Panel::Bridges | Panel::Log => {
                self.whole_row();
                Vec::new()
            }
            Panel::Loops => match self.selected_loop() {
                Some(row) => vec![Effect::Send(
                    Command::LoopHistory(row.kind.clone()),
                    Purpose::Detail(format!("loop {}", row.label)),
                )],
                None => Vec::new(),
            },
            Panel::Stores => Vec::new(),
        }
    }

    /// Moving onto Sessions asks the reaper for a fresh look at tmux.
    /// Panels on screen: Bridges only when something is supervised.
    fn shown(&self, panel: Panel) -> bool {
        panel != Panel::Bridges || !self.snapshot.bridges.is_empty()
    }

    /// The next panel in screen order (left to right, top to bottom),
    /// going forward or back.
    fn step_focus(&self, forward: bool) -> Panel {
        let order = super::layout::SCREEN_ORDER;
        let n = order.len();
        let mut at = order.iter().position(|p| *p == self.focus).unwrap_or(0);
        for _ in 0..n {
            at = if forward {
                (at + 1) % n
            } else {
                (at + n - 1) % n
            };
            if self.shown(order[at]) {
                return order[at];
            }
        }
        self.focus
    }

    fn focus_on(&mut self, panel: Panel) -> Vec<Effect> {
        if !self.shown(panel) {
            self.say(
                format!(
                    "{} {} is not shown: no [[watchdog.process]] is configured",
                    panel.number(),
                    panel.title()
                ),
                true,
            );
            return Vec::new();
        }
        let arriving = panel != self.focus;
        self.focus = panel;
        if matches!(panel, Panel::Sessions | Panel::Tasks | Panel::Jobs) {
            self.lower = panel;
        }
        if matches!(panel, Panel::Stores | Panel::Outcomes) {
            self.side = panel;
        }
        if !matches!(panel, Panel::Loops | Panel::Log | Panel::Bridges) {
            self.right = panel;
        }
        match panel {
            Panel::Sessions if arriving => {
                self.last_sessions_look = Some(Instant::now());
                vec![Effect::Send(Command::Observe, Purpose::Silent)]
            }
            Panel::Tasks if arriving => {
                self.last_task_look = Some(Instant::now());
                vec![Effect::Send(
                    Command::ObserveLoop(LoopId::Reconciler),
                    Purpose::Silent,
                )]
            }
            Panel::Jobs if arriving => {
                self.last_jobs_look = Some(Instant::now());
                vec![Effect::Send(
                    Command::ObserveLoop(LoopId::Jobs),
                    Purpose::Silent,
                )]
            }
            _ => Vec::new(),
        }
    }

    pub fn keeper_loop(&self, id: LoopId) -> Option<&crate::engine::LoopStatus> {
        self.snapshot.loops.iter().find(|l| l.id == id)
    }
}

/// What an action that changes the store does, for a refusal.
fn action_words(action: Action) -> &'static str {
    match action {
        Action::ForcePass => "force a pass",
        Action::ForceAll => "force a pass of every loop",
        Action::Reopen => "reopen a thread",
        Action::Undo => "undo a janitor pass",
        Action::Reap => "reap a session",
        Action::ResetBreaker => "reset a circuit breaker",
        Action::Cancel => "cancel a task",
        Action::Redeliver => "redeliver a hook",
        Action::Retry => "retry a job run",
        Action::RunNow => "run a job",
        _ => "change the store",
    }
}

fn clamp(state: &mut TableState, len: usize) {
    match (state.selected(), len) {
        (_, 0) => state.select(None),
        (None, _) => state.select(Some(0)),
        (Some(i), n) if i >= n => state.select(Some(n - 1)),
        _ => {}
    }
}
