#!/bin/sh
# Installs what barco's build, demo and tests need on a fresh Debian machine:
# the musl target, rustfmt and clippy, Debian's busybox-static (the demo and
# test rootfs), util-linux's setpriv and unshare (tests), uidmap's newuidmap
# and passwd's useradd (the rootless tests), iproute2 (the veth tests), QEMU
# and Debian's kernel (the VM suite), and `just`.
# Safe to run again: it only installs what is missing.
set -eu

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=""
# The rootfs needs a *static* busybox; Debian's plain busybox is dynamic.
if ! [ -x /bin/busybox ] || ! /bin/busybox --help 2>&1 | head -1 | grep -q BusyBox \
   || ldd /bin/busybox >/dev/null 2>&1; then
    missing="$missing busybox-static"
fi
command -v setpriv >/dev/null 2>&1 || missing="$missing util-linux"
command -v file >/dev/null 2>&1 || missing="$missing file"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v newuidmap >/dev/null 2>&1 || missing="$missing uidmap"
command -v useradd >/dev/null 2>&1 || missing="$missing passwd"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
# tests/network.rs kills barco's network builder mid-step with strace's
# fault injection.
command -v strace >/dev/null 2>&1 || missing="$missing strace"
# The VM suite boots Debian's kernel under QEMU.
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian's kernel for the VM suite, unpacked (not installed) under target/.
$SUDO "$(dirname "$0")/vm-kernel.sh" "$(dirname "$0")/../target/vm/kernel"

if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
    echo "setup: adding the x86_64-unknown-linux-musl target"
    rustup target add x86_64-unknown-linux-musl
fi
for c in rustfmt clippy; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

# Where pip and cargo put programs, in case this shell's PATH lacks them.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true):$HOME/.cargo/bin"
if ! command -v just >/dev/null 2>&1; then
    echo "setup: installing just"
    if python3 -m pip --version >/dev/null 2>&1; then
        python3 -m pip install -q rust-just
        command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
    else
        cargo install --locked just
    fi
fi
command -v just >/dev/null 2>&1 || { echo "setup: could not install just" >&2; exit 1; }
echo "setup: done; just is $(command -v just)"
