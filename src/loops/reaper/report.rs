//! What became of each session a reap was asked to take.

use std::fmt;

use serde::Serialize;

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
