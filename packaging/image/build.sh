#!/bin/sh
# build.sh - build a sandbox template image: a Debian 12 root file system
# with systemd as init and the envd package installed and enabled, written
# to an ext4 image, plus the kernel and initramfs for a direct kernel boot.
#
# Usage: packaging/image/build.sh [-o OUTDIR] [--deb PATH] [--size SIZE]
#
#   -o OUTDIR    where rootfs.ext4, vmlinuz and initrd.img go (default:
#                $ENVD_IMAGE_CACHE/out, where tools/vm.sh looks)
#   --deb PATH   the envd .deb to install (default: build one from this
#                tree with packaging/build-deb.sh, unit tests skipped)
#   --size SIZE  size of the ext4 image, as mke2fs takes it (default 2G;
#                the file is sparse)
#
# The slow part, the Debian base (mmdebstrap from $ENVD_IMAGE_MIRROR,
# default http://deb.debian.org/debian), is kept as a tarball in
# $ENVD_IMAGE_CACHE (default /var/cache/envd-c/image), named after a hash
# of this script, which holds the package list; later runs only unpack it,
# install the .deb and write the image. Needs root (file ownership in the
# image), mmdebstrap and e2fsprogs.

set -eu

me=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
outdir=
deb=
size=2G
cache=${ENVD_IMAGE_CACHE:-/var/cache/envd-c/image}
mirror=${ENVD_IMAGE_MIRROR:-http://deb.debian.org/debian}

# --- base: everything from here to "base end" makes the cache key ---
# Everything the template has besides Debian's required set. The envd
# package's run-time libraries are here so that installing it later needs
# no network.
packages='systemd systemd-sysv dbus sudo python3 git procps iproute2
linux-image-amd64 initramfs-tools
libmicrohttpd12 libuv1 libjson-c5 libsodium23 libprotobuf-c1 zlib1g libcurl4'

usage() {
	sed -n '2,20s/^# \{0,1\}//p' "$0"
}

die() {
	echo "$me: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-o) [ $# -ge 2 ] || { usage >&2; exit 2; }; outdir=$2; shift ;;
	--deb) [ $# -ge 2 ] || { usage >&2; exit 2; }; deb=$2; shift ;;
	--size) [ $# -ge 2 ] || { usage >&2; exit 2; }; size=$2; shift ;;
	*) echo "$me: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || die "needs root (owners and modes in the image)"
for tool in mmdebstrap mke2fs; do
	command -v "$tool" >/dev/null 2>&1 ||
	    die "$tool not found: apt-get install mmdebstrap e2fsprogs"
done
: "${outdir:=$cache/out}"
mkdir -p "$outdir" "$cache"
outdir=$(cd "$outdir" && pwd)

key=$(sed -n '/^# --- base:/,/^# --- base end/p' "$0" | sha256sum | cut -c1-16)
base=$cache/base-$key.tar
work=$(mktemp -d "${TMPDIR:-/tmp}/envd-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM


# The base: systemd as PID 1, user "user" with passwordless sudo, a
# static address on QEMU's user-mode network (10.0.2.15/24, no route
# out), the root file system on the first virtio disk, and an initramfs
# with just the virtio and ext4 modules (small and quick to unpack).
build_base() {
	t0=$(date +%s)
	echo "$me: building the Debian base (cache miss: $base)"
	mmdebstrap --variant=apt --mode=root \
	    --include="$(echo $packages | tr ' ' ,)" \
	    --dpkgopt='path-exclude=/usr/share/doc/*' \
	    --dpkgopt='path-exclude=/usr/share/man/*' \
	    --dpkgopt='path-exclude=/usr/share/locale/*' \
	    --dpkgopt='path-exclude=/usr/share/info/*' \
	    --setup-hook='mkdir -p "$1/usr/share/initramfs-tools/modules.d" "$1/etc/initramfs-tools/conf.d"' \
	    --setup-hook='printf "%s\n" virtio_pci virtio_mmio virtio_blk virtio_net ext4 >"$1/usr/share/initramfs-tools/modules.d/envd-image"' \
	    --setup-hook='printf "MODULES=list\nCOMPRESS=zstd\n" >"$1/etc/initramfs-tools/conf.d/envd-image"' \
	    --customize-hook='chroot "$1" useradd -m -s /bin/bash -G sudo user' \
	    --customize-hook='printf "user ALL=(ALL) NOPASSWD:ALL\n" >"$1/etc/sudoers.d/user" && chmod 0440 "$1/etc/sudoers.d/user"' \
	    --customize-hook='echo sandbox >"$1/etc/hostname"' \
	    --customize-hook='printf "127.0.0.1 localhost\n127.0.1.1 sandbox\n" >"$1/etc/hosts"' \
	    --customize-hook='printf "/dev/vda / ext4 rw,discard 0 1\n" >"$1/etc/fstab"' \
	    --customize-hook='printf "[Match]\nType=ether\n\n[Network]\nAddress=10.0.2.15/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n" >"$1/etc/systemd/network/10-eth.network"' \
	    --customize-hook='chroot "$1" systemctl enable systemd-networkd' \
	    --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer' \
	    --customize-hook='rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id" && : >"$1/etc/machine-id"' \
	    bookworm "$work/base.tar" "$mirror"
	mv "$work/base.tar" "$base.tmp"
	mv "$base.tmp" "$base"
	# Older bases (another package list) are dead weight.
	for f in "$cache"/base-*.tar; do
		[ "$f" = "$base" ] || rm -f "$f"
	done
	echo "$me: base built in $(($(date +%s) - t0)) s," \
	    "$(du -h "$base" | cut -f1) in $cache"
}

# --- base end ---

[ -f "$base" ] || build_base

if [ -z "$deb" ]; then
	echo "$me: building the envd package"
	deb=$(DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	    "$srcdir/packaging/build-deb.sh" -o "$work" | tail -1)
fi
[ -f "$deb" ] || die "no .deb at $deb"

root=$work/root
mkdir "$root"
tar -C "$root" -xf "$base"
cp "$deb" "$root/tmp/envd.deb"
# The package's postinst enables the unit (deb-systemd-helper); no
# systemd runs in the chroot and nothing is started.
chroot "$root" dpkg -i /tmp/envd.deb >"$work/dpkg.log" 2>&1 || {
	cat "$work/dpkg.log" >&2
	die "dpkg -i failed (a new dependency? add it to the package list)"
}
rm -f "$root/tmp/envd.deb"
[ -L "$root/etc/systemd/system/multi-user.target.wants/envd.service" ] ||
    die "the envd unit is not enabled in the image"

kver=$(ls "$root/lib/modules" | sort -V | tail -1)
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
rm -f "$work/rootfs.ext4"
mke2fs -q -t ext4 -L sandbox -E root_owner=0:0 -d "$root" \
    "$work/rootfs.ext4" "$size"
for f in rootfs.ext4 vmlinuz initrd.img; do
	mv -f "$work/$f" "$outdir/$f"
done
echo "$me: envd $(chroot "$root" /usr/bin/envd -version 2>/dev/null)," \
    "kernel $kver"
echo "$outdir/rootfs.ext4"
