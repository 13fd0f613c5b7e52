//! Queueing a job and the jobs that follow it (`after`): one chain of
//! runs, each waiting for the one before it to succeed.

use rusqlite::Connection;

use crate::config::JobConfig;
use crate::store::jobs::{Args, Reason, queue, queue_unless_pending};

/// The jobs that name `job` in their `after`, in config order.
fn followers<'a>(jobs: &'a [JobConfig], job: &str) -> impl Iterator<Item = &'a JobConfig> {
    jobs.iter()
        .filter(move |j| j.after.iter().any(|a| a == job))
}

/// Queue `job` (unless `dedupe` and a run with the same arguments is
/// queued or running) and, behind it, every job that follows it, with the
/// same arguments. A follower of several jobs waits for the one it is
/// reached through. Returns the runs queued, `job`'s first; empty when it
/// was already pending. Call inside one write transaction: a chain is
/// queued whole or not at all.
pub fn queue_chain(
    conn: &Connection,
    jobs: &[JobConfig],
    job: &str,
    args: &Args,
    reason: Reason,
    dedupe: bool,
    now: f64,
) -> rusqlite::Result<Vec<i64>> {
    let first = if dedupe {
        match queue_unless_pending(conn, job, args, reason, None, None, now)? {
            Some(id) => id,
            None => return Ok(Vec::new()),
        }
    } else {
        queue(conn, job, args, reason, None, None, now)?
    };
    let mut queued = vec![first];
    // Breadth first from `job`; config validation refuses cycles, and the
    // visited set keeps a follower reached twice to one run.
    let mut frontier = vec![(job.to_string(), first)];
    let mut seen = std::collections::HashSet::from([job.to_string()]);
    while let Some((name, run)) = frontier.pop() {
        for f in followers(jobs, &name) {
            if !seen.insert(f.name.clone()) {
                continue;
            }
            let id = queue(
                conn,
                &f.name,
                args,
                Reason::After(run),
                Some(first),
                Some(run),
                now,
            )?;
            queued.push(id);
            frontier.push((f.name.clone(), id));
        }
    }
    Ok(queued)
}
