//! A small bridge process for the demo and the tests (`keeper-tui bridge`,
//! hidden): it writes its pid, the version it runs and a heartbeat, honours
//! a restart marker by re-executing itself, and can be made to hang (while
//! a hang file exists) or to ignore SIGTERM, so a heal can be watched.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::BridgeArgs;
use crate::error::{Error, Result};

pub struct Files {
    pub pid: PathBuf,
    pub heartbeat: PathBuf,
    pub version: PathBuf,
    pub marker: PathBuf,
    pub hang: PathBuf,
}

impl Files {
    pub fn in_dir(dir: &Path) -> Self {
        Files {
            pid: dir.join("bridge.pid"),
            heartbeat: dir.join("bridge.heartbeat"),
            version: dir.join("bridge.version"),
            marker: dir.join("bridge.restart"),
            hang: dir.join("bridge.hang"),
        }
    }
}

fn io(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io(format!("bridge: cannot {what} {}: {e}", path.display()))
}

/// The version this bridge runs: a repository's HEAD at start, or the
/// given text.
fn version(a: &BridgeArgs) -> String {
    if let Some(repo) = &a.version_repo {
        let repo = repo.display().to_string();
        return crate::sys::command::run(
            &["git", "-C", &repo, "rev-parse", "HEAD"],
            None,
            Duration::from_secs(2),
        )
        .stdout_if_ok()
        .unwrap_or_else(|| "unknown".into());
    }
    a.version.clone().unwrap_or_else(|| "unknown".into())
}

pub fn run(a: &BridgeArgs) -> Result<()> {
    let files = Files::in_dir(&a.dir);
    // A freshly started bridge is not hung, whatever the last one was.
    let _ = std::fs::remove_file(&files.hang);
    std::fs::write(&files.pid, format!("{}\n", std::process::id()))
        .map_err(|e| io("write", &files.pid, &e))?;
    std::fs::write(&files.version, format!("{}\n", version(a)))
        .map_err(|e| io("write", &files.version, &e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("bridge: no runtime: {e}")))?;
    rt.block_on(async {
        // With a handler installed, SIGTERM no longer ends the process.
        let _ignore = if a.ignore_sigterm {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
        } else {
            None
        };
        let every = Duration::from_millis(a.heartbeat_ms.max(10));
        loop {
            // A hung bridge does nothing at all: no heartbeat, no restart.
            if files.hang.exists() {
                tokio::time::sleep(every).await;
                continue;
            }
            if files.marker.exists() {
                let _ = std::fs::remove_file(&files.marker);
                // Cooperative restart: same pid, fresh code and version.
                let err = std::process::Command::new(
                    std::env::current_exe().unwrap_or_else(|_| "keeper-tui".into()),
                )
                .args(std::env::args_os().skip(1))
                .exec();
                return Err(Error::Io(format!("bridge: restart failed: {err}")));
            }
            {
                let now = crate::store::now_unix();
                std::fs::write(&files.heartbeat, format!("{now}\n"))
                    .map_err(|e| io("write", &files.heartbeat, &e))?;
            }
            tokio::time::sleep(every).await;
        }
    })
}
