//! An order of the Threads panel in SQL terms: its runs, its key columns,
//! and the comparisons and ORDER BY terms that walk them.

use rusqlite::types::Value;

use super::{ThreadKey, ThreadSort};

/// The states of the State order, in that order.
const STATES: [&str; 3] = ["active", "idle", "closed"];

/// A run of rows that share the order's leading component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Run {
    Every,
    State(&'static str),
    /// States threadkeeper does not write today, after closed: a store
    /// holding one still lists every thread it counts.
    OtherStates,
}

impl Run {
    fn condition(self, state: &str) -> Option<String> {
        match self {
            Run::Every => None,
            Run::State(s) => Some(format!("{state} = '{s}'")),
            Run::OtherStates => Some(format!(
                "{state} NOT IN ({})",
                STATES.map(|s| format!("'{s}'")).join(", ")
            )),
        }
    }

    pub(super) fn holds(self, state: &str) -> bool {
        match self {
            Run::Every => true,
            Run::State(s) => s == state,
            Run::OtherStates => !STATES.contains(&state),
        }
    }
}

/// Which indexes a statement leaves to SQLite. With no statistics in the
/// store, SQLite takes `state = ?` for selective: it sorts every thread of
/// a common state on `idx_threads_state`, where walking
/// `idx_threads_touch` would stop after a page, and for a rare state the
/// walk would pass thousands of rows. A unary `+` keeps a column off its
/// indexes, so each statement takes the path the counts say is cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    /// Along the order's index, testing each row against the filter.
    OrderIndex,
    /// Anywhere but the order's index (the state index, or a scan), then
    /// sorted.
    Elsewhere,
    /// SQLite's own choice.
    Planner,
}

/// Which side of a place a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    AtOrAfter,
    Before,
}

/// Reading direction: `Forward` is display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    Forward,
    Backward,
}

/// A place in an order: a run, and key values within it.
#[derive(Debug)]
pub(super) struct Place {
    pub(super) run: usize,
    pub(super) values: Vec<Value>,
}

/// An order as runs, each sorted by the same key columns in one direction,
/// so a place within a run is one row-value comparison.
#[derive(Debug)]
pub(super) struct Order {
    pub(super) runs: Vec<Run>,
    keys: &'static [&'static str],
    /// Key columns descend in display order.
    desc: bool,
    /// An index serves the key columns (`idx_threads_touch`, the id's
    /// primary key); `opened_at` has none.
    pub(super) indexed: bool,
}

impl Order {
    pub(super) fn of(sort: ThreadSort, reverse: bool) -> Order {
        const TOUCHED: &[&str] = &["last_touched_at", "id"];
        let (mut runs, keys, desc, indexed) = match sort {
            ThreadSort::Touched => (vec![Run::Every], TOUCHED, true, true),
            ThreadSort::Age => (vec![Run::Every], &["opened_at", "id"][..], true, false),
            ThreadSort::State => (
                STATES
                    .iter()
                    .map(|&s| Run::State(s))
                    .chain([Run::OtherStates])
                    .collect(),
                TOUCHED,
                true,
                true,
            ),
            ThreadSort::Id => (vec![Run::Every], &["id"][..], false, true),
        };
        if reverse {
            runs.reverse();
        }
        Order {
            runs,
            keys,
            desc: desc != reverse,
            indexed,
        }
    }

    pub(super) fn place(&self, key: &ThreadKey) -> Place {
        let run = self
            .runs
            .iter()
            .position(|r| r.holds(&key.state))
            .unwrap_or(0);
        let values = self
            .keys
            .iter()
            .map(|&k| match k {
                "last_touched_at" => Value::Integer(key.last_touched_at),
                "opened_at" => Value::Integer(key.opened_at),
                _ => Value::Text(key.id.clone()),
            })
            .collect();
        Place { run, values }
    }

    pub(super) fn state_column(path: Path) -> &'static str {
        if path == Path::OrderIndex {
            "+state"
        } else {
            "state"
        }
    }

    pub(super) fn run_condition(&self, run: usize, path: Path) -> Option<String> {
        self.runs[run].condition(Self::state_column(path))
    }

    fn key_columns(&self, path: Path) -> Vec<String> {
        let plus = if path == Path::Elsewhere { "+" } else { "" };
        self.keys.iter().map(|k| format!("{plus}{k}")).collect()
    }

    /// The row-value comparison for rows on one side of a place; its
    /// parameters are the place's values.
    pub(super) fn compare(&self, side: Side, path: Path) -> String {
        let ascending = !self.desc;
        let op = match side {
            Side::AtOrAfter if ascending => ">=",
            Side::AtOrAfter => "<=",
            Side::Before if ascending => "<",
            Side::Before => ">",
        };
        let columns = self.key_columns(path);
        if let [column] = columns.as_slice() {
            format!("{column} {op} ?")
        } else {
            let marks = vec!["?"; columns.len()].join(", ");
            format!("({}) {op} ({marks})", columns.join(", "))
        }
    }

    pub(super) fn order_by(&self, walk: Walk, path: Path) -> String {
        let dir = if self.desc == (walk == Walk::Forward) {
            "DESC"
        } else {
            "ASC"
        };
        self.key_columns(path)
            .iter()
            .map(|k| format!("{k} {dir}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
