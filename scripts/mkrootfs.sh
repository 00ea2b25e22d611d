#!/bin/sh
# Builds a minimal busybox root filesystem in DEST from Debian's busybox-static.
# Usage: scripts/mkrootfs.sh DEST [BUSYBOX]
# It is rebuilt from scratch into DEST.tmp.$$ and renamed into place, so a
# concurrent reader never sees half a rootfs.
set -eu
dest=${1:?usage: mkrootfs.sh DEST [BUSYBOX]}
busybox=${2:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkrootfs: $busybox not found; install busybox-static" >&2; exit 1; }
if file -L "$busybox" 2>/dev/null | grep -q dynamically; then
    echo "mkrootfs: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi
tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
cd "$tmp"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev home var/tmp
chmod 1777 tmp var/tmp
chmod 700 root
cp "$busybox" bin/busybox
for applet in $("$busybox" --list-full); do
    [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
P
cat > etc/group <<'G'
root:x:0:
nogroup:x:65534:
G
echo barcontainer > etc/hostname
# Mount points for the /etc/hosts barco writes (it binds over files, never creates them).
: > etc/hosts
cd - >/dev/null
rm -rf "$dest"
mv "$tmp" "$dest"
