//! keeper-tui's own state, in `keeper_*` tables beside threadkeeper's.
//! threadkeeper never reads them; dropping them loses only keeper's history.

use rusqlite::{Connection, OptionalExtension, params};

const KEEPER_TABLES: &str = r"
CREATE TABLE IF NOT EXISTS keeper_passes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    loop_id     TEXT NOT NULL,
    mode        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keeper_passes_loop ON keeper_passes(loop_id, id DESC);
CREATE TABLE IF NOT EXISTS keeper_heal (
    name            TEXT PRIMARY KEY,
    tier            INTEGER NOT NULL,
    last_action_at  INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    last_alert_at   INTEGER NOT NULL,
    last_action     TEXT NOT NULL,
    started_group   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS keeper_claims (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    last_used   INTEGER NOT NULL,
    ttl_secs    INTEGER NOT NULL
);
";

/// Whether `name` is a table of this store. keeper's own tables exist only
/// once keeper has written, so readers ask before they read.
pub(crate) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Create keeper's tables if missing. Checks first so that opening a store
/// that already has them writes nothing at all.
pub fn ensure_tables(conn: &Connection) -> rusqlite::Result<()> {
    let present: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('keeper_passes','keeper_claims','keeper_heal')",
        [],
        |r| r.get(0),
    )?;
    // keeper_heal from before the watchdog remembered what it started.
    let heal_columns: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('keeper_heal') WHERE name='started_group'",
        [],
        |r| r.get(0),
    )?;
    let upgrade = present == 3 && heal_columns == 0;
    if present < 3 || upgrade {
        let mut sql = KEEPER_TABLES.to_string();
        if upgrade {
            sql.push_str(
                "ALTER TABLE keeper_heal ADD COLUMN started_group INTEGER NOT NULL DEFAULT 0;",
            );
        }
        // Inside a caller's transaction the tables land with its writes.
        if conn.is_autocommit() {
            conn.execute_batch(&format!("BEGIN IMMEDIATE;{sql}COMMIT;"))?;
        } else {
            conn.execute_batch(&sql)?;
        }
    }
    Ok(())
}

/// One line of the pass history an operator reads in a loop's detail view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PassRecord {
    pub loop_id: String,
    pub mode: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub summary: String,
}

/// Passes kept per loop; older ones are pruned as new ones land.
pub const PASSES_KEPT: i64 = 1000;

/// Append to the pass history (and prune it), creating keeper's tables on
/// first use so a store keeper only reads never gains them.
pub fn record_pass(conn: &Connection, rec: &PassRecord) -> rusqlite::Result<()> {
    ensure_tables(conn)?;
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO keeper_passes (loop_id, mode, started_at, finished_at, ok, summary) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            rec.loop_id,
            rec.mode,
            rec.started_at,
            rec.finished_at,
            rec.ok,
            rec.summary
        ],
    )?;
    tx.execute(
        "DELETE FROM keeper_passes WHERE loop_id = ?1 AND id <= \
         (SELECT id FROM keeper_passes WHERE loop_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![rec.loop_id, PASSES_KEPT],
    )?;
    tx.commit()
}

/// The newest `limit` passes of one loop; empty when keeper has never
/// written to this store.
pub fn recent_passes(
    conn: &Connection,
    loop_id: &str,
    limit: u32,
) -> rusqlite::Result<Vec<PassRecord>> {
    if !has_table(conn, "keeper_passes")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT loop_id, mode, started_at, finished_at, ok, summary FROM keeper_passes \
         WHERE loop_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![loop_id, limit], |r| {
        Ok(PassRecord {
            loop_id: r.get(0)?,
            mode: r.get(1)?,
            started_at: r.get(2)?,
            finished_at: r.get(3)?,
            ok: r.get(4)?,
            summary: r.get(5)?,
        })
    })?
    .collect()
}

/// A durable claim on a tmux session: whoever spawned it says it is in use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    pub name: String,
    pub owner: String,
    pub claimed_at: i64,
    pub last_used: i64,
    pub ttl_secs: i64,
}

impl Claim {
    /// A claim whose last use is older than its TTL no longer protects.
    pub fn expired(&self, now: i64) -> bool {
        now - self.last_used > self.ttl_secs
    }

    pub fn ttl_left(&self, now: i64) -> i64 {
        self.ttl_secs - (now - self.last_used)
    }
}

fn has_claims_table(conn: &Connection) -> rusqlite::Result<bool> {
    has_table(conn, "keeper_claims")
}

/// Every claim; empty when keeper has never written to this store.
pub fn claims(conn: &Connection) -> rusqlite::Result<Vec<Claim>> {
    if !has_claims_table(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT name, owner, claimed_at, last_used, ttl_secs FROM keeper_claims ORDER BY name",
    )?;
    stmt.query_map([], |r| {
        Ok(Claim {
            name: r.get(0)?,
            owner: r.get(1)?,
            claimed_at: r.get(2)?,
            last_used: r.get(3)?,
            ttl_secs: r.get(4)?,
        })
    })?
    .collect()
}

/// Claim (or re-claim) a session. Returns the previous owner if there was one.
pub fn claim(
    conn: &Connection,
    name: &str,
    owner: &str,
    ttl_secs: i64,
    now: i64,
) -> rusqlite::Result<Option<String>> {
    ensure_tables(conn)?;
    let previous: Option<String> = conn
        .query_row(
            "SELECT owner FROM keeper_claims WHERE name=?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO keeper_claims (name, owner, claimed_at, last_used, ttl_secs) VALUES (?1,?2,?3,?3,?4) \
         ON CONFLICT(name) DO UPDATE SET owner=excluded.owner, claimed_at=excluded.claimed_at, \
         last_used=excluded.last_used, ttl_secs=excluded.ttl_secs",
        params![name, owner, now, ttl_secs],
    )?;
    Ok(previous)
}

/// Mark a claimed session as used now. False when there is no such claim.
pub fn touch(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<bool> {
    if !has_claims_table(conn)? {
        return Ok(false);
    }
    Ok(conn.execute(
        "UPDATE keeper_claims SET last_used=?1 WHERE name=?2",
        params![now, name],
    )? > 0)
}

/// Drop a claim. False when there was none.
pub fn release(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    if !has_claims_table(conn)? {
        return Ok(false);
    }
    Ok(conn.execute("DELETE FROM keeper_claims WHERE name=?1", [name])? > 0)
}

/// Drop a claim only if it is still the one judged (same last use): a
/// claim renewed or taken since is left alone.
pub fn release_if_unchanged(
    conn: &Connection,
    name: &str,
    last_used: i64,
) -> rusqlite::Result<bool> {
    if !has_claims_table(conn)? {
        return Ok(false);
    }
    Ok(conn.execute(
        "DELETE FROM keeper_claims WHERE name=?1 AND last_used=?2",
        params![name, last_used],
    )? > 0)
}

/// The watchdog's memory of one process, kept across restarts of keeper-tui.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HealState {
    pub name: String,
    /// Last tier acted on; 0 when healthy.
    pub tier: u8,
    pub last_action_at: i64,
    /// Consecutive unconfirmed restarts; the breaker opens at the limit.
    pub failures: u32,
    pub last_alert_at: i64,
    pub last_action: String,
    /// Process group of the process keeper-tui last started (its pid under
    /// `setsid`); 0 when none. Signals to a member go to the whole group.
    pub started_group: i32,
}

pub fn heal_state(conn: &Connection, name: &str) -> rusqlite::Result<HealState> {
    if !has_table(conn, "keeper_heal")? {
        return Ok(HealState {
            name: name.into(),
            ..HealState::default()
        });
    }
    let has_group: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('keeper_heal') WHERE name='started_group'",
        [],
        |r| r.get(0),
    )?;
    let group = if has_group { "started_group" } else { "0" };
    let found = conn
        .query_row(
            &format!(
                "SELECT tier, last_action_at, failures, last_alert_at, last_action, {group} \
                 FROM keeper_heal WHERE name=?1"
            ),
            [name],
            |r| {
                Ok(HealState {
                    name: name.into(),
                    tier: r.get(0)?,
                    last_action_at: r.get(1)?,
                    failures: r.get(2)?,
                    last_alert_at: r.get(3)?,
                    last_action: r.get(4)?,
                    started_group: r.get(5)?,
                })
            },
        )
        .optional()?;
    Ok(found.unwrap_or_else(|| HealState {
        name: name.into(),
        ..HealState::default()
    }))
}

/// Save one process's heal state (one row, replaced whole).
pub fn save_heal_state(conn: &Connection, st: &HealState) -> rusqlite::Result<()> {
    ensure_tables(conn)?;
    conn.execute(
        "INSERT INTO keeper_heal (name, tier, last_action_at, failures, last_alert_at, last_action, \
         started_group) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(name) DO UPDATE SET \
         tier=excluded.tier, last_action_at=excluded.last_action_at, failures=excluded.failures, \
         last_alert_at=excluded.last_alert_at, last_action=excluded.last_action, \
         started_group=excluded.started_group",
        params![
            st.name,
            st.tier,
            st.last_action_at,
            st.failures,
            st.last_alert_at,
            st.last_action,
            st.started_group
        ],
    )?;
    Ok(())
}

/// `f` in one `BEGIN IMMEDIATE` transaction on a connection used outside
/// `WriteStore::write` (the lease, heal claims): committed when it
/// succeeds, rolled back when it fails.
fn immediate<T>(conn: &Connection, f: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let out = f()?;
    tx.commit()?;
    Ok(out)
}

/// One engine per store: who holds `keeper_lease`.
const LEASE_TABLE: &str = "CREATE TABLE IF NOT EXISTS keeper_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    renewed_at  INTEGER NOT NULL
)";

/// An engine, as the lease names it: unique per process run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub id: String,
    pub pid: i64,
    pub host: String,
}

impl LeaseHolder {
    /// This process, the same value on every call.
    pub fn this_process() -> Self {
        static ME: std::sync::OnceLock<LeaseHolder> = std::sync::OnceLock::new();
        ME.get_or_init(Self::make).clone()
    }

    fn make() -> Self {
        let pid = i64::from(std::process::id());
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        LeaseHolder {
            id: format!("{pid}@{host}:{started}"),
            pid,
            host,
        }
    }
}

/// What a try for the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leased {
    /// Ours now (taken, renewed, or taken over from a holder that stopped
    /// renewing).
    Held,
    /// Another engine's, still live.
    By { pid: i64, host: String },
}

/// Take or renew the engine lease in one immediate transaction: it is
/// ours when free, ours already, or not renewed for `expires_secs`.
pub fn take_lease(
    conn: &Connection,
    me: &LeaseHolder,
    now: i64,
    expires_secs: i64,
) -> rusqlite::Result<Leased> {
    immediate(conn, || {
        conn.execute_batch(LEASE_TABLE)?;
        let current: Option<(String, i64, String, i64)> = conn
            .query_row(
                "SELECT holder, pid, host, renewed_at FROM keeper_lease WHERE name = 'engine'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((holder, pid, host, renewed)) = current
            && holder != me.id
            && now - renewed < expires_secs
        {
            return Ok(Leased::By { pid, host });
        }
        conn.execute(
            "INSERT INTO keeper_lease (name, holder, pid, host, renewed_at) VALUES ('engine', ?1, ?2, ?3, ?4) \
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, \
             host = excluded.host, renewed_at = excluded.renewed_at",
            params![me.id, me.pid, me.host, now],
        )?;
        Ok(Leased::Held)
    })
}

/// Give the lease up (as the engine stops), if it is still ours.
pub fn release_lease(conn: &Connection, me: &LeaseHolder) -> rusqlite::Result<()> {
    if !has_table(conn, "keeper_lease")? {
        return Ok(());
    }
    conn.execute(
        "DELETE FROM keeper_lease WHERE name = 'engine' AND holder = ?1",
        [&me.id],
    )
    .map(|_| ())
}

/// Per-process heal claims: whoever heals a supervised process holds its
/// claim until it has recorded what it did, so two keeper-tuis (an
/// observer's forced pass beside the holder's scheduled one) never heal the
/// same process at once.
const HEAL_CLAIMS: &str = "CREATE TABLE IF NOT EXISTS keeper_heal_claims (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    pid     INTEGER NOT NULL,
    until   INTEGER NOT NULL
)";

/// Claim each of `names` for healing until `until`, in one transaction.
/// Returns, for each name another live holder has, that holder's pid.
pub fn claim_heals(
    conn: &Connection,
    me: &LeaseHolder,
    names: &[&str],
    now: i64,
    until: i64,
) -> rusqlite::Result<Vec<(String, i64)>> {
    immediate(conn, || {
        conn.execute_batch(HEAL_CLAIMS)?;
        let mut taken_by_others = Vec::new();
        for name in names {
            let other: Option<(String, i64, i64)> = conn
                .query_row(
                    "SELECT holder, pid, until FROM keeper_heal_claims WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((holder, pid, held_until)) = other
                && holder != me.id
                && held_until > now
            {
                taken_by_others.push(((*name).to_string(), pid));
                continue;
            }
            conn.execute(
                "INSERT INTO keeper_heal_claims (name, holder, pid, until) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, \
                 until = excluded.until",
                params![name, me.id, me.pid, until],
            )?;
        }
        Ok(taken_by_others)
    })
}

/// Let go of this process's heal claims (inside the record transaction).
pub fn release_heals(conn: &Connection, me: &LeaseHolder) -> rusqlite::Result<()> {
    if !has_table(conn, "keeper_heal_claims")? {
        return Ok(());
    }
    conn.execute("DELETE FROM keeper_heal_claims WHERE holder = ?1", [&me.id])
        .map(|_| ())
}
