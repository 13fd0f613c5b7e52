//! The keys that act on the selected item: each is refused up front with
//! the reason when it cannot apply, and otherwise confirmed or sent.

use super::{App, Command, Confirm, Effect, LoopCommand, LoopId, Named, Popup, Purpose};

impl App {
    pub(super) fn force_selected(&mut self, dry_run: bool) -> Vec<Effect> {
        let Some(row) = self.selected_loop() else {
            return Vec::new();
        };
        let Some(id) = row.keeper else {
            self.say(
                format!(
                    "{} is run by threadkeeper, not keeper-tui: nothing to force here",
                    row.label
                ),
                true,
            );
            return Vec::new();
        };
        if dry_run {
            return vec![Effect::Send(
                Command::DryRun(id),
                Purpose::Detail(format!("{} dry-run", id.name())),
            )];
        }
        self.say(
            format!("looking at what a {} pass would do…", id.name()),
            false,
        );
        vec![Effect::Send(Command::DryRun(id), Purpose::Review(id))]
    }

    /// `u` on the janitor: find the newest pass that can be taken back;
    /// its answer opens the confirm.
    pub(super) fn undo_newest(&mut self) -> Vec<Effect> {
        if self.selected_loop().and_then(|r| r.keeper) != Some(LoopId::Janitor) {
            self.say("u takes back a janitor pass: select the janitor row", true);
            return Vec::new();
        }
        vec![Effect::Send(Command::Undoable, Purpose::ReviewUndo)]
    }

    /// `o`: reopen the selected thread, unless it is already active.
    pub(super) fn reopen_selected(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_thread() else {
            self.say("no thread selected", true);
            return Vec::new();
        };
        let active = self
            .snapshot
            .threads
            .rows
            .iter()
            .any(|t| t.id == id && t.state == "active");
        if active {
            self.say(format!("{id} is already active: nothing to reopen"), true);
            return Vec::new();
        }
        self.say(format!("reopening {id}…"), false);
        vec![Effect::Send(
            Command::ReopenThread { id, note: None },
            Purpose::Message,
        )]
    }

    /// `f` in Bridges: one watchdog pass over every supervised process.
    pub(super) fn evaluate_bridges(&mut self) -> Vec<Effect> {
        if self.snapshot.bridges.is_empty() {
            self.say(
                "no supervised processes: add [[watchdog.process]] to the config",
                true,
            );
            return Vec::new();
        }
        self.say("evaluating the supervised processes…", false);
        vec![Effect::Send(
            Command::DryRun(LoopId::Watchdog),
            Purpose::Review(LoopId::Watchdog),
        )]
    }

    /// `C` in Bridges: ask first, then close the selected circuit breaker.
    pub(super) fn reset_breaker_selected(&mut self) -> Vec<Effect> {
        let Some(row) = self
            .bridge_rows()
            .get(self.bridges.selected().unwrap_or(0))
            .map(|r| (*r).clone())
        else {
            self.say("no supervised process selected", true);
            return Vec::new();
        };
        let name = row.health.name.clone();
        if row.state.failures < row.breaker_limit {
            self.say(
                format!(
                    "the circuit of {name} is closed ({}/{} failed restarts): nothing to reset",
                    row.state.failures, row.breaker_limit
                ),
                true,
            );
            return Vec::new();
        }
        let detail = format!(
            "{}: {} failed restart(s), tier {}; the watchdog will act on it again",
            name, row.state.failures, row.state.tier
        );
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "reset the circuit breaker of".into(),
            target: name.clone(),
            detail: Some(detail),
            command: Command::Loop(LoopCommand::ResetCircuit(name)),
            on_confirm: false,
        }));

        Vec::new()
    }

    pub(super) fn reap_selected(&mut self) -> Vec<Effect> {
        let row = self
            .session_list()
            .get(self.sessions.selected().unwrap_or(0))
            .map(|r| (*r).clone());
        let Some(row) = row else {
            self.say("no session selected", true);
            return Vec::new();
        };
        if !row.marker {
            self.say(
                format!(
                    "{} is not an agent session (no marker): keeper never reaps it",
                    row.session.name
                ),
                true,
            );
            return Vec::new();
        }
        // Refused here, not after a confirm: the engine would refuse it.
        if !row.verdict.reapable_by_hand() {
            let grace = self.snapshot.sessions.as_ref().map_or(0, |s| s.grace_secs);
            self.say(
                format!(
                    "{}: not reaped: {}",
                    row.session.name,
                    row.reason_at(crate::store::now_unix(), grace)
                ),
                true,
            );
            return Vec::new();
        }
        let (server, grace) = self
            .snapshot
            .sessions
            .as_ref()
            .map(|s| (s.server.clone(), s.grace_secs))
            .unwrap_or_default();
        let command = self.reap_command.as_ref().map_or_else(
            || crate::sys::tmux::kill_command(&crate::sys::tmux::Server::Default, &row.session),
            |f| f(&row.session),
        );
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "reap session".into(),
            target: row.session.name.clone(),
            detail: Some(format!(
                "runs `{command}` on {server} ({})",
                row.reason_at(crate::store::now_unix(), grace)
            )),
            command: Command::Loop(LoopCommand::Reap(vec![Named {
                id: Some(row.session.id.clone()),
                name: row.session.name.clone(),
            }])),
            on_confirm: false,
        }));
        Vec::new()
    }
}
