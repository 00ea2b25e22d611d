#!/bin/sh
# Fetches Debian's kernel for the VM tests into DEST (default
# target/vm/kernel): DEST/vmlinuz, DEST/version, and the few modules the
# tests load, under DEST/modules/. Nothing is installed: the package is
# downloaded with `apt-get download` and unpacked with `dpkg -x`.
# Safe to run again: it does nothing once DEST/vmlinuz exists.
set -eu
dest=${1:-target/vm/kernel}
[ -f "$dest/vmlinuz" ] && exit 0

# linux-image-amd64 is Debian's pointer to the current kernel package.
image() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg=$(image)
if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(image)
fi
[ -n "$pkg" ] || { echo "vm-kernel: no linux-image package found in apt's lists" >&2; exit 1; }

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "vm-kernel: fetching $pkg"
(cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/root"
version=${pkg#linux-image-}
mkdir -p "$tmp/out/modules"
cp "$tmp/root/boot/vmlinuz-$version" "$tmp/out/vmlinuz"
echo "$version" > "$tmp/out/version"
for m in drivers/net/veth.ko fs/overlayfs/overlay.ko; do
    cp "$tmp/root/lib/modules/$version/kernel/$m" "$tmp/out/modules/"
done
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "vm-kernel: $dest/vmlinuz is $version"
