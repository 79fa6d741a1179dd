#!/usr/bin/env bash
# deps.sh - install every Debian package the build, the tests and the
# benchmarks need. Safe to run again; needs root (or sudo).
#   tools/deps.sh           build + test dependencies
#   tools/deps.sh --bench   also the benchmark peers (nginx, wrk, hyperfine)
set -euo pipefail

pkgs=(
	# build
	build-essential autoconf automake pkg-config git
	libmicrohttpd-dev libuv1-dev libjson-c-dev libsodium-dev
	libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libcurl4-openssl-dev
	# tests
	curl jq xxd attr procps psmisc passwd sudo python3 openssl valgrind
	protobuf-compiler clang libclang-rt-14-dev
	# the edge, its egress fence and their tests
	libnftables-dev nftables haproxy dnsmasq-base iproute2 socat
	# packaging
	debhelper dpkg-dev fakeroot lintian
	# template image and microVM (tests/vm)
	mmdebstrap e2fsprogs qemu-system-x86 qemu-utils
)
if [ "${1:-}" = --bench ]; then
	pkgs+=(nginx-light wrk hyperfine)
fi
# The SDK tests need Node.js 18 or newer; keep one that is already there.
if ! command -v node >/dev/null 2>&1; then
	pkgs+=(nodejs npm)
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "deps: ${#pkgs[@]} packages present"
