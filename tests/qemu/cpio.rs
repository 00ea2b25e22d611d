//! A `newc` cpio writer, the format the kernel unpacks as an initramfs
//! (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Writing the archive ourselves means device nodes such as `/dev/console`
//! are just headers: no mknod, no root, no cpio(1) on the machine.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// An archive being written in memory. Entries must come parents first.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_ino: u32,
}

impl Archive {
    pub fn new() -> Archive {
        Archive { bytes: Vec::new(), next_ino: 1 }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = name.trim_start_matches('/');
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields =
            [self.next_ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.next_ino += 1;
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.bytes.len() % 4 != 0 {
            self.bytes.push(0);
        }
    }

    pub fn dir(&mut self, path: &str, perm: u32) -> &mut Self {
        self.entry(path, S_IFDIR | perm, (0, 0), &[]);
        self
    }

    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> &mut Self {
        self.entry(path, S_IFREG | perm, (0, 0), data);
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, S_IFLNK | 0o777, (0, 0), target.as_bytes());
        self
    }

    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> &mut Self {
        self.entry(path, S_IFCHR | perm, (major, minor), &[]);
        self
    }

    /// Adds `host_dir`'s tree under `path` (which is added too): directories,
    /// regular files and symlinks, with their permission bits.
    pub fn tree(&mut self, path: &str, host_dir: &Path) -> &mut Self {
        let meta = std::fs::metadata(host_dir).unwrap_or_else(|e| panic!("{}: {e}", host_dir.display()));
        self.dir(path, meta.permissions().mode() & 0o7777);
        let mut entries: Vec<_> = std::fs::read_dir(host_dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{path}/{}", e.file_name().to_string_lossy());
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let perm = meta.mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                self.symlink(&name, &target.to_string_lossy());
            } else if meta.is_dir() {
                self.tree(&name, &e.path());
            } else if meta.is_file() {
                self.file(&name, perm, &std::fs::read(e.path()).unwrap());
            }
        }
        self
    }

    /// Ends the archive with its trailer and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_and_padding() {
        let mut a = Archive::new();
        a.dir("/dev", 0o755).char_device("dev/console", 0o600, 5, 1).file("init", 0o755, b"abc");
        let bytes = a.finish();
        assert_eq!(&bytes[..6], b"070701");
        // ino 1, mode dir|755, uid, gid, nlink 2, mtime, size 0 ...
        assert_eq!(&bytes[6..22], b"00000001000041ed");
        assert_eq!(&bytes[110..114], b"dev\0");
        assert_eq!(bytes.len() % 4, 0);
        let console = bytes.windows(11).position(|w| w == b"dev/console").unwrap();
        let header = &bytes[console - 110..console];
        assert_eq!(&header[14..22], b"00002180", "character device, mode 600");
        assert_eq!(&header[78..94], b"0000000500000001", "rdev 5:1");
        assert!(bytes.windows(11).any(|w| w == b"TRAILER!!!\0"));
    }
}
