# barco's tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

target := "x86_64-unknown-linux-musl"
bin := "target/" + target + "/release/barco"
rootfs := "target/rootfs"

# Build the static release binary.
[group('build')]
build:
    cargo build --release
    @ls -l {{bin}}

tiny_flags := "-C target-feature=+crt-static -C relocation-model=static -C link-arg=-Wl,-z,noseparate-code -C link-arg=-Wl,-z,norelro -C link-arg=-Wl,-z,common-page-size=64 -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -C force-unwind-tables=no"

# The size-optimised build: a pinned nightly, std rebuilt with
# panic=immediate-abort (no unwinder, no backtrace symbolizer), so no
# unwind tables either (force-unwind-tables=no: 28 KB of .eh_frame), and
# opt-level z, and std's own optimize_for_size feature (smaller variants
# of its sorting, integer formatting and string counting). The link flags
# are .cargo/config.toml's, which RUSTFLAGS replaces: see there for
# -z norelro and -z common-page-size. target/tiny/.../barco.
nightly := "nightly-2026-10-30"

[group('build')]
tiny:
    rustup toolchain list | grep -q '^{{nightly}}' || rustup toolchain install {{nightly}} --profile minimal --component rust-src --target {{target}}
    RUSTFLAGS="{{tiny_flags}}" CARGO_PROFILE_RELEASE_OPT_LEVEL=z cargo +{{nightly}} build --release -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size --target {{target}} --target-dir target/tiny --bin barco
    @ls -l target/tiny/{{target}}/release/barco

# Build the busybox demo rootfs from Debian's busybox-static.
[group('build')]
rootfs:
    @test -x {{rootfs}}/bin/busybox -a -e {{rootfs}}/etc/hosts || scripts/mkrootfs.sh {{rootfs}}

# Run a container on the busybox rootfs: an interactive shell, or the given command.
[group('run')]
demo *cmd: build rootfs
    {{bin}} -m {{rootfs}} -- "$@"

# Run a container in a QEMU VM with barco as the machine's PID 1 (/init).
[group('run')]
vm-shell *cmd: build rootfs
    cargo run --release --quiet --example vm-shell -- "$@"

# Start-up, each setup step's cost (bench.py builds `--features ablation`
# into target/ablation for that), stage breakdown, size, RSS and throughput
# against bwrap, crun and runc: bench/results.md and bench/startup.svg. Not
# a test.
[group('bench')]
bench: build tiny rootfs
    python3 bench/bench.py

# Every test: formatting, clippy, unit tests, the integration tests (as
# root), then the QEMU suite (tests/vm.rs runs last); then the container
# tests again with barco run by an unprivileged user (uid 4321).
[group('test')]
test: lint
    cargo test --release
    BARCO_TEST_AS=4321 cargo test --release --test container

# The integration and VM suites against the `just tiny` build.
[group('test')]
tiny-test: tiny
    cargo build --release --examples
    BARCO_BIN=$PWD/target/tiny/{{target}}/release/barco cargo test --release --test container --test network --test rootless --test vm

# The QEMU suite alone: barco on a pure cgroup2 kernel, and as PID 1.
[group('test')]
vm-test:
    cargo build --release --examples
    cargo test --release --test vm

# rustfmt and clippy, warnings denied.
[group('test')]
lint:
    cargo fmt --check
    cargo clippy --release --all-targets -- -D warnings

# What CI runs: install what is missing, then every test.
[group('test')]
ci:
    scripts/setup.sh
    just test
