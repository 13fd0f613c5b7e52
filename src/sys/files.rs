//! Reading files that other programs write (pid files, version stamps,
//! heartbeats, the config, the store) without trusting what is at the
//! path: a FIFO there would block an open or a read forever, a device or
//! a huge file would never end. Only regular files are read, the check
//! never blocks, and reads are bounded.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What is at a path that is not a regular file, in words.
pub fn kind(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// `Err` naming what is there when `path` exists and is not a regular
/// file (`stat` follows links and never blocks); `Ok` when it is one or
/// when there is nothing there.
pub fn check_regular(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {}, not a regular file", path.display(), kind(&m)),
        )),
        _ => Ok(()),
    }
}

/// Open `path` for reading only if it is a regular file. `O_NONBLOCK`
/// keeps the open itself from waiting for a FIFO's writer if the path is
/// swapped between a check and the open; the type is checked on the open
/// file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    check_regular(path)?;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {}, not a regular file", path.display(), kind(&m)),
        ));
    }
    Ok(f)
}

/// The first `limit` bytes of a regular file, as text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let mut buf = Vec::new();
    open_regular(path)?.take(limit).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pid");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_text(&fifo, 64).unwrap_err();
        assert!(
            e.to_string()
                .contains("is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let e = read_text(dir.path(), 64).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let file = dir.path().join("f");
        std::fs::write(&file, "12345\n").unwrap();
        assert_eq!(read_text(&file, 3).unwrap(), "123");
        assert_eq!(
            read_text(&dir.path().join("missing"), 3)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }
}
