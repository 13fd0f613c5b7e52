//! One engine acts per store. The first engine on a store holds a lease, a
//! row in `keeper_lease` renewed every few seconds; only the holder runs
//! scheduled passes. Any other keeper-tui on the store is an observer: it
//! shows the same panels and its operator's commands still work (they go
//! through the store's own write lock), but its loops wait. A holder that
//! dies stops renewing, and another engine takes over once the lease runs
//! out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::hub::Events;
use crate::store::WriteStore;
use crate::store::keeper::{LeaseHolder, Leased, release_lease, take_lease};

/// How often the holder renews, and an observer tries.
pub const RENEW: Duration = Duration::from_secs(10);
/// A lease not renewed for this long is free.
pub const EXPIRES_AFTER: Duration = Duration::from_secs(30);

/// Who runs the loops, as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// This engine runs the loops.
    Holder,
    /// Another engine does.
    Observer { pid: i64, host: String },
    /// The lease could not be read or written: no scheduled passes here.
    Unknown { why: String },
}

/// This engine's claim on the store, and whether it holds it now.
pub(crate) struct Lease {
    writer: Arc<WriteStore>,
    me: LeaseHolder,
    /// Read by every loop before a scheduled pass.
    pub leading: Arc<AtomicBool>,
}

impl Lease {
    pub(crate) fn new(writer: Arc<WriteStore>) -> Self {
        Lease {
            writer,
            me: LeaseHolder::this_process(),
            leading: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Take or renew the lease now (blocking: one short write).
    pub(crate) fn try_take(&self) -> Role {
        let now = crate::store::now_unix();
        let role = match self
            .writer
            .with_conn_quiet(Some(Duration::from_secs(2)), |c| {
                take_lease(c, &self.me, now, EXPIRES_AFTER.as_secs() as i64)
            }) {
            Ok(Leased::Held) => Role::Holder,
            Ok(Leased::By { pid, host }) => Role::Observer { pid, host },
            Err(e) => Role::Unknown { why: e.to_string() },
        };
        self.leading
            .store(matches!(role, Role::Holder), Ordering::SeqCst);
        role
    }

    fn release(&self) {
        let _ = self
            .writer
            .with_conn_quiet(Some(Duration::from_secs(1)), |c| release_lease(c, &self.me));
    }
}

/// What a change of role says in the Log.
fn said(role: &Role) -> (bool, String) {
    match role {
        Role::Holder => (false, "this engine runs the loops on this store".into()),
        Role::Observer { pid, host } => (
            false,
            format!("observer: the loops run in pid {pid} on {host}; this one waits"),
        ),
        Role::Unknown { why } => (
            true,
            format!("cannot hold the store's lease ({why}): no scheduled passes here"),
        ),
    }
}

/// Renew (or try for) the lease until the engine stops, then let it go so
/// another engine takes over at once.
pub(crate) async fn run(
    lease: Lease,
    mut role: Role,
    events: Events,
    mut stop: watch::Receiver<bool>,
) {
    let lease = Arc::new(lease);
    let (announce_error, text) = said(&role);
    events.notice(announce_error, text);
    events.send(super::hub::Event::Lease(role.clone()));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + RENEW, RENEW);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let l = Arc::clone(&lease);
                let Ok(now) = tokio::task::spawn_blocking(move || l.try_take()).await else {
                    continue;
                };
                if now != role {
                    let (error, text) = said(&now);
                    events.notice(error, text);
                    events.send(super::hub::Event::Lease(now.clone()));
                    role = now;
                }
            }
        }
    }
    lease.leading.store(false, Ordering::SeqCst);
    if role == Role::Holder {
        let l = Arc::clone(&lease);
        let _ = tokio::task::spawn_blocking(move || l.release()).await;
    }
}
