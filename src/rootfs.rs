//! The container's filesystem: a private mount tree, the rootfs bound onto
//! itself, a fresh `/proc`, a minimal `/dev`, and the switch of root:
//! `pivot_root`, or on an initramfs, a bind over `/` and `chroot`.
//!
//! Runs in the child, before the user namespace exists, so barco still has
//! its capabilities over the new mount namespace. Every path is a static C
//! string relative to the rootfs, which is the working directory from
//! [`bind_and_enter`] on; nothing here allocates, and nothing needs a
//! temporary directory, so a rootfs on a read-only filesystem works.

use crate::error::Stage;
use crate::packed;
use crate::plan::{file_type, Plan};
use crate::spawn::{At, Failure};
use core::ffi::CStr;
use rustix::fs::{fstat, mkdirat, openat, symlinkat, unlinkat, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::{write, Errno};
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, mount, mount_bind, mount_change, mount_remount, move_mount,
    open_tree, unmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MountPropagationFlags, MoveMountFlags,
    OpenTreeFlags, UnmountFlags,
};
use rustix::process::{chdir, chroot, fchdir, pivot_root};

/// How the container's root replaces barco's; decided while planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootSwitch {
    /// `pivot_root(".", ".")` and detach the old root: the usual case.
    Pivot,
    /// barco's `/` is an initramfs, where pivot_root(2) fails: see
    /// [`move_over_initramfs`].
    MoveOverInitramfs,
}

/// Filesystems mounted under `/dev`: (fstype, target, data), in order.
const DEV_MOUNTS: [(&CStr, &CStr, &CStr); 3] = [
    (c"tmpfs", c"dev", c""), // options: see mount_dev
    (c"devpts", c"dev/pts", c"newinstance,ptmxmode=0666,mode=620"),
    (c"tmpfs", c"dev/shm", c"mode=1777,size=65536k"),
];
/// The same, as the error messages name them.
pub const DEV_MOUNT_NAMES: &[u8] = packed::texts!["/dev", "/dev/pts", "/dev/shm"];

/// Device nodes bound from the host's `/dev` (mknod would need a capability
/// the container should not have, and fails in user namespaces).
const DEV_NODES: [(&CStr, &CStr); 6] = [
    (c"/dev/null", c"dev/null"),
    (c"/dev/zero", c"dev/zero"),
    (c"/dev/full", c"dev/full"),
    (c"/dev/random", c"dev/random"),
    (c"/dev/urandom", c"dev/urandom"),
    (c"/dev/tty", c"dev/tty"),
];
pub const DEV_NODE_NAMES: &[u8] =
    packed::texts!["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// Symlinks in `/dev`: (target, link).
const DEV_LINKS: [(&CStr, &CStr); 5] = [
    (c"pts/ptmx", c"dev/ptmx"),
    (c"/proc/self/fd", c"dev/fd"),
    (c"/proc/self/fd/0", c"dev/stdin"),
    (c"/proc/self/fd/1", c"dev/stdout"),
    (c"/proc/self/fd/2", c"dev/stderr"),
];
pub const DEV_LINK_NAMES: &[u8] = packed::texts!["/dev/ptmx", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

/// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)`: nothing we mount
/// from here on propagates back to the host, and the old root can be
/// detached without touching the host's mounts.
pub fn make_private() -> Result<(), Failure> {
    mount_change(c"/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE).at(Stage::MakePrivate)
}

/// Binds the rootfs onto itself, so that it is a mount point (pivot_root
/// needs one), and makes that new mount the working directory. On an
/// initramfs the bind goes straight over `/` instead (see
/// [`move_over_initramfs`]).
///
/// The bind is made with `open_tree(OPEN_TREE_CLONE)` and `move_mount`, not
/// `mount(MS_BIND)`, because the clone's descriptor leads straight to the
/// new mount: a path lookup would not, when the rootfs is `/` itself (a
/// lookup of "/" starts at the process's root, under anything stacked on it).
///
/// The bind is not recursive: the container sees exactly the rootfs's own
/// filesystem, not whatever the host has mounted below it.
pub fn bind_and_enter(plan: &Plan) -> Result<(), Failure> {
    let rootfs = plan.rootfs.as_c_str();
    let tree = open_tree(CWD, rootfs, OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)
        .at(Stage::BindRootfs)?;
    let onto = match plan.root_switch {
        RootSwitch::Pivot => rootfs,
        RootSwitch::MoveOverInitramfs => c"/",
    };
    move_mount(&tree, c"", CWD, onto, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH).at(Stage::BindRootfs)?;
    fchdir(&tree).at(Stage::EnterRootfs)
}

/// Mounts a new `fstype` filesystem on the rootfs's directory `dir`, never
/// through a symlink: the rootfs is not barco's, and a `proc -> /` there
/// must not put the mount on the host (runc's CVE-2025-31133 and kin). The
/// target is opened with `O_PATH | O_NOFOLLOW | O_DIRECTORY`, which fails
/// with ENOTDIR on a symlink, and the mount is attached to that descriptor
/// with the new mount API, so no path is looked up twice.
fn mount_at(dir: &CStr, fstype: &CStr, attrs: MountAttrFlags, options: &[(&CStr, &CStr)]) -> Result<(), Errno> {
    let target =
        openat(CWD, dir, OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    // The mount table's first column, as mount(2) would have it.
    fsconfig_set_string(&fs, c"source", fstype)?;
    for (key, value) in options {
        fsconfig_set_string(&fs, *key, *value)?;
    }
    fsconfig_create(&fs)?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    move_mount(&mnt, c"", &target, c"", flags)
}

const NO_SUID_DEV_EXEC: MountAttrFlags =
    MountAttrFlags::MOUNT_ATTR_NOSUID.union(MountAttrFlags::MOUNT_ATTR_NODEV).union(MountAttrFlags::MOUNT_ATTR_NOEXEC);

/// Files of `/proc` that read as empty in the container: `/dev/null` is
/// bound over them. Paths the kernel lacks are skipped.
const MASKED_FILES: [&CStr; 5] =
    [c"proc/kcore", c"proc/keys", c"proc/timer_list", c"proc/sched_debug", c"proc/latency_stats"];
/// Directories that look empty: a read-only tmpfs over them.
const MASKED_DIRS: [&CStr; 3] = [c"proc/acpi", c"proc/scsi", c"sys/firmware"];
pub const MASKED_NAMES: &[u8] = packed::texts![
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/acpi",
    "/proc/scsi",
    "/sys/firmware",
];
/// Parts of `/proc` that stay visible but read-only.
const READ_ONLY: [&CStr; 5] = [c"proc/sys", c"proc/sysrq-trigger", c"proc/irq", c"proc/bus", c"proc/fs"];
pub const READ_ONLY_NAMES: &[u8] =
    packed::texts!["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"];

/// A fresh `/proc` for the new PID namespace, mounted while the old root is
/// still visible (the kernel's mount_too_revealing check wants that once a
/// user namespace is involved).
pub fn mount_proc() -> Result<(), Failure> {
    mount_at(c"proc", c"proc", NO_SUID_DEV_EXEC, &[]).map_err(|e| symlink_or(e, Stage::MountProc, 0))
}

/// Masks the sensitive parts of the new `/proc`, or makes them read-only,
/// as docker and runc do.
pub fn mask_proc() -> Result<(), Failure> {
    for (i, file) in MASKED_FILES.iter().enumerate() {
        match mount_bind(c"/dev/null", *file) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Failure::new(Stage::MaskPath, i as u16, e)),
        }
    }
    mask_dirs(&MASKED_DIRS[..2], MASKED_FILES.len())?;
    for (i, path) in READ_ONLY.iter().enumerate() {
        match mount_bind(*path, *path) {
            Ok(()) => {}
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(Failure::new(Stage::ReadOnlyPath, i as u16, e)),
        }
        // The bind keeps proc's nosuid, nodev and noexec only if the
        // remount names them again.
        let flags = MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        mount_remount(*path, flags, c"").at_index(Stage::ReadOnlyPath, i)?;
    }
    Ok(())
}

/// A read-only, empty tmpfs over each directory that exists.
fn mask_dirs(dirs: &[&CStr], first_index: usize) -> Result<(), Failure> {
    let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    for (i, dir) in dirs.iter().enumerate() {
        match mount(c"tmpfs", *dir, c"tmpfs", flags, Some(c"mode=555,size=4k")) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Failure::new(Stage::MaskPath, (first_index + i) as u16, e)),
        }
    }
    Ok(())
}

/// `--sys`: a read-only sysfs for the container's network namespace, with
/// `/sys/firmware` masked.
pub fn mount_sys() -> Result<(), Failure> {
    let attrs = NO_SUID_DEV_EXEC.union(MountAttrFlags::MOUNT_ATTR_RDONLY);
    mount_at(c"sys", c"sysfs", attrs, &[]).map_err(|e| symlink_or(e, Stage::MountSys, 2))?;
    mask_dirs(&MASKED_DIRS[2..], MASKED_FILES.len() + 2)
}

/// The rootfs-level mount targets, as errors name them.
pub const TARGET_NAMES: &[u8] = packed::texts!["/proc", "/dev", "/sys"];

/// ENOTDIR from [`mount_at`]'s `O_NOFOLLOW | O_DIRECTORY` open means the
/// rootfs has a symlink (or a file) where a directory belongs.
fn symlink_or(e: Errno, stage: Stage, target: u16) -> Failure {
    if e == Errno::NOTDIR {
        Failure::new(Stage::RootfsSymlink, target, e)
    } else {
        Failure::new(stage, 0, e)
    }
}

/// A tmpfs `/dev` holding the usual nodes bound from the host, a private
/// devpts instance, `/dev/shm`, and the fd links.
pub fn mount_dev() -> Result<(), Failure> {
    let (fstype, target, _) = DEV_MOUNTS[0];
    let options = [(c"mode", c"755"), (c"size", c"64k")];
    let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    mount_at(target, fstype, attrs, &options).map_err(|e| symlink_or(e, Stage::MountDev, 1))?;

    for (i, (host, inside)) in DEV_NODES.iter().enumerate() {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        drop(openat(CWD, *inside, flags, Mode::from_raw_mode(0o666)).at_index(Stage::DevNode, i)?);
        mount_bind(*host, *inside).at_index(Stage::DevNode, i)?;
    }

    // The rest, numbered from 1 by a zip: `enumerate().skip(1)` was 80
    // bytes more of `just tiny`.
    for (i, &(fstype, target, data)) in (1..).zip(&DEV_MOUNTS[1..]) {
        mkdirat(CWD, target, Mode::from_raw_mode(0o755)).at_index(Stage::MountDev, i)?;
        let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
        mount(fstype, target, fstype, flags, Some(data)).at_index(Stage::MountDev, i)?;
    }

    for (i, (target, link)) in DEV_LINKS.iter().enumerate() {
        symlinkat(*target, CWD, *link).at_index(Stage::DevLink, i)?;
    }
    Ok(())
}

/// A file barco writes for the container and binds over the rootfs's own,
/// which stays untouched: `/etc/hosts` or `/etc/hostname`.
pub struct EtcFile {
    /// Its entry in [`ETC_FILE_NAMES`], for the error line.
    index: u16,
    /// In the rootfs's `etc`.
    name: &'static CStr,
    /// Where it is written first: barco's own `/dev` tmpfs. It is unlinked
    /// once bound, so it shows only where it is bound.
    scratch: &'static CStr,
    /// Its contents, leaked as the plan is (see `plan::leak`): nothing for
    /// planning to drop.
    text: &'static [u8],
}

/// The files as error messages name them, by index.
pub const ETC_FILE_NAMES: &[u8] = packed::texts!["/etc/hosts", "/etc/hostname"];

/// Plans `/etc/hosts` and `/etc/hostname` for the container, for the
/// targets the rootfs has as regular files (not symlinks): a bind mount
/// needs its target, and barco does not create files in the rootfs.
pub fn etc_files(rootfs: &std::path::Path, hostname: &str, address: &str) -> Vec<EtcFile> {
    let hosts = format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n");
    let files: [(_, _, &'static [u8]); 2] = [
        (c"hosts", c"dev/.barco-hosts", hosts.into_bytes().leak()),
        (c"hostname", c"dev/.barco-hostname", format!("{hostname}\n").into_bytes().leak()),
    ];
    let regular = |name: &CStr| {
        let etc = rootfs.join("etc");
        // The name's bytes as they are: no UTF-8 check (which they pass).
        let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes());
        file_type(&etc) == Some(FileType::Directory) && file_type(&etc.join(name)) == Some(FileType::RegularFile)
    };
    let mut planned = Vec::new();
    // Walked by reference: by value, the table was copied first.
    for (index, &(name, scratch, text)) in (0..).zip(&files) {
        if regular(name) {
            planned.push(EtcFile { index, name, scratch, text });
        } else {
            crate::log::debug!("the rootfs has no regular file /etc/{}: not binding one", name.to_string_lossy());
        }
    }
    planned
}

/// Writes each planned file into `/dev` (a tmpfs barco just mounted) and
/// binds it over the rootfs's own. The target is opened beneath `etc`
/// with `O_PATH | O_NOFOLLOW` and must still be a regular file, so a
/// symlink swapped in since planning is refused, not followed.
pub fn bind_etc_files(files: &[EtcFile]) -> Result<(), Failure> {
    for f in files {
        bind_etc_file(f).map_err(|e| Failure::new(Stage::EtcFile, f.index, e))?;
    }
    Ok(())
}

/// One of [`bind_etc_files`]: its errno, given the file's index there
/// once, not at each step.
fn bind_etc_file(f: &EtcFile) -> Result<(), Errno> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(CWD, f.scratch, flags, Mode::from_raw_mode(0o644))?;
    if write(&fd, f.text)? != f.text.len() {
        return Err(Errno::IO);
    }
    drop(fd);
    let path = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let etc = openat(CWD, c"etc", path | OFlags::DIRECTORY, Mode::empty())?;
    let target = openat(&etc, f.name, path, Mode::empty())?;
    if fstat(&target)?.st_mode & 0o170000 != 0o100000 {
        return Err(Errno::INVAL);
    }
    let tree = open_tree(CWD, f.scratch, OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)?;
    let both = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    move_mount(&tree, c"", &target, c"", both)?;
    unlinkat(CWD, f.scratch, AtFlags::empty())
}

/// Makes the rootfs, now the working directory, the container's `/`.
pub fn switch_root(how: RootSwitch) -> Result<(), Failure> {
    match how {
        RootSwitch::Pivot => pivot(),
        RootSwitch::MoveOverInitramfs => move_over_initramfs(),
    }
}

/// `pivot_root(".", ".")`, then detach the old root that now sits on top.
///
/// Stacking the old root on the new one avoids a `put_old` directory, so the
/// rootfs needs no writable space (see pivot_root(2), "NOTES").
fn pivot() -> Result<(), Failure> {
    pivot_root(c".", c".").at(Stage::PivotRoot)?;
    unmount(c".", UnmountFlags::DETACH).at(Stage::DetachOldRoot)?;
    chdir(c"/").at(Stage::DetachOldRoot)
}

/// The initramfs's `/` is the kernel's "rootfs", the one mount without a
/// parent, and pivot_root(2) refuses to move it (EINVAL). So, much as
/// switch_root(8) does with `MS_MOVE`, barco mounts the container's rootfs
/// right over `/` ([`bind_and_enter`]) and then `chroot`s into it, the
/// working directory. This confines the container as well as pivot_root
/// does:
///
/// - The initramfs's own files lie under the container's mount. A path walk
///   that reaches the initramfs's `/` steps straight down into the mount on
///   top of it, so no path names them.
/// - The classic chroot escape (chroot into a subdirectory, then climb with
///   `..` from a working directory left outside the new root) climbs from
///   the top of the container's mount to where it is mounted: the root of a
///   mount that has no parent. There the walk stops (`choose_mountpoint` in
///   fs/namei.c), so `..` never leaves the container's mount.
/// - The kernel agrees that this is no chroot: it refuses a new user
///   namespace to a chrooted process (`current_chrooted` in
///   fs/namespace.c, EPERM), and compares the root with the topmost mount
///   on the namespace's root, which is the container's. A plain chroot into
///   the rootfs fails right there, at `unshare(CLONE_NEWUSER)`. (So here
///   the child unshares its user namespace itself, rather than joining one
///   made ahead with `setns`, which has no such check: see
///   `Plan::user_ns_ahead`.)
/// - Nothing in the container can unmount or move that mount: the mount
///   namespace belongs to the host's user namespace (see `child`).
/// - The initramfs stays mounted beneath; nothing in the container holds a
///   descriptor or working directory in it (all fds above 2 are closed).
fn move_over_initramfs() -> Result<(), Failure> {
    chroot(c".").at(Stage::Chroot)?;
    chdir(c"/").at(Stage::Chroot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_and_read_only_tables_agree() {
        let masked: Vec<&CStr> = MASKED_FILES.iter().chain(&MASKED_DIRS).copied().collect();
        assert_eq!(masked.len(), packed::all(MASKED_NAMES).len());
        for (p, n) in masked.iter().zip(packed::all(MASKED_NAMES)) {
            assert_eq!(format!("/{}", p.to_str().unwrap()), n);
        }
        for (p, n) in READ_ONLY.iter().zip(packed::all(READ_ONLY_NAMES)) {
            assert_eq!(format!("/{}", p.to_str().unwrap()), n);
        }
        assert_eq!(MASKED_DIRS[2], c"sys/firmware", "mount_sys masks index 7");
    }

    #[test]
    fn tables_and_their_names_agree() {
        assert_eq!(DEV_MOUNTS.len(), packed::all(DEV_MOUNT_NAMES).len());
        assert_eq!(DEV_NODES.len(), packed::all(DEV_NODE_NAMES).len());
        assert_eq!(DEV_LINKS.len(), packed::all(DEV_LINK_NAMES).len());
        for ((_, t, _), n) in DEV_MOUNTS.iter().zip(packed::all(DEV_MOUNT_NAMES)) {
            assert_eq!(format!("/{}", t.to_str().unwrap()), n);
        }
        for ((_, t), n) in DEV_NODES.iter().zip(packed::all(DEV_NODE_NAMES)) {
            assert_eq!(format!("/{}", t.to_str().unwrap()), n);
        }
        for ((_, t), n) in DEV_LINKS.iter().zip(packed::all(DEV_LINK_NAMES)) {
            assert_eq!(format!("/{}", t.to_str().unwrap()), n);
        }
    }
}
