//! The container's network: a new network namespace with its loopback up
//! (`--net none`, the default), the host's (`--net host`), or a new one
//! with a veth link to the host (`--net veth`).
//!
//! Everything is said over rtnetlink in messages built by hand, while
//! planning, with linux-raw-sys's constants: no `ip` binary, no netlink
//! crate.
//!
//! - **The network builder** (`spawn::Builder`: real root in the new
//!   namespace, which it hands to the child) or, when barco does without
//!   it (rootless, or with no CPU to spare), the child sends one batch:
//!   `lo` up, and for veth the pair (`eth0` here, its peer made straight
//!   in the host's namespace through `IFLA_NET_NS_FD`), eth0's address,
//!   eth0 up, and the default route via the host end. Each message is
//!   acked; the first error is reported.
//!   It also opens `net.ipv4.ping_group_range`, as docker does, so that
//!   `ping` works for container root without CAP_NET_RAW (which it lacks
//!   over a network namespace owned by the host's user namespace).
//! - **The supervisor** gives the host end its address and brings it up when
//!   the child asks for its id maps (the pair exists by then), and deletes
//!   it after the container's end, if the pair is known to be barco's: the
//!   builder's exit status says so, or the child got past its network
//!   step (its request for the maps, or a failure after the step; a failed
//!   create means the name is someone else's). A builder killed by a signal
//!   after it made the pair, with a child that then fails before asking for
//!   its maps, leaves barco not knowing, and its pair to the kernel. The
//!   kernel would delete it too, with the
//!   namespace, but namespace teardown is deferred to a workqueue: deleting
//!   it ourselves means it is gone when barco exits.
//! - **Addresses.** `--ip HOST/PREFIX` gives the host end HOST and the
//!   container the first other host address of the subnet. Without it,
//!   barco takes a /30 of [`POOL`], starting from its pid. Either way the
//!   subnet is locked for the container's life by binding an abstract unix
//!   socket named after it (the kernel frees it when barco exits, so no lock
//!   file can be left behind), and the host's routing table is asked
//!   whether either address is already reachable without a gateway.
//!
//! # References
//! - [rtnetlink(7)](https://man7.org/linux/man-pages/man7/rtnetlink.7.html)
//! - [netlink(7)](https://man7.org/linux/man-pages/man7/netlink.7.html)
//! - [veth(4)](https://man7.org/linux/man-pages/man4/veth.4.html)

use crate::error::{Error, Stage};
use crate::log::dec;
use crate::spawn::{At, Failure};
use core::cell::Cell;
use linux_raw_sys::netlink as nl;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{open, Mode, OFlags};
use rustix::io::{write, Errno};
use rustix::net::{
    bind, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// `--net`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetMode {
    /// A network namespace of its own, with only `lo`, up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace of its own, with `lo` and `eth0`, a veth link to
    /// the host.
    Veth,
}

/// Where default addresses come from: a /30 each, 16384 of them.
pub const POOL: Cidr = Cidr { addr: [10, 200, 0, 0], prefix: 16 };
/// How many /30s of the pool to try before giving up.
const POOL_TRIES: u32 = 64;
/// The container's end of the veth pair, and the index it asks for: in a
/// new namespace only `lo` (1) exists.
const ETH0: &[u8] = b"eth0\0";
const ETH0_INDEX: u32 = 2;
/// linux/veth.h, which linux-raw-sys does not carry.
const VETH_INFO_PEER: u16 = 1;
/// linux/if.h.
const IFF_UP: u32 = 1;
/// linux/rtnetlink.h: answer with the matching table entry.
const RTM_F_FIB_MATCH: u32 = 0x2000;
/// linux/socket.h.
const AF_INET: u8 = 2;
/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// An IPv4 address and prefix length, as `--ip` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: [u8; 4],
    pub prefix: u8,
}

impl Cidr {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn network(self) -> u32 {
        u32::from_be_bytes(self.addr) & self.mask()
    }

    /// The host end's address and the container's: for a /31 the other of
    /// the two, otherwise the first host address of the subnet that is not
    /// the host end's.
    pub fn ends(self) -> Result<Ends, String> {
        let me = u32::from_be_bytes(self.addr);
        let net = self.network();
        if self.prefix == 31 {
            return Ok((self.addr, (me ^ 1).to_be_bytes()));
        }
        let broadcast = net | !self.mask();
        // One format for either refusal, made only for one.
        let why = if me == net {
            "that is the subnet's network address; give the host end's address"
        } else if me == broadcast {
            "that is the subnet's broadcast address"
        } else {
            let peer = if me == net + 1 { net + 2 } else { net + 1 };
            return Ok((self.addr, peer.to_be_bytes()));
        };
        Err(format!("--ip {self}: {why}"))
    }
}

impl core::fmt::Display for Cidr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", Dotted(self.addr), dec(self.prefix))
    }
}

/// An IPv4 address, shown dotted: one argument to format where its four
/// bytes were four, at each of the five places that show one.
struct Dotted([u8; 4]);

impl core::fmt::Display for Dotted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{}.{}.{}.{}", dec(a), dec(b), dec(c), dec(d))
    }
}

/// Parses `--ip`: dotted-quad IPv4 with a prefix length from 8 to 31.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    // One message for every way it can be wrong: one copy of the format.
    let parse = || {
        let (addr, prefix) = s.split_once('/').ok_or("not ADDRESS/PREFIX (for example 10.1.2.1/30)")?;
        let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| "not an IPv4 address (IPv6 is not supported)")?;
        let prefix: u8 = crate::cli::parse_int(prefix).ok_or("the prefix length is not a number")?;
        if !(8..=31).contains(&prefix) {
            return Err("the prefix length must be 8 to 31 (a link needs two addresses)");
        }
        Ok(Cidr { addr: addr.octets(), prefix })
    };
    let cidr = parse().map_err(|why| format!("--ip '{s}': {why}"))?;
    cidr.ends()?;
    Ok(cidr)
}

/// The network, as planned: what the network builder (rootless, the child)
/// sends, and the veth link.
pub struct Network {
    pub mode: NetMode,
    /// Requests sent in one batch, with sequence numbers 1, 2...
    requests: Vec<u8>,
    /// What each request does, for the error line (index = sequence - 1).
    /// These strings, like the plan that holds them, live for the whole run
    /// (see `plan::leak`).
    pub steps: Vec<&'static str>,
    /// Boxed: a Network this size is moved with fewer copies (0.1 KB of
    /// `just tiny`).
    pub veth: Option<Box<Veth>>,
    /// The address `/etc/hosts` gives the hostname.
    pub hosts_address: &'static str,
    /// What is written to `net.ipv4.ping_group_range`.
    ping_range: Vec<u8>,
}

/// A veth link to the host, as planned.
pub struct Veth {
    /// The host end's name, and the addresses.
    pub host_end: String,
    pub host: Cidr,
    pub container: [u8; 4],
    /// The host's network namespace, for the peer's `IFLA_NET_NS_FD`: its
    /// number is in the builder's request, so it stays open until then.
    _host_ns: OwnedFd,
    /// The bound abstract socket that locks the subnet.
    _lock: OwnedFd,
    getlink: Vec<u8>,
    /// Learned from RTM_GETLINK once the pair exists.
    host_index: Cell<u32>,
    /// The network builder made the pair, so it is ours.
    made: Cell<bool>,
    /// Whole error lines for the likely failures, made now.
    pub taken: &'static str,
    pub no_driver: &'static str,
    pub host_setup_subject: &'static str,
}

impl Network {
    /// Plans `mode`; for veth, takes a subnet (`ip`, or one of [`POOL`])
    /// and the host end's name, `bc-NAME`.
    /// `ping_groups`: the gids `ping_group_range` opens, which must all be
    /// mapped in the container's user namespace.
    /// Not inlined into `Plan::new`, which it made 0.3 KB bigger in `just
    /// tiny` than it is alone.
    #[inline(never)]
    pub fn plan(
        mode: NetMode,
        ip: Option<Cidr>,
        name: &str,
        pid: u32,
        ping_groups: (u32, u32),
    ) -> Result<Network, Error> {
        if ip.is_some() && mode != NetMode::Veth {
            return Err(Error::usage("--ip needs --net veth"));
        }
        let mut requests = Batch::default();
        let mut steps = Vec::new();
        let ping_range = format!("{} {}", dec(ping_groups.0), dec(ping_groups.1)).into_bytes();
        if mode != NetMode::Host {
            let lo = [(nl::IFLA_IFNAME as u16, &b"lo\0"[..])];
            requests.request(nl::RTM_NEWLINK as u16, ACK, 1, &ifinfomsg(0, IFF_UP, IFF_UP), &lo);
            steps.push("bringing lo up");
        }
        if mode != NetMode::Veth {
            let requests = requests.0;
            return Ok(Network { mode, requests, steps, veth: None, hosts_address: "127.0.1.1", ping_range });
        }

        let host_end = format!("bc-{name}");
        if host_end.len() > IFNAME_MAX {
            return Err(Error::usage(format!(
                "--net veth: the host end's name '{host_end}' is longer than {} bytes; choose a shorter --name",
                dec(IFNAME_MAX)
            )));
        }
        let mut ifname = host_end.clone().into_bytes();
        ifname.push(0);
        let host_ns = open(c"/proc/self/ns/net", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::os(Stage::Network, "opening /proc/self/ns/net", e))?;
        let (host, lock, (host_ip, container)) = pick(ip, pid)?;
        let c = Cidr { addr: container, prefix: host.prefix };

        let ns_fd = rustix::fd::AsRawFd::as_raw_fd(&host_ns) as u32;
        let r = &mut requests;
        let m = r.message(nl::RTM_NEWLINK as u16, CREATE_FLAGS, 2, &ifinfomsg(ETH0_INDEX, 0, 0));
        r.attr(nl::IFLA_IFNAME as u16, ETH0);
        let info = r.nest(nl::IFLA_LINKINFO as u16);
        r.attr(nl::IFLA_INFO_KIND as u16, b"veth\0");
        let data = r.nest(nl::IFLA_INFO_DATA as u16);
        let peer = r.nest(VETH_INFO_PEER);
        r.0.extend_from_slice(&ifinfomsg(0, 0, 0));
        r.attr(nl::IFLA_IFNAME as u16, &ifname);
        r.attr(nl::IFLA_NET_NS_FD as u16, &ns_fd.to_ne_bytes());
        r.end_nest(peer);
        r.end_nest(data);
        r.end_nest(info);
        r.end_message(m);
        steps.push(format!("creating the veth pair {host_end} (host) and eth0 (container)").leak());
        r.address_message(3, c, ETH0_INDEX);
        steps.push(format!("adding {c} to eth0").leak());
        r.request(nl::RTM_NEWLINK as u16, ACK, 4, &ifinfomsg(ETH0_INDEX, IFF_UP, IFF_UP), &[]);
        steps.push("bringing eth0 up");
        let route = rtmsg(0, nl::RTN_UNICAST as u8, nl::rt_scope_t::RT_SCOPE_UNIVERSE as u8);
        let via = [
            (nl::rtattr_type_t::RTA_GATEWAY as u16, &host_ip[..]),
            (nl::rtattr_type_t::RTA_OIF as u16, &ETH0_INDEX.to_ne_bytes()),
        ];
        r.request(nl::RTM_NEWROUTE as u16, CREATE_FLAGS, 5, &route, &via);
        steps.push(format!("adding the default route via {}", Dotted(host_ip)).leak());

        // The supervisor's RTM_GETLINK of the host end, by name, for its index
        // (DELLINK and HOST_SETUP, made at compile time, are filled with it).
        let mut getlink = Batch::default();
        let by_name = [(nl::IFLA_IFNAME as u16, &ifname[..])];
        getlink.request(nl::RTM_GETLINK as u16, 0, 1, &ifinfomsg(0, 0, 0), &by_name);
        Ok(Network {
            mode,
            requests: requests.0,
            steps,
            ping_range,
            hosts_address: Dotted(container).to_string().leak(),
            veth: Some(Box::new(Veth {
                taken: format!(
                    "--net veth: the host already has an interface named '{host_end}'; choose another --name"
                )
                .leak(),
                no_driver: "--net veth: the kernel has no veth driver (load the veth module: modprobe veth)",
                host_setup_subject: format!("{host_end} (the host end): adding {host}, up").leak(),
                host_end,
                host,
                container,
                _host_ns: host_ns,
                _lock: lock,
                getlink: getlink.0,
                host_index: Cell::new(0),
                made: Cell::new(false),
            })),
        })
    }

    /// In the new namespace's first process (barco's network builder, or
    /// the child without one): sends the batch on `fd`, a socket from
    /// [`socket`], checks every ack, and opens ping_group_range. No heap.
    pub fn configure(&self, fd: &OwnedFd) -> Result<(), Failure> {
        send(fd, &self.requests, SendFlags::empty()).at(Stage::Network)?;
        let count = self.steps.len() as u32;
        if let Err((seq, e)) = acks(fd, count) {
            return Err(Failure::new(Stage::Network, (seq.max(1) - 1) as u16, e));
        }
        // /proc/sys/net shows the opener's network namespace: this is ours.
        let ping = open(c"/proc/sys/net/ipv4/ping_group_range", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| self.failure(Past::PingRange, e))?;
        write(&ping, &self.ping_range).map_err(|e| self.failure(Past::PingRange, e)).map(drop)
    }

    /// A failure of the network step after the planned requests.
    pub fn failure(&self, past: Past, e: Errno) -> Failure {
        Failure::new(Stage::Network, self.past(past), e)
    }

    /// The index of a failure after the planned requests.
    pub fn past(&self, past: Past) -> u16 {
        (self.steps.len() + past as usize) as u16
    }

    /// What the network step's failure at `index` was doing: a planned
    /// request, or one of the [`Past`] steps after them.
    pub fn subject(&self, index: u16) -> &str {
        let index = usize::from(index);
        match self.steps.get(index) {
            Some(step) => step,
            None => PAST.get(index - self.steps.len()).copied().unwrap_or("?"),
        }
    }

    /// Whether a network step that ended with `outcome` (the builder's, or
    /// the child's) leaves a veth pair behind for barco to delete: request
    /// 2 made it, so a failure at a later request or step (or the builder's
    /// heap audit, at its end) means it exists. Not the supervisor's
    /// [`Past::Untold`]: a builder that said nothing may not have made it.
    pub fn pair_made(&self, outcome: Result<(), Failure>) -> bool {
        self.veth.is_some()
            && match outcome {
                Ok(()) => true,
                Err(f) if f.stage == Stage::Network => f.index >= 2 && f.index != self.past(Past::Untold),
                Err(f) => f.stage == Stage::HeapAudit,
            }
    }

    /// The child reported `f`: if it came after the child's network step
    /// (or in it, after the pair's request), the pair exists and is barco's
    /// to delete. With the builder, its exit status says so too. Not
    /// inlined into supervise's `child_failed`: 24 bytes of `just tiny`.
    #[inline(never)]
    pub fn child_failed(&self, f: Failure) {
        if let Some(veth) = &self.veth {
            if f.stage.after(Stage::Network) || self.pair_made(Err(f)) {
                veth.mark_made();
            }
        }
    }
}

/// The network step's failures after its planned requests, by how far past
/// them they come (the failure's index is `steps.len()` plus this).
#[derive(Clone, Copy)]
pub enum Past {
    PingRange,
    /// The builder's `SIOCGSKNS`.
    Namespace,
    /// The builder's message to the container.
    HandOver,
    /// The container's `setns`, or its wait for the builder.
    Join,
    /// The builder ended without telling the container (the supervisor's
    /// message for it).
    Untold,
}

const PAST: [&str; 5] = [
    "opening net.ipv4.ping_group_range",
    "taking a descriptor of its namespace",
    "handing its namespace to the container",
    "joining the namespace barco made for it",
    UNTOLD,
];

/// What the network step's error line says when the builder told the child
/// nothing.
pub const UNTOLD: &str = "its builder ended without handing it over";

impl Veth {
    /// In the supervisor, once the pair exists: gives the host end its
    /// address and brings it up. No heap.
    /// Not inlined into `supervise`, which calls it once: see there.
    #[inline(never)]
    pub fn set_up_host_end(&'static self) -> Result<(), Error> {
        crate::log::info!("veth: {} is {}, eth0 is {}", self.host_end, self.host, Dotted(self.container));
        self.set_up().map_err(|e| Error::os(Stage::Network, self.host_setup_subject, e))
    }

    /// [`Veth::set_up_host_end`]'s steps, whose errno is given the line's
    /// subject once, not at each step.
    fn set_up(&self) -> Result<(), Errno> {
        let fd = netlink()?;
        let index = self.index(&fd)?;
        self.host_index.set(index);
        send(&fd, &host_setup(self.host, index), SendFlags::empty())?;
        acks(&fd, 2).map_err(|(_, e)| e)
    }

    /// The pair exists: barco's network builder said so as it ended (see
    /// [`Network::pair_made`]), or the child got past its network step.
    pub fn mark_made(&self) {
        self.made.set(true);
    }

    /// After the container: deletes the host end (and so eth0), unless the
    /// kernel has already. By the index the supervisor learned, or by name
    /// only when the builder is known to have made the pair: a failed
    /// create means the name is someone else's. No heap.
    pub fn remove_host_end(&self) {
        let Ok(fd) = netlink() else { return };
        let index = match self.host_index.get() {
            0 if !self.made.get() => return,
            0 => match self.index(&fd) {
                Ok(i) => i,
                Err(_) => return,
            },
            i => i,
        };
        let mut msg = DELLINK;
        msg[20..24].copy_from_slice(&index.to_ne_bytes());
        if send(&fd, &msg, SendFlags::empty()).is_ok() {
            match acks(&fd, 1) {
                Ok(()) | Err((_, Errno::NODEV)) => {}
                Err((_, e)) => crate::log::warning!("removing {}: {}", self.host_end, crate::error::strerror(e)),
            }
        }
    }

    /// The host end's index, from RTM_GETLINK by name.
    fn index(&self, fd: &OwnedFd) -> Result<u32, Errno> {
        send(fd, &self.getlink, SendFlags::empty())?;
        let mut reply = [0u8; 2048];
        let (n, _) = recv(fd, &mut reply, RecvFlags::empty())?;
        let reply = &reply[..n.min(reply.len())];
        // No ack was asked for: an NLMSG_ERROR is a failure (ENODEV).
        if let Some(e) = ack_errno(reply) {
            return Err(if e == 0 { Errno::PROTO } else { Errno::from_raw_os_error(e) });
        }
        match (u16_at(reply, 4), u32_at(reply, 16 + 4)) {
            (Some(t), Some(index)) if t == nl::RTM_NEWLINK as u16 && index != 0 => Ok(index),
            _ => Err(Errno::PROTO),
        }
    }
}

/// The supervisor's RTM_DELLINK of the host end, acked, with its index
/// (ifinfomsg.ifi_index, 16 + 4 in) to fill in: the same for every veth,
/// so made at compile time, not planned into a `Vec` (checked against
/// `Batch` by a unit test).
const DELLINK: [u8; 32] = {
    let mut m = [0u8; 32];
    header(&mut m, 0, 32, nl::RTM_DELLINK as u16, ACK, 1);
    m
};

/// The supervisor's requests once the host end exists, acked: its address
/// (RTM_NEWADDR: `struct ifaddrmsg`, IFA_LOCAL, IFA_ADDRESS, as
/// [`Batch::address_message`] makes them), then up (RTM_NEWLINK). The same
/// for every veth but the prefix length, the address and the index, which
/// [`host_setup`] fills in: made at compile time, not planned into a `Vec`
/// (0.16 KB of `just tiny`; checked against `Batch` by a unit test).
const HOST_SETUP: [u8; 72] = {
    let mut m = [0u8; 72];
    header(&mut m, 0, 40, nl::RTM_NEWADDR as u16, CREATE_FLAGS, 1);
    m[16] = AF_INET;
    m[16 + 3] = nl::rt_scope_t::RT_SCOPE_UNIVERSE as u8;
    put(&mut m, 24, &8u16.to_ne_bytes());
    put(&mut m, 26, &(nl::IFA_LOCAL as u16).to_ne_bytes());
    put(&mut m, 32, &8u16.to_ne_bytes());
    put(&mut m, 34, &(nl::IFA_ADDRESS as u16).to_ne_bytes());
    header(&mut m, 40, 32, nl::RTM_NEWLINK as u16, ACK, 2);
    put(&mut m, 40 + 16 + 8, &IFF_UP.to_ne_bytes()); // ifi_flags
    put(&mut m, 40 + 16 + 12, &IFF_UP.to_ne_bytes()); // ifi_change
    m
};

/// [`HOST_SETUP`] for `host` on link `index`.
fn host_setup(host: Cidr, index: u32) -> [u8; 72] {
    let mut m = HOST_SETUP;
    m[16 + 1] = host.prefix;
    // ifaddrmsg.ifa_index and ifinfomsg.ifi_index; IFA_LOCAL's and
    // IFA_ADDRESS's payloads.
    m[16 + 4..16 + 8].copy_from_slice(&index.to_ne_bytes());
    m[40 + 16 + 4..40 + 16 + 8].copy_from_slice(&index.to_ne_bytes());
    m[28..32].copy_from_slice(&host.addr);
    m[36..40].copy_from_slice(&host.addr);
    m
}

/// Writes `bytes` into `m` at `at`, for the requests made at compile time.
const fn put(m: &mut [u8], at: usize, bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        m[at + i] = bytes[i];
        i += 1;
    }
}

/// A request's `nlmsghdr` at `at`: at compile time for the requests made
/// then, and in [`Batch::message`] for the others.
const fn header(m: &mut [u8], at: usize, len: u32, kind: u16, flags: u16, seq: u32) {
    put(m, at, &len.to_ne_bytes());
    put(m, at + 4, &kind.to_ne_bytes());
    put(m, at + 6, &(nl::NLM_F_REQUEST as u16 | flags).to_ne_bytes());
    put(m, at + 8, &seq.to_ne_bytes());
}

/// A change, acked; one that creates, refusing to replace.
const ACK: u16 = nl::NLM_F_ACK as u16;
const CREATE_FLAGS: u16 = (nl::NLM_F_ACK | nl::NLM_F_CREATE | nl::NLM_F_EXCL) as u16;

/// A NETLINK_ROUTE socket in the caller's namespace, for
/// [`Network::configure`].
pub fn socket() -> Result<OwnedFd, Failure> {
    netlink().at(Stage::Network)
}

/// A NETLINK_ROUTE socket (protocol 0) in the caller's namespace. Reads
/// time out after five seconds: the kernel stops answering a batch at a
/// malformed message, and a missing ack must not hang the container.
fn netlink() -> Result<OwnedFd, Errno> {
    let fd = socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, None)?;
    rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Recv, Some(ACK_TIMEOUT))?;
    Ok(fd)
}

const ACK_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(5);

/// Reads acks until sequence numbers 1..=count are all in. Returns the
/// first failed request's sequence number and errno. No heap.
fn acks(fd: &impl AsFd, count: u32) -> Result<(), (u32, Errno)> {
    let mut seen = 0u64;
    let mut first_error: Option<(u32, Errno)> = None;
    let all = if count >= 64 { u64::MAX } else { (1u64 << count) - 1 };
    let mut buf = [0u8; 4096];
    while seen & all != all {
        let n = match recv(fd, &mut buf, RecvFlags::empty()) {
            Ok((n, _)) => n.min(buf.len()),
            Err(Errno::INTR) => continue,
            // A timeout or another error: blame the first request unanswered.
            Err(e) => return Err(((!seen & all).trailing_zeros() + 1, e)),
        };
        let mut at = 0;
        while let Some(len) = u32_at(&buf[..n], at) {
            let len = len as usize;
            if len < 16 || at + len > n {
                break;
            }
            let msg = &buf[at..at + len];
            if let (Some(e), Some(seq)) = (ack_errno(msg), u32_at(msg, 8)) {
                if (1..=count).contains(&seq) {
                    seen |= 1 << (seq - 1);
                    if e != 0 && first_error.is_none_or(|(s, _)| seq < s) {
                        first_error = Some((seq, Errno::from_raw_os_error(e)));
                    }
                }
            }
            at += (len + 3) & !3;
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The errno of an `NLMSG_ERROR` message: 0 for an ack.
fn ack_errno(msg: &[u8]) -> Option<i32> {
    if u16_at(msg, 4)? != nl::NLMSG_ERROR as u16 {
        return None;
    }
    Some(-(u32_at(msg, 16)? as i32))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Netlink requests, appended to one buffer: a message (`nlmsghdr`, 16
/// bytes, then its header) or a nested attribute is begun, filled, and
/// ended, which writes its length; no `Vec` of its own for each part.
#[derive(Default)]
struct Batch(Vec<u8>);

impl Batch {
    /// A request of `header` and flat attributes.
    fn request(&mut self, kind: u16, flags: u16, seq: u32, header: &[u8], attrs: &[(u16, &[u8])]) {
        let at = self.message(kind, flags, seq, header);
        for (kind, payload) in attrs {
            self.attr(*kind, payload);
        }
        self.end_message(at);
    }

    /// Begins a request; returns where, for [`Batch::end_message`].
    fn message(&mut self, kind: u16, flags: u16, seq: u32, header: &[u8]) -> usize {
        let at = self.0.len();
        // nlmsg_len when it ends, and nlmsg_pid 0: the kernel's.
        let mut nlmsghdr = [0u8; 16];
        self::header(&mut nlmsghdr, 0, 0, kind, flags, seq);
        self.0.extend_from_slice(&nlmsghdr);
        self.0.extend_from_slice(header);
        at
    }

    /// Ends a request: its length. Not inlined into its two callers: 24
    /// bytes of `just tiny`.
    #[inline(never)]
    fn end_message(&mut self, at: usize) {
        let len = (self.0.len() - at) as u32;
        self.0[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Begins an `rtattr` (length, type); returns where, for
    /// [`Batch::end_nest`].
    fn nest(&mut self, kind: u16) -> usize {
        let at = self.0.len();
        let [a, b] = kind.to_ne_bytes();
        self.0.extend_from_slice(&[0, 0, a, b]); // rta_len when it ends
        at
    }

    /// Ends an `rtattr`: its length, then padding to 4 bytes.
    fn end_nest(&mut self, at: usize) {
        let len = self.0.len() - at;
        self.0[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        self.0.resize((self.0.len() + 3) & !3, 0);
    }

    /// An `rtattr` of `payload`.
    fn attr(&mut self, kind: u16, payload: &[u8]) {
        let at = self.nest(kind);
        self.0.extend_from_slice(payload);
        self.end_nest(at);
    }

    /// RTM_NEWADDR of `c` on link `index`: `struct ifaddrmsg`, IFA_LOCAL
    /// and IFA_ADDRESS.
    fn address_message(&mut self, seq: u32, c: Cidr, index: u32) {
        let mut ifa = [AF_INET, c.prefix, 0, nl::rt_scope_t::RT_SCOPE_UNIVERSE as u8, 0, 0, 0, 0];
        ifa[4..8].copy_from_slice(&index.to_ne_bytes());
        let attrs = [(nl::IFA_LOCAL as u16, &c.addr[..]), (nl::IFA_ADDRESS as u16, &c.addr)];
        self.request(nl::RTM_NEWADDR as u16, CREATE_FLAGS, seq, &ifa, &attrs);
    }
}

/// `struct ifinfomsg`: family AF_UNSPEC, type 0, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// `struct rtmsg` for the main table: family AF_INET, destination length,
/// table, protocol "boot" (as ip(8) does), scope and type.
fn rtmsg(dst_len: u8, kind: u8, scope: u8) -> [u8; 12] {
    [AF_INET, dst_len, 0, 0, nl::rt_class_t::RT_TABLE_MAIN as u8, nl::RTPROT_BOOT as u8, scope, kind, 0, 0, 0, 0]
}

/// Locks `cidr`'s subnet for this barco: binds the abstract unix socket
/// `barco/net/NETWORK/PREFIX`, which the kernel releases when barco exits.
/// Also asks the host's routes whether either end is already reachable
/// without a gateway (an address or a subnet of the host's). `explicit`:
/// the user chose it, so a clash is an error, not a reason to try another.
/// Not inlined into `pick`, its one caller, with which it is 0.3 KB bigger
/// in `just tiny`.
#[inline(never)]
fn claim(cidr: Cidr, explicit: bool) -> Result<(OwnedFd, Ends), Error> {
    let net = Cidr { addr: cidr.network().to_be_bytes(), prefix: cidr.prefix };
    let name = format!("barco/net/{net}");
    let fd = socket_with(AddressFamily::UNIX, SocketType::DGRAM, SocketFlags::CLOEXEC, None)
        .map_err(|e| Error::os(Stage::Network, "socket", e))?;
    let addr = SocketAddrUnix::new_abstract_name(name.as_bytes()).map_err(|e| Error::os(Stage::Network, "", e))?;
    match bind(&fd, &addr) {
        Ok(()) => {}
        Err(Errno::ADDRINUSE) if explicit => {
            return Err(Error::usage(format!("--ip {cidr}: another barco container is using {net}")))
        }
        Err(e) => return Err(Error::os(Stage::Network, format!("locking {net}"), e)),
    }
    let ends = cidr.ends().map_err(Error::usage)?;
    for ip in [ends.0, ends.1] {
        if let Some(how) = reachable(ip)? {
            return Err(Error::usage(format!("--ip {cidr}: the host already reaches {} {how}", Dotted(ip))));
        }
    }
    Ok((fd, ends))
}

/// The host end's address and the container's ([`Cidr::ends`]), which
/// `claim` works out and returns: planning does not ask again.
type Ends = ([u8; 4], [u8; 4]);

/// The subnet `--ip` gave, claimed, or else a free /30 of [`POOL`], trying
/// from the one `pid` picks. One loop and one call of `claim` for both: the
/// one `--ip` gave is tried once, as a clash with it is an error.
fn pick(ip: Option<Cidr>, pid: u32) -> Result<(Cidr, OwnedFd, Ends), Error> {
    let slots = 1u32 << (30 - POOL.prefix);
    let base = u32::from_be_bytes(POOL.addr);
    let explicit = ip.is_some();
    for i in 0..POOL_TRIES {
        let slot = (pid + i) % slots;
        let cidr = ip.unwrap_or(Cidr { addr: (base + (slot << 2) + 1).to_be_bytes(), prefix: 30 });
        match claim(cidr, explicit) {
            Ok((fd, ends)) => return Ok((cidr, fd, ends)),
            Err(e) if !explicit && (e.stage == Stage::Usage || e.errno() == Some(Errno::ADDRINUSE)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::usage(format!(
        "--net veth: no free /30 among {} tried in {POOL}; choose a subnet with --ip",
        dec(POOL_TRIES)
    )))
}

/// Whether the host reaches `ip` directly: it is one of its addresses, or
/// in one of its subnets (a route without a gateway). RTM_GETROUTE.
fn reachable(ip: [u8; 4]) -> Result<Option<&'static str>, Error> {
    route_lookup(ip).map_err(|e| Error::os(Stage::Network, "asking the host's routes", e))
}

/// [`reachable`]'s steps, whose errno is given the subject once, not at
/// each step. Not inlined into `claim`, with which it is 64 bytes bigger
/// in `just tiny`.
#[inline(never)]
fn route_lookup(ip: [u8; 4]) -> Result<Option<&'static str>, Errno> {
    let fd = netlink()?;
    // A lookup: no ack, the answer is the route. RTM_F_FIB_MATCH asks for
    // the table entry that matched (with its prefix length), not a route
    // made up for this one address.
    let mut header = rtmsg(32, 0, 0);
    header[8..12].copy_from_slice(&RTM_F_FIB_MATCH.to_ne_bytes());
    let mut req = Batch::default();
    req.request(nl::RTM_GETROUTE as u16, 0, 1, &header, &[(nl::rtattr_type_t::RTA_DST as u16, &ip)]);
    send(&fd, &req.0, SendFlags::empty())?;
    let mut reply = [0u8; 1024];
    let (n, _) = recv(&fd, &mut reply, RecvFlags::empty())?;
    Ok(route_clash(&reply[..n.min(reply.len())]))
}

/// Reads an RTM_GETROUTE answer: a local address, or a subnet route with
/// no gateway, is a clash; an error (no route), a gateway, or a default
/// route (prefix 0, as `default dev wg0` is, gateway or not) is not.
fn route_clash(reply: &[u8]) -> Option<&'static str> {
    if u16_at(reply, 4)? != nl::RTM_NEWROUTE as u16 {
        return None;
    }
    let kind = *reply.get(16 + 7)?;
    let prefix = *reply.get(16 + 1)?;
    if kind == nl::RTN_LOCAL as u8 {
        return Some("as one of its own addresses");
    }
    if kind != nl::RTN_UNICAST as u8 || prefix == 0 {
        return None;
    }
    let mut at = 16 + 12;
    while let (Some(len), Some(t)) = (u16_at(reply, at), u16_at(reply, at + 2)) {
        if t == nl::rtattr_type_t::RTA_GATEWAY as u16 || t == nl::rtattr_type_t::RTA_VIA as u16 {
            return None;
        }
        if len < 4 {
            break;
        }
        at += (usize::from(len) + 3) & !3;
    }
    Some("through one of its interfaces (a subnet in use)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request of `header` and `attrs`, as the tests write them.
    fn message(kind: u16, flags: u16, seq: u32, header: &[u8], attrs: &[u8]) -> Vec<u8> {
        let mut b = Batch::default();
        let m = b.message(kind, flags, seq, header);
        b.0.extend(attrs);
        b.end_message(m);
        b.0
    }

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = Batch::default();
        b.attr(kind, payload);
        b.0
    }

    #[test]
    fn network_step_subjects_and_the_pair_a_builder_leaves() {
        let none = Network::plan(NetMode::None, None, "n", 1, (0, 0)).unwrap();
        assert_eq!(none.subject(0), "bringing lo up");
        assert_eq!(none.subject(1), "opening net.ipv4.ping_group_range");
        assert_eq!(none.subject(4), "joining the namespace barco made for it");
        assert_eq!(none.subject(none.past(Past::Untold)), UNTOLD);
        assert_eq!(none.subject(6), "?");
        assert_eq!(none.failure(Past::Join, Errno::INVAL).index, 4);
        assert!(!none.pair_made(Ok(())), "no veth, no pair");

        let veth = Network::plan(NetMode::Veth, Some(parse_cidr("10.249.99.1/30").unwrap()), "t", 1, (0, 0)).unwrap();
        assert_eq!(veth.subject(1), "creating the veth pair bc-t (host) and eth0 (container)");
        assert_eq!(veth.subject(5), "opening net.ipv4.ping_group_range");
        let at = |stage, index| Err(Failure { stage, index, errno: 17 });
        assert!(veth.pair_made(Ok(())));
        assert!(!veth.pair_made(at(Stage::Network, 0)), "lo");
        assert!(!veth.pair_made(at(Stage::Network, 1)), "making the pair itself");
        assert!(veth.pair_made(at(Stage::Network, 2)), "its address");
        assert!(veth.pair_made(Err(veth.failure(Past::HandOver, Errno::PIPE))), "the child is gone");
        assert!(!veth.pair_made(at(Stage::DeathSignal, 0)));
        assert!(!veth.pair_made(at(Stage::ParentGone, 0)));
        assert!(!veth.pair_made(Err(Failure { stage: Stage::Network, index: veth.past(Past::Untold), errno: 0 })));
        assert!(veth.pair_made(at(Stage::HeapAudit, 1)), "audited after configuring");
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.1.2.1/30").unwrap();
        assert_eq!(c.ends().unwrap(), ([10, 1, 2, 1], [10, 1, 2, 2]));
        assert_eq!(parse_cidr("10.1.2.2/30").unwrap().ends().unwrap(), ([10, 1, 2, 2], [10, 1, 2, 1]));
        assert_eq!(parse_cidr("10.1.2.4/31").unwrap().ends().unwrap(), ([10, 1, 2, 4], [10, 1, 2, 5]));
        assert_eq!(parse_cidr("10.1.2.5/31").unwrap().ends().unwrap(), ([10, 1, 2, 5], [10, 1, 2, 4]));
        assert_eq!(parse_cidr("192.168.7.9/24").unwrap().ends().unwrap(), ([192, 168, 7, 9], [192, 168, 7, 1]));
        for (bad, why) in [
            ("10.1.2.1", "not ADDRESS/PREFIX"),
            ("10.1.2/30", "not an IPv4 address"),
            ("300.1.2.1/30", "not an IPv4 address"),
            ("fd00::1/64", "IPv6 is not supported"),
            ("10.1.2.1/x", "not a number"),
            ("10.1.2.1/32", "8 to 31"),
            ("10.1.2.1/4", "8 to 31"),
            ("10.1.2.0/30", "network address"),
            ("10.1.2.3/30", "broadcast address"),
        ] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(c.to_string(), "10.1.2.1/30");
    }

    #[test]
    fn message_layout() {
        let m = message(
            nl::RTM_NEWLINK as u16,
            0,
            7,
            &ifinfomsg(0, IFF_UP, IFF_UP),
            &attr(nl::IFLA_IFNAME as u16, b"lo\0"),
        );
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40), "nlmsg_len");
        assert_eq!(u16_at(&m, 4), Some(16), "RTM_NEWLINK");
        assert_eq!(u16_at(&m, 6), Some(1), "NLM_F_REQUEST");
        assert_eq!(u32_at(&m, 8), Some(7), "sequence");
        assert_eq!(u32_at(&m, 24), Some(IFF_UP));
        assert_eq!((u16_at(&m, 32), u16_at(&m, 34)), (Some(7), Some(3)), "rta_len, IFLA_IFNAME");
        assert_eq!(&m[36..40], b"lo\0\0", "padded");
        assert_eq!(core::mem::size_of::<nl::ifinfomsg>(), 16);
        assert_eq!(core::mem::size_of::<nl::ifaddrmsg>(), 8);
        assert_eq!(core::mem::size_of::<nl::rtmsg>(), 12);
        assert_eq!(core::mem::size_of::<nl::nlmsghdr>(), 16);
    }

    #[test]
    fn acks_and_route_answers() {
        let mut ack = [0u8; 36];
        ack[4..6].copy_from_slice(&(nl::NLMSG_ERROR as u16).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(17), "EEXIST");
        assert_eq!(ack_errno(&[0u8; 8]), None);

        let route = |kind: u8, attrs: &[u8]| message(nl::RTM_NEWROUTE as u16, 0, 1, &rtmsg(32, kind, 0), attrs);
        let oif = attr(nl::rtattr_type_t::RTA_OIF as u16, &3u32.to_ne_bytes());
        let gw = attr(nl::rtattr_type_t::RTA_GATEWAY as u16, &[10, 0, 0, 1]);
        assert!(route_clash(&route(nl::RTN_LOCAL as u8, &oif)).is_some());
        assert!(route_clash(&route(nl::RTN_UNICAST as u8, &oif)).is_some(), "a subnet of the host's");
        assert!(route_clash(&route(nl::RTN_UNICAST as u8, &[oif.clone(), gw].concat())).is_none(), "via a gateway");
        assert!(route_clash(&route(nl::RTN_UNREACHABLE as u8, &[])).is_none());
        // A default route with no gateway (`default dev wg0`): prefix 0.
        let mut default = route(nl::RTN_UNICAST as u8, &oif);
        default[16 + 1] = 0;
        assert!(route_clash(&default).is_none());
        let via = attr(nl::rtattr_type_t::RTA_VIA as u16, &[10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(route_clash(&route(nl::RTN_UNICAST as u8, &[oif.clone(), via].concat())).is_none());
        assert!(route_clash(&ack).is_none(), "no route at all");
    }

    const ALL: (u32, u32) = (0, 2147483647);

    #[test]
    fn dellink_as_batch_makes_it() {
        let mut dellink = Batch::default();
        dellink.request(nl::RTM_DELLINK as u16, ACK, 1, &ifinfomsg(0, 0, 0), &[]);
        assert_eq!(dellink.0, DELLINK);
    }

    #[test]
    fn host_setup_as_batch_makes_it() {
        let host = parse_cidr("10.249.7.1/30").unwrap();
        let mut b = Batch::default();
        b.address_message(1, host, 5);
        b.request(nl::RTM_NEWLINK as u16, ACK, 2, &ifinfomsg(5, IFF_UP, IFF_UP), &[]);
        assert_eq!(b.0, host_setup(host, 5));
    }

    #[test]
    fn veth_requests() {
        // Planning opens /proc/self/ns/net and binds a socket, which a
        // test may do; it must not find the subnet taken.
        let n = Network::plan(NetMode::Veth, Some(parse_cidr("10.249.3.1/30").unwrap()), "unit", 1, ALL).unwrap();
        let v = n.veth.as_ref().unwrap();
        assert_eq!(v.host_end, "bc-unit");
        assert_eq!(v.container, [10, 249, 3, 2]);
        assert_eq!(n.steps.len(), 5);
        assert_eq!(n.hosts_address, "10.249.3.2");
        assert_eq!(n.steps[2], "adding 10.249.3.2/30 to eth0");
        assert_eq!(n.steps[4], "adding the default route via 10.249.3.1");
        // Five messages, sequence 1 to 5, lengths adding up.
        let (mut at, mut seqs) = (0, vec![]);
        while at < n.requests.len() {
            seqs.push(u32_at(&n.requests, at + 8).unwrap());
            at += u32_at(&n.requests, at).unwrap() as usize;
        }
        assert_eq!(at, n.requests.len());
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        // The same subnet cannot be planned twice while the lock is held.
        let again = Network::plan(NetMode::Veth, Some(parse_cidr("10.249.3.2/30").unwrap()), "unit2", 1, ALL);
        assert!(again.err().unwrap().to_string().contains("another barco container is using 10.249.3.0/30"));
        assert!(Network::plan(NetMode::None, Some(parse_cidr("10.249.4.1/30").unwrap()), "x", 1, ALL).is_err());
        let long = Network::plan(NetMode::Veth, None, "a-very-long-name", 1, ALL).err().unwrap().to_string();
        assert!(long.contains("longer than 15 bytes"), "{long}");
    }
}
