//! `[pools]`, `[[job]]` and `[watcher]`: what keeper-tui runs for the
//! operator, how many of it at once, and which ended agent sessions queue a
//! run. Each job is checked on its own first; then what spans jobs: unique
//! names, `after` naming jobs and never coming round to itself, and the
//! watcher's job taking the session's `{path}`.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use toml::Spanned;

use super::problem::Problem;
use super::raw::{Daily, Every, RawEnv, RawJob, RawPools, RawWatcher, Text};
use super::{HookConfig, JobConfig, Schedule, WatcherConfig, expand_home};

/// What `every` takes; serde says it too when `every` is not a string.
pub(super) const EVERY: &str =
    "a duration from 1s to 365d, such as \"30s\", \"15m\", \"1h\", \"2h30m\" or \"1d\"";
/// What `daily` takes; serde says it too when `daily` is not a string.
pub(super) const DAILY: &str = "a 24-hour local time \"HH:MM\", such as \"03:30\" or \"23:00\"";
/// Past a year, an `every` is a typo; it also keeps deadlines far from
/// where adding them to a clock would overflow.
const MAX_EVERY_SECS: u64 = 365 * 86_400;
const BACKOFF_SECS: u64 = 10;
const GLOB: &str =
    "\"*.ext\" (files in dir) or \"*/*.ext\" (files one directory down), such as \"*/*.jsonl\"";

pub(super) fn pools_config(raw: RawPools) -> Result<BTreeMap<String, u32>, Problem> {
    raw.0
        .into_iter()
        .map(|(name, size)| {
            if plain_name(name.get_ref()) {
                Ok((name.into_inner(), size as u32))
            } else {
                Err(Problem::invalid(
                    name.span(),
                    "a pool name of letters, digits, _, . and -, such as gpu",
                ))
            }
        })
        .collect()
}

pub(super) fn jobs_config(
    raw: Vec<Spanned<RawJob>>,
    pools: &BTreeMap<String, u32>,
    hooks: &[HookConfig],
) -> Result<Vec<JobConfig>, Problem> {
    let mut jobs = Vec::new();
    // Each job's `after` as written, linked once every name is known.
    let mut waits = Vec::new();
    // Name → 1-based position of the first job with it.
    let mut names = HashMap::new();
    for (i, table) in raw.into_iter().enumerate() {
        let at = table.span();
        let mut raw = table.into_inner();
        let name_span = raw.name.as_ref().map_or(at.clone(), Spanned::span);
        waits.push(raw.after.take().map(|a| a.0).unwrap_or_default());
        let job = job_config(at, raw, pools, hooks)?;
        if let Some(first) = names.insert(job.name.clone(), i + 1) {
            return Err(Problem::invalid(
                name_span,
                &format!("a name no other job has (job[{first}] has it)"),
            ));
        }
        jobs.push(job);
    }
    link(&mut jobs, waits)?;
    Ok(jobs)
}

fn job_config(
    at: Range<usize>,
    raw: RawJob,
    pools: &BTreeMap<String, u32>,
    hooks: &[HookConfig],
) -> Result<JobConfig, Problem> {
    let name = raw.name.ok_or_else(|| {
        Problem::needs(
            at.clone(),
            "name (a name such as \"nightly-report\")".into(),
        )
    })?;
    if !plain_name(&name.get_ref().0) {
        return Err(Problem::invalid(
            name.span(),
            "a name of letters, digits, _, . and -, such as \"nightly-report\"",
        ));
    }
    let shell = raw.shell.is_some_and(|f| f.0);
    let command = raw.command.ok_or_else(|| {
        Problem::needs(
            at.clone(),
            "command = [\"program\", \"arg\", …] (what it runs)".into(),
        )
    })?;
    let argv = &command.get_ref().0;
    let program_given = argv.first().is_some_and(|p| !p.trim().is_empty());
    if shell && !(argv.len() == 1 && program_given) {
        return Err(Problem::invalid(
            command.span(),
            "exactly one string when shell = true, given to sh -c, such as [\"make nightly && ./publish\"]",
        ));
    }
    if !program_given {
        return Err(Problem::invalid(
            command.span(),
            "the program and its arguments, such as [\"make\", \"nightly\"]",
        ));
    }
    Ok(JobConfig {
        name: name.into_inner().0,
        command: command.into_inner().0,
        shell,
        cwd: raw.cwd.map(|c| expand_home(&c.0)),
        env: raw.env.map_or_else(|| Ok(BTreeMap::new()), env)?,
        pool: raw.pool.map(|p| pool(p, pools)).transpose()?,
        timeout_secs: raw.timeout_secs,
        retries: raw.retries.map_or(0, |r| r as u32),
        backoff_secs: raw.backoff_secs.unwrap_or(BACKOFF_SECS),
        fatal_exit_codes: raw.fatal_exit_codes.map(|c| c.0).unwrap_or_default(),
        after: Vec::new(),
        schedule: schedule(raw.every, raw.daily)?,
        hooks: hook_urls(raw.hook.map(|h| h.0).unwrap_or_default(), hooks)?,
    })
}

fn env(raw: RawEnv) -> Result<BTreeMap<String, String>, Problem> {
    raw.0
        .into_iter()
        .map(|(name, value)| {
            if env_name(name.get_ref()) {
                Ok((name.into_inner(), value))
            } else {
                Err(Problem::invalid(
                    name.span(),
                    "an environment variable name of letters, digits and _, such as LANG",
                ))
            }
        })
        .collect()
}

fn pool(p: Spanned<Text>, pools: &BTreeMap<String, u32>) -> Result<String, Problem> {
    if pools.contains_key(&p.get_ref().0) {
        return Ok(p.into_inner().0);
    }
    let known = if pools.is_empty() {
        "there are none; add one such as gpu = 2 under [pools]".to_string()
    } else {
        format!(
            "known: {}",
            pools.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    Err(Problem::invalid(
        p.span(),
        &format!("a pool named in [pools] ({known}), or no pool for no limit"),
    ))
}

fn schedule(
    every: Option<Spanned<Every>>,
    daily: Option<Spanned<Daily>>,
) -> Result<Option<Schedule>, Problem> {
    match (every, daily) {
        (Some(e), Some(d)) => {
            let second = if e.span().start > d.span().start {
                e.span()
            } else {
                d.span()
            };
            Err(Problem::invalid(second, "either every or daily, not both"))
        }
        (Some(e), None) => parse_every(&e.get_ref().0)
            .map(|d| Some(Schedule::Every(d)))
            .ok_or_else(|| Problem::invalid(e.span(), EVERY)),
        (None, Some(d)) => parse_daily(&d.get_ref().0)
            .map(|(hour, minute)| Some(Schedule::Daily { hour, minute }))
            .ok_or_else(|| Problem::invalid(d.span(), DAILY)),
        (None, None) => Ok(None),
    }
}

fn hook_urls(raw: Vec<Spanned<Text>>, hooks: &[HookConfig]) -> Result<Vec<String>, Problem> {
    let mut urls = Vec::new();
    for url in raw {
        if !hooks.iter().any(|h| h.url == url.get_ref().0) {
            let known = if hooks.is_empty() {
                "there are none".to_string()
            } else {
                let all: Vec<&str> = hooks.iter().map(|h| h.url.as_str()).collect();
                format!("known: {}", all.join(", "))
            };
            return Err(Problem::invalid(
                url.span(),
                &format!("the url of a [[hook]] ({known})"),
            ));
        }
        let url = url.into_inner().0;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// Fills each job's `after` from what was written, refusing a name no job
/// has, a job waiting on itself, and a circle of jobs waiting on each
/// other (none of them would ever start).
fn link(jobs: &mut [JobConfig], waits: Vec<Vec<Spanned<Text>>>) -> Result<(), Problem> {
    let index: HashMap<String, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.clone(), i))
        .collect();
    // Job → the jobs it waits on, with where each is written.
    let mut edges: Vec<Vec<(usize, Range<usize>)>> = vec![Vec::new(); jobs.len()];
    for (i, names) in waits.into_iter().enumerate() {
        for name in names {
            let span = name.span();
            let name = name.into_inner().0;
            let Some(&j) = index.get(&name) else {
                return Err(Problem::invalid(
                    span,
                    &format!("the name of a [[job]] ({})", known_jobs(jobs)),
                ));
            };
            if j == i {
                return Err(Problem::invalid(
                    span,
                    "the names of other jobs: a job cannot wait on itself",
                ));
            }
            if !edges[i].iter().any(|(k, _)| *k == j) {
                edges[i].push((j, span));
                jobs[i].after.push(name);
            }
        }
    }
    if let Some((circle, span)) = find_circle(&edges) {
        let names: Vec<&str> = circle.iter().map(|&i| jobs[i].name.as_str()).collect();
        return Err(Problem::invalid(
            span,
            &format!(
                "no circle of jobs waiting on each other ({})",
                names.join(" → ")
            ),
        ));
    }
    Ok(())
}

/// The first circle met walking the jobs in file order, as job indices
/// from a job back to itself, with the span of the `after` entry that
/// closes it. Iterative, so a long chain cannot exhaust the stack.
fn find_circle(edges: &[Vec<(usize, Range<usize>)>]) -> Option<(Vec<usize>, Range<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        mark[start] = Mark::OnPath;
        // The path from `start`: each job with the next of its edges to follow.
        let mut path = vec![(start, 0)];
        while let Some(&(job, next)) = path.last() {
            let Some((to, span)) = edges[job].get(next) else {
                mark[job] = Mark::Done;
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            match mark[*to] {
                Mark::New => {
                    mark[*to] = Mark::OnPath;
                    path.push((*to, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(j, _)| j == to).unwrap_or(0);
                    let mut circle: Vec<usize> = path[from..].iter().map(|(j, _)| *j).collect();
                    circle.push(*to);
                    return Some((circle, span.clone()));
                }
                Mark::Done => {}
            }
        }
    }
    None
}

fn known_jobs(jobs: &[JobConfig]) -> String {
    if jobs.is_empty() {
        return "there are none".into();
    }
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    format!("known: {}", names.join(", "))
}

pub(super) fn watcher_config(
    raw: RawWatcher,
    jobs: &[JobConfig],
) -> Result<WatcherConfig, Problem> {
    let mut w = WatcherConfig::default();
    if let Some(dir) = raw.dir {
        if dir.get_ref().0.trim().is_empty() {
            return Err(Problem::invalid(
                dir.span(),
                "the directory agent sessions are written under, such as \"~/.claude/projects\"",
            ));
        }
        w.dir = expand_home(&dir.get_ref().0);
    }
    if let Some(glob) = raw.glob {
        if !glob_shape(&glob.get_ref().0) {
            return Err(Problem::invalid(glob.span(), GLOB));
        }
        w.glob = glob.into_inner().0;
    }
    if let Some(s) = raw.stale_secs {
        w.stale_secs = s;
    }
    if let Some(m) = raw.max_new_per_pass {
        w.max_new_per_pass = m as usize;
    }
    if let Some(i) = raw.interval_secs {
        w.interval_secs = i;
    }
    if let Some(job) = raw.job {
        let name = &job.get_ref().0;
        let Some(j) = jobs.iter().find(|j| j.name == *name) else {
            return Err(Problem::invalid(
                job.span(),
                &format!(
                    "the name of a [[job]] to queue per ended session ({})",
                    known_jobs(jobs)
                ),
            ));
        };
        if !j.command.iter().any(|arg| arg.contains("{path}")) {
            return Err(Problem::invalid(
                job.span(),
                &format!(
                    "a job whose command takes the session file as {{path}} \
                     (job {name:?}'s command has no {{path}}, so every run would be the same)"
                ),
            ));
        }
        w.job = Some(job.into_inner().0);
    }
    Ok(w)
}

/// `*.ext` or `*/*.ext`, the extension plain.
fn glob_shape(glob: &str) -> bool {
    glob.strip_prefix("*/")
        .unwrap_or(glob)
        .strip_prefix("*.")
        .is_some_and(|ext| {
            !ext.is_empty()
                && ext
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
}

/// Names are written unquoted in messages, logs and `after` lists.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `"2h30m"`: whole numbers each followed by d, h, m or s, largest unit
/// first, each unit at most once.
fn parse_every(s: &str) -> Option<Duration> {
    const UNITS: [(u8, u64); 4] = [(b'd', 86_400), (b'h', 3_600), (b'm', 60), (b's', 1)];
    let mut rest = s.as_bytes();
    let mut first_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, after) = rest.split_at(digits);
        let (&unit, after) = after.split_first()?;
        let n: u64 = std::str::from_utf8(number).ok()?.parse().ok()?;
        let at = first_unit + UNITS[first_unit..].iter().position(|(u, _)| *u == unit)?;
        total = total.checked_add(n.checked_mul(UNITS[at].1)?)?;
        first_unit = at + 1;
        rest = after;
    }
    (1..=MAX_EVERY_SECS)
        .contains(&total)
        .then(|| Duration::from_secs(total))
}

/// `"HH:MM"` (or `"H:MM"`), 00:00 to 23:59.
fn parse_daily(s: &str) -> Option<(u8, u8)> {
    let digits = |t: &str, widths: RangeInclusive<usize>| {
        widths.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    let (hour, minute) = s.split_once(':')?;
    if !(digits(hour, 1..=2) && digits(minute, 2..=2)) {
        return None;
    }
    let (hour, minute): (u8, u8) = (hour.parse().ok()?, minute.parse().ok()?);
    (hour < 24 && minute < 60).then_some((hour, minute))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn every_takes_units_largest_first() {
        let secs = |s: &str| parse_every(s).map(|d| d.as_secs());
        assert_eq!(secs("30s"), Some(30));
        assert_eq!(secs("15m"), Some(900));
        assert_eq!(secs("1h"), Some(3600));
        assert_eq!(secs("2h30m"), Some(9000));
        assert_eq!(secs("1d"), Some(86_400));
        assert_eq!(secs("1d2h3m4s"), Some(93_784));
        assert_eq!(secs("90m"), Some(5400));
        assert_eq!(secs("365d"), Some(MAX_EVERY_SECS));
        for bad in [
            "",
            "soon",
            "0s",
            "30",
            "s",
            "30m2h",
            "1h1h",
            "1.5h",
            " 1h",
            "1h ",
            "30ms",
            "-1s",
            "366d",
            "99999999999999999999d",
            "1é",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn daily_is_a_24_hour_time() {
        assert_eq!(parse_daily("03:30"), Some((3, 30)));
        assert_eq!(parse_daily("3:30"), Some((3, 30)));
        assert_eq!(parse_daily("00:00"), Some((0, 0)));
        assert_eq!(parse_daily("23:59"), Some((23, 59)));
        for bad in [
            "25:00", "24:00", "12:60", "12:5", "123:00", "12", "12:00:00", "+1:00", "",
        ] {
            assert_eq!(parse_daily(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_two_glob_shapes_are_taken() {
        for good in ["*.jsonl", "*/*.jsonl", "*.tar.gz", "*/*.log"] {
            assert!(glob_shape(good), "{good:?}");
        }
        for bad in [
            "**/*.jsonl",
            "*/*/*.jsonl",
            "*.json?",
            "*.",
            "*",
            "a/*.jsonl",
            "*/*",
            "*.{a,b}",
        ] {
            assert!(!glob_shape(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_watcher_matches_files_at_the_glob_depth() {
        use std::path::Path;
        let w = WatcherConfig {
            glob: "*/*.jsonl".into(),
            ..WatcherConfig::default()
        };
        assert!(w.matches(Path::new("proj/abc.jsonl")));
        assert!(!w.matches(Path::new("abc.jsonl")));
        assert!(!w.matches(Path::new("proj/sub/abc.jsonl")));
        assert!(!w.matches(Path::new("proj/abc.json")));
        assert!(!w.matches(Path::new("proj/.jsonl")));
        assert!(!w.matches(Path::new(".proj/abc.jsonl")));
        let flat = WatcherConfig {
            glob: "*.jsonl".into(),
            ..WatcherConfig::default()
        };
        assert!(flat.matches(Path::new("abc.jsonl")));
        assert!(!flat.matches(Path::new("proj/abc.jsonl")));
    }

    #[test]
    fn a_circle_is_found_from_the_job_that_closes_it() {
        let e = |to: usize| (to, to..to + 1);
        // 0 → 1 → 2 → 1, and 3 alone.
        let edges = vec![vec![e(1)], vec![e(2)], vec![e(1)], vec![]];
        let (circle, span) = find_circle(&edges).unwrap();
        assert_eq!(circle, [1, 2, 1]);
        assert_eq!(span, 1..2);
        // A diamond waits twice on the same job, in no circle.
        let diamond = vec![vec![e(1), e(2)], vec![e(3)], vec![e(3)], vec![]];
        assert!(find_circle(&diamond).is_none());
    }
}
