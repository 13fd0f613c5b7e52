//! `[tasks]` and `[[hook]]`: the reconciler's settings and where a task's
//! ending is sent.

use std::collections::HashMap;

use toml::Spanned;

use super::problem::Problem;
use super::raw::{RawHook, RawTasks};
use super::{HookConfig, HookEvent, TasksConfig};

const MAX_ATTEMPTS: u32 = 6;
const TIMEOUT_SECS: u64 = 10;
/// Hooks each take a look at every ending; more than this is a typo'd loop.
const MAX_HOOKS: usize = 32;

pub(super) fn tasks_config(raw: &RawTasks) -> TasksConfig {
    let mut t = TasksConfig::default();
    if let Some(s) = raw.reconcile_secs {
        t.reconcile_secs = s;
    }
    if let Some(m) = raw.max_per_pass {
        t.max_per_pass = m as usize;
    }
    if let Some(g) = raw.cancel_grace_secs {
        t.cancel_grace_secs = g;
    }
    t
}

pub(super) fn hooks_config(raw: Vec<Spanned<RawHook>>) -> Result<Vec<HookConfig>, Problem> {
    let mut hooks = Vec::new();
    // URL → 1-based position of the first hook with it.
    let mut urls = HashMap::new();
    for (i, table) in raw.into_iter().enumerate() {
        if i == MAX_HOOKS {
            return Err(Problem::invalid(
                table.span(),
                &format!(
                    "at most {MAX_HOOKS} [[hook]] tables (this is number {})",
                    i + 1
                ),
            ));
        }
        let at = table.span();
        let raw = table.into_inner();
        let url = raw.url.ok_or_else(|| {
            Problem::needs(
                at.clone(),
                "url (where to POST, such as \"https://example.com/keeper\")".into(),
            )
        })?;
        let url_span = url.span();
        let url = url.into_inner().0;
        if !plausible_url(&url) {
            return Err(Problem::invalid(
                url_span,
                "an http:// or https:// URL with a host, such as \"https://example.com/keeper\"",
            ));
        }
        if let Some(first) = urls.insert(url.clone(), i + 1) {
            return Err(Problem::invalid(
                url_span,
                &format!("a URL no other hook has (hook[{first}] has it)"),
            ));
        }
        let secret_env = match raw.secret_env {
            Some(s) if env_name(&s.get_ref().0) => Some(s.into_inner().0),
            Some(s) => {
                return Err(Problem::invalid(
                    s.span(),
                    "the name of an environment variable, such as \"KEEPER_HOOK_SECRET\" (letters, digits and _; the secret itself stays out of the file)",
                ));
            }
            None => None,
        };
        let on = match raw.on {
            None => HookEvent::ALL.to_vec(),
            Some(on) => {
                let span = on.span();
                let mut events = Vec::new();
                for name in &on.get_ref().0 {
                    let Some(e) = HookEvent::parse(name) else {
                        let known: Vec<_> = HookEvent::ALL.iter().map(|e| e.name()).collect();
                        return Err(Problem::invalid(
                            span,
                            &format!("endings from {} (not {name:?})", known.join(", ")),
                        ));
                    };
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
                if events.is_empty() {
                    return Err(Problem::invalid(
                        span,
                        "at least one ending, such as [\"task_ended\"]",
                    ));
                }
                events
            }
        };
        hooks.push(HookConfig {
            url,
            secret_env,
            on,
            role: raw.role.map(|t| t.0).filter(|r| !r.is_empty()),
            prompt_contains: raw.prompt_contains.map(|t| t.0).filter(|p| !p.is_empty()),
            allow_private: raw.allow_private.is_some_and(|f| f.0),
            max_attempts: raw.max_attempts.map_or(MAX_ATTEMPTS, |m| m as u32),
            timeout_secs: raw.timeout_secs.unwrap_or(TIMEOUT_SECS),
        });
    }
    Ok(hooks)
}

/// A full check (and the address) comes at delivery; this catches a
/// missing scheme or host while the operator is still at the file.
fn plausible_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.starts_with(':') && !url.chars().any(char::is_whitespace)
    })
}

fn env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
