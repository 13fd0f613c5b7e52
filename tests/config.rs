//! The TOML config: the shipped defaults, every key, every kind of mistake
//! named with its key and value, and how the binary finds the file.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use keeper_tui::config::{
    Config, HookConfig, HookEvent, JanitorConfig, JobConfig, Schedule, WatcherConfig,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn parse(name: &str) -> keeper_tui::error::Result<Config> {
    let path = fixture(name);
    Config::parse(&std::fs::read_to_string(&path).unwrap(), &path)
}

#[test]
fn the_shipped_config_is_exactly_the_defaults() {
    let cfg = Config::parse(
        include_str!("../assets/keeper.toml"),
        Path::new("assets/keeper.toml"),
    )
    .unwrap();
    assert_eq!(cfg, Config::default());
    assert_eq!(
        Config::parse("", Path::new("empty.toml")).unwrap(),
        Config::default()
    );
}

/// `rel` under $HOME as the test process sees it, as `~/rel` expands.
fn under_home(rel: &str) -> PathBuf {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(rel),
        None => PathBuf::from(format!("~/{rel}")),
    }
}

#[test]
fn every_key_is_read() {
    let want = Config {
        db: Some(under_home("stores/tk.sqlite")),
        session_id: "ops-console".into(),
        window_days: 14,
        read_only: true,
        debounce_ms: 250,
        log_dir: Some(PathBuf::from("/var/tmp/keeper-logs")),
        janitor: JanitorConfig {
            interval_secs: 600,
            idle_close_days: 2.5,
            run_at_start: false,
            max_close_per_pass: 50,
        },
        reaper: keeper_tui::config::ReaperConfig {
            interval_secs: 30,
            markers: vec!["msg-warm-".into(), "agent-".into()],
            grace_secs: 5,
            boot_reap: false,
            tmux: keeper_tui::sys::tmux::Server::Named("agents".into()),
            tmux_timeout_ms: 2000,
            default_ttl_secs: 120,
            protected: vec!["msg-warm-keep".into()],
            max_reap_per_pass: 2,
            idle_secs: 900,
        },
        watchdog: keeper_tui::config::WatchdogConfig {
            tick_secs: 5,
            processes: vec![keeper_tui::config::ProcessConfig {
                name: "bridge".into(),
                pid_file: "/run/bridge/bridge.pid".into(),
                heartbeat_file: "/run/bridge/heartbeat".into(),
                heartbeat_stale_secs: 30,
                version_file: Some("/run/bridge/version".into()),
                version_repo: Some("/srv/bridge".into()),
                version_command: None,
                restart_markers: vec!["/run/bridge/restart".into()],
                start: vec!["/srv/bridge/run".into(), "--port".into(), "7070".into()],
                cwd: Some("/srv/bridge".into()),
                log_file: "/var/log/bridge.log".into(),
                cmdline_pattern: Some("bridge/run".into()),
                cooldown_secs: 20,
                grace_secs: 3,
                breaker_limit: 5,
                quiet_secs: 120,
            }],
        },
        tasks: keeper_tui::config::TasksConfig {
            reconcile_secs: 5,
            max_per_pass: 50,
            cancel_grace_secs: 3,
        },
        hooks: valid_hooks(),
        jobs: valid_jobs(),
        pools: [("heavy".to_string(), 1), ("network".to_string(), 4)].into(),
        watcher: WatcherConfig {
            dir: under_home("agents/sessions"),
            glob: "*.jsonl".into(),
            stale_secs: 120,
            job: Some("summarise_session-1".into()),
            max_new_per_pass: 50,
            interval_secs: 0,
        },
    };
    assert_eq!(parse("valid.toml").unwrap(), want);
}

/// The `[[hook]]` tables of valid.toml.
fn valid_hooks() -> Vec<HookConfig> {
    vec![
        HookConfig {
            url: "https://hooks.example.com/keeper".into(),
            secret_env: Some("KEEPER_HOOK_SECRET".into()),
            on: vec![HookEvent::TaskCancelled],
            role: Some("curator".into()),
            prompt_contains: Some("nightly".into()),
            allow_private: true,
            max_attempts: 3,
            timeout_secs: 5,
        },
        HookConfig {
            url: "http://10.0.0.7:8080/done".into(),
            secret_env: None,
            on: HookEvent::ALL.to_vec(),
            role: None,
            prompt_contains: None,
            allow_private: false,
            max_attempts: 6,
            timeout_secs: 10,
        },
    ]
}

/// The `[[job]]` tables of valid.toml: every key set in the first two, the
/// defaults in the third.
fn valid_jobs() -> Vec<JobConfig> {
    let strings = |s: &[&str]| s.iter().map(ToString::to_string).collect::<Vec<_>>();
    vec![
        JobConfig {
            name: "fetch".into(),
            command: strings(&["git", "-C", "/srv/data", "pull"]),
            shell: false,
            cwd: Some(under_home("data")),
            env: [
                ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
                ("LANG".to_string(), "C.UTF-8".to_string()),
            ]
            .into(),
            pool: Some("network".into()),
            timeout_secs: Some(600),
            retries: 3,
            backoff_secs: 30,
            fatal_exit_codes: vec![2, 128],
            after: Vec::new(),
            schedule: Some(Schedule::Every(Duration::from_secs(9000))),
            hooks: strings(&["https://hooks.example.com/keeper"]),
        },
        JobConfig {
            name: "nightly.report".into(),
            command: strings(&["make report && ./publish"]),
            shell: true,
            after: strings(&["fetch"]),
            schedule: Some(Schedule::Daily {
                hour: 3,
                minute: 30,
            }),
            ..default_job("", &[])
        },
        default_job("summarise_session-1", &["summarise", "--file={path}"]),
    ]
}

/// A job with only its name and command set.
fn default_job(name: &str, command: &[&str]) -> JobConfig {
    JobConfig {
        name: name.into(),
        command: command.iter().map(ToString::to_string).collect(),
        shell: false,
        cwd: None,
        env: BTreeMap::new(),
        pool: None,
        timeout_secs: None,
        retries: 0,
        backoff_secs: 10,
        fatal_exit_codes: Vec::new(),
        after: Vec::new(),
        schedule: None,
        hooks: Vec::new(),
    }
}

#[test]
fn each_mistake_names_the_key_and_quotes_the_value() {
    let cases: &[(&str, &[&str])] = &[
        (
            "bad_key.toml",
            &["line 3, column 1:", "janitor.idle_close_dayz", "= 2"],
        ),
        (
            "unknown_section.toml",
            &["line 4, column 2:", "\"jantor\"", "[janitor]"],
        ),
        (
            "interval_string.toml",
            &["line 2, column 17:", "janitor.interval_secs", "\"abc\""],
        ),
        (
            "negative_days.toml",
            &["line 2, column 19:", "janitor.idle_close_days = -1"],
        ),
        (
            "huge_days.toml",
            &[
                "line 2, column 19:",
                "janitor.idle_close_days",
                "0 to 36500",
            ],
        ),
        (
            "window_zero.toml",
            &["line 2, column 15:", "store.window_days = 0", "1 to 3650"],
        ),
        ("syntax_error.toml", &["line 4, column 9:"]),
        (
            "section_as_value.toml",
            &["line 1, column 11:", "janitor = 3", "[janitor]"],
        ),
        (
            "read_only_string.toml",
            &[
                "line 2, column 13:",
                "engine.read_only",
                "\"yes\"",
                "true or false",
            ],
        ),
        (
            "process_missing_key.toml",
            &[
                "line 1, column 1:",
                "watchdog.process[1] needs heartbeat_file",
            ],
        ),
        (
            "process_bad_seconds.toml",
            &[
                "line 7, column 17:",
                "watchdog.process[1].cooldown_secs",
                "\"soon\"",
                "whole number of seconds",
            ],
        ),
        (
            "empty_marker.toml",
            &["line 2, column 25:", "reaper.markers", "\"\"", "non-empty"],
        ),
    ];
    check_mistakes(cases);
}

fn check_mistakes(cases: &[(&str, &[&str])]) {
    for (name, needles) in cases {
        let msg = parse(name).unwrap_err().to_string();
        assert!(
            msg.contains(&fixture(name).display().to_string()),
            "{name}: {msg}"
        );
        for n in *needles {
            assert!(msg.contains(n), "{name}: no {n:?} in: {msg}");
        }
    }
}

#[test]
fn each_hook_mistake_names_the_key_and_quotes_the_value() {
    let cases: &[(&str, &[&str])] = &[
        (
            "hook_no_scheme.toml",
            &[
                "line 2, column 7:",
                "hook[1].url",
                "\"hooks.example.com/keeper\"",
                "http:// or https://",
            ],
        ),
        (
            "hook_bad_event.toml",
            &[
                "line 3, column 6:",
                "hook[1].on",
                "task_ended, task_cancelled",
                "not \"task_done\"",
            ],
        ),
        (
            "hook_duplicate_url.toml",
            &["line 5, column 7:", "hook[2].url", "hook[1] has it"],
        ),
        (
            "hook_secret_in_file.toml",
            &[
                "line 3, column 14:",
                "hook[1].secret_env",
                "environment variable",
            ],
        ),
        (
            "hook_missing_url.toml",
            &["line 1, column 1:", "hook[1] needs url"],
        ),
    ];
    check_mistakes(cases);
}

#[test]
fn each_job_mistake_names_the_key_and_quotes_the_value() {
    let cases: &[(&str, &[&str])] = &[
        (
            "job_unknown_pool.toml",
            &[
                "line 8, column 8:",
                "job[1].pool = \"gpu\"",
                "a pool named in [pools] (known: heavy, network)",
            ],
        ),
        (
            "job_cycle.toml",
            &["line 9, column 10:", "job[2].after[1] = \"a\"", "a → b → a"],
        ),
        (
            "job_waits_on_itself.toml",
            &[
                "line 4, column 10:",
                "job[1].after[1] = \"fetch\"",
                "itself",
            ],
        ),
        (
            "job_after_unknown.toml",
            &[
                "line 8, column 10:",
                "job[2].after[1] = \"fecth\"",
                "the name of a [[job]] (known: fetch, report)",
            ],
        ),
        (
            "job_bad_every.toml",
            &["line 4, column 9:", "job[1].every = \"soon\"", "\"2h30m\""],
        ),
        (
            "job_bad_daily.toml",
            &["line 4, column 9:", "job[1].daily = \"25:00\"", "\"HH:MM\""],
        ),
        (
            "job_every_and_daily.toml",
            &["line 5, column 9:", "job[1].daily", "either every or daily"],
        ),
        (
            "job_shell_two_strings.toml",
            &[
                "line 4, column 11:",
                "job[1].command = [\"make\", \"report\"]",
                "exactly one string when shell = true",
            ],
        ),
        (
            "job_duplicate_name.toml",
            &[
                "line 6, column 8:",
                "job[2].name = \"report\"",
                "job[1] has it",
            ],
        ),
        (
            "job_missing_command.toml",
            &["line 1, column 1:", "job[1] needs command"],
        ),
        (
            "job_unknown_hook.toml",
            &[
                "line 7, column 9:",
                "job[1].hook[1] = \"https://hooks.example.com/kepeer\"",
                "known: https://hooks.example.com/keeper",
            ],
        ),
        (
            "watcher_unknown_job.toml",
            &[
                "line 6, column 7:",
                "watcher.job = \"summarize\"",
                "known: summarise",
            ],
        ),
        (
            "watcher_job_without_path.toml",
            &[
                "line 6, column 7:",
                "watcher.job = \"summarise\"",
                "job \"summarise\"'s command has no {path}",
            ],
        ),
        (
            "watcher_bad_glob.toml",
            &[
                "line 2, column 8:",
                "watcher.glob = \"**/*.jsonl\"",
                "\"*.ext\"",
                "\"*/*.ext\"",
            ],
        ),
        (
            "pool_zero.toml",
            &["line 2, column 7:", "pools.gpu = 0", "from 1 to 64"],
        ),
    ];
    check_mistakes(cases);
}

/// The message after `config PATH: `, checked to start that way.
fn message(name: &str) -> String {
    let msg = parse(name).unwrap_err().to_string();
    let prefix = format!("config {}: ", fixture(name).display());
    msg.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{name}: does not start with {prefix:?}: {msg}"))
        .to_string()
}

#[test]
fn a_value_of_the_wrong_kind_is_told_with_its_line_and_column() {
    assert_eq!(
        message("interval_string.toml"),
        "line 2, column 17: janitor.interval_secs = \"abc\" is not valid: \
         expected a whole number of seconds (0 turns scheduled passes off)"
    );
}

#[test]
fn an_unknown_key_lists_the_keys_its_section_takes() {
    assert_eq!(
        message("bad_key.toml"),
        "line 3, column 1: unknown key janitor.idle_close_dayz (= 2); \
         valid keys in [janitor]: interval_secs, idle_close_days, run_at_start, max_close_per_pass"
    );
    assert_eq!(
        message("process_unknown_key.toml"),
        "line 7, column 3: unknown key watchdog.process[1].restart_marker \
         (= [\"/run/bridge/restart\"]); valid keys in [[watchdog.process]]: name, pid_file, \
         heartbeat_file, heartbeat_stale_secs, version_file, version_repo, version_command, \
         restart_markers, start, cwd, log_file, cmdline_pattern, cooldown_secs, grace_secs, \
         breaker_limit, quiet_secs"
    );
}

#[test]
fn an_unknown_section_lists_the_sections() {
    assert_eq!(
        message("unknown_section.toml"),
        "line 4, column 2: unknown section or key \"jantor\" (valid sections: [store], \
         [engine], [janitor], [reaper], [watchdog], [tasks], [[hook]], [[job]], [pools], [watcher]; \
         `keeper-tui config` prints every key)"
    );
}

#[test]
fn a_heartbeat_stale_after_zero_seconds_is_refused() {
    assert_eq!(
        message("heartbeat_zero.toml"),
        "line 8, column 24: watchdog.process[1].heartbeat_stale_secs = 0 is not valid: \
         expected a whole number of seconds from 1 to 86400"
    );
}

#[test]
fn mistakes_across_keys_are_told_where_the_second_key_is() {
    assert_eq!(
        message("process_duplicate_name.toml"),
        "line 9, column 11: watchdog.process[2].name = \"bridge\" is not valid: \
         expected a name no other watchdog process has (watchdog.process[1] has it)"
    );
    assert_eq!(
        message("process_two_versions.toml"),
        "line 8, column 19: watchdog.process[1].version_command = [\"bridge\", \"--version\"] \
         is not valid: expected either version_repo or version_command, not both"
    );
    assert_eq!(
        message("tmux_two_sockets.toml"),
        "line 3, column 20: reaper.tmux_socket_name = \"agents\" is not valid: \
         expected either tmux_socket_name (-L) or tmux_socket_path (-S), not both"
    );
    assert_eq!(
        message("markers_none.toml"),
        "line 3, column 11: reaper.markers = [] is not valid: \
         expected at least one marker such as \"msg-warm-\""
    );
}

#[test]
fn the_config_verb_prints_the_defaults_even_over_a_broken_config() {
    let home = tempfile::tempdir().unwrap();
    let o = keeper(home.path())
        .arg("--config")
        .arg(fixture("syntax_error.toml"))
        .arg("config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    let cfg = Config::parse(&printed, Path::new("keeper-tui config")).unwrap();
    assert_eq!(cfg, Config::default());
    // Every key is there to edit, not only the defaults' values.
    for key in [
        "tmux_socket_name",
        "heartbeat_stale_secs",
        "version_command",
    ] {
        assert!(printed.contains(key), "no {key} in:\n{printed}");
    }

    let o = keeper(home.path())
        .args(["config", "--help"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("keeper-tui config > ~/.config/keeper-tui/keeper.toml"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn relative_xdg_directories_are_ignored() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    // Were the relative value used, this broken config would stop `info`.
    let relative = cwd.path().join("relative/config/keeper-tui");
    std::fs::create_dir_all(&relative).unwrap();
    std::fs::copy(fixture("bad_key.toml"), relative.join("keeper.toml")).unwrap();
    let dir = home.path().join(".config/keeper-tui");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keeper.toml"), "[store]\nwindow_days = 14\n").unwrap();

    let o = keeper(home.path())
        .current_dir(cwd.path())
        .env("XDG_CONFIG_HOME", "relative/config")
        .env("XDG_STATE_HOME", "relative/state")
        .arg("info")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "config:    {}\n",
            dir.join("keeper.toml").display()
        )),
        "{out}"
    );
    assert!(out.contains("window:    14 days"), "{out}");
    let log = home.path().join(".local/state/keeper-tui/keeper-tui.log");
    assert!(
        out.contains(&format!("log:       {}\n", log.display())),
        "{out}"
    );
}

#[test]
fn without_home_the_store_must_be_named() {
    let cwd = tempfile::tempdir().unwrap();
    let without_home = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
            .current_dir(cwd.path())
            .env_remove("HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("THREADKEEPER_DB")
            .env_remove("RUST_LOG")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [&["status"][..], &["pass", "janitor"], &["reopen", "T1"]] {
        let o = without_home(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot locate the threadkeeper store")
                && err.contains("--db PATH")
                && err.contains("THREADKEEPER_DB"),
            "{args:?}: {err}"
        );
    }
    let o = without_home(&["info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("database:  none (no --db, THREADKEEPER_DB, [store].db or $HOME)"),
        "{}",
        stdout(&o)
    );
    assert!(
        std::fs::read_dir(cwd.path()).unwrap().next().is_none(),
        "something was created in the current directory"
    );

    // Named, the store is found as usual.
    let db = new_store(cwd.path());
    let o = without_home(&["--db", db.to_str().unwrap(), "status"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_binary_refuses_a_bad_config_before_doing_anything() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let before = dump(&db);
    let bad = fixture("bad_key.toml");
    for args in [&["info"][..], &["pass", "janitor"]] {
        let o = keeper(home.path())
            .arg("--config")
            .arg(&bad)
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        let err = clean_failure(&o, &bad);
        assert!(err.contains("unknown key janitor.idle_close_dayz"), "{err}");
    }
    assert_eq!(dump(&db), before);
}

#[test]
fn an_explicit_config_must_exist() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nope.toml");
    let o = keeper(home.path())
        .arg("--config")
        .arg(&missing)
        .arg("info")
        .output()
        .unwrap();
    let err = clean_failure(&o, &missing);
    assert!(err.contains("cannot read it"), "{err}");
}

#[test]
fn a_missing_default_config_means_defaults() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("config")).unwrap();
    let o = keeper(home.path()).arg("info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let expected_cfg = home.path().join("config/keeper-tui/keeper.toml");
    assert!(
        out.contains(&format!(
            "config:    {} (not present: defaults in use)",
            expected_cfg.display()
        )),
        "{out}"
    );
    let default_db = home.path().join(".threadkeeper/db.sqlite");
    assert!(
        out.contains(&format!(
            "database:  {} (from default)",
            default_db.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("janitor   every 3600 s, closes threads idle > 1d"),
        "{out}"
    );
    assert!(!default_db.exists(), "info created the default store");
}

#[test]
fn the_xdg_config_is_found_and_used() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("config/keeper-tui");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("keeper.toml"),
        "[store]\nwindow_days = 14\n[janitor]\ninterval_secs = 0\nidle_close_days = 1.5\n",
    )
    .unwrap();
    let o = keeper(home.path()).arg("info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("off (interval_secs = 0"), "{out}");
    assert!(out.contains("idle > 1.5d"), "{out}");

    let db = new_store(home.path());
    let o = run(home.path(), &db, &["status"]);
    assert!(
        stdout(&o).contains("loops (fires 14d / 30d, last)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_store_path_follows_flag_then_env_then_config() {
    let home = tempfile::tempdir().unwrap();
    let cfg = fixture("valid.toml");
    let info = |db: Option<&str>, env: Option<&str>| {
        let mut cmd = keeper(home.path());
        cmd.arg("--config").arg(&cfg);
        if let Some(d) = db {
            cmd.args(["--db", d]);
        }
        if let Some(e) = env {
            cmd.env("THREADKEEPER_DB", e);
        }
        let o = cmd.arg("info").output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let from_cfg = home.path().join("stores/tk.sqlite");
    let out = info(None, None);
    assert!(
        out.contains(&format!(
            "database:  {} (from config [store].db)",
            from_cfg.display()
        )),
        "{out}"
    );
    assert!(info(None, Some("/tmp/env.sqlite")).contains("/tmp/env.sqlite (from THREADKEEPER_DB)"));
    assert!(
        info(Some("/tmp/flag.sqlite"), Some("/tmp/env.sqlite"))
            .contains("/tmp/flag.sqlite (from --db)")
    );
}
