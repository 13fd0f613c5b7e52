//! Whether any live process holds a transcript open: an agent keeps its
//! session's file open while the session lives, however long it sits
//! idle, so an unwritten file is not yet an ended session. Every live
//! process's `/proc/<pid>/fd` entries are followed to the files they name
//! and matched by device and inode, once per pass for all candidates.
//!
//! A process whose descriptors cannot be read might hold any of them, so
//! it makes the answer unknown — unless the kernel refused because the
//! process is more privileged than keeper-tui: another user's, one that
//! made itself undumpable (ssh-agent), or one with capabilities
//! keeper-tui lacks. An agent session runs as its user with no more than
//! that, and counting such processes would leave the answer unknown on
//! every machine (init and the system daemons are always there), so
//! nothing would ever be queued. They are counted for the pass's detail.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::scan::FileId;

/// Why whether a file is open cannot be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blind {
    /// The process table itself could not be listed.
    NoProc,
    /// Processes as privileged as keeper-tui whose descriptors could not
    /// be read: the first one's pid, and how many in all.
    Unreadable { first: i32, count: usize },
}

impl std::fmt::Display for Blind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blind::NoProc => f.write_str("/proc cannot be listed"),
            Blind::Unreadable { first, count: 1 } => {
                write!(f, "the open files of pid {first} cannot be read")
            }
            Blind::Unreadable { first, count } => write!(
                f,
                "the open files of pid {first} and {} other process(es) cannot be read",
                count - 1
            ),
        }
    }
}

/// One file's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    Free,
    /// Open in this process (the first found).
    HeldBy(i32),
    Unknown(Blind),
}

/// Who holds the files one scan was asked about.
#[derive(Debug, Default)]
pub struct Holders {
    held: HashMap<FileId, i32>,
    blind: Option<Blind>,
    /// Processes not inspected because they are more privileged than
    /// keeper-tui (see the module's doc).
    pub privileged: usize,
}

impl Holders {
    /// Look at every live process for `wanted`.
    pub fn scan(wanted: &HashSet<FileId>) -> Self {
        scan_in(Path::new("/proc"), wanted)
    }

    pub fn of(&self, file: FileId) -> Holding {
        // A process seen holding it settles the answer, whatever else
        // could not be read.
        if let Some(&pid) = self.held.get(&file) {
            return Holding::HeldBy(pid);
        }
        self.blind.map_or(Holding::Free, Holding::Unknown)
    }

    fn unreadable(&mut self, pid: i32) {
        self.blind = Some(match self.blind {
            Some(Blind::Unreadable { first, count }) => Blind::Unreadable {
                first,
                count: count + 1,
            },
            Some(Blind::NoProc) => Blind::NoProc,
            None => Blind::Unreadable {
                first: pid,
                count: 1,
            },
        });
    }
}

fn scan_in(proc_root: &Path, wanted: &HashSet<FileId>) -> Holders {
    let mut out = Holders::default();
    let Ok(entries) = fs::read_dir(proc_root) else {
        out.blind = Some(Blind::NoProc);
        return out;
    };
    let me = Privilege::read(&proc_root.join("self"));
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        match look(&dir, pid, wanted, &mut out.held) {
            Look::Read | Look::Gone => {}
            Look::Refused => match (&me, Privilege::read(&dir)) {
                (_, Err(Gone)) => {}
                (Ok(Some(me)), Ok(Some(it))) if !it.within(*me) => out.privileged += 1,
                // Our own standing or its cannot be read: whether it could
                // be a session is unknown too.
                _ => out.unreadable(pid),
            },
        }
    }
    out
}

enum Look {
    Read,
    /// Exited while it was being read.
    Gone,
    Refused,
}

/// Follow each of `pid`'s descriptors to the file it names.
fn look(dir: &Path, pid: i32, wanted: &HashSet<FileId>, held: &mut HashMap<FileId, i32>) -> Look {
    let fds = match fs::read_dir(dir.join("fd")) {
        Ok(fds) => fds,
        Err(e) if e.kind() == ErrorKind::NotFound => return Look::Gone,
        Err(_) => return Look::Refused,
    };
    for fd in fds {
        let Ok(fd) = fd else {
            return Look::Refused;
        };
        match fs::metadata(fd.path()) {
            Ok(m) => {
                let id = FileId::of(&m);
                if wanted.contains(&id) {
                    held.entry(id).or_insert(pid);
                }
            }
            // Closed since the listing.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(_) => return Look::Refused,
        }
    }
    Look::Read
}

/// The process exited while it was looked at.
struct Gone;

/// What the kernel weighs before showing one process's descriptors to
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Privilege {
    /// Real, effective and saved uid.
    uids: [u32; 3],
    /// The owner of `/proc/<pid>`: root, not the user, for a process that
    /// made itself undumpable.
    owner: u32,
    /// Permitted capabilities.
    caps: u64,
}

impl Privilege {
    /// `Ok(None)` when the process is there but its standing cannot be read.
    fn read(dir: &Path) -> Result<Option<Self>, Gone> {
        let owner = match fs::metadata(dir) {
            Ok(m) => m.uid(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Gone),
            Err(_) => return Ok(None),
        };
        match fs::read_to_string(dir.join("status")) {
            Ok(text) => Ok(Self::parse(&text, owner)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Gone),
            Err(_) => Ok(None),
        }
    }

    fn parse(status: &str, owner: u32) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let mut ids = field("Uid")?.split_whitespace().map(str::parse::<u32>);
        let uids = [ids.next()?.ok()?, ids.next()?.ok()?, ids.next()?.ok()?];
        let caps = u64::from_str_radix(field("CapPrm")?, 16).ok()?;
        Some(Privilege { uids, owner, caps })
    }

    /// Whether this process has no standing `me` lacks: then the kernel
    /// had no privilege reason to refuse, and it could be a session.
    fn within(self, me: Privilege) -> bool {
        let user = me.uids[1];
        self.uids.iter().all(|&u| u == user) && self.owner == user && self.caps & !me.caps == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(uid: u32, caps: &str) -> String {
        format!("Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapPrm:\t{caps}\n")
    }

    #[test]
    fn a_process_of_another_user_or_with_more_capabilities_is_not_within_reach() {
        let me = Privilege::parse(&status(1000, "0000000000000000"), 1000).unwrap();
        let peer = Privilege::parse(&status(1000, "0000000000000000"), 1000).unwrap();
        let root = Privilege::parse(&status(0, "000001ffffffffff"), 0).unwrap();
        let undumpable = Privilege::parse(&status(1000, "0000000000000000"), 0).unwrap();
        assert!(peer.within(me));
        assert!(!root.within(me));
        assert!(!undumpable.within(me));
        let boxed_root = Privilege::parse(&status(0, "000001fffeffffff"), 0).unwrap();
        let full_root = Privilege::parse(&status(0, "000001ffffffffff"), 0).unwrap();
        assert!(!full_root.within(boxed_root));
        assert!(boxed_root.within(full_root));
    }

    #[test]
    fn an_unreadable_process_makes_every_file_it_was_not_seen_holding_unknown() {
        let held = FileId { dev: 1, ino: 2 };
        let other = FileId { dev: 1, ino: 3 };
        let mut h = Holders::default();
        assert_eq!(h.of(other), Holding::Free);
        h.held.insert(held, 42);
        h.unreadable(7);
        h.unreadable(9);
        assert_eq!(h.of(held), Holding::HeldBy(42));
        let blind = Blind::Unreadable { first: 7, count: 2 };
        assert_eq!(h.of(other), Holding::Unknown(blind));
        assert_eq!(
            blind.to_string(),
            "the open files of pid 7 and 1 other process(es) cannot be read"
        );
    }

    #[test]
    fn no_process_table_means_nothing_is_known() {
        let h = scan_in(Path::new("/nonexistent/proc"), &HashSet::new());
        assert_eq!(
            h.of(FileId { dev: 0, ino: 0 }),
            Holding::Unknown(Blind::NoProc)
        );
    }

    #[test]
    fn this_process_is_seen_holding_a_file_it_has_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let file = fs::File::create(&path).unwrap();
        let id = FileId::of(&fs::metadata(&path).unwrap());
        let h = Holders::scan(&HashSet::from([id]));
        assert_eq!(h.of(id), Holding::HeldBy(std::process::id() as i32));
        drop(file);
    }
}
