//! The processes a process has started, read from /proc. A tmux server
//! forks one for every pane it opens (a new session, window or split) and
//! loses one when a pane's process ends: while its set stays the same, no
//! session came or went, and nobody needs to ask tmux.
//!
//! The /proc files stay open between reads: a read is then one `pread`
//! per file, cheap enough to repeat every few seconds, and an open `stat`
//! of a process that has ended (even if its pid was given again since)
//! answers "no such process" instead of describing the newcomer.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// One process and its threads as they were when the watch began (tmux
/// forks from its one thread).
#[derive(Debug)]
pub struct Children {
    pid: i32,
    stat: File,
    /// `task/TID/children` of each of its threads.
    tasks: Vec<File>,
}

impl Children {
    /// Watch `pid`; `None` when /proc says nothing of it.
    pub fn of(pid: i32) -> Option<Self> {
        if pid <= 0 {
            return None;
        }
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let stat = File::open(dir.join("stat")).ok()?;
        let tasks = std::fs::read_dir(dir.join("task"))
            .ok()?
            .map(|t| File::open(t.ok()?.path().join("children")).ok())
            .collect::<Option<Vec<File>>>()?;
        let me = Children { pid, stat, tasks };
        // A kernel without the `children` files cannot answer later either.
        me.now()?;
        Some(me)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its children now, sorted; `None` once it has ended, or when /proc
    /// cannot say.
    pub fn now(&self) -> Option<Vec<i32>> {
        let mut kids = Vec::new();
        let mut buf = [0u8; 4096];
        for task in &self.tasks {
            let text = read(task, &mut buf)?;
            for pid in text.split_whitespace() {
                kids.push(pid.parse().ok()?);
            }
        }
        // Read after the children: an ended process's children file reads
        // empty, its `stat` fails.
        read(&self.stat, &mut buf).filter(|s| !s.is_empty())?;
        kids.sort_unstable();
        Some(kids)
    }
}

/// The whole of a small /proc file, from its start.
fn read<'b>(f: &File, buf: &'b mut [u8]) -> Option<&'b str> {
    let n = f.read_at(buf, 0).ok()?;
    // A children list longer than the buffer would be cut mid-number:
    // unknown rather than wrong.
    if n == buf.len() {
        return None;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    fn sleeper() -> Child {
        Command::new("sleep").arg("30").spawn().unwrap()
    }

    /// `want` holds within a few seconds: a dead child leaves the set once
    /// it is reaped, which `wait` does, but other tests' children come and
    /// go meanwhile.
    fn eventually(read: impl Fn() -> Option<Vec<i32>>, want: impl Fn(&[i32]) -> bool) {
        let t0 = Instant::now();
        loop {
            if read().is_some_and(|k| want(&k)) {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", read());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_new_child_and_a_reaped_one_change_the_set() {
        // This thread is one of the process's threads when the watch
        // begins: its children are in the set.
        let me = Children::of(std::process::id() as i32).unwrap();
        let mut a = sleeper();
        let a_pid = a.id() as i32;
        let with_a = me.now().unwrap();
        assert!(with_a.contains(&a_pid), "{with_a:?}");
        let mut b = sleeper();
        let b_pid = b.id() as i32;
        eventually(|| me.now(), |k| k.contains(&a_pid) && k.contains(&b_pid));
        a.kill().unwrap();
        a.wait().unwrap();
        eventually(|| me.now(), |k| !k.contains(&a_pid) && k.contains(&b_pid));
        b.kill().unwrap();
        b.wait().unwrap();
    }

    #[test]
    fn a_process_that_has_ended_has_no_answer() {
        let mut c = sleeper();
        let pid = c.id() as i32;
        let watch = Children::of(pid).unwrap();
        assert_eq!(watch.pid(), pid);
        assert_eq!(watch.now(), Some(Vec::new()));
        c.kill().unwrap();
        c.wait().unwrap();
        assert_eq!(watch.now(), None);
        assert!(Children::of(pid).is_none());
        assert!(Children::of(-1).is_none());
        assert!(Children::of(0).is_none());
    }
}
