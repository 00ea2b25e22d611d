#!/bin/busybox sh
# barco's VM suite: the /init of the suite's initramfs, on a kernel with
# nothing but cgroup2. It runs every scenario twice:
#   1. stage "initramfs": from the initramfs's own root, where pivot_root
#      fails and barco moves the rootfs over / and chroots;
#   2. stage "tmpfs": after switch_root onto a tmpfs, where barco pivots.
# Each scenario prints one line, `BARCO-VM PASS stage/name` or
# `BARCO-VM FAIL stage/name: why`, which tests/vm.rs reads off the console.
# The VM powers itself off at the end.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export BARCO_HEAP_AUDIT=1
stage=${1:-initramfs}
B=/barco
R=/rootfs

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup

pass() { echo "BARCO-VM PASS $stage/$1"; }
fail() { echo "BARCO-VM FAIL $stage/$1: $2"; }

# expect NAME STATUS OUTPUT BARCO-ARGS...: barco exits with STATUS, prints
# exactly OUTPUT, and its stderr holds no heap-audit failure.
expect() {
    name=$1 want_status=$2 want_out=$3
    shift 3
    out=$("$B" "$@" 2>/tmp/err)
    status=$?
    if [ "$status" = "$want_status" ] && [ "$out" = "$want_out" ] && ! grep -q "heap audit" /tmp/err; then
        pass "$name"
    else
        fail "$name" "status $status (want $want_status), output '$(echo "$out" | tr '\n' '|')' (want '$(echo "$want_out" | tr '\n' '|')'), stderr '$(tr '\n' '|' </tmp/err)'"
    fi
}

# expect_error NAME STATUS TEXT BARCO-ARGS...: one stderr line holding TEXT.
expect_error() {
    name=$1 want_status=$2 text=$3
    shift 3
    "$B" "$@" >/dev/null 2>/tmp/err
    status=$?
    if [ "$status" = "$want_status" ] && [ "$(wc -l </tmp/err)" = 1 ] && grep -qF -- "$text" /tmp/err; then
        pass "$name"
    else
        fail "$name" "status $status (want $want_status), stderr '$(tr '\n' '|' </tmp/err)'"
    fi
}

# The pid of a process's first child, once it has one.
child_of() {
    for _ in $(seq 200); do
        c=$(cat /proc/$1/task/$1/children 2>/dev/null)
        [ -n "$c" ] && { echo ${c%% *}; return; }
        sleep 0.05
    done
}

# Waits until process $1 runs the program named $2.
wait_comm() {
    for _ in $(seq 200); do
        [ "$(cat /proc/$1/comm 2>/dev/null)" = "$2" ] && return
        sleep 0.05
    done
}

# --- the core run ---------------------------------------------------------
expect pid-1 0 1 -m $R -- sh -c 'echo $$'
expect hostname 0 barcontainer -m $R -- hostname
expect hostname-chosen 0 boat -m $R --hostname boat -- hostname
expect ids-and-maps 0 "$(printf '0\n0\n0 10000 2000\n0 10000 2000')" \
    -m $R -- sh -c 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map | while read a b c; do echo $a $b $c; done'
expect uid-1000 0 "$(printf '1000\n1000')" -m $R -u 1000 -- sh -c 'id -u; id -g'
expect mounts 0 "/ /dev /dev/full /dev/null /dev/pts /dev/random /dev/shm /dev/tty /dev/urandom /dev/zero /etc/hostname /etc/hosts /proc" \
    -m $R -- sh -c "cut -d' ' -f2 /proc/self/mounts | grep -v '^/proc/' | sort | tr '\n' ' ' | sed 's/ \$//'"
# TERM=linux is the kernel's, in init's environment, passed on as barco does.
expect environment 0 "$(printf 'A=1\nHOME=/root\nHOSTNAME=barcontainer\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nTERM=linux')" \
    -m $R -e A=1 -- sh -c 'env | grep -v "^PWD=\|^SHLVL=\|^_=" | sort'
expect workdir 0 /tmp -m $R -w /tmp -- pwd
expect cgroup-namespace 0 "0::/" -m $R -- cat /proc/self/cgroup
expect no-host-process 0 "few" -m $R -- sh -c 'n=$(ls /proc | grep -c "^[0-9]"); [ $n -le 4 ] && echo few || echo $n'
expect exit-42 42 "" -m $R -- sh -c 'exit 42'
expect_error not-executable 126 "exec /etc/passwd: Permission denied" -m $R -- /etc/passwd
expect_error not-found 127 "exec /nonexistent: No such file or directory" -m $R -- /nonexistent
expect_error bad-rootfs 125 "rootfs '/nope': No such file or directory" -m /nope -- true
expect confined 0 "escape: confined" -m $R -- sh -c 'probe escape /INITRAMFS-MARKER /barco | grep confined'

# --- lockdown: capabilities, no_new_privs, seccomp, fds, /proc ---------------
expect lockdown-status 0 held -m $R -- sh -c 'probe status 1c0141cbfeb >/tmp/p && echo held || cat /tmp/p'
expect lockdown-syscalls 0 held -m $R -- sh -c 'probe syscalls >/tmp/p && echo held || grep NOT /tmp/p'
expect lockdown-int80 0 159 -m $R -- sh -c 'probe int80 >/dev/null 2>&1; echo $?'
expect lockdown-fds 0 held -m $R -- sh -c 'probe fds >/tmp/p && echo held || cat /tmp/p'
expect lockdown-proc 0 held -m $R --sys -- sh -c 'probe proc >/tmp/p && echo held || grep NOT /tmp/p'
expect lockdown-no-mount 0 done -m $R -- sh -c 'mount -t tmpfs x /tmp 2>/dev/null && echo MOUNTED; umount /proc 2>/dev/null && echo UNMOUNTED; hostname x 2>/dev/null && echo RENAMED; unshare -U true 2>/dev/null && echo NESTED; echo done'

# --- network -------------------------------------------------------------------
expect net-lo-up 0 "lo 1" -m $R -- sh -c 'echo $(ip -o link | cut -d: -f2) $(ip link show lo | grep -c ",UP")'
expect net-ping 0 "ping: echo reply from 127.0.0.1" -m $R -- probe ping 127.0.0.1

# --net veth, first without the veth module (the first stage only: the
# second finds it loaded), then with Debian's (a plain .ko: busybox insmod).
if [ ! -e /sys/module/veth ]; then
    expect_error net-veth-no-driver 125 "--net veth: the kernel has no veth driver (load the veth module: modprobe veth)" \
        -m $R --net veth -- true
    insmod /veth.ko || fail veth-module "insmod /veth.ko failed"
fi
expect net-veth 0 "$(printf '10.249.7.2/30\ndefault via 10.249.7.1 dev eth0 \nping: echo reply from 10.249.7.1')" \
    -m $R --net veth --ip 10.249.7.1/30 --name vm -- \
    sh -c "ip -o -4 addr show eth0 | awk '{print \$4}'; ip route | grep default; probe ping 10.249.7.1"
[ -e /sys/class/net/bc-vm ] && fail net-veth-gone "bc-vm outlived barco" || pass net-veth-gone
"$B" -m $R --net veth --name vm2 -- sh -c 'ip -o -4 addr show eth0 | awk "{print \$4}"; exec sleep 1000' >/tmp/vout 2>&1 &
bp=$!
for _ in $(seq 200); do grep -q / /tmp/vout && break; sleep 0.05; done
inside=$(head -1 /tmp/vout)
out=$($R/usr/local/bin/probe ping "${inside%/*}")
[ -e /sys/class/net/bc-vm2 ] && linked=yes
kill -KILL "$(child_of $bp)"
wait $bp
[ "$out" = "ping: echo reply from ${inside%/*}" ] && [ "$linked" = yes ] && [ ! -e /sys/class/net/bc-vm2 ] &&
    pass net-veth-from-host || fail net-veth-from-host "'$out' linked=$linked $(tr '\n' '|' </tmp/vout)"
# The network builder (src/spawn.rs), which barco uses only with an idle
# CPU to spare, and this VM has one CPU: forced, on cgroup v2.
export BARCO_SPREAD=1
expect net-builder-lo 0 "lo 1" -m $R -- sh -c 'echo $(ip -o link | cut -d: -f2) $(ip link show lo | grep -c ",UP")'
expect net-builder-veth 0 "$(printf '10.249.7.6/30\nping: echo reply from 10.249.7.5')" \
    -m $R --net veth --ip 10.249.7.5/30 --name vmb -- sh -c "ip -o -4 addr show eth0 | awk '{print \$4}'; probe ping 10.249.7.5"
[ -e /sys/class/net/bc-vmb ] && fail net-builder-veth-gone "bc-vmb outlived barco" || pass net-builder-veth-gone
unset BARCO_SPREAD

# The seed's own command line, with the initramfs itself as the rootfs.
out=$(echo 'echo i am a container; hostname; echo $$' | "$B" -u 0 -m / -c /bin/sh -a sh 2>/tmp/err)
[ "$out" = "$(printf 'i am a container\nbarcontainer\n1')" ] && pass seed-form || fail seed-form "'$out' $(cat /tmp/err)"

# Signals: forwarded to a PID 1 with a handler; SIGKILL from the host.
"$B" -m $R -- sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done' >/tmp/out 2>&1 &
bp=$!
for _ in $(seq 200); do grep -q ready /tmp/out && break; sleep 0.05; done
kill -TERM $bp
wait $bp
status=$?
[ $status = 42 ] && pass sigterm-forwarded || fail sigterm-forwarded "status $status: $(cat /tmp/out)"

"$B" -m $R -- sleep 1000 &
bp=$!
c=$(child_of $bp)
wait_comm $c sleep
kill -KILL $c
wait $bp
status=$?
[ $status = 137 ] && pass killed-137 || fail killed-137 "status $status"

# --- --init ------------------------------------------------------------------
expect init-pid-2 0 "$(printf '2\nbarco')" -m $R --init -- sh -c 'echo $$; cat /proc/1/comm'
expect init-status 42 "" -m $R --init -- sh -c 'exit 42'
expect init-killed 137 "" -m $R --init -- sh -c 'kill -9 $$'
expect init-exe 0 "held" -m $R --init -- sh -c 'probe exe >/tmp/exe && echo held || cat /tmp/exe'
out=$("$B" -m $R --init -- sh -c "sh -c 'sleep 0.2 & echo \$!'; sleep 2; ps -o pid,stat" 2>&1)
orphan=$(echo "$out" | head -1)
table=$(echo "$out" | tail -n +2)
if echo "$table" | grep -q "^ *$orphan " || echo "$table" | grep -q " Z"; then
    fail init-reaps "$(echo "$out" | tr '\n' '|')"
else
    pass init-reaps
fi
"$B" -m $R --init -- sleep 1000 &
bp=$!
reaper=$(child_of $bp)
wait_comm $(child_of $reaper) sleep
kill -TERM $bp
wait $bp
status=$?
[ $status = 143 ] && pass init-sigterm || fail init-sigterm "status $status"

# --- cgroup v2 -----------------------------------------------------------------
"$B" -m $R --name lim --memory 64M --pids 20 --cpu-weight 100 --cpus 0.5 -- sh -c 'echo ready; exec sleep 1000' >/tmp/out 2>&1 &
bp=$!
for _ in $(seq 200); do grep -q ready /tmp/out && break; sleep 0.05; done
G=/sys/fs/cgroup/barco/lim
got="$(cat $G/memory.max) $(cat $G/pids.max) $(cat $G/cpu.weight) $(cat $G/cpu.max)"
c=$(child_of $bp)
seen=$(cat /proc/$c/cgroup)
kill -KILL $c
wait $bp
[ "$got" = "67108864 20 100 50000 100000" ] && pass cgroup-limits || fail cgroup-limits "$got"
# Inside, the same process sees 0::/ (cgroup-namespace above): its
# namespace was rooted in barco/lim when it was cloned.
[ "$seen" = "0::/barco/lim" ] && pass cgroup-born-inside || fail cgroup-born-inside "$seen"
[ ! -e $G ] && [ ! -e /sys/fs/cgroup/barco ] && pass cgroup-removed || fail cgroup-removed "$(ls -R /sys/fs/cgroup/barco 2>&1 | tr '\n' ' ')"

# A process moved into the container's cgroup from outside is in no
# namespace of the container's, so it outlives the container's init: barco
# finds the cgroup busy, kills it (cgroup.kill), and removes the cgroup.
"$B" -m $R --name intruded -- sh -c 'echo ready; exec sleep 1000' >/tmp/out 2>&1 &
bp=$!
for _ in $(seq 200); do grep -q ready /tmp/out && break; sleep 0.05; done
sleep 1000 &
ip=$!
echo $ip > /sys/fs/cgroup/barco/intruded/cgroup.procs
inside=$(cat /sys/fs/cgroup/barco/intruded/cgroup.procs | tr '\n' ' ')
kill -KILL $(child_of $bp)
wait $bp
status=$?
# Dead by now (reaped by this shell, or a zombie), or barco left it: then
# end it here.
alive=$([ -e /proc/$ip ] && ! grep -q '^State:.*Z' /proc/$ip/status && echo yes || echo no)
[ $alive = yes ] && kill -KILL $ip
wait $ip
istatus=$?
[ $status = 137 ] && [ $alive = no ] && [ $istatus = 137 ] && [ ! -e /sys/fs/cgroup/barco ] && pass cgroup-intruder-killed \
    || fail cgroup-intruder-killed "barco $status, intruder alive: $alive, status $istatus, inside: $inside, $(ls -R /sys/fs/cgroup/barco 2>&1 | tr '\n' ' ')"
rmdir /sys/fs/cgroup/barco/intruded /sys/fs/cgroup/barco 2>/dev/null

# barco as PID 1 of a PID namespace is always named 1, so a SIGKILLed one
# leaves barco/1, which no sweep removes (pid 1 is always alive): the next
# reuses it while it is empty, and refuses it while it holds a process.
unshare -p -f -m --mount-proc "$B" -m $R -- sh -c 'echo ready; exec sleep 1000' >/tmp/out 2>&1 &
up=$!
for _ in $(seq 200); do grep -q ready /tmp/out && break; sleep 0.05; done
kill -KILL $(child_of $up)
wait $up
for _ in $(seq 100); do [ -z "$(cat /sys/fs/cgroup/barco/1/cgroup.procs 2>/dev/null)" ] && break; sleep 0.05; done
left=$([ -d /sys/fs/cgroup/barco/1 ] && echo yes)
out=$(unshare -p -f -m --mount-proc "$B" -m $R -- echo reused 2>&1)
[ "$left" = yes ] && [ "$out" = reused ] && [ ! -e /sys/fs/cgroup/barco ] && pass cgroup-pid-1-reused \
    || fail cgroup-pid-1-reused "left=$left, '$(echo "$out" | tr '\n' '|')', $(ls -R /sys/fs/cgroup/barco 2>&1 | tr '\n' ' ')"
mkdir -p /sys/fs/cgroup/barco/1
sleep 1000 &
hp=$!
echo $hp > /sys/fs/cgroup/barco/1/cgroup.procs
out=$(unshare -p -f -m --mount-proc "$B" -m $R -- true 2>&1)
status=$?
held=$(cat /sys/fs/cgroup/barco/1/cgroup.procs)
kill -KILL $hp
wait $hp
rmdir /sys/fs/cgroup/barco/1 /sys/fs/cgroup/barco 2>/dev/null
[ $status = 125 ] && echo "$out" | grep -q "a container named '1' is running" && [ "$held" = $hp ] && pass cgroup-pid-1-held-refused \
    || fail cgroup-pid-1-held-refused "status $status, '$(echo "$out" | tr '\n' '|')', held '$held' (want $hp)"

"$B" -m $R --name dflt -- sh -c 'echo ready; exec sleep 1000' >/tmp/out 2>&1 &
bp=$!
for _ in $(seq 200); do grep -q ready /tmp/out && break; sleep 0.05; done
got="$(cat /sys/fs/cgroup/barco/dflt/memory.max) $(cat /sys/fs/cgroup/barco/dflt/pids.max) $(cat /sys/fs/cgroup/barco/dflt/cpu.weight)"
kill -KILL $(child_of $bp)
wait $bp
[ "$got" = "1073741824 64 256" ] && pass cgroup-seed-defaults || fail cgroup-seed-defaults "$got"

out=$("$B" -m $R --memory 32M -- sh -c 'exec tail -c 100000000 /dev/zero' 2>&1)
status=$?
[ $status = 137 ] && echo "$out" | grep -q "ran out of memory (--memory 32M)" && pass cgroup-oom || fail cgroup-oom "status $status: $out"

out=$("$B" -m $R --pids 16 -- sh -c 'bomb() { bomb | bomb & }; bomb 2>/dev/null; sleep 1; kill -9 -1; echo survived' 2>&1)
echo "$out" | grep -q survived && echo "$out" | grep -q "hit its process limit (--pids 16)" \
    && pass cgroup-fork-bomb || fail cgroup-fork-bomb "$(echo "$out" | tr '\n' '|')"

pids=""
for i in $(seq 10); do
    "$B" -m $R -- sh -c 'sleep 0.5' &
    pids="$pids $!"
done
failed=0
for p in $pids; do wait $p || failed=$((failed + 1)); done
[ $failed = 0 ] && [ ! -e /sys/fs/cgroup/barco ] && pass cgroup-concurrent || fail cgroup-concurrent "$failed failed; $(ls /sys/fs/cgroup/barco 2>&1)"

"$B" -m $R -- sleep 1000 &
bp=$!
wait_comm $(child_of $bp) sleep
kill -KILL $bp
wait $bp
for _ in $(seq 100); do [ -z "$(cat /sys/fs/cgroup/barco/$bp/cgroup.procs 2>/dev/null)" ] && break; sleep 0.05; done
left=$([ -d /sys/fs/cgroup/barco/$bp ] && echo yes)
"$B" -m $R -- true
[ "$left" = yes ] && [ ! -e /sys/fs/cgroup/barco/$bp ] && pass cgroup-stale-removed || fail cgroup-stale-removed "left=$left; $(ls /sys/fs/cgroup/barco 2>&1)"

# barco started from a cgroup that has processes (no internal processes
# allowed there): its containers still get their cgroups under the root.
# Two barcos as PID 1 of two PID namespaces at once are both named 1:
# whichever comes second while the first runs is refused as a name in use,
# even while the first's cgroup is made and still empty. It never takes
# that cgroup over, nor shares it (the first's cgroup.kill at its end would
# kill the second's container).
pair() {
    unshare -p -f -m --mount-proc "$B" -m $R -- sh -c "sleep $2; echo done" >/tmp/pair.$1 2>&1
    echo "status $?" >>/tmp/pair.$1
}
bad=""
for i in 1 2 3 4 5 6; do
    pair a 0.1 &
    pa=$!
    pair b 0.3 &
    pb=$!
    wait $pa $pb
    for x in a b; do
        got=$(tr '\n' '|' </tmp/pair.$x)
        case "$got" in
            "done|status 0|" | "barco: a container named '1' is running "*"|status 125|") ;;
            *) bad="$bad [$x: $got]" ;;
        esac
    done
    grep -q "status 0" /tmp/pair.a /tmp/pair.b || bad="$bad [both refused]"
done
[ -z "$bad" ] && [ ! -e /sys/fs/cgroup/barco ] && pass cgroup-pid-1-concurrent \
    || fail cgroup-pid-1-concurrent "$bad $(ls /sys/fs/cgroup/barco 2>&1 | tr '\n' ' ')"
rmdir /sys/fs/cgroup/barco/1 /sys/fs/cgroup/barco 2>/dev/null

mkdir -p /sys/fs/cgroup/busy
echo $$ > /sys/fs/cgroup/busy/cgroup.procs
expect cgroup-from-a-busy-cgroup 0 "0::/" -m $R -- cat /proc/self/cgroup
echo $$ > /sys/fs/cgroup/cgroup.procs
rmdir /sys/fs/cgroup/busy

# --- rootless: barco as uid 1000 -------------------------------------------------
# busybox's setpriv cannot change ids: the probe does it.
printf '#!/bin/sh\nexec /rootfs/usr/local/bin/probe as 1000 1000 /barco "$@"\n' >/tmp/as-user
chmod 755 /tmp/as-user
B=/tmp/as-user
expect rootless-ids 0 "$(printf '0\n0 1000 1\nheld')" -m $R --cgroup none -- \
    sh -c 'id -u; tr -s " " </proc/self/uid_map | sed "s/^ //"; probe status 1c0141cbfeb >/dev/null && echo held'
expect rootless-lockdown 0 held -m $R --cgroup none -- sh -c 'probe syscalls >/dev/null && probe fds >/dev/null && echo held'
expect rootless-ping 0 "ping: echo reply from 127.0.0.1" -m $R --cgroup none -- probe ping 127.0.0.1
# barco's own cgroup is root's here: limits asked for are refused.
expect_error rootless-no-delegation 125 "limits were asked for, but barco runs as uid 1000 and has no cgroup of its own" \
    -m $R --memory 64M -- true
# A delegated subtree, as systemd gives a user: barco's cgroup is
# deleg/shell, so its containers go in deleg/barco/NAME, with limits.
mkdir -p /sys/fs/cgroup/deleg/shell
chown -R 1000:1000 /sys/fs/cgroup/deleg
sh -c 'echo $$ > /sys/fs/cgroup/deleg/shell/cgroup.procs; exec /tmp/as-user -m /rootfs --name rl --memory 64M --pids 20 -- sleep 1000' >/tmp/rl 2>&1 &
bp=$!
c=$(child_of $bp)
wait_comm $c sleep
got="$(cat /sys/fs/cgroup/deleg/barco/rl/memory.max 2>&1) $(cat /sys/fs/cgroup/deleg/barco/rl/pids.max 2>&1) $(cut -d: -f3 /proc/$c/cgroup)"
kill -KILL $c
wait $bp
[ "$got" = "67108864 20 /deleg/barco/rl" ] && [ ! -e /sys/fs/cgroup/deleg/barco ] && pass rootless-delegated-cgroup \
    || fail rootless-delegated-cgroup "'$got' $(ls /sys/fs/cgroup/deleg 2>&1 | tr '\n' ' ') $(tr '\n' '|' </tmp/rl)"
rmdir /sys/fs/cgroup/deleg/shell /sys/fs/cgroup/deleg
# The sysctls that turn user namespaces off, named.
old=$(cat /proc/sys/user/max_user_namespaces)
echo 0 >/proc/sys/user/max_user_namespaces
expect_error rootless-max-userns 125 "user namespaces are off: user.max_user_namespaces is 0" -m $R -- true
echo "$old" >/proc/sys/user/max_user_namespaces
if [ -e /proc/sys/kernel/unprivileged_userns_clone ]; then
    echo 0 >/proc/sys/kernel/unprivileged_userns_clone
    expect_error rootless-userns-clone 125 "kernel.unprivileged_userns_clone is 0" -m $R -- true
    echo 1 >/proc/sys/kernel/unprivileged_userns_clone
fi
B=/barco

# --- a rootfs on a read-only filesystem ---------------------------------------
mkdir -p /ro
mount -t tmpfs -o size=64m tmpfs /ro
cp -a $R/. /ro/
mount -o remount,ro /ro
expect read-only-rootfs 0 "$(printf 'read-only\nbarcontainer')" \
    -m /ro -- sh -c 'touch /x 2>/dev/null && echo writable || echo read-only; hostname'
umount /ro

# --- leftovers ------------------------------------------------------------------
left=$(ps -o pid,comm | grep -cE "barco|sleep")
[ "$left" = 0 ] && pass no-leftover-processes || fail no-leftover-processes "$(ps -o pid,stat,comm | tr '\n' '|')"

# --- next stage, or the end -----------------------------------------------------
if [ "$stage" = initramfs ]; then
    mkdir -p /newroot
    mount -t tmpfs -o size=128m tmpfs /newroot
    cp -a /bin /sbin /usr /etc /barco /rootfs /init /INITRAMFS-MARKER /newroot/
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
    umount /sys/fs/cgroup /sys /proc /dev
    exec switch_root /newroot /init tmpfs
fi
echo "BARCO-VM DONE"
poweroff -f
