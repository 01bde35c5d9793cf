#!/usr/bin/env bash
# Builds the Debian trixie chroot in which a one-node Ceph cluster (one monitor, one
# memstore OSD) and its S3 gateway, radosgw, run for the archive's tests.
#   build-chroot.sh ROOT
# Run inside a private mount namespace (chroot.py does `unshare -m`). The hash of this file
# keys the cache: change anything here and the next test run builds a fresh chroot.
# Trixie, not Debian 12: bookworm's radosgw (16.2) is older than the 18.2 tested here.
set -euo pipefail
ROOT=$1
MIRROR=http://deb.debian.org/debian

in_root() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"
}

debootstrap --variant=minbase --include=ca-certificates trixie "$ROOT" "$MIRROR"

mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The build machine reaches the network through a TLS-inspecting proxy: trust its CAs too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
fi
# Installing a daemon's package must not start it (there is no init in here anyway).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

in_root update-ca-certificates >/dev/null
in_root apt-get update -qq
# Through apt, not debootstrap's --include: systemd (a dependency) needs apt's ordering.
# The daemons run as root with every path on the command line, so nothing is configured.
in_root apt-get install -y -qq --no-install-recommends \
    radosgw ceph-common ceph-mon ceph-osd >/dev/null
mkdir -p "$ROOT/cluster"
in_root apt-get clean
in_root radosgw --version
in_root ceph-mon --version
