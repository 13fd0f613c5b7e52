//! The key table. The handler, the status-bar hints and the help popup all
//! read this one list, so what the screen says a key does is what it does.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The panels, in focus order; the digits `1`…`9` jump to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    Stores,
    Loops,
    Outcomes,
    Threads,
    Log,
    Sessions,
    Bridges,
    Tasks,
    Jobs,
}

impl Panel {
    pub const ALL: [Panel; 9] = [
        Panel::Stores,
        Panel::Loops,
        Panel::Outcomes,
        Panel::Threads,
        Panel::Log,
        Panel::Sessions,
        Panel::Bridges,
        Panel::Tasks,
        Panel::Jobs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Stores => "Stores",
            Panel::Loops => "Loops",
            Panel::Outcomes => "Outcomes",
            Panel::Threads => "Threads",
            Panel::Log => "Log",
            Panel::Sessions => "Sessions",
            Panel::Bridges => "Bridges",
            Panel::Tasks => "Tasks",
            Panel::Jobs => "Jobs",
        }
    }

    pub fn number(self) -> usize {
        Panel::ALL.iter().position(|p| *p == self).unwrap_or(0) + 1
    }

    #[must_use]
    pub fn next(self) -> Panel {
        Panel::ALL[self.number() % Panel::ALL.len()]
    }

    #[must_use]
    pub fn prev(self) -> Panel {
        Panel::ALL[(self.number() + Panel::ALL.len() - 2) % Panel::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Help,
    Quit,
    FocusNext,
    FocusPrev,
    Focus(Panel),
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    Zoom,
    SortNext,
    SortPrev,
    SortReverse,
    Filter,
    CycleState,
    Close,
    Details,
    ForcePass,
    ForceAll,
    DryRun,
    Undo,
    Reopen,
    Pause,
    Refresh,
    Reap,
    ResetBreaker,
    Cancel,
    Redeliver,
    Retry,
    RunNow,
}

/// Where a binding works: everywhere, or only with one of these panels focused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    In(&'static [Panel]),
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the key is written on screen.
    pub label: &'static str,
    pub action: Action,
    /// Short words for the status bar.
    pub hint: &'static str,
    /// One line for the help popup.
    pub help: &'static str,
    /// Listed in the status bar (actions are; moving around is not).
    pub status_bar: bool,
    pub scope: Scope,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const LISTS: &[Panel] = &[
    Panel::Loops,
    Panel::Outcomes,
    Panel::Threads,
    Panel::Log,
    Panel::Sessions,
    Panel::Bridges,
    Panel::Tasks,
    Panel::Jobs,
];
const SESSIONS: &[Panel] = &[Panel::Sessions];
const BRIDGES: &[Panel] = &[Panel::Bridges];
const FORCEABLE: &[Panel] = &[Panel::Loops, Panel::Bridges];
const LOOPS: &[Panel] = &[Panel::Loops];
const THREADS: &[Panel] = &[Panel::Threads];
const TASKS: &[Panel] = &[Panel::Tasks];
const JOBS: &[Panel] = &[Panel::Jobs];
const CANCELLABLE: &[Panel] = &[Panel::Tasks, Panel::Jobs];
const SORTED: &[Panel] = &[
    Panel::Loops,
    Panel::Threads,
    Panel::Sessions,
    Panel::Tasks,
    Panel::Jobs,
];

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        action: Action::ForcePass,
        hint: "force pass",
        help: "force a pass of the selected loop, even when off; in Bridges, evaluate now",
        status_bar: true,
        scope: Scope::In(FORCEABLE),
    },
    Binding {
        keys: &[(KeyCode::Char('d'), NONE)],
        label: "d",
        action: Action::DryRun,
        hint: "dry-run",
        help: "show what a pass of the selected loop would do, writing nothing",
        status_bar: true,
        scope: Scope::In(LOOPS),
    },
    Binding {
        keys: &[(KeyCode::Char('u'), NONE)],
        label: "u",
        action: Action::Undo,
        hint: "undo",
        help: "undo the newest janitor pass: reopen what it closed (asks first)",
        status_bar: true,
        scope: Scope::In(LOOPS),
    },
    Binding {
        keys: &[(KeyCode::Char('o'), NONE)],
        label: "o",
        action: Action::Reopen,
        hint: "reopen",
        help: "reopen the selected thread (adds a note, state back to active)",
        status_bar: true,
        scope: Scope::In(THREADS),
    },
    Binding {
        keys: &[(KeyCode::Char('R'), NONE)],
        label: "R",
        action: Action::Reap,
        hint: "reap",
        help: "reap the selected session (asks first, naming the exact tmux command)",
        status_bar: true,
        scope: Scope::In(SESSIONS),
    },
    Binding {
        keys: &[(KeyCode::Char('C'), NONE)],
        label: "C",
        action: Action::ResetBreaker,
        hint: "reset circuit",
        help: "reset the selected process's circuit breaker (asks first)",
        status_bar: true,
        scope: Scope::In(BRIDGES),
    },
    Binding {
        keys: &[(KeyCode::Char('x'), NONE)],
        label: "x",
        action: Action::Cancel,
        hint: "cancel",
        help: "cancel the selected task or job run (asks first): SIGTERM, then SIGKILL",
        status_bar: true,
        scope: Scope::In(CANCELLABLE),
    },
    Binding {
        keys: &[(KeyCode::Char('t'), NONE)],
        label: "t",
        action: Action::Retry,
        hint: "retry",
        help: "run the selected failed, cancelled or skipped run's job again (asks first)",
        status_bar: true,
        scope: Scope::In(JOBS),
    },
    Binding {
        keys: &[(KeyCode::Char('n'), NONE)],
        label: "n",
        action: Action::RunNow,
        hint: "run now",
        help: "queue the selected job now, within its pool (asks first)",
        status_bar: true,
        scope: Scope::In(JOBS),
    },
    Binding {
        keys: &[(KeyCode::Char('H'), NONE)],
        label: "H",
        action: Action::Redeliver,
        hint: "redeliver hooks",
        help: "send the selected task's completion hooks again (asks first)",
        status_bar: true,
        scope: Scope::In(TASKS),
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::Filter,
        hint: "filter",
        help: "filter the list by text (C-u C-w C-a C-e edit); Enter keeps, Esc clears",
        status_bar: true,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('S'), NONE), (KeyCode::Char('>'), NONE)],
        label: "S/>",
        action: Action::SortNext,
        hint: "sort",
        help: "sort by the next column (shown in the title)",
        status_bar: true,
        scope: Scope::In(SORTED),
    },
    Binding {
        keys: &[(KeyCode::Char('<'), NONE)],
        label: "<",
        action: Action::SortPrev,
        hint: "sort back",
        help: "sort by the previous column",
        status_bar: false,
        scope: Scope::In(SORTED),
    },
    Binding {
        keys: &[(KeyCode::Char('I'), NONE)],
        label: "I",
        action: Action::SortReverse,
        hint: "invert sort",
        help: "invert the sort order",
        status_bar: false,
        scope: Scope::In(SORTED),
    },
    Binding {
        keys: &[(KeyCode::Char('s'), NONE)],
        label: "s",
        action: Action::CycleState,
        hint: "state",
        help: "cycle the thread state filter: all, active, idle, closed",
        status_bar: true,
        scope: Scope::In(THREADS),
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Details,
        hint: "details",
        help: "details: the whole row; a thread's notes, a loop's passes, a run's log",
        status_bar: true,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        hint: "down",
        help: "move down",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        hint: "up",
        help: "move up",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE), (KeyCode::Home, NONE)],
        label: "g/Home",
        action: Action::Top,
        hint: "top",
        help: "go to the top",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('G'), NONE), (KeyCode::End, NONE)],
        label: "G/End",
        action: Action::Bottom,
        hint: "bottom",
        help: "go to the bottom (the real last row, loading it from the store)",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn/C-f",
        action: Action::PageDown,
        hint: "page down",
        help: "move down a page",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp/C-b",
        action: Action::PageUp,
        hint: "page up",
        help: "move up a page",
        status_bar: false,
        scope: Scope::In(LISTS),
    },
    Binding {
        keys: &[(KeyCode::Char('z'), NONE)],
        label: "z",
        action: Action::Zoom,
        hint: "zoom",
        help: "zoom: the focused panel takes the whole screen; z or Esc returns",
        status_bar: true,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Char('F'), NONE)],
        label: "F",
        action: Action::ForceAll,
        hint: "force all",
        help: "force a pass of every loop (asks first)",
        status_bar: true,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        hint: "next panel",
        help: "focus the next panel, in screen order (left to right, top to bottom)",
        status_bar: false,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::BackTab, NONE)],
        label: "S-Tab",
        action: Action::FocusPrev,
        hint: "prev panel",
        help: "focus the previous panel",
        status_bar: false,
        scope: Scope::Global,
    },
    Binding {
        keys: &[
            (KeyCode::Char('1'), NONE),
            (KeyCode::Char('2'), NONE),
            (KeyCode::Char('3'), NONE),
            (KeyCode::Char('4'), NONE),
            (KeyCode::Char('5'), NONE),
            (KeyCode::Char('6'), NONE),
            (KeyCode::Char('7'), NONE),
            (KeyCode::Char('8'), NONE),
            (KeyCode::Char('9'), NONE),
        ],
        label: "1-9",
        action: Action::Focus(Panel::Stores),
        hint: "panel",
        help: "panel 1-9: Stores Loops Outcomes Threads Log Sessions Bridges Tasks Jobs",
        status_bar: false,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::Pause,
        hint: "pause",
        help: "pause / resume live updates (the engine keeps running)",
        status_bar: true,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        action: Action::Refresh,
        hint: "refresh",
        help: "re-read the whole store now",
        status_bar: true,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Close,
        hint: "close",
        help: "close a popup, leave zoom, or clear the panel's filter",
        status_bar: false,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Char('?'), NONE)],
        label: "?",
        action: Action::Help,
        hint: "help",
        help: "show this help",
        status_bar: true,
        scope: Scope::Global,
    },
    Binding {
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), CTRL)],
        label: "q/C-c",
        action: Action::Quit,
        hint: "quit",
        help: "quit (the engine stops cleanly)",
        status_bar: true,
        scope: Scope::Global,
    },
];

fn applies(scope: Scope, focus: Panel) -> bool {
    match scope {
        Scope::Global => true,
        Scope::In(panels) => panels.contains(&focus),
    }
}

/// The action a key means with `focus` focused, if any. SHIFT is ignored:
/// a character carries its own case, and terminals disagree on whether an
/// upper-case letter or Shift-Tab also reports SHIFT.
pub fn action_for(key: KeyEvent, focus: Panel) -> Option<Action> {
    let mods = key.modifiers - KeyModifiers::SHIFT;
    let binding = active(focus).find(|b| {
        b.keys
            .iter()
            .any(|&(code, m)| code == key.code && m == mods)
    })?;
    Some(match (binding.action, key.code) {
        (Action::Focus(_), KeyCode::Char(c)) => {
            let n = c.to_digit(10).map_or(1, |d| d as usize);
            Action::Focus(Panel::ALL[n.clamp(1, Panel::ALL.len()) - 1])
        }
        (action, _) => action,
    })
}

/// Whether `action` is bound everywhere (not to a panel).
pub fn is_global(action: Action) -> bool {
    BINDINGS.iter().any(|b| {
        b.scope == Scope::Global
            && std::mem::discriminant(&b.action) == std::mem::discriminant(&action)
    })
}

/// The bindings that work with `focus` focused, panel-specific first.
pub fn active(focus: Panel) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| applies(b.scope, focus))
}
