//! cgroups: limits on the container before any of its code runs, on cgroup
//! v2 and on v1 (and hybrid) hosts, and nothing left behind.
//!
//! - **Planning** ([`plan`]) finds the hierarchy (statfs of
//!   `/sys/fs/cgroup`), names the container's cgroup (`--name`, or barco's
//!   pid), and turns the limits into C strings: the directories, every file
//!   write, the files to read at the end.
//!   - v2: `/sys/fs/cgroup/barco/<name>`. The root cgroup is exempt from the
//!     no-internal-processes rule, so enabling controllers there always
//!     works, wherever barco itself sits (nsjail #65, #196).
//!   - v1: `<controller>/<barco's own cgroup>/barco-<name>` in the memory,
//!     cpu and pids hierarchies: v1 has no such rule, so no shared parent is
//!     needed, and sitting under barco's own cgroup keeps any limit barco
//!     itself is under.
//! - **Creating** ([`Cgroup::create`], no heap): create ours, write the
//!   limits.
//! - **Joining**:
//!   - v2: created before the clone; `clone3(CLONE_INTO_CGROUP)` with the
//!     cgroup's directory fd puts the child there before its first
//!     instruction. On a kernel without that flag, barco moves itself into
//!     the cgroup for the clone and back out after it ([`Cgroup::join`],
//!     [`Cgroup::leave`]): the child is born inside all the same.
//!   - v1 ([`Cgroup::joined_by_child`]): the supervisor creates the cgroups
//!     *after* the clone, while the child builds its namespaces, and says
//!     so on the channel; the child then moves itself in by writing `0` to
//!     each `tasks` ([`Cgroup::join_self`]), before `pivot_root` takes the
//!     host's cgroupfs out of reach and before anything of the container
//!     runs. Making three v1 cgroups costs about a quarter of a
//!     millisecond, which the child's mounts partly hide.
//!
//!   Either way the container's cgroup namespace is rooted at its cgroup,
//!   which the tests check.
//! - **Claiming** ([`claim_at`]): barco holds an exclusive `flock(2)` on
//!   each leaf from its mkdir to its rmdir. The kernel drops it however
//!   barco ends, so a leaf nobody claims has no live owner (but for the
//!   moment between a barco's mkdir and its claim, which `create` checks
//!   for): only such a leaf is swept or taken back, whatever PID namespace
//!   its name's pid was in (barco as PID 1 of one is always named `1`).
//! - **While the command runs** ([`Made::watch`], no heap): remove stale
//!   cgroups of dead barcos, and open the counters read at the end. The
//!   supervisor only waits then, so this costs the container nothing.
//! - **After the container** ([`Made::finish`], no heap): report an OOM
//!   kill or refused forks, and remove the directories, killing what is
//!   left only if one is still busy.

use crate::cli::Args;
use crate::error::{strerror, Error, Stage};
use crate::log::dec;
use crate::log::{debug, info, warning};
use crate::plan::leak;
use crate::spawn::{At, Failure};
use crate::supervise::write_kernel_file;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{mkdir, open, openat, statfs, unlinkat, AtFlags, FileType, Mode, OFlags, RawDir, CWD};
use rustix::io::{read, Errno};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
/// The seed's limits.
pub const DEFAULT_MEMORY: u64 = 1 << 30;
pub const DEFAULT_CPU_WEIGHT: u64 = 256;
pub const DEFAULT_PIDS: u64 = 64;
/// cpu.max's period, in microseconds (the kernel's default).
const CPU_PERIOD: u64 = 100_000;

/// A limit of "max" is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<u64>,
    /// Swap on top of memory (v2's memory.swap.max); unset if `None`.
    pub swap: Option<Option<u64>>,
    /// cpu.max's quota per [`CPU_PERIOD`], if `--cpus` was given.
    pub cpu_quota: Option<u64>,
    pub cpu_weight: u64,
    pub pids: Option<u64>,
}

/// Which cgroup hierarchy the host has, with what barco needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// The cgroup2 mount and barco's own cgroup under it (for the fallback
    /// of kernels without CLONE_INTO_CGROUP, which joins and leaves).
    V2 { root: PathBuf, own: String },
    /// Mount points of the memory, cpu and pids hierarchies, and barco's
    /// own cgroup in each.
    V1 { memory: (PathBuf, String), cpu: (PathBuf, String), pids: (PathBuf, String) },
}

impl Hierarchy {
    /// Whether a cgroup made here is joined by the child itself (v1), as
    /// [`Cgroup::joined_by_child`] says of the cgroup: for planning, before
    /// there is one.
    pub fn joined_by_child(&self) -> bool {
        matches!(self, Hierarchy::V1 { .. })
    }
}

/// Everything the supervisor does to the container's cgroup, as C strings
/// made while planning.
pub struct Cgroup {
    v2: bool,
    /// Directories to create: the first `parents` shared by containers
    /// (v2's `barco`), removed at the end if empty; then the container's
    /// leaves (see [`Cgroup::leaves`]).
    dirs: Vec<CString>,
    parents: usize,
    /// For each of `dirs` that is a leaf: the line for a leaf that exists
    /// (another container of the same name). Made now: no heap later.
    taken: Vec<Option<String>>,
    /// The name is barco's default, its own pid: a leaf of it that exists,
    /// that no barco [claims](claim_at), and that is empty was left by a
    /// SIGKILLed barco that had the same pid (a reused pid, or an earlier
    /// barco as PID 1 of a PID namespace, whose name is always `1` and which
    /// no sweep removes, as pid 1 is always alive). It is removed and made
    /// again. One that is claimed or holds processes is refused: the same
    /// pid in another PID namespace, from the same cgroup, is another
    /// barco's.
    reclaim: bool,
    /// (file, value) writes, in order.
    writes: Vec<(CString, CString)>,
    /// `cgroup.procs` (v2) of the leaf, for barco to join around the clone,
    /// or `tasks` (v1) of each leaf, for the child to join; and the same as
    /// text for error messages (made now, and leaked with the plan: no heap
    /// later, and nothing for `Plan::new` to drop; see `plan::leak`).
    join: Vec<CString>,
    join_display: Vec<&'static str>,
    /// barco's own `cgroup.procs` (v2), to leave to.
    home: Vec<CString>,
    /// (file, key): counters read at the end: OOM kills, refused forks.
    oom_events: (CString, &'static str),
    pids_events: (CString, &'static str),
    /// cgroup.kill (v2, Linux 5.14+); unused on v1, which kills through
    /// each leaf's `tasks` (`join`).
    kill: CString,
    /// The limits as the end-of-run lines name them: "max", or the option.
    memory_display: &'static str,
    pids_display: &'static str,
    /// Stale siblings are looked for here (v2: the `barco` parent; v1:
    /// barco's own cgroups), named `stale_prefix` and a pid.
    barco_dirs: Vec<CString>,
    stale_prefix: &'static str,
}

/// v1 leaves sit beside other cgroups, so their names say whose they are.
const STALE_PREFIX_V1: &str = "barco-";

/// Parses a size: digits with an optional K, M, G or T (powers of 1024,
/// an optional trailing B or iB), or `max`.
pub fn parse_size(s: &str) -> Option<Option<u64>> {
    if s == "max" {
        return Some(None);
    }
    // By bytes, in either case: no lowercased copy.
    let t = match s.as_bytes() {
        [t @ .., b'i' | b'I', b'b' | b'B'] | [t @ .., b'b' | b'B'] => t,
        t => t,
    };
    let (digits, shift) = match t {
        [d @ .., b'k' | b'K'] => (d, 10),
        [d @ .., b'm' | b'M'] => (d, 20),
        [d @ .., b'g' | b'G'] => (d, 30),
        [d @ .., b't' | b'T'] => (d, 40),
        _ => (t, 0),
    };
    // Digits alone, by parse_u64: no UTF-8 check and str::parse here.
    parse_u64(digits)?.checked_mul(1 << shift).map(Some)
}

/// `--cpus 1.5` as cpu.max's quota per 100 ms period.
fn parse_cpus(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The fraction's first five digits (padded with zeros) are the
    // microseconds; any after them must be zeros.
    if frac.bytes().skip(5).any(|b| b != b'0') {
        return None; // finer than a microsecond per period
    }
    let micros = frac.bytes().chain(core::iter::repeat(b'0')).take(5).fold(0, |n, b| n * 10 + u64::from(b - b'0'));
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    whole.checked_mul(CPU_PERIOD)?.checked_add(micros)
}

/// A usage error of a formatted message. Not inlined: one copy of the
/// format and the conversion for the six refusals below.
#[inline(never)]
fn refused(message: core::fmt::Arguments) -> Error {
    Error::usage(std::fmt::format(message))
}

/// v1's cpu.shares for a v2 cpu.weight (runc's conversion, inverted).
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262_142 / 9_999
}

/// The limits asked for, checked as the kernel would. Not inlined into
/// `Plan::from_args`, its one caller: 0.1 KB of `just tiny`.
#[inline(never)]
pub fn limits(a: &Args) -> Result<Limits, Error> {
    let size = |v: &Option<String>, option: &str| -> Result<Option<Option<u64>>, Error> {
        match v {
            None => Ok(None),
            Some(s) => match parse_size(s) {
                Some(Some(0)) | None => Err(refused(format_args!(
                    "{option}: '{s}' is not a size such as 512M, 1G or max (K, M, G, T are powers of 1024)"
                ))),
                Some(n) => Ok(Some(n)),
            },
        }
    };
    let memory = size(&a.memory, "--memory")?.unwrap_or(Some(DEFAULT_MEMORY));
    let swap = size(&a.memory_swap, "--memory-swap")?;
    let cpu_quota = match &a.cpus {
        None => None,
        Some(s) => match parse_cpus(s) {
            // The kernel's smallest quota is 1 ms (kernel/sched/core.c).
            Some(q) if q >= 1000 => Some(q),
            _ => return Err(refused(format_args!("--cpus: '{s}' is not a number of CPUs from 0.01 up, such as 1.5"))),
        },
    };
    let cpu_weight = match &a.cpu_weight {
        None => DEFAULT_CPU_WEIGHT,
        Some(s) => match s.parse() {
            Ok(w @ 1..=10_000) => w,
            _ => return Err(refused(format_args!("--cpu-weight: '{s}' is not a number from 1 to 10000"))),
        },
    };
    let pids = match a.pids.as_deref() {
        None => Some(DEFAULT_PIDS),
        Some("max") => None,
        Some(s) => match s.parse() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(refused(format_args!("--pids: '{s}' is not a number from 1 up, or max"))),
        },
    };
    Ok(Limits { memory, swap, cpu_quota, cpu_weight, pids })
}

/// A container name: what `--name` may be, and what the cgroup is called.
/// Not inlined into `Plan::from_args`: 0.1 KB of `just tiny`.
#[inline(never)]
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(refused(format_args!("--name '{name}': use 1 to 64 letters, digits, '-', '_' or '.'")));
    }
    // A name of digits alone is a default name, barco's pid: such a
    // cgroup is swept, or taken back by a barco of that pid, when it is
    // empty and no barco claims it; a name the user gave never is.
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused(format_args!(
            "--name '{name}': digits alone are kept for barco's default names (its pid); add a letter"
        )));
    }
    Ok(())
}

/// The filesystem type of `path` (statfs(2)), or 0: one copy for
/// `hierarchy` and `delegated`.
fn magic(path: &Path) -> i64 {
    statfs(&*path_c(path)).map(|s| s.f_type).unwrap_or(0)
}

/// Finds the host's hierarchy under `mount` (normally `/sys/fs/cgroup`):
/// cgroup2 with the memory, cpu and pids controllers, or else the v1
/// hierarchies; `own` reads `/proc/self/cgroup`, which only v1 needs.
pub fn hierarchy(mount: &Path, own: &dyn Fn() -> String) -> Option<Hierarchy> {
    let own = own();
    if magic(mount) == CGROUP2_SUPER_MAGIC {
        let path = own_v2(&own).unwrap_or_default().to_string();
        return offers_controllers(mount).then(|| Hierarchy::V2 { root: mount.to_path_buf(), own: path });
    }
    let v1 = |controller: &str| -> Option<(PathBuf, String)> {
        let dir = mount.join(controller);
        if magic(&dir) != CGROUP_SUPER_MAGIC {
            return None;
        }
        // "4:memory:/some/path" or "1:cpu,cpuacct:/path"
        let path = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, list, path) = (f.next()?, f.next()?, f.next()?);
            list.split(',').any(|c| c == controller).then(|| below_root(path).to_string())
        })?;
        Some((dir, path))
    };
    match (v1("memory"), v1("cpu"), v1("pids")) {
        (Some(memory), Some(cpu), Some(pids)) => Some(Hierarchy::V1 { memory, cpu, pids }),
        _ => None,
    }
}

/// For a caller who is not root: the cgroup v2 subtree delegated to it, if
/// any. That is the parent of barco's own cgroup when the caller may write
/// it and its `cgroup.subtree_control` and it offers memory, cpu and pids,
/// as a systemd user slice does (`Delegate=`). barco's own cgroup has
/// processes, so it cannot hold the container's (no internal processes);
/// its parent has none. Containers then go in `PARENT/barco/NAME`, as
/// root's go in `/sys/fs/cgroup/barco/NAME`.
pub fn delegated(mount: &Path, own: &dyn Fn() -> String) -> Option<Hierarchy> {
    use rustix::fs::{access, Access};
    if magic(mount) != CGROUP2_SUPER_MAGIC {
        return None;
    }
    let own = own();
    let (parent, own) = split_own(&own)?;
    let parent = mount.join(parent);
    // Each path made a C string by c() or file(), and dropped in `may`.
    let may = |p: CString, how| access(&*p, how).is_ok();
    let writable = may(c(&parent), Access::WRITE_OK | Access::EXEC_OK)
        && may(file(&parent, "cgroup.subtree_control"), Access::WRITE_OK)
        && may(file(&parent, "cgroup.procs"), Access::WRITE_OK);
    (writable && offers_controllers(&parent)).then(|| Hierarchy::V2 { root: parent, own: own.to_string() })
}

/// Whether the cgroup2 directory `dir` offers the memory, cpu and pids
/// controllers to its children (`cgroup.controllers`, names the kernel
/// separates with single spaces: see `machine::take_the_console`).
fn offers_controllers(dir: &Path) -> bool {
    crate::plan::read_text(dir.join("cgroup.controllers")).is_some_and(|c| {
        ["memory", "cpu", "pids"].iter().all(|want| c.trim_ascii().split(' ').any(|have| have == *want))
    })
}

/// barco's own cgroup v2, from the `0::` line of `/proc/self/cgroup`: its
/// parent's path below the mount, and its name. None for the root cgroup,
/// and for a cgroup above the root of barco's cgroup namespace, which the
/// kernel shows as `/..` (cgroup_namespaces(7)). Split at the last `/` by
/// bytes: `Path::parent` and `file_name` would bring std's reverse path
/// parser (0.4 KB of `just tiny`).
fn split_own(proc_self_cgroup: &str) -> Option<(&str, &str)> {
    let mine = own_v2(proc_self_cgroup)?;
    let (parent, name) = match mine.bytes().rposition(|b| b == b'/') {
        Some(slash) => (&mine[..slash], &mine[slash + 1..]),
        None => ("", mine),
    };
    (!name.is_empty() && name != "..").then_some((parent, name))
}

/// barco's own cgroup v2 below the mount, from the `0::/some/path` line of
/// `/proc/self/cgroup`. One copy of the search for `hierarchy` and
/// `split_own`.
fn own_v2(proc_self_cgroup: &str) -> Option<&str> {
    Some(below_root(proc_self_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?))
}

/// A cgroup's path from `/proc/self/cgroup` without its leading slashes,
/// relative to the hierarchy's mount. Found by bytes: `trim_start_matches`
/// was 0.2 KB more of `just tiny`.
fn below_root(path: &str) -> &str {
    &path[path.bytes().take_while(|b| *b == b'/').count()..]
}

fn c(p: impl AsRef<Path>) -> CString {
    path_c(p.as_ref())
}

fn value(s: impl Into<Vec<u8>>) -> CString {
    bytes_c(s.into())
}

/// `n` in decimal, as a C string. Not inlined: each of the seven values
/// written as a number would carry a copy of the formatting.
#[inline(never)]
fn number(n: u64) -> CString {
    value(dec(n).to_string())
}

/// `dir/name` as a C string.
#[inline(never)]
fn file(dir: &Path, name: &str) -> CString {
    path_c(&dir.join(name))
}

/// Not inlined, nor are `bytes_c` and `file`: each would be copied into
/// the twenty places that make one (0.7 KB of `just tiny`).
#[inline(never)]
fn path_c(p: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    bytes_c(p.as_os_str().as_bytes().to_vec())
}

#[inline(never)]
fn bytes_c(v: Vec<u8>) -> CString {
    CString::new(v).unwrap_or_default()
}

/// Adds the write of `value` to `dir/name` to `writes`. Not inlined, and
/// called once a write instead of a `vec!` of them: each write's two C
/// strings were otherwise moved through the stack at each of the thirteen
/// (0.6 KB of `just tiny`).
#[inline(never)]
fn push_write(writes: &mut Vec<(CString, CString)>, dir: &Path, name: &str, value: CString) {
    writes.push((file(dir, name), value));
}

/// The whole plan of the container's cgroup.
pub fn plan(h: &Hierarchy, name: &str, l: &Limits) -> Cgroup {
    let max = |v: Option<u64>| v.map_or_else(|| value("max"), number);
    let memory_display = l.memory.map_or("max", |m| format!("--memory {}", human(m)).leak());
    let pids_display = l.pids.map_or("max", |p| format!("--pids {}", dec(p)).leak());
    // What the versions differ in: barco's shared parents (made first), the
    // container's leaves (memory's first, pids' last), where stale ones are
    // looked for, the writes, and the cgroup to leave to. The rest is made
    // from these below, the same for both.
    let mut writes = Vec::new();
    let (parents, leaves, barco_dirs, home) = match h {
        Hierarchy::V2 { root, own } => {
            let parent = root.join("barco");
            let leaf = parent.join(name);
            push_write(&mut writes, root, "cgroup.subtree_control", value("+memory +cpu +pids"));
            push_write(&mut writes, &parent, "cgroup.subtree_control", value("+memory +cpu +pids"));
            push_write(&mut writes, &leaf, "memory.max", max(l.memory));
            push_write(&mut writes, &leaf, "cpu.weight", number(l.cpu_weight));
            push_write(&mut writes, &leaf, "pids.max", max(l.pids));
            if let Some(swap) = l.swap {
                push_write(&mut writes, &leaf, "memory.swap.max", max(swap));
            }
            if let Some(q) = l.cpu_quota {
                push_write(&mut writes, &leaf, "cpu.max", value(format!("{} {}", dec(q), dec(CPU_PERIOD))));
            }
            let home = vec![file(&root.join(own), "cgroup.procs")];
            (vec![c(&parent)], vec![leaf], vec![c(parent)], home)
        }
        Hierarchy::V1 { memory, cpu, pids } => {
            // Flat, `barco-NAME` beside barco's own cgroup: v1 has no
            // no-internal-processes rule to need a parent, and a parent made
            // and removed with every container cost two v1 cgroups, each
            // with its dozens of kernfs files, a run.
            let at = |(mount, own): &(PathBuf, String)| {
                let home = if own.is_empty() { mount.clone() } else { mount.join(own) };
                let leaf = home.join(format!("{STALE_PREFIX_V1}{name}"));
                // barco's own cgroup made a C string here, once for the
                // three: no PathBuf of it left to drop in the arm.
                (c(home), leaf)
            };
            let (m, cp, p) = (at(memory), at(cpu), at(pids));
            push_write(&mut writes, &m.1, "memory.limit_in_bytes", l.memory.map_or_else(|| value("-1"), number));
            push_write(&mut writes, &cp.1, "cpu.shares", number(weight_to_shares(l.cpu_weight)));
            push_write(&mut writes, &p.1, "pids.max", max(l.pids));
            if let (Some(swap), Some(mem)) = (l.swap, l.memory) {
                // v1 limits memory+swap together.
                let total = swap.map_or_else(|| value("-1"), |s| number(mem.saturating_add(s)));
                push_write(&mut writes, &m.1, "memory.memsw.limit_in_bytes", total);
            }
            if let Some(q) = l.cpu_quota {
                push_write(&mut writes, &cp.1, "cpu.cfs_period_us", number(CPU_PERIOD));
                push_write(&mut writes, &cp.1, "cpu.cfs_quota_us", number(q));
            }
            (Vec::new(), vec![m.1, cp.1, p.1], vec![m.0, cp.0, p.0], Vec::new())
        }
    };
    let v2 = matches!(h, Hierarchy::V2 { .. });
    let (join_file, oom_file, stale_prefix) =
        if v2 { ("cgroup.procs", "memory.events", "") } else { ("tasks", "memory.oom_control", STALE_PREFIX_V1) };
    // Lists pushed in loops, not collected: 0.2 KB of `just tiny`.
    let (parent_count, mut dirs) = (parents.len(), parents);
    let mut taken_lines = Vec::new();
    taken_lines.resize(parent_count, None);
    let (mut join, mut join_display) = (Vec::new(), Vec::new());
    for leaf in &leaves {
        dirs.push(c(leaf));
        taken_lines.push(Some(taken(name, leaf)));
        // Shown as the C string made (paths have no NUL): no second join.
        let procs = file(leaf, join_file);
        join_display.push(leak(procs.to_string_lossy()));
        join.push(procs);
    }
    // v2's one leaf has every controller.
    let (memory_leaf, pids_leaf) = (&leaves[0], &leaves[leaves.len() - 1]);
    Cgroup {
        v2,
        dirs,
        taken: taken_lines,
        reclaim: is_pid(name),
        parents: parent_count,
        writes,
        join,
        join_display,
        home,
        oom_events: (file(memory_leaf, oom_file), "oom_kill"),
        pids_events: (file(pids_leaf, "pids.events"), "max"),
        kill: if v2 { file(&leaves[0], "cgroup.kill") } else { CString::default() },
        memory_display,
        pids_display,
        barco_dirs,
        stale_prefix,
    }
}

/// Whether a name is barco's default, its pid: `--name` refuses digits
/// alone ([`check_name`]).
fn is_pid(name: &str) -> bool {
    parse_u64(name.as_bytes()).is_some()
}

fn taken(name: &str, leaf: &Path) -> String {
    format!(
        "a container named '{name}' is running (its cgroup {} exists); choose another --name",
        leaf.to_string_lossy()
    )
}

/// `bytes` in the largest of K, M, G and T that divides it.
fn human(bytes: u64) -> String {
    // The unit from the trailing zero bits: ten a unit.
    let units = if bytes == 0 { 0 } else { (bytes.trailing_zeros() / 10).min(4) as usize };
    match units {
        0 => dec(bytes).to_string(),
        n => format!("{}{}", dec(bytes >> (10 * n)), &"KMGT"[n - 1..n]),
    }
}

pub fn own_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

impl Cgroup {
    fn error(&'static self, path: &'static CStr, e: Errno) -> Error {
        Error::os(Stage::Cgroup, path.to_str().unwrap_or("(a path that is not UTF-8)"), e)
    }

    /// The container's own directories, after the shared parents in
    /// `dirs`: v2's one, or v1's memory, cpu and pids leaves, in that
    /// order (`join` and `kill_all` walk them alike).
    fn leaves(&self) -> &[CString] {
        &self.dirs[self.parents..]
    }

    /// Whether the child joins the cgroup itself, after the supervisor
    /// created it during the child's setup (v1; see the module's doc).
    pub fn joined_by_child(&self) -> bool {
        !self.v2
    }

    /// Before a clone whose child joins later: refuses a leaf that exists
    /// (another container's of the same name) while nothing has started,
    /// unless it is a stale one of barco's own pid ([`Cgroup::reclaimed`]).
    /// `create` still catches one made in between.
    pub fn check_free(&'static self) -> Result<(), Error> {
        for (dir, taken) in self.dirs.iter().zip(&self.taken) {
            if let (Some(line), Ok(_)) = (taken, rustix::fs::stat(dir.as_c_str())) {
                if !self.reclaimed(dir) {
                    return Err(Error::usage(line.as_str()));
                }
            }
        }
        Ok(())
    }

    /// Removes a leaf that exists, if its name is barco's own pid, no barco
    /// claims it, and it is empty (rmdir refuses one that holds processes):
    /// see `reclaim`. No heap.
    fn reclaimed(&self, leaf: &CStr) -> bool {
        let removed = self.reclaim && remove_unclaimed(CWD, leaf).is_ok();
        if removed {
            debug!("removed the stale cgroup {} (no barco claimed it)", Lossy(leaf.to_bytes()));
        }
        removed
    }

    /// Claims a leaf `create` has just made: [`claim_at`], then a check
    /// that the path is still that directory. Another barco of the same
    /// default name may have taken it over between the mkdir and the claim
    /// (it was empty and unclaimed then): then it is theirs, `Err(None)`.
    /// Any other failure is `Err(Some(errno))`. No heap.
    fn claim_made(&self, leaf: &CStr) -> Result<OwnedFd, Option<Errno>> {
        // The errors sorted once, at the end: fstat of the open claim fails
        // with neither of the errnos that mean another barco took it.
        let claimed = || -> Result<(bool, OwnedFd), Errno> {
            let claim = claim_at(CWD, leaf)?;
            let (held, now) = (rustix::fs::fstat(&claim)?, rustix::fs::stat(leaf)?);
            Ok(((held.st_dev, held.st_ino) == (now.st_dev, now.st_ino), claim))
        };
        match claimed() {
            Ok((true, claim)) => Ok(claim),
            Ok((false, _)) => Err(None),
            Err(Errno::WOULDBLOCK | Errno::NOENT) if self.reclaim => Err(None),
            Err(e) => Err(Some(e)),
        }
    }

    /// Creates the container's cgroup and writes its limits. No heap: on
    /// v1 it runs after the clone. (Stale cgroups are swept later, off the
    /// path to the command: see [`Made::watch`]. One named after barco's
    /// own pid, left by a SIGKILLed barco that had it, is removed and made
    /// again here if it is empty: see `reclaim`.) Not inlined into
    /// `supervise::make_cgroup`, its one caller (48 bytes of `just tiny`).
    #[inline(never)]
    pub fn create(&'static self) -> Result<Made, Error> {
        // Another barco removes the shared parent when it leaves it empty,
        // perhaps between our mkdir of it and of our leaf: start over then.
        let mut tries = 0;
        // Bit i: dirs[i] was made by us (there are at most three).
        let mut made = 0u32;
        let mut claims = [None, None, None];
        'again: loop {
            for (i, dir) in self.dirs.iter().enumerate() {
                match mkdir(dir.as_c_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) => made |= 1 << i,
                    Err(Errno::EXIST) if made & (1 << i) != 0 => {}
                    Err(Errno::EXIST) => match &self.taken[i] {
                        None => {}
                        Some(_) if self.reclaimed(dir) && mkdir(dir.as_c_str(), Mode::from_raw_mode(0o755)).is_ok() => {
                            made |= 1 << i
                        }
                        Some(line) => {
                            self.unmake(made);
                            return Err(Error::usage(line.as_str()));
                        }
                    },
                    Err(Errno::NOENT) if tries < 100 => {
                        tries += 1;
                        continue 'again;
                    }
                    Err(e) => {
                        self.unmake(made);
                        return Err(self.error(dir, e));
                    }
                }
                // Each leaf is claimed as soon as it is made, and until it
                // is removed (`Made`).
                if let (Some(line), None) = (&self.taken[i], &claims[i]) {
                    match self.claim_made(dir) {
                        Ok(claim) => claims[i] = Some(claim),
                        Err(None) => {
                            self.unmake(made & !(1 << i));
                            return Err(Error::usage(line.as_str()));
                        }
                        Err(Some(e)) => {
                            self.unmake(made);
                            return Err(self.error(dir, e));
                        }
                    }
                }
            }
            break;
        }
        for (file, text) in &self.writes {
            let path = file.to_bytes();
            let name = path.iter().rposition(|&b| b == b'/').map_or(path, |slash| &path[slash + 1..]);
            info!("setting {} to {}...", Lossy(name), Lossy(text.to_bytes()));
            if let Err(e) = write_kernel_file(file, text.as_bytes()) {
                self.remove();
                return Err(self.error(file, e));
            }
        }
        Ok(Made { cg: self, oom: None, pids: None, _claims: claims })
    }

    /// Removes the directories `create` made (and only those: a leaf that
    /// existed belongs to another container), deepest first.
    fn unmake(&self, made: u32) {
        for (i, dir) in self.dirs.iter().enumerate().rev() {
            if made & (1 << i) != 0 {
                let _ = unlinkat(CWD, dir.as_c_str(), AtFlags::REMOVEDIR);
            }
        }
    }

    /// Cgroups named after a barco pid that no longer runs, and that no
    /// barco [claims](claim_at), are left by a SIGKILLed barco: remove them
    /// (rmdir only succeeds when empty). (The claim decides: a barco in
    /// another PID namespace has a pid that is not this one's.) No heap:
    /// the listing goes through a stack buffer.
    fn remove_stale(&self) {
        for parent in &self.barco_dirs {
            let Ok(dir) = open(parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) else {
                continue;
            };
            let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); 4096];
            let mut entries = RawDir::new(&dir, &mut buf);
            while let Some(Ok(e)) = entries.next() {
                let name = e.file_name().to_bytes();
                let pid = name.strip_prefix(self.stale_prefix.as_bytes()).and_then(parse_u64);
                let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else { continue };
                // kill(pid, 0): ESRCH only when no such process exists.
                if e.file_type() != FileType::Directory || crate::sys::kill(pid, 0) != Err(Errno::SRCH) {
                    continue;
                }
                let (parent, name) = (Lossy(parent.to_bytes()), Lossy(e.file_name().to_bytes()));
                // EWOULDBLOCK: a barco of another PID namespace's.
                match remove_unclaimed(dir.as_fd(), e.file_name()) {
                    Ok(()) => debug!("removed the stale cgroup {}/{}", parent, name),
                    Err(err) => debug!("stale cgroup {}/{}: {}", parent, name, strerror(err)),
                }
            }
        }
    }

    /// An `O_PATH` descriptor of the v2 leaf, for `CLONE_INTO_CGROUP`.
    pub fn leaf_fd(&self) -> Option<OwnedFd> {
        if !self.v2 {
            return None;
        }
        openat(CWD, self.leaves()[0].as_c_str(), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()
    }

    /// The child moves itself into the v1 cgroups: `0` (the calling thread)
    /// to each `tasks`. Moving one thread skips the write lock on
    /// cgroup_threadgroup_rwsem, whose RCU grace period cost up to 30 ms a
    /// move here (cgroup_procs_write_start() in kernel/cgroup/cgroup.c);
    /// the child is single-threaded, so the thread is the process. Raw
    /// syscalls only: it runs in the child.
    pub fn join_self(&self) -> Result<(), Failure> {
        for (i, tasks) in self.join.iter().enumerate() {
            write_kernel_file(tasks, b"0").at_index(Stage::JoinCgroup, i)?;
        }
        Ok(())
    }

    /// What the child's error names when joining `join[index]` failed.
    pub fn join_display(&self, index: u16) -> Option<&str> {
        self.join_display.get(usize::from(index)).copied()
    }

    /// Moves barco itself into the container's v2 cgroup, so that a child
    /// cloned now starts there (kernels without CLONE_INTO_CGROUP); on
    /// failure, back out again. No heap: the error borrows its subject
    /// from the plan.
    pub fn join(&'static self) -> Result<(), Error> {
        let mut buf = [0u8; 20];
        let pid = crate::log::decimal(own_pid().into(), &mut buf);
        for (procs, shown) in self.join.iter().zip(&self.join_display) {
            if let Err(e) = write_kernel_file(procs, pid) {
                self.leave();
                return Err(Error::os(Stage::Cgroup, *shown, e));
            }
        }
        Ok(())
    }

    /// Moves barco back to where it was. No heap.
    pub fn leave(&self) {
        let mut buf = [0u8; 20];
        let pid = crate::log::decimal(own_pid().into(), &mut buf);
        for procs in &self.home {
            if let Err(e) = write_kernel_file(procs, pid) {
                warning!("cgroup: moving barco back to {}: {}", Lossy(procs.to_bytes()), strerror(e));
            }
        }
    }

    /// Removes the directories, leaves first. A leaf still busy has its
    /// processes killed first: usually there are none, as the container's
    /// PID namespace died with its init, so the kill waits for a refusal.
    fn remove(&self) {
        for (i, leaf) in self.leaves().iter().enumerate() {
            // Killed processes take a moment to leave the cgroup.
            for attempt in 0..2000 {
                // One warning for a leaf still busy at the last attempt or
                // another error.
                let e = match rustix::fs::unlinkat(CWD, leaf.as_c_str(), rustix::fs::AtFlags::REMOVEDIR) {
                    Err(Errno::BUSY) if attempt == 0 => {
                        self.kill_all(i);
                        continue;
                    }
                    Err(Errno::BUSY) if attempt < 1999 => {
                        let _ = rustix::thread::nanosleep(&rustix::thread::Timespec { tv_sec: 0, tv_nsec: 500_000 });
                        continue;
                    }
                    Ok(()) | Err(Errno::NOENT) => break,
                    Err(e) => e,
                };
                warning!("cgroup: removing {}: {}", Lossy(leaf.to_bytes()), strerror(e));
                break;
            }
        }
        for parent in &self.dirs[..self.parents] {
            // Shared with other containers: goes only when empty.
            let _ = rustix::fs::unlinkat(CWD, parent.as_c_str(), rustix::fs::AtFlags::REMOVEDIR);
        }
    }

    /// Kills every process in `leaves[leaf]`: cgroup.kill only when barco
    /// itself is not inside (a failed leave). Not inlined into `remove`'s
    /// loop, which calls it once (0.1 KB of `just tiny`).
    #[inline(never)]
    fn kill_all(&self, leaf: usize) {
        // The leaf's own list (v1: `tasks`, thread ids; kill(2) of one
        // signals its whole process): a process may be in one v1 hierarchy
        // and not the others. (v1 has no cgroup.kill: one read, not two.)
        let procs = &self.join[leaf];
        let killed =
            self.v2 && !for_each_pid(procs, &mut |pid| pid == own_pid()) && write_kernel_file(&self.kill, b"1").is_ok();
        if !killed {
            for_each_pid(procs, &mut |pid| {
                if pid != 0 && pid != own_pid() {
                    let _ = crate::sys::kill(pid as i32, linux_raw_sys::general::SIGKILL);
                }
                false
            });
        }
    }
}

/// The container's cgroup, made, until [`Made::finish`]. No heap.
pub struct Made {
    cg: &'static Cgroup,
    /// The counters `finish` reads, opened by [`Made::watch`].
    oom: Option<OwnedFd>,
    pids: Option<OwnedFd>,
    /// barco's [claim](claim_at) on each leaf, dropped after `finish`
    /// removed them.
    _claims: [Option<OwnedFd>; 3],
}

impl Made {
    /// Once the command runs, while the supervisor only waits: sweeps stale
    /// cgroups, and opens the counters that `finish` will read, so that
    /// barco's exit after its container's takes three syscalls fewer.
    /// Not inlined into `supervise`, which calls it once: see there.
    #[inline(never)]
    pub fn watch(&mut self) {
        self.cg.remove_stale();
        self.oom = open_ro(&self.cg.oom_events.0);
        self.pids = open_ro(&self.cg.pids_events.0);
    }

    /// After the container: reports an OOM kill or refused forks, and
    /// removes the cgroups, killing what is in one only if its rmdir is
    /// refused. No heap. Not inlined into `supervise::run`, which calls it
    /// once (64 bytes of `just tiny`).
    #[inline(never)]
    pub fn finish(self) {
        let cg = self.cg;
        let oom = counter(self.oom, &cg.oom_events.0, cg.oom_events.1).unwrap_or(0);
        if oom > 0 {
            crate::log::line(format_args!(
                "barco: the container ran out of memory ({}): the kernel killed {} process{}",
                cg.memory_display,
                dec(oom),
                if oom == 1 { "" } else { "es" }
            ));
        }
        let refused = counter(self.pids, &cg.pids_events.0, cg.pids_events.1).unwrap_or(0);
        if refused > 0 {
            crate::log::line(format_args!(
                "barco: the container hit its process limit ({}): {} fork{} refused",
                cg.pids_display,
                dec(refused),
                if refused == 1 { " was" } else { "s were" }
            ));
        }
        cg.remove();
    }
}

/// Bytes shown as `String::from_utf8_lossy` shows them (each invalid
/// sequence a U+FFFD), written piece by piece: no `Cow` to make and drop
/// at each log line that shows a path. No heap.
struct Lossy<'a>(&'a [u8]);

impl core::fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// barco's claim on a leaf: the directory, open, with an exclusive
/// `flock(2)` on it, held while barco runs. The kernel drops it when barco
/// exits, however it exits, so a leaf that nobody claims has no barco
/// alive to own it, whatever PID namespace its name's pid is in (but for
/// the moment between a barco's mkdir and its claim: a leaf taken over
/// then is the other barco's, and this one is refused as a name in use).
/// On v2, where the clone comes after, the child holds it too until it
/// closes its descriptors before the command. Fails with EWOULDBLOCK when
/// another barco holds it. No heap. `dir` a `BorrowedFd`, not a generic:
/// one copy of this and `remove_unclaimed` for `CWD` and an open directory.
///
/// # References
/// - [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
fn claim_at(dir: BorrowedFd, leaf: &CStr) -> Result<OwnedFd, Errno> {
    let fd = openat(dir, leaf, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(fd)
}

/// Removes a leaf that no barco claims: claimed across the rmdir (which
/// refuses one that holds processes), so that no barco claims it meanwhile.
/// No heap.
fn remove_unclaimed(dir: BorrowedFd, leaf: &CStr) -> Result<(), Errno> {
    let _claim = claim_at(dir, leaf)?;
    unlinkat(dir, leaf, AtFlags::REMOVEDIR)
}

/// A cgroup file, opened for reading. No heap.
fn open_ro(file: &CStr) -> Option<OwnedFd> {
    open(file, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
}

/// Calls `f` on each pid listed in a `cgroup.procs` file, until it
/// returns true; returns whether it did. No heap. `f` a `dyn`: one copy
/// for both of `kill_all`'s uses.
fn for_each_pid(procs: &CStr, f: &mut dyn FnMut(u32) -> bool) -> bool {
    let mut buf = [0u8; 4096];
    contents(None, procs, &mut buf).split(|&b| b == b'\n').filter_map(parse_u64).any(|pid| f(pid as u32))
}

/// What a cgroup file holds (read from `fd` if it is open already), as
/// far as `buf` goes; nothing if it cannot be read. No heap. One copy of
/// the read for `for_each_pid` and `counter`.
fn contents<'a>(fd: Option<OwnedFd>, file: &CStr, buf: &'a mut [u8; 4096]) -> &'a [u8] {
    let n = fd.or_else(|| open_ro(file)).map_or(0, |fd| read(&fd, &mut *buf).unwrap_or(0));
    &buf[..n]
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// The number after `key ` in a flat-keyed cgroup file, read from `fd` if
/// it is open already. No heap.
fn counter(fd: Option<OwnedFd>, file: &CStr, key: &str) -> Option<u64> {
    let mut buf = [0u8; 4096];
    contents(fd, file, &mut buf).split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(key.as_bytes())?.strip_prefix(b" ")?;
        parse_u64(rest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_splits_into_parent_and_name() {
        let own = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(split_own(own), Some(("user.slice/user-1000.slice", "session-3.scope")));
        assert_eq!(split_own("12:pids:/x\n0::/top\n"), Some(("", "top")));
        assert_eq!(split_own("0::/\n"), None, "the root cgroup has no parent to delegate");
        assert_eq!(split_own("1:name=systemd:/a/b\n"), None, "no cgroup v2 line");
        assert_eq!(split_own("0::/..\n"), None, "above the cgroup namespace's root");
        assert_eq!(split_own("0::/../../x.scope\n"), Some(("../..", "x.scope")));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Some(Some(1 << 30)));
        assert_eq!(parse_size("512m"), Some(Some(512 << 20)));
        assert_eq!(parse_size("64KiB"), Some(Some(64 << 10)));
        assert_eq!(parse_size("2tb"), Some(Some(2 << 40)));
        assert_eq!(parse_size("4096"), Some(Some(4096)));
        assert_eq!(parse_size("max"), Some(None));
        for bad in ["", "G", "1.5G", "-1", "1X", "99999999999999999999", "16777216T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        let shown = [1 << 30, 1536 << 20, 5 << 40, 3 << 50, 1000, 0].map(human);
        assert_eq!(shown, ["1G", "1536M", "5T", "3072T", "1000", "0"]);
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5"), Some(150_000));
        assert_eq!(parse_cpus("2"), Some(200_000));
        assert_eq!(parse_cpus("0.01"), Some(1_000));
        assert_eq!(parse_cpus(".5"), Some(50_000));
        assert_eq!(parse_cpus("0.000001"), None);
        assert_eq!(parse_cpus("1.00001"), Some(100_001));
        assert_eq!(parse_cpus("0.1234500"), Some(12_345), "zeros past a microsecond");
        assert_eq!(parse_cpus("abc"), None);
        assert_eq!(parse_cpus("."), None);
    }

    #[test]
    fn weights_and_shares() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        assert_eq!(weight_to_shares(100), 2597);
    }

    #[test]
    fn names() {
        assert!(check_name("web-1.a_b").is_ok());
        assert!(check_name("4000002x").is_ok());
        for bad in ["", ".", "..", "a/b", "x y", &"n".repeat(65), "4000002", "0"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lossy_shows_bytes_as_from_utf8_lossy_does() {
        let cases: [&[u8]; 8] = [
            b"",
            b"/sys/fs/cgroup/barco/c1",
            b"a\xffb",
            b"\xe2\x82",
            b"x\xe2\x82\xacy\xc3",
            b"\xf0\x9f\x98",
            b"\x80\x80",
            "é€😀".as_bytes(),
        ];
        for bytes in cases {
            assert_eq!(Lossy(bytes).to_string(), String::from_utf8_lossy(bytes), "{bytes:?}");
        }
    }

    #[test]
    fn counters_and_numbers() {
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
    }

    #[test]
    fn v2_plan() {
        let l = Limits {
            memory: Some(1 << 30),
            swap: Some(None),
            cpu_quota: Some(50_000),
            cpu_weight: 256,
            pids: Some(64),
        };
        let g = plan(&Hierarchy::V2 { root: "/sys/fs/cgroup".into(), own: "user.slice/me".into() }, "c1", &l);
        assert_eq!(g.home, [c("/sys/fs/cgroup/user.slice/me/cgroup.procs")]);
        let writes: Vec<(String, String)> =
            g.writes.iter().map(|(f, v)| (f.to_string_lossy().into(), v.to_string_lossy().into())).collect();
        assert!(writes.contains(&("/sys/fs/cgroup/cgroup.subtree_control".into(), "+memory +cpu +pids".into())));
        assert!(writes.contains(&("/sys/fs/cgroup/barco/c1/memory.max".into(), "1073741824".into())));
        assert!(writes.contains(&("/sys/fs/cgroup/barco/c1/memory.swap.max".into(), "max".into())));
        assert!(writes.contains(&("/sys/fs/cgroup/barco/c1/cpu.max".into(), "50000 100000".into())));
        assert!(writes.contains(&("/sys/fs/cgroup/barco/c1/cpu.weight".into(), "256".into())));
        assert!(writes.contains(&("/sys/fs/cgroup/barco/c1/pids.max".into(), "64".into())));
        assert_eq!(g.dirs, [c("/sys/fs/cgroup/barco"), c("/sys/fs/cgroup/barco/c1")]);
        assert_eq!(g.memory_display, "--memory 1G");
    }

    #[test]
    fn v1_plan_nests_under_barcos_own_cgroup() {
        let own = "4:memory:/sandbox/x\n1:cpu,cpuacct:/\n8:pids:/\n0::/\n";
        let h = Hierarchy::V1 {
            memory: ("/m".into(), "sandbox/x".into()),
            cpu: ("/c".into(), "".into()),
            pids: ("/p".into(), "".into()),
        };
        assert!(own.contains("cpu,cpuacct"));
        let l =
            Limits { memory: Some(1 << 20), swap: Some(Some(1 << 20)), cpu_quota: None, cpu_weight: 100, pids: None };
        let g = plan(&h, "7", &l);
        let writes: Vec<(String, String)> =
            g.writes.iter().map(|(f, v)| (f.to_string_lossy().into(), v.to_string_lossy().into())).collect();
        assert!(writes.contains(&("/m/sandbox/x/barco-7/memory.limit_in_bytes".into(), "1048576".into())));
        assert!(writes.contains(&("/m/sandbox/x/barco-7/memory.memsw.limit_in_bytes".into(), "2097152".into())));
        assert!(writes.contains(&("/c/barco-7/cpu.shares".into(), "2597".into())));
        assert!(writes.contains(&("/p/barco-7/pids.max".into(), "max".into())));
        assert!(g.parents == 0, "no parent to make and remove");
        assert!(g.joined_by_child());
        assert_eq!(g.join[0], c("/m/sandbox/x/barco-7/tasks"));
        assert_eq!(g.barco_dirs, [c("/m/sandbox/x"), c("/c"), c("/p")]);
        assert!(g.taken[0].as_deref().unwrap().contains("its cgroup /m/sandbox/x/barco-7 exists"));
        assert!(g.reclaim, "a default name, barco's pid: a stale leaf of it is reused");
        assert!(!plan(&h, "web", &l).reclaim, "a name the user gave: a leaf of it is another container's");
    }
}
