//! The container's network: a new network namespace with its loopback up
//! (`--net none`, the default), or the host's (`--net host`).
//!
//! The seed left `lo` down. barco brings it up over rtnetlink, with one
//! hand-built `RTM_NEWLINK` request in a stack buffer, and opens
//! `net.ipv4.ping_group_range` in the new namespace, as docker does, so that
//! `ping` works for container root without CAP_NET_RAW (which it lacks over
//! a network namespace owned by the host's user namespace). Runs in the
//! child, as real root in the new namespace, before the user namespace.
//!
//! # References
//! - [rtnetlink(7)](https://man7.org/linux/man-pages/man7/rtnetlink.7.html)
//! - [netlink(7)](https://man7.org/linux/man-pages/man7/netlink.7.html)

use crate::error::Stage;
use crate::spawn::{At, Failure};
use rustix::fs::{open, Mode, OFlags};
use rustix::io::{write, Errno};
use rustix::net::{recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `--net`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetMode {
    /// A network namespace of its own, with only `lo`, up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFF_UP: u32 = 1;
const IFLA_IFNAME: u16 = 3;

/// `RTM_NEWLINK` for `lo` with IFF_UP: an `nlmsghdr` (16 bytes), an
/// `ifinfomsg` (16 bytes) with index 0, and an `IFLA_IFNAME` attribute
/// naming the link (4 + 3 bytes, padded to 8).
fn link_up_request(name: &[u8; 3]) -> [u8; 40] {
    let mut m = [0u8; 40];
    m[0..4].copy_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
    m[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes()); // nlmsg_type
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
                                                   // ifinfomsg: family AF_UNSPEC, type 0, index 0 (by name), flags, change.
    m[24..28].copy_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    m[28..32].copy_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    m[32..34].copy_from_slice(&7u16.to_ne_bytes()); // rta_len
    m[34..36].copy_from_slice(&IFLA_IFNAME.to_ne_bytes());
    m[36..39].copy_from_slice(name);
    m
}

/// The errno of an `NLMSG_ERROR` acknowledgement: 0 for success.
fn ack_errno(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let error = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    Some(-error)
}

/// Brings `lo` up and lets every group ping. No heap.
pub fn loopback_up() -> Result<(), Failure> {
    // Protocol None is NETLINK_ROUTE (0).
    let fd = socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, None).at(Stage::Loopback)?;
    send(&fd, &link_up_request(b"lo\0"), SendFlags::empty()).at(Stage::Loopback)?;
    let mut reply = [0u8; 128];
    let (n, _) = recv(&fd, &mut reply, RecvFlags::empty()).at(Stage::Loopback)?;
    match ack_errno(&reply[..n]) {
        Some(0) => {}
        Some(e) => return Err(Failure::new(Stage::Loopback, 0, Errno::from_raw_os_error(e))),
        None => return Err(Failure::new(Stage::Loopback, 0, Errno::PROTO)),
    }
    // /proc/sys/net shows the writer's network namespace: this is ours.
    let ping = open(c"/proc/sys/net/ipv4/ping_group_range", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .at_index(Stage::Loopback, 1)?;
    write(&ping, b"0 2147483647").at_index(Stage::Loopback, 1).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = link_up_request(b"lo\0");
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(&m[36..39], b"lo\0");
        assert_eq!(m[39], 0, "padding");
        let mut ack = [0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-19i32).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(19), "ENODEV");
        assert_eq!(ack_errno(&[0u8; 8]), None);
    }
}
