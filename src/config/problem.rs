//! One mistake in the file, and how it is told to the operator: where it is
//! (line and column), which key (`watchdog.process[2].cooldown_secs`), the
//! value as written and what would be right.
//!
//! serde and the validation step only know byte spans. The key path and the
//! value are found by walking the document, parsed a second time with its
//! spans, for the key or value whose span is the one reported.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize as _;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

#[derive(Debug)]
pub(super) struct Problem {
    /// Bytes of the key or value at fault.
    span: Option<Range<usize>>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The value at the span is wrong; `expected` says what would be right.
    Invalid { expected: String },
    /// The key at the span is not one of `valid`.
    Unknown { valid: Vec<String> },
    /// The table at the span lacks something; the text says what.
    Needs(String),
    /// Said as is, after the location.
    Said(String),
}

impl Problem {
    pub(super) fn invalid(span: Range<usize>, expected: &str) -> Self {
        Problem {
            span: Some(span),
            kind: Kind::Invalid {
                expected: expected.into(),
            },
        }
    }

    pub(super) fn needs(span: Range<usize>, what: String) -> Self {
        Problem {
            span: Some(span),
            kind: Kind::Needs(what),
        }
    }

    /// The file is not TOML at all.
    pub(super) fn syntax(e: &toml::de::Error) -> Self {
        Problem {
            span: e.span(),
            kind: Kind::Said(format!("not valid TOML: {}", e.message())),
        }
    }

    /// Sort out serde's message: its wording is serde's own (`invalid type:
    /// …, expected …`, `unknown field …, expected one of …`), the part after
    /// "expected" is ours or the list of fields.
    pub(super) fn from_serde(e: &toml::de::Error) -> Self {
        let message = e.message();
        let kind = if message.starts_with("unknown field") {
            Kind::Unknown {
                valid: valid_fields(message),
            }
        } else if let Some((_, expected)) = message
            .starts_with("invalid ")
            .then(|| message.rsplit_once(", expected "))
            .flatten()
        {
            Kind::Invalid {
                expected: expected.into(),
            }
        } else {
            Kind::Said(message.into())
        };
        Problem {
            span: e.span(),
            kind,
        }
    }

    /// The whole message, starting with the line and column in `text`.
    pub(super) fn describe(&self, text: &str, doc: Option<&DeTable<'_>>) -> String {
        let mut out = String::new();
        if let Some(span) = &self.span {
            let (line, column) = line_column(text, span.start);
            let _ = write!(out, "line {line}, column {column}: ");
        }
        let found = match (&self.span, doc) {
            (Some(span), Some(doc)) => find(doc, span, &mut Vec::new()),
            _ => None,
        };
        let Some((path, value)) = found else {
            out.push_str(&self.fallback());
            return out;
        };
        let shown = show(value);
        match &self.kind {
            Kind::Invalid { expected } => {
                let _ = write!(
                    out,
                    "{} = {shown} is not valid: expected {expected}",
                    dotted(&path)
                );
            }
            Kind::Unknown { valid } if path.len() == 1 => {
                // `hook` and `job` are lists of tables.
                let sections: Vec<String> = valid
                    .iter()
                    .map(|s| match s.as_ref() {
                        "hook" | "job" => format!("[[{s}]]"),
                        s => format!("[{s}]"),
                    })
                    .collect();
                let _ = write!(
                    out,
                    "unknown section or key {:?} (valid sections: {}; `keeper-tui config` prints every key)",
                    path[0].key().unwrap_or_default(),
                    sections.join(", ")
                );
            }
            Kind::Unknown { valid } => {
                let _ = write!(
                    out,
                    "unknown key {} (= {shown}); valid keys in {}: {}",
                    dotted(&path),
                    header(&path[..path.len() - 1]),
                    valid.join(", ")
                );
            }
            Kind::Needs(what) => {
                let _ = write!(out, "{} needs {what}", dotted(&path));
            }
            Kind::Said(text) => out.push_str(text),
        }
        out
    }

    /// When the span leads nowhere in the document: serde's words, and ours.
    fn fallback(&self) -> String {
        match &self.kind {
            Kind::Invalid { expected } => format!("not valid: expected {expected}"),
            Kind::Unknown { valid } => format!("unknown key; valid keys: {}", valid.join(", ")),
            Kind::Needs(what) => format!("needs {what}"),
            Kind::Said(text) => text.clone(),
        }
    }
}

/// Field names in serde's `unknown field `x`, expected one of `a`, `b``
/// (also "expected `a`", "expected `a` or `b`", "there are no fields").
fn valid_fields(message: &str) -> Vec<String> {
    if message.ends_with(", there are no fields") {
        return Vec::new();
    }
    let Some((_, list)) = message.rsplit_once(", expected ") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    /// 0-based; shown 1-based, as operators count tables.
    Item(usize),
}

impl Step {
    fn key(&self) -> Option<&str> {
        match self {
            Step::Key(k) => Some(k),
            Step::Item(_) => None,
        }
    }
}

/// `watchdog.process[2].name`
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Item(i) => {
                let _ = write!(out, "[{}]", i + 1);
            }
        }
    }
    out
}

/// The header a table at `path` is written under: `[janitor]`, or
/// `[[watchdog.process]]` for one table of a list.
fn header(path: &[Step]) -> String {
    let keys: Vec<&str> = path.iter().filter_map(Step::key).collect();
    if matches!(path.last(), Some(Step::Item(_))) {
        format!("[[{}]]", keys.join("."))
    } else {
        format!("[{}]", keys.join("."))
    }
}

/// The deepest key or value whose span is `span`: its path and value.
/// Spans do not nest (a table's span is its header, which does not cover
/// its keys), so the whole document is searched.
fn find<'a, 'i>(
    table: &'a DeTable<'i>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
) -> Option<(Vec<Step>, &'a Spanned<DeValue<'i>>)> {
    for (key, value) in table {
        path.push(Step::Key(key.get_ref().to_string()));
        let found = find_in(value, span, path).or_else(|| {
            (key.span() == *span || value.span() == *span).then(|| (path.clone(), value))
        });
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn find_in<'a, 'i>(
    value: &'a Spanned<DeValue<'i>>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
) -> Option<(Vec<Step>, &'a Spanned<DeValue<'i>>)> {
    match value.get_ref() {
        DeValue::Table(t) => find(t, span, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Step::Item(i));
            let found = find_in(item, span, path)
                .or_else(|| (item.span() == *span).then(|| (path.clone(), item)));
            path.pop();
            found
        }),
        _ => None,
    }
}

/// The value as TOML writes it, on one line.
fn show(value: &Spanned<DeValue<'_>>) -> String {
    match toml::Value::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(toml::Value::Table(t)) => {
            let items: Vec<String> = t.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Ok(v) => v.to_string(),
        Err(_) => "(a value)".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn serde_names_the_valid_fields_however_many_there_are() {
        use serde::de::Error as _;
        let list = |fields: &'static [&'static str]| {
            valid_fields(toml::de::Error::unknown_field("x, expected `y`", fields).message())
        };
        assert_eq!(list(&["a", "b", "c"]), ["a", "b", "c"]);
        assert_eq!(list(&["a", "b"]), ["a", "b"]);
        assert_eq!(list(&["a"]), ["a"]);
        assert!(list(&[]).is_empty());
    }

    #[test]
    fn what_serde_expected_is_kept_whole() {
        use serde::de::{Error as _, Unexpected};
        let e = toml::de::Error::invalid_type(
            Unexpected::Str("a, expected b"),
            &"a number of days of 0 or more, such as 1 or 1.5",
        );
        let p = Problem::from_serde(&e);
        assert!(
            matches!(&p.kind, Kind::Invalid { expected } if expected == "a number of days of 0 or more, such as 1 or 1.5"),
            "{p:?}"
        );
    }

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "a = 1\né = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "é" is two bytes and one column.
        assert_eq!(line_column(text, 11), (2, 5));
        assert_eq!(line_column(text, 99), (3, 1));
    }
}
