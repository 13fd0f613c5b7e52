//! The file as serde reads it. Every key is optional (the defaults live in
//! `Config::default()`), every section refuses keys it does not know, and
//! every value type states in its `expecting` what an operator should write,
//! so a value of the wrong kind fails with the right words already in
//! serde's message.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub store: RawStore,
    pub engine: RawEngine,
    pub janitor: RawJanitor,
    pub reaper: RawReaper,
    pub watchdog: RawWatchdog,
    pub tasks: RawTasks,
    #[serde(deserialize_with = "hooks")]
    pub hook: Vec<Spanned<RawHook>>,
    #[serde(deserialize_with = "jobs")]
    pub job: Vec<Spanned<RawJob>>,
    pub pools: RawPools,
    pub watcher: RawWatcher,
}

/// Like `RawProcess`, required keys are optional here so that their absence
/// is told as "needs KEY".
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a table, written as [[job]] with its keys on the lines below"
)]
pub(super) struct RawJob {
    /// Spanned: checked for its characters, and unique across jobs.
    pub name: Option<Spanned<Text>>,
    /// Spanned: its length depends on `shell`.
    pub command: Option<Spanned<Argv>>,
    pub shell: Option<Flag>,
    pub cwd: Option<Text>,
    pub env: Option<RawEnv>,
    /// Spanned: must name a pool.
    pub pool: Option<Spanned<Text>>,
    #[serde(deserialize_with = "job_timeout_secs")]
    pub timeout_secs: Option<u64>,
    #[serde(deserialize_with = "retries")]
    pub retries: Option<u64>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub backoff_secs: Option<u64>,
    pub fatal_exit_codes: Option<ExitCodes>,
    pub after: Option<JobNames>,
    /// Spanned: parsed, and exclusive with `daily`.
    pub every: Option<Spanned<Every>>,
    pub daily: Option<Spanned<Daily>>,
    pub hook: Option<HookUrls>,
}

/// `[pools]`: name → concurrency, names spanned to point at a bad one.
#[derive(Debug, Default)]
pub(super) struct RawPools(pub Vec<(Spanned<String>, u64)>);

/// A job's `env`: names spanned to point at a bad one.
#[derive(Debug, Default)]
pub(super) struct RawEnv(pub Vec<(Spanned<String>, String)>);

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [watcher] with its keys on the lines below"
)]
pub(super) struct RawWatcher {
    /// Spanned: a blank one is refused.
    pub dir: Option<Spanned<Text>>,
    /// Spanned: only two shapes are supported.
    pub glob: Option<Spanned<Text>>,
    #[serde(deserialize_with = "stale_secs")]
    pub stale_secs: Option<u64>,
    /// Spanned: must name a job that takes `{path}`.
    pub job: Option<Spanned<Text>>,
    #[serde(deserialize_with = "new_per_pass")]
    pub max_new_per_pass: Option<u64>,
    #[serde(deserialize_with = "interval_secs")]
    pub interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [tasks] with its keys on the lines below"
)]
pub(super) struct RawTasks {
    #[serde(deserialize_with = "interval_secs")]
    pub reconcile_secs: Option<u64>,
    #[serde(deserialize_with = "tasks_per_pass")]
    pub max_per_pass: Option<u64>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub cancel_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a table, written as [[hook]] with its keys on the lines below"
)]
pub(super) struct RawHook {
    /// Spanned: checked as a URL, and unique across hooks.
    pub url: Option<Spanned<Text>>,
    pub secret_env: Option<Spanned<Text>>,
    pub on: Option<Spanned<Texts>>,
    pub role: Option<Text>,
    pub prompt_contains: Option<Text>,
    pub allow_private: Option<Flag>,
    #[serde(deserialize_with = "max_attempts")]
    pub max_attempts: Option<u64>,
    #[serde(deserialize_with = "hook_timeout_secs")]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [store] with its keys on the lines below"
)]
pub(super) struct RawStore {
    pub db: Option<Text>,
    #[serde(deserialize_with = "session_id")]
    pub session_id: Option<String>,
    #[serde(deserialize_with = "window_days")]
    pub window_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [engine] with its keys on the lines below"
)]
pub(super) struct RawEngine {
    pub read_only: Option<Flag>,
    #[serde(deserialize_with = "debounce_ms")]
    pub debounce_ms: Option<u64>,
    pub log_dir: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [janitor] with its keys on the lines below"
)]
pub(super) struct RawJanitor {
    #[serde(deserialize_with = "interval_secs")]
    pub interval_secs: Option<u64>,
    #[serde(deserialize_with = "idle_close_days")]
    pub idle_close_days: Option<f64>,
    pub run_at_start: Option<Flag>,
    #[serde(deserialize_with = "max_per_pass")]
    pub max_close_per_pass: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [reaper] with its keys on the lines below"
)]
pub(super) struct RawReaper {
    #[serde(deserialize_with = "interval_secs")]
    pub interval_secs: Option<u64>,
    #[serde(deserialize_with = "markers")]
    pub markers: Option<Vec<String>>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub grace_secs: Option<u64>,
    pub boot_reap: Option<Flag>,
    /// Spanned: whether it is usable depends on `tmux_socket_path` too.
    pub tmux_socket_name: Option<Spanned<Text>>,
    pub tmux_socket_path: Option<Text>,
    #[serde(deserialize_with = "tmux_timeout_ms")]
    pub tmux_timeout_ms: Option<u64>,
    #[serde(deserialize_with = "default_ttl_secs")]
    pub default_ttl_secs: Option<u64>,
    pub protected: Option<Texts>,
    #[serde(deserialize_with = "max_per_pass")]
    pub max_reap_per_pass: Option<u64>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub idle_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a section, written as [watchdog] with its keys on the lines below"
)]
pub(super) struct RawWatchdog {
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub tick_secs: Option<u64>,
    /// Spanned: a missing required key is reported at the table's header.
    #[serde(deserialize_with = "processes")]
    pub process: Vec<Spanned<RawProcess>>,
}

/// Required keys are optional here so that their absence is reported as
/// "needs KEY (what it is for)" rather than serde's "missing field".
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a table, written as [[watchdog.process]] with its keys on the lines below"
)]
pub(super) struct RawProcess {
    /// Spanned: names must differ across processes.
    pub name: Option<Spanned<Text>>,
    pub pid_file: Option<Text>,
    pub heartbeat_file: Option<Text>,
    #[serde(deserialize_with = "heartbeat_stale_secs")]
    pub heartbeat_stale_secs: Option<u64>,
    pub version_file: Option<Text>,
    pub version_repo: Option<Text>,
    /// Spanned: it excludes `version_repo`.
    pub version_command: Option<Spanned<Texts>>,
    pub restart_markers: Option<Texts>,
    pub start: Option<Texts>,
    pub cwd: Option<Text>,
    pub log_file: Option<Text>,
    pub cmdline_pattern: Option<Text>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub cooldown_secs: Option<u64>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub grace_secs: Option<u64>,
    #[serde(deserialize_with = "breaker_limit")]
    pub breaker_limit: Option<u64>,
    #[serde(deserialize_with = "seconds_to_a_day")]
    pub quiet_secs: Option<u64>,
}

/// Any quoted string.
#[derive(Debug)]
pub(super) struct Text(pub String);

/// A list of quoted strings.
#[derive(Debug)]
pub(super) struct Texts(pub Vec<String>);

/// A job's argv.
#[derive(Debug)]
pub(super) struct Argv(pub Vec<String>);

/// `after`: each name spanned, to point at the one that names no job.
#[derive(Debug)]
pub(super) struct JobNames(pub Vec<Spanned<Text>>);

/// A job's `hook`: each URL spanned, to point at the one no hook has.
#[derive(Debug)]
pub(super) struct HookUrls(pub Vec<Spanned<Text>>);

/// `every` as written; parsed by `jobs`, which says what is wrong with it.
#[derive(Debug)]
pub(super) struct Every(pub String);

/// `daily` as written; parsed by `jobs`.
#[derive(Debug)]
pub(super) struct Daily(pub String);

/// Exit codes, each 0 to 255.
#[derive(Debug)]
pub(super) struct ExitCodes(pub Vec<u8>);

/// `true` or `false`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flag(pub bool);

const A_STRING: TextRule = TextRule {
    expected: "a quoted string",
    non_empty: false,
};

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(A_STRING).map(Text)
    }
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(TextList {
            expected: "a list of quoted strings, e.g. [\"msg-warm-\"]",
            item: A_STRING,
        })
        .map(Texts)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bool;
        impl Visitor<'_> for Bool {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
        }
        d.deserialize_bool(Bool).map(Flag)
    }
}

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(TextList {
            expected: "a list of quoted strings: the program and its arguments, such as [\"make\", \"nightly\"]",
            item: A_STRING,
        })
        .map(Argv)
    }
}

impl<'de> Deserialize<'de> for JobNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(SpannedList {
            expected: "a list of job names, such as [\"fetch\"]",
        })
        .map(JobNames)
    }
}

impl<'de> Deserialize<'de> for HookUrls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(SpannedList {
            expected: "a list of [[hook]] urls, such as [\"https://example.com/keeper\"]",
        })
        .map(HookUrls)
    }
}

impl<'de> Deserialize<'de> for Every {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextRule {
            expected: super::jobs::EVERY,
            non_empty: false,
        })
        .map(Every)
    }
}

impl<'de> Deserialize<'de> for Daily {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextRule {
            expected: super::jobs::DAILY,
            non_empty: false,
        })
        .map(Daily)
    }
}

impl<'de> Deserialize<'de> for ExitCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Codes;
        impl<'de> Visitor<'de> for Codes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of exit codes from 0 to 255, such as [2, 64]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let code = WholeNumber {
                    min: 0,
                    max: 255,
                    expected: "an exit code from 0 to 255",
                };
                let mut codes = Vec::new();
                while let Some(c) = seq.next_element_seed(code)? {
                    codes.push(c as u8);
                }
                Ok(codes)
            }
        }
        d.deserialize_seq(Codes).map(ExitCodes)
    }
}

impl<'de> Deserialize<'de> for RawPools {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Pairs {
            expected: "a section, written as [pools] with lines such as gpu = 2 below",
            value: WholeNumber {
                min: 1,
                max: 64,
                expected: "how many of the pool's jobs may run at once, from 1 to 64",
            },
        })
        .map(RawPools)
    }
}

impl<'de> Deserialize<'de> for RawEnv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Pairs {
            expected: "a table of NAME = \"value\", such as { LANG = \"C.UTF-8\" }",
            value: A_STRING,
        })
        .map(RawEnv)
    }
}

fn session_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_str(TextRule {
        expected: "a non-empty session id such as \"keeper-tui\"",
        non_empty: true,
    })
    .map(Some)
}

fn markers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let markers = d.deserialize_seq(TextList {
        expected: "a list of name fragments such as [\"msg-warm-\"]",
        item: TextRule {
            expected: "a non-empty name fragment such as \"msg-warm-\"",
            non_empty: true,
        },
    })?;
    if markers.is_empty() {
        return Err(de::Error::invalid_length(
            0,
            &"at least one marker such as \"msg-warm-\"",
        ));
    }
    Ok(Some(markers))
}

fn window_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 3650, "a whole number of days from 1 to 3650")
}

fn debounce_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 0, 10_000, "milliseconds from 0 to 10000")
}

fn interval_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(
        d,
        0,
        u32::MAX.into(),
        "a whole number of seconds (0 turns scheduled passes off)",
    )
}

fn seconds_to_a_day<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 0, 86_400, "a whole number of seconds from 0 to 86400")
}

/// 0 would make every heartbeat stale the moment it is written.
fn heartbeat_stale_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 86_400, "a whole number of seconds from 1 to 86400")
}

fn tmux_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 100, 60_000, "milliseconds from 100 to 60000")
}

fn max_per_pass<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 0, 1_000_000, "a whole number from 0 to 1000000")
}

fn default_ttl_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(
        d,
        1,
        u32::MAX.into(),
        "a whole number of seconds, 1 or more",
    )
}

fn breaker_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 100, "a count from 1 to 100")
}

fn idle_close_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Days;
    impl Days {
        fn check<E: de::Error>(self, days: f64, as_written: Unexpected<'_>) -> Result<f64, E> {
            if days.is_finite() && (0.0..=super::MAX_IDLE_DAYS).contains(&days) {
                Ok(days)
            } else {
                Err(E::invalid_value(as_written, &self))
            }
        }
    }
    impl Visitor<'_> for Days {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "a number of days from 0 to {}, such as 1 or 1.5",
                super::MAX_IDLE_DAYS
            )
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            self.check(v as f64, Unexpected::Signed(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.check(v as f64, Unexpected::Unsigned(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            self.check(v, Unexpected::Float(v))
        }
    }
    d.deserialize_f64(Days).map(Some)
}

fn tasks_per_pass<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 100_000, "a whole number from 1 to 100000")
}

fn max_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 100, "a count of attempts from 1 to 100")
}

fn hook_timeout_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 300, "a whole number of seconds from 1 to 300")
}

fn hooks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Spanned<RawHook>>, D::Error> {
    d.deserialize_seq(Tables::new("one or more [[hook]] tables"))
}

fn jobs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Spanned<RawJob>>, D::Error> {
    d.deserialize_seq(Tables::new("one or more [[job]] tables"))
}

fn job_timeout_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(
        d,
        1,
        604_800,
        "a whole number of seconds from 1 to 604800 (a week)",
    )
}

fn retries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 0, 100, "a count of retries from 0 to 100")
}

/// 0 would call a session ended while it is still being written.
fn stale_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 86_400, "a whole number of seconds from 1 to 86400")
}

fn new_per_pass<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, 10_000, "a whole number from 1 to 10000")
}

fn processes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Spanned<RawProcess>>, D::Error> {
    d.deserialize_seq(Tables::new("one or more [[watchdog.process]] tables"))
}

/// A list of `[[name]]` tables, each kept with its span; `expected` says
/// what a value of another kind should have been.
struct Tables<T> {
    expected: &'static str,
    of: std::marker::PhantomData<T>,
}

impl<T> Tables<T> {
    fn new(expected: &'static str) -> Self {
        Tables {
            expected,
            of: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Tables<T> {
    type Value = Vec<Spanned<T>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tables = Vec::new();
        while let Some(t) = seq.next_element()? {
            tables.push(t);
        }
        Ok(tables)
    }
}

fn whole<'de, D: Deserializer<'de>>(
    d: D,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<Option<u64>, D::Error> {
    d.deserialize_u64(WholeNumber { min, max, expected })
        .map(Some)
}

/// An integer from `min` to `max`; anything else fails with `expected`.
#[derive(Clone, Copy)]
struct WholeNumber {
    min: u64,
    max: u64,
    expected: &'static str,
}

impl WholeNumber {
    fn check<E: de::Error>(self, n: Option<u64>, as_written: Unexpected<'_>) -> Result<u64, E> {
        n.filter(|n| (self.min..=self.max).contains(n))
            .ok_or_else(|| E::invalid_value(as_written, &self))
    }
}

impl Visitor<'_> for WholeNumber {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        self.check(u64::try_from(v).ok(), Unexpected::Signed(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        self.check(Some(v), Unexpected::Unsigned(v))
    }
}

impl<'de> de::DeserializeSeed<'de> for WholeNumber {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_u64(self)
    }
}

/// A quoted string, refused when blank if `non_empty`.
#[derive(Clone, Copy)]
struct TextRule {
    expected: &'static str,
    non_empty: bool,
}

impl Visitor<'_> for TextRule {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.non_empty && v.trim().is_empty() {
            return Err(E::invalid_value(Unexpected::Str(v), &self));
        }
        Ok(v.to_owned())
    }
}

impl<'de> de::DeserializeSeed<'de> for TextRule {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

/// A list whose items each follow `item`; the list itself fails with
/// `expected`.
struct TextList {
    expected: &'static str,
    item: TextRule,
}

impl<'de> Visitor<'de> for TextList {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::new();
        while let Some(s) = seq.next_element_seed(self.item)? {
            items.push(s);
        }
        Ok(items)
    }
}

/// A list of quoted strings, each kept with its span.
struct SpannedList {
    expected: &'static str,
}

impl<'de> Visitor<'de> for SpannedList {
    type Value = Vec<Spanned<Text>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(s) = seq.next_element()? {
            items.push(s);
        }
        Ok(items)
    }
}

/// A table of name = value, names spanned, values following `value`, in
/// the file's order.
struct Pairs<S> {
    expected: &'static str,
    value: S,
}

impl<'de, S: de::DeserializeSeed<'de> + Copy> Visitor<'de> for Pairs<S> {
    type Value = Vec<(Spanned<String>, S::Value)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(name) = map.next_key()? {
            pairs.push((name, map.next_value_seed(self.value)?));
        }
        Ok(pairs)
    }
}
