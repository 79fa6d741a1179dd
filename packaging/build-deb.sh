#!/bin/sh
# build-deb.sh - build the envd .deb from this source tree.
#
# Usage: packaging/build-deb.sh [-o OUTDIR] [-- DPKG-BUILDPACKAGE-ARGS...]
#
# Copies the source tree (in a git checkout: the files git knows about plus
# new files it does not ignore; otherwise the whole directory) to a
# temporary directory, puts packaging/debian there as debian/, and runs
# "dpkg-buildpackage -us -uc -b". The .deb, .buildinfo and .changes land
# in OUTDIR (default: the current directory); the path of the .deb is the
# last line printed. The tree itself is never written to.

set -eu

me=$(basename "$0")
srcdir=$(cd "$(dirname "$0")/.." && pwd)
outdir=$(pwd)

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-o) [ $# -ge 2 ] || { usage >&2; exit 2; }; outdir=$2; shift ;;
	-o*) outdir=${1#-o} ;;
	--) shift; break ;;
	*) echo "$me: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ -d "$outdir" ] || { echo "$me: $outdir is not a directory" >&2; exit 2; }
outdir=$(cd "$outdir" && pwd)

for tool in dpkg-buildpackage dh; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$me: $tool not found:" \
		    "apt-get install dpkg-dev debhelper fakeroot" >&2
		exit 1
	fi
done

version=$(dpkg-parsechangelog -l "$srcdir/packaging/debian/changelog" \
    -S Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/envd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tree=$work/envd-$version
mkdir "$tree"

top=$(git -C "$srcdir" rev-parse --show-toplevel 2>/dev/null || :)
if [ -n "$top" ] && [ "$(cd "$top" && pwd)" = "$srcdir" ]; then
	# Tracked and new files; skip ones deleted in the work tree.
	(cd "$srcdir" &&
	    git ls-files --cached --others --exclude-standard |
	    while IFS= read -r f; do
		    if [ -e "$f" ] || [ -L "$f" ]; then
			    printf '%s\n' "$f"
		    fi
	    done | tar -cf - --no-recursion -T -) | tar -C "$tree" -xf -
else
	tar -C "$srcdir" -cf - --exclude=./debian --exclude=./_build \
	    --exclude='*.o' --exclude='*.a' --exclude=node_modules . |
	    tar -C "$tree" -xf -
fi

chmod -R u+w "$tree"
rm -rf "$tree/debian"
cp -R "$srcdir/packaging/debian" "$tree/debian"
cp "$srcdir/packaging/systemd/envd.service" "$tree/debian/envd.service"
cp "$srcdir/packaging/edge/envd-edge.service" "$tree/debian/envd-edge.service"
cp "$srcdir/packaging/edge/envd-edge.default" "$tree/debian/envd-edge.default"
chmod 0755 "$tree/debian/rules"

# A make that runs this script (make check) must not pass its command-line
# variables, such as TESTS, down to the package's own make.
(cd "$tree" && env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
    ENVD_DEB_BUILD=1 dpkg-buildpackage -us -uc -b "$@")

deb=
for f in "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes; do
	[ -e "$f" ] || continue
	cp "$f" "$outdir/"
	case $(basename "$f") in
	envd_*.deb) deb=$outdir/$(basename "$f") ;;
	esac
done
[ -n "$deb" ] || { echo "$me: dpkg-buildpackage made no .deb" >&2; exit 1; }
echo "$deb"
