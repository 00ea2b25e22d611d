#!/usr/bin/env python3
"""barco's benchmark, run by `just bench`: start-up latency, where barco's
time goes, binary size, peak RSS and throughput, against bwrap, crun, runc,
util-linux's unshare, a bare /bin/true and a floor program (bench/floor.c),
all measured in the same run on the same busybox rootfs.

Writes bench/results.md and bench/startup.svg and prints ratios. Needs
root, hyperfine, bubblewrap, crun, runc and musl-gcc (Debian packages; it
installs the missing ones). BENCH_RUNS sets hyperfine's runs (default 100).
Nothing here asserts a time: these are measurements, not tests.
"""

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"
BARCO = TARGET / "x86_64-unknown-linux-musl/release/barco"
ROOTFS = TARGET / "bench-rootfs"
FLOOR = TARGET / "floor"
# Issue 7's start-up targets: barco this many times faster than each peer.
TARGETS = {"bwrap": 2.5, "crun": 4}
TINY = TARGET / "tiny/x86_64-unknown-linux-musl/release/barco"
# barco built with `--features ablation`: BARCO_ABLATE skips setup steps.
ABLATION = TARGET / "ablation/x86_64-unknown-linux-musl/release/barco"
# The steps it can skip (plan::Step), each priced alone, then all at once;
# with the lines of PROBE's output that skipping each must change, and only
# those (without /dev there are no /etc binds either: they are written there).
STEPS = {"hostname": {0}, "network": {1}, "proc-masks": {2}, "dev": {3, 4}, "etc-files": {4}, "caps": {5}}
BUNDLE = TARGET / "bench-bundle"
OUT = ROOT / "bench"
RUNS = int(os.environ.get("BENCH_RUNS", "100"))
PACKAGES = {"hyperfine": "hyperfine", "bwrap": "bubblewrap", "crun": "crun", "runc": "runc", "musl-gcc": "musl-tools"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def prepare():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the peers and barco create namespaces)")
    missing = [pkg for cmd, pkg in PACKAGES.items() if shutil.which(cmd) is None]
    if missing:
        print(f"bench: installing {' '.join(missing)}")
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], stdout=subprocess.DEVNULL)
    # The rootfs: the demo busybox rootfs, plus a tiny static /true for the
    # RSS measurement (busybox's own true would dominate it).
    if ROOTFS.exists():
        shutil.rmtree(ROOTFS)
    run(["cp", "-a", str(TARGET / "rootfs"), str(ROOTFS)])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "true.c"
        src.write_text("int main(void) { return 0; }\n")
        run(["musl-gcc", "-static", "-Os", "-s", "-o", str(ROOTFS / "true"), str(src)])
    run(["musl-gcc", "-static", "-O2", "-o", str(FLOOR), str(OUT / "floor.c")])
    run(["cargo", "build", "--quiet", "--release", "--features", "ablation", "--target-dir", str(TARGET / "ablation")],
        cwd=ROOT)
    check_ablation()
    # One OCI bundle for crun and runc: the same rootfs, namespaces and ids.
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    BUNDLE.mkdir(parents=True)
    run(["runc", "spec"], cwd=BUNDLE)
    spec = json.loads((BUNDLE / "config.json").read_text())
    spec["root"] = {"path": str(ROOTFS), "readonly": False}
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    spec["hostname"] = "bench"
    ns = spec["linux"]["namespaces"]
    for extra in ("user", "cgroup"):
        if not any(n["type"] == extra for n in ns):
            ns.append({"type": extra})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 10000, "size": 2000}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 10000, "size": 2000}]
    (BUNDLE / "config.json").write_text(json.dumps(spec, indent=2))


# crun refuses hybrid cgroups: give it a cgroup2 of its own, in a mount
# namespace that the whole hyperfine run shares (so its cost is not counted).
CRUN_WRAP = ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"", "sh"]


# Rootless rows: hyperfine itself runs as an unprivileged user, so no
# wrapper is timed. barco has no delegated cgroup on this host then.
USER_WRAP = ["setpriv", "--reuid=4321", "--regid=4321", "--clear-groups"]


def launchers(payload):
    r = str(ROOTFS)
    return [
        ("bare /bin/true", None, ["/bin/true"]),
        ("floor", None, [str(FLOOR), r, payload]),
        ("barco", None, [str(BARCO), "-m", r, "--", payload]),
        ("barco --cgroup none", None, [str(BARCO), "-m", r, "--cgroup", "none", "--", payload]),
        ("barco --seccomp none", None, [str(BARCO), "-m", r, "--seccomp", "none", "--", payload]),
        ("barco, neither", None, [str(BARCO), "-m", r, "--cgroup", "none", "--seccomp", "none", "--", payload]),
        ("unshare", None, ["unshare", "-U", "-r", "-m", "-u", "-i", "-n", "-p", "-f", "-C", "/bin/true"]),
        ("bwrap", None, ["bwrap", "--unshare-all", "--unshare-user", "--bind", r, "/", "--proc", "/proc",
                         "--dev", "/dev", payload]),
        ("barco, rootless", USER_WRAP, [str(BARCO), "-m", r, "--cgroup", "none", "--", payload]),
        ("bwrap, rootless", USER_WRAP, ["bwrap", "--unshare-all", "--unshare-user", "--bind", r, "/", "--proc", "/proc",
                                        "--dev", "/dev", payload]),
        ("crun", CRUN_WRAP, ["crun", "--cgroup-manager=disabled", "run", "--bundle", str(BUNDLE), "bench-crun"]),
        ("runc", None, ["runc", "run", "--bundle", str(BUNDLE), "bench-runc"]),
    ]


def hyperfine(name, wrap, cmd):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        os.chmod(f.name, 0o666)  # hyperfine may run as another user
        line = " ".join(cmd)
        argv = ["hyperfine", "-N", "--warmup", "10", "--runs", str(RUNS), "--export-json", f.name, line]
        run((wrap or []) + argv, stdout=subprocess.DEVNULL)
        r = json.load(open(f.name))["results"][0]
    ms = {k: r[k] * 1000 for k in ("median", "mean", "stddev", "min", "max")}
    times = sorted(t * 1000 for t in r["times"])
    ms["p10"], ms["p90"] = times[len(times) // 10], times[len(times) * 9 // 10]
    print(f"  {name:<22} median {ms['median']:7.2f} ms  (p10 {ms['p10']:.2f}, p90 {ms['p90']:.2f})")
    return ms


def stages(n):
    """barco's timeline from its stage marks (BARCO_STAGES=1: the marks
    alone, without the cost of -vvv's other lines): for each mark, which
    process makes it, its median microseconds since `parsed`, and the
    median step from that process's previous mark. Medians of offsets,
    not of consecutive pairs: the two processes' marks interleave
    differently from run to run."""
    child = {"child", "network", "rootfs bound", "proc and masks", "dev", "cgroup joined", "pivot_root",
             "user namespace", "credentials and caps", "fds and signals", "seccomp loaded"}
    builder = {"network built"}  # spawn::Builder, the network namespace's maker
    offsets = {}
    for _ in range(n):
        err = subprocess.run(
            [str(BARCO), "-m", str(ROOTFS), "--", "/bin/true"],
            capture_output=True, text=True, env={"BARCO_STAGES": "1"},
        ).stderr
        marks = {}
        for line in err.splitlines():
            if line.startswith("stage ") and line.endswith(" us"):
                name, at = line[6:-3].rsplit(" at ", 1)
                marks[name] = int(at)
        t0 = marks.get("parsed")
        if t0 is None:
            continue
        for name, at in marks.items():
            offsets.setdefault(name, []).append(at - t0)
    rows = sorted((statistics.median(v), k) for k, v in offsets.items() if len(v) >= n // 2)
    out, last = [], {}
    for at, name in rows:
        who = "child" if name in child else "builder" if name in builder else "supervisor"
        out.append((name, who, at, at - last.get(who, 0)))
        last[who] = at
        if name == "clone3":
            last["child"] = at  # the child's first step starts at the clone
        if name == "builder cloned":
            last["builder"] = at  # and the builder's once its clone3 is back
    return out

def binary(path):
    path = shutil.which(path) or path
    real = os.path.realpath(path)
    size = os.path.getsize(real)
    desc = subprocess.run(["file", "-b", real], capture_output=True, text=True).stdout
    dynamic = "dynamically linked" in desc
    libs = 0
    if dynamic:
        out = subprocess.run(["ldd", real], capture_output=True, text=True).stdout
        libs = sum(1 for l in out.splitlines() if "=>" in l or l.strip().startswith("/"))
    return size, dynamic, libs


def peak_rss(wrap, cmd, n=5):
    kbs = []
    for _ in range(n):
        r = subprocess.run((wrap or []) + ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
        kbs.append(int(r.stderr.strip().splitlines()[-1]))
    return statistics.median(kbs)


def own_rss(wrap, cmd, n=3):
    """The launcher process's own peak (VmHWM), read while its container
    sleeps: /usr/bin/time's maximum also covers the payload."""
    kbs = []
    for _ in range(n):
        p = subprocess.Popen((wrap or []) + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hwm = 0
        deadline = time.monotonic() + 2
        while p.poll() is None and time.monotonic() < deadline:
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.01)
        p.wait()
        kbs.append(hwm)
    return statistics.median(kbs)


def throughput(concurrency, total):
    cmd = [str(BARCO), "-m", str(ROOTFS), "--", "/bin/true"]
    each = total // concurrency
    failures = []

    def launcher():
        for _ in range(each):
            if subprocess.run(cmd).returncode != 0:
                failures.append(1)

    start = time.monotonic()
    threads = [threading.Thread(target=launcher) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return each * concurrency / elapsed, elapsed, len(failures)


# What each ablated step leaves out, seen from inside: the hostname, lo's
# flags, /proc's extra mounts, /dev's entries, /etc's binds, the bounding set.
PROBE = ("hostname; cat /sys/class/net/lo/flags 2>/dev/null || ip -o link show lo | cut -d' ' -f3; "
         "grep -c ' /proc/' /proc/self/mountinfo; ls /dev | wc -l; grep -c ' /etc/' /proc/self/mountinfo; "
         "grep CapBnd /proc/self/status")


def check_ablation():
    """Each ablated step must show as missing, and only that one: otherwise
    the bench would price nothing, or the wrong thing."""
    def probe(skip):
        env = {"BARCO_ABLATE": skip} if skip else {}
        out = subprocess.run([str(ABLATION), "-m", str(ROOTFS), "--", "sh", "-c", PROBE], env=env,
                             capture_output=True, text=True, check=True).stdout.split("\n")
        return out[:6]
    full = probe("")
    for step, expected in STEPS.items():
        lines = probe(step)
        changed = {j for j, (a, b) in enumerate(zip(full, lines)) if a != b}
        if changed != expected:
            sys.exit(f"bench: BARCO_ABLATE={step} changed lines {sorted(changed)} of the probe, "
                     f"not {sorted(expected)}:\n{full}\n{lines}")


def interleaved(n):
    """barco's variants, and the floor, run in turn, n rounds, each in a new
    order, so that drift on a noisy VM (and the kernel's deferred teardown
    of earlier runs) falls on all of them alike. Times include Python's fork and exec, the same
    for each. Then the ablation build: each step skipped alone, and all of
    them with neither cgroup nor seccomp, against the floor."""
    neither = ["--cgroup", "none", "--seccomp", "none"]
    variants = {"barco": ([], None), "barco --cgroup none": (["--cgroup", "none"], None),
                "barco --seccomp none": (["--seccomp", "none"], None), "barco, neither": (neither, None),
                "ablation build, nothing skipped": ([], "")}
    variants.update({f"without {step}": ([], step) for step in STEPS})
    variants["without any, and neither"] = (neither, ",".join(STEPS))
    commands = {name: ([str(BARCO if skip is None else ABLATION), "-m", str(ROOTFS), *extra, "--", "/bin/true"],
                       {"BARCO_ABLATE": skip} if skip else {}) for name, (extra, skip) in variants.items()}
    commands["floor"] = ([str(FLOOR), str(ROOTFS), "/bin/true"], {})
    times = {k: [] for k in commands}
    # Each round in a new order: a run pays for the kernel's deferred
    # teardown of the one before it (a network namespace, v1 memory
    # cgroups), and in a fixed order each variant would always follow the
    # same one (`--cgroup none` would pay for barco's cgroups every time).
    order, shuffle = list(commands), random.Random(7).shuffle
    for _ in range(n):
        shuffle(order)
        for name in order:
            argv, env = commands[name]
            t = time.perf_counter()
            code = subprocess.run(argv, env=env, stderr=subprocess.DEVNULL).returncode
            # A variant that failed would only look fast.
            if code != 0:
                sys.exit(f"bench: {name} exited with {code} in the interleaved rounds")
            times[name].append((time.perf_counter() - t) * 1000)
    medians = {k: statistics.median(v) for k, v in times.items()}
    # A step's cost: the median of each round's difference, so that drift
    # between rounds cancels out.
    full = times["ablation build, nothing skipped"]
    steps = {step: statistics.median(a - b for a, b in zip(full, times[f"without {step}"])) * 1000 for step in STEPS}
    return medians, steps


def host_state():
    mounts = Path("/proc/self/mountinfo").read_text().count("\n")
    fds = int(Path("/proc/sys/fs/file-nr").read_text().split()[0])
    cgroups = []
    for pattern in ("**/barco", "**/barco-*"):
        cgroups += [str(p) for p in Path("/sys/fs/cgroup").glob(pattern)]
    procs = subprocess.run(["pgrep", "-c", "-f", str(BARCO)], capture_output=True, text=True).stdout.strip()
    return {"mounts": mounts, "open files": fds, "barco cgroups": len(cgroups), "barco processes": int(procs or 0)}


def svg(results, path):
    rows = [(name, ms["median"], ms["p10"], ms["p90"]) for name, ms in results]
    width, left, bar_h, gap = 760, 190, 22, 8
    top = 40
    height = top + len(rows) * (bar_h + gap) + 40
    scale = (width - left - 90) / max(r[3] for r in rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
           f'<text x="{left}" y="22" font-size="15" font-weight="bold">Start-up of /bin/true in a container, median ms (whiskers: p10-p90)</text>']
    for i, (name, med, p10, p90) in enumerate(rows):
        y = top + i * (bar_h + gap)
        colour = "#d9534f" if name.startswith("barco") else ("#777" if name in ("floor", "bare /bin/true") else "#4a7ab5")
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{name}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{med * scale:.1f}" height="{bar_h}" fill="{colour}"/>')
        out.append(f'<line x1="{left + p10 * scale:.1f}" x2="{left + p90 * scale:.1f}" y1="{y + bar_h / 2}" y2="{y + bar_h / 2}" stroke="#222"/>')
        out.append(f'<text x="{left + p90 * scale + 6:.1f}" y="{y + 16}">{med:.2f}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    prepare()
    kernel = platform.release()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    when = time.strftime("%Y-%m-%d")
    print(f"bench: {RUNS} runs each, kernel {kernel}, {os.cpu_count()} CPUs ({cpu})")

    print("start-up (hyperfine, -N, 10 warm-up runs):")
    startup = [(name, hyperfine(name, wrap, cmd)) for name, wrap, cmd in launchers("/bin/true")]
    med = {name: ms["median"] for name, ms in startup}
    b = med["barco"]
    ratios = [(peer, med[peer] / b) for peer in ("bwrap", "crun", "runc", "unshare")]
    floor_ratio = b / med["floor"]
    print("ratios (peer median / barco median):", ", ".join(f"{p} {r:.2f}x" for p, r in ratios))
    # The same isolation: bwrap and this crun bundle make no cgroup and load
    # no seccomp filter; runc makes cgroups but loads no filter.
    same = [("bwrap", med["bwrap"] / med["barco, neither"]), ("crun", med["crun"] / med["barco, neither"]),
            ("runc", med["runc"] / med["barco --seccomp none"])]
    print("same isolation (bwrap, crun / barco, neither; runc / barco --seccomp none):",
          ", ".join(f"{p} {r:.2f}x" for p, r in same))
    rootless_ratio = med["bwrap, rootless"] / med["barco, rootless"]
    print(f"rootless: bwrap / barco {rootless_ratio:.2f}x")
    print(f"barco / floor: {floor_ratio:.2f}x")
    # The ceiling: what the floor itself, which does less than any of them,
    # reaches against the peers, and how near the floor a launcher must be
    # to reach the targets.
    ceiling = {peer: med[peer] / med["floor"] for peer in TARGETS}
    need = {peer: ceiling[peer] / target for peer, target in TARGETS.items()}
    print(f"the floor is {ceiling['bwrap']:.2f}x faster than bwrap and {ceiling['crun']:.2f}x than crun: "
          f"{TARGETS['bwrap']}x bwrap needs a launcher within {need['bwrap']:.2f}x of the floor, "
          f"{TARGETS['crun']}x crun within {need['crun']:.2f}x")

    print("controls, interleaved (median ms, Python's spawn included):")
    rounds = max(100, RUNS * 6)
    controls, step_us = interleaved(rounds)
    for name, ms in controls.items():
        print(f"  {name:<32} {ms:6.2f}")
    cgroup_cost = controls["barco"] - controls["barco --cgroup none"]
    seccomp_cost = controls["barco"] - controls["barco --seccomp none"]
    print(f"  the cgroup costs {cgroup_cost:.2f} ms, the seccomp filter {seccomp_cost:.2f} ms")
    full = controls["ablation build, nothing skipped"]
    step_costs = list(step_us.items())
    print("  each step:", ", ".join(f"{step} {us:.0f} us" for step, us in step_costs))
    bare = controls["without any, and neither"]
    print(f"  barco without any of them, and neither: {bare:.2f} ms; the floor {controls['floor']:.2f} ms")

    print("where barco's time goes (stage marks: median us since parsed, and the step from that process's last):")
    breakdown = stages(max(20, RUNS // 2))
    for name, who, at, step in breakdown:
        print(f"  {name:<24} {who:<10} {at:8.0f} {step:8.0f}")

    print("binary size:")
    sizes = [("barco", *binary(str(BARCO))), ("barco, just tiny", *binary(str(TINY))), ("floor", *binary(str(FLOOR)))]
    sizes += [(p, *binary(p)) for p in ("bwrap", "crun", "runc")]
    for name, size, dynamic, libs in sizes:
        print(f"  {name:<16} {size / 1024:8.1f} KiB  {'dynamic, ' + str(libs) + ' libraries' if dynamic else 'static'}")

    print("peak RSS (/usr/bin/time, a tiny static /true as the payload):")
    rss = [(name, peak_rss(wrap, cmd)) for name, wrap, cmd in launchers("/true") if name != "bare /bin/true"]
    sleepers = {name: (wrap, cmd) for name, wrap, cmd in launchers("/bin/sleep")}
    own = {}
    for name in ("floor", "barco", "bwrap", "crun", "runc"):
        wrap, cmd = sleepers[name]
        if name in ("crun", "runc"):
            continue  # their bundle runs /bin/true; see the table's note
        own[name] = own_rss(wrap, cmd + ["0.5"])
    for name, kb in rss:
        extra = f", own VmHWM {own[name]} KiB" if name in own else ""
        print(f"  {name:<22} {kb:6d} KiB{extra}")

    print("throughput and leaks:")
    before = host_state()
    launchers_at_once, total = (1, 2, 8), 240
    tp = [(c, *throughput(c, total)) for c in launchers_at_once]
    for c, rate, elapsed, failed in tp:
        print(f"  {c} launcher(s): {rate:6.1f} containers/s ({failed} failed)")
    start = time.monotonic()
    seq_failed = sum(subprocess.run([str(BARCO), "-m", str(ROOTFS), "--", "/bin/true"]).returncode != 0 for _ in range(1000))
    seq = time.monotonic() - start
    after = host_state()
    print(f"  1000 sequential runs: {seq:.2f} s ({seq:.3f} ms each), {seq_failed} failed")
    print(f"  host before {before}, after {after}")
    # The open files are the whole machine's (file-nr), and move with
    # whatever else runs: a leak of one per container would add as many
    # as there were containers.
    containers = sum(c * (total // c) for c in launchers_at_once) + 1000  # as throughput() runs them
    grown = after["open files"] - before["open files"]
    leaked = [k for k in ("mounts", "barco cgroups", "barco processes") if after[k] != before[k]]
    leak = leaked or grown >= containers // 10
    if leak:
        leaks = (f"**Something leaked** over {containers} containers: {', '.join(leaked) or 'open files'} "
                 f"changed (open files by {grown:+d}).")
    else:
        leaks = (f"{containers} containers ran; afterwards the mounts, barco's cgroups and processes are as "
                 f"before, and the machine's open files (`/proc/sys/fs/file-nr`, which moves with everything "
                 f"else that runs) changed by {grown:+d}, where a leak of one file per container would add "
                 f"{containers}.")
    print(f"  {leaks}")

    md = [f"# barco benchmark results", "",
          f"Taken {when} on this project's development VM: kernel {kernel}, {os.cpu_count()} CPUs ({cpu}),",
          f"cgroups hybrid (v1 controllers). {RUNS} hyperfine runs each after 10 warm-up runs, `-N` (no shell).",
          "Every launcher runs `/bin/true` (busybox) in the same busybox rootfs; crun runs inside a mount",
          "namespace with a cgroup2 of its own (`--cgroup-manager=disabled`), as it refuses hybrid hosts.",
          "", "## Start-up", "", "| launcher | median ms | p10 | p90 | mean ± sd | vs barco |", "|---|---|---|---|---|---|"]
    for name, ms in startup:
        md.append(f"| {name} | {ms['median']:.2f} | {ms['p10']:.2f} | {ms['p90']:.2f} | {ms['mean']:.2f} ± {ms['stddev']:.2f} | {ms['median'] / b:.2f}x |")
    md += ["", f"barco is {dict(ratios)['bwrap']:.2f}x faster than bwrap, {dict(ratios)['crun']:.2f}x than crun, "
           f"{dict(ratios)['runc']:.2f}x than runc; {floor_ratio:.2f}x the floor (bench/floor.c: clone3, the maps, "
           "the bind, /proc, pivot_root and execve, nothing else). Run by an unprivileged user (uid 4321, "
           f"hyperfine itself under setpriv), barco is {rootless_ratio:.2f}x faster than bwrap.", "",
           "By default barco does more than bwrap and this crun bundle: it makes a cgroup with limits and loads",
           "a seccomp filter, and neither of them does. Without those two (`barco --cgroup none --seccomp none`,",
           "which still masks /proc's paths as crun does and bwrap does not), barco is "
           f"{dict(same)['bwrap']:.2f}x faster than bwrap and",
           f"{dict(same)['crun']:.2f}x than crun. runc makes cgroups but loads no filter: against "
           f"`barco --seccomp none` it is {dict(same)['runc']:.2f}x slower.", "",
           f"The floor itself, which does less than any of them, is {ceiling['bwrap']:.2f}x faster than bwrap "
           f"and {ceiling['crun']:.2f}x than crun. So a launcher {TARGETS['bwrap']}x faster than bwrap must be "
           f"within {need['bwrap']:.2f}x of the floor, and one {TARGETS['crun']}x faster than crun within "
           f"{need['crun']:.2f}x.", "",
           "![start-up](startup.svg)", "",
           "## Controls, interleaved", "",
           f"hyperfine runs one launcher {RUNS} times back to back, so each run also pays for the kernel's deferred",
           "teardown of the one before (network namespaces, v1 memory cgroups), and drift on this VM falls on",
           f"whichever launcher runs then. Here barco's four variants, the ablation build's below and the floor",
           f"run in turn, each round in a new order, {rounds} rounds, timed from Python (its fork and exec included,",
           "alike for all):", "",
           "| variant | median ms |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k in
                                                       ("barco", "barco --cgroup none", "barco --seccomp none",
                                                        "barco, neither") for v in [controls[k]]] + ["",
           f"So the cgroup (v1 here: three hierarchies) costs {cgroup_cost:.2f} ms and the seccomp filter "
           f"{seccomp_cost:.2f} ms.", "",
           "## What each step costs", "",
           "The same rounds also run barco built with `--features ablation` (never a release build: there",
           "`Plan::skips` is false at compile time), which skips the setup steps named in `BARCO_ABLATE`.",
           "The bench first checks, from inside a container, that each skipped step is missing and nothing",
           "else is. Each step is skipped alone; the last row skips all of them and runs without cgroup or",
           "seccomp, beside the floor (bench/floor.c), which does none of them either. A step's cost is the",
           "median of the rounds' differences from the ablation build with nothing skipped.", "",
           "| variant | median ms | the step costs, us |", "|---|---|---|",
           f"| ablation build, nothing skipped | {full:.2f} | |"]
    md += [f"| without {step} | {controls[f'without {step}']:.2f} | {us:.0f} |" for step, us in step_costs]
    md += [f"| without any, and neither | {bare:.2f} | |", f"| floor | {controls['floor']:.2f} | |", "",
           f"barco without any of them is {bare / controls['floor']:.2f}x the floor.", "",
           "## Where barco's time goes", "",
           "barco's stage marks (`log::stage`: `BARCO_STAGES=1`, or `-vvv`; one atomic load when off), as one",
           "timeline of its three processes (the supervisor, the child, and as root the network builder): each",
           "mark's median microseconds since `parsed`, and the median step from the same process's previous",
           "mark (for the child's first, from `clone3`; for the builder's, from its `clone3`'s return).", "",
           "| mark | process | us since parsed | step us |", "|---|---|---|---|"]
    md += [f"| {name} | {who} | {at:.0f} | {step:.0f} |" for name, who, at, step in breakdown]
    md += ["", "## Binary size", "", "| binary | KiB | linking |", "|---|---|---|"]
    md += [f"| {n} | {s / 1024:.1f} | {'dynamic, ' + str(l) + ' libraries' if d else 'static'} |" for n, s, d, l in sizes]
    md += ["", "## Peak RSS", "", "`/usr/bin/time -f %M`, median of 5, with a 7 KiB static `/true` as the payload so that the",
           "launcher's own peak shows (the maximum covers the waited-for container too); and the launcher",
           "process's own VmHWM, read while its container sleeps (not for crun and runc, whose bundle runs /bin/true).", "",
           "| launcher | /usr/bin/time KiB | own VmHWM KiB |", "|---|---|---|"]
    md += [f"| {n} | {kb} | {own.get(n, '')} |" for n, kb in rss]
    md += ["", "## Throughput", "", "| launchers | containers/s | failed |", "|---|---|---|"]
    md += [f"| {c} | {rate:.1f} | {failed} |" for c, rate, elapsed, failed in tp]
    md += ["", f"1000 sequential runs: {seq:.2f} s, {seq_failed} failed.", "",
           f"Host before: {before}; after: {after}. {leaks}", ""]
    (OUT / "results.md").write_text("\n".join(md))
    svg(startup, OUT / "startup.svg")
    print("bench: wrote bench/results.md and bench/startup.svg")
    # Written first, so that the run's measurements are kept; then the
    # bench fails.
    if leak:
        sys.exit(f"bench: something leaked over {containers} containers: before {before}, after {after}")


if __name__ == "__main__":
    main()
