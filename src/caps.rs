//! Capabilities: which ones the container keeps (pure, decided while
//! planning) and dropping the rest (in the child, inside the container's
//! user namespace).
//!
//! By default barco drops the seed's twenty from the bounding set, so no
//! process in the container can ever regain them, even through a setuid or
//! file-capability binary. The inheritable and ambient sets are cleared;
//! effective and permitted become what the bounding set keeps for uid 0,
//! and nothing for any other uid.
//!
//! # References
//! - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)

use crate::error::Stage;
use crate::packed;
use crate::spawn::{At, Failure};
use rustix::io::Errno;
use rustix::thread::{
    clear_ambient_capability_set, remove_capability_from_bounding_set, set_capabilities, CapabilitySet, CapabilitySets,
};

/// Capability names by number (include/uapi/linux/capability.h), without
/// the `CAP_` prefix.
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// [`NAMES`] packed (see `packed`): the binary has only this copy.
pub const NAMES_PACKED: &[u8] = &{
    const PACKED: [u8; packed::len(&NAMES)] = packed::pack(&NAMES);
    PACKED
};

/// The seed's twenty, dropped by default.
pub const SEED_DROPS: [&str; 20] = [
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "DAC_READ_SEARCH",
    "FSETID",
    "IPC_LOCK",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "SETFCAP",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "WAKE_ALARM",
];

/// Every capability barco knows.
pub const ALL: u64 = (1 << NAMES.len()) - 1;

/// What the container keeps by default: all but the seed's twenty. Worked
/// out at compile time: the names of [`SEED_DROPS`], looked up in
/// [`NAMES`] at run time, were 0.4 KB of `just tiny`.
const DEFAULT_KEPT: u64 = {
    let (mut kept, mut i) = (ALL, 0);
    while i < SEED_DROPS.len() {
        kept &= !(1 << number(SEED_DROPS[i]));
        i += 1;
    }
    kept
};

/// `name`'s number, for a constant: a name not in [`NAMES`] fails the build.
const fn number(name: &str) -> usize {
    match packed::index(&NAMES, name) {
        Some(n) => n,
        None => panic!("not a capability name"),
    }
}

/// A `--cap-add`/`--cap-drop` value: `all`, or one capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    All,
    One(u8),
}

/// Parses `CAP_NET_RAW`, `net_raw` or `all`, in any case.
pub fn parse(name: &str) -> Option<Cap> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Some(Cap::All);
    }
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    packed::position(NAMES_PACKED, bare).map(|i| Cap::One(i as u8))
}

/// The set the container keeps: the default minus the seed's twenty, then
/// `all` in either list, then single additions, then single drops (docker's
/// order: `--cap-drop all --cap-add X` keeps only X).
pub fn kept(add: &[Cap], drop: &[Cap]) -> u64 {
    let mut kept = DEFAULT_KEPT;
    if drop.contains(&Cap::All) {
        kept = 0;
    }
    if add.contains(&Cap::All) {
        kept = ALL;
    }
    for c in add {
        if let Cap::One(n) = c {
            kept |= 1 << n;
        }
    }
    for c in drop {
        if let Cap::One(n) = c {
            kept &= !(1 << n);
        }
    }
    kept
}

/// Drops every capability not in `kept` from the bounding set, up to the
/// kernel's last (a number above it gives EINVAL, which ends the loop), and
/// clears the ambient set. Needs CAP_SETPCAP: run it as root of the user
/// namespace, before the uid switch.
pub fn drop_bounding(kept: u64) -> Result<(), Failure> {
    for n in 0..64u32 {
        if kept & 1 << n != 0 {
            continue;
        }
        match remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(1 << n)) {
            Ok(()) => {}
            Err(Errno::INVAL) => break,
            Err(e) => return Err(Failure::new(Stage::CapBounding, n as u16, e)),
        }
    }
    clear_ambient_capability_set().at(Stage::CapAmbient)
}

/// `capset`: effective and permitted become `kept` (nothing for a non-zero
/// uid), inheritable becomes empty.
pub fn set(kept: u64, uid: u32) -> Result<(), Failure> {
    let mine = if uid == 0 { CapabilitySet::from_bits_retain(kept) } else { CapabilitySet::empty() };
    let sets = CapabilitySets { effective: mine, permitted: mine, inheritable: CapabilitySet::empty() };
    set_capabilities(None, sets).at(Stage::CapSet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str) -> Cap {
        parse(name).unwrap()
    }

    #[test]
    fn numbers_are_the_kernels() {
        use linux_raw_sys::general as k;
        assert_eq!(NAMES.len() as u32, k::CAP_LAST_CAP + 1);
        for (name, n) in
            [("NET_RAW", k::CAP_NET_RAW), ("SYS_ADMIN", k::CAP_SYS_ADMIN), ("AUDIT_READ", k::CAP_AUDIT_READ)]
        {
            assert_eq!(NAMES[n as usize], name);
        }
    }

    #[test]
    fn names_unpack() {
        assert_eq!(packed::all(NAMES_PACKED), NAMES);
        for (n, name) in NAMES.iter().enumerate() {
            assert_eq!(parse(name), Some(Cap::One(n as u8)));
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse("CAP_NET_RAW"), Some(Cap::One(13)));
        assert_eq!(parse("net_raw"), Some(Cap::One(13)));
        assert_eq!(parse("Sys_Admin"), Some(Cap::One(21)));
        assert_eq!(parse("all"), Some(Cap::All));
        assert_eq!(parse("CAP_CHECKPOINT_RESTORE"), Some(Cap::One(40)));
        assert_eq!(parse("net_rawr"), None);
        assert_eq!(parse("CAP_"), None);
    }

    #[test]
    fn default_drops_the_seeds_twenty() {
        let k = kept(&[], &[]);
        assert_eq!(k.count_ones(), 41 - 20);
        assert_eq!(k & 1 << 21, 0, "SYS_ADMIN");
        assert_eq!(k & 1 << 27, 0, "MKNOD");
        assert_ne!(k & 1 << 13, 0, "NET_RAW kept");
        assert_ne!(k & 1 << 18, 0, "SYS_CHROOT kept");
        // The same number the probe checks in CapBnd.
        assert_eq!(k, 0x0000_01c0_141c_bfeb);
    }

    #[test]
    fn add_and_drop() {
        assert_eq!(kept(&[], &[Cap::All]), 0);
        assert_eq!(kept(&[Cap::All], &[]), ALL);
        assert_eq!(kept(&[one("net_raw")], &[Cap::All]), 1 << 13);
        assert_eq!(kept(&[Cap::All], &[one("sys_admin")]), ALL & !(1 << 21));
        let k = kept(&[one("sys_admin")], &[one("chown")]);
        assert_ne!(k & 1 << 21, 0);
        assert_eq!(k & 1, 0);
    }
}
