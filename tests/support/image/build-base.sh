#!/usr/bin/env bash
# CI's stand-in for pi-gen's stages 0-2 plus the slow half of ours: a Debian bookworm arm64
# root filesystem (debootstrap under qemu-user) with init, a kernel Debian's qemu "virt"
# machine boots, the image's packages (hw/image/packages) and the agent's dependencies in
# /opt/recorder/.venv (hw/image/recipe.sh). The agent itself, its configuration and units
# go on top at every test run (rootfs.py): a code change never rebuilds this.
#   build-base.sh ROOT WHEELHOUSE      (WHEELHOUSE: hw/image/wheelhouse.sh OUT dependencies)
# Run inside a private mount namespace (rootfs.py does `unshare -m`): the mounts made here
# vanish with the process. rootfs.py keys its cache on this file, the package list, the
# recipe's functions used here and the dependencies.
set -euo pipefail
ROOT=$1
WHEELHOUSE=$2
MIRROR=http://deb.debian.org/debian
# shellcheck source=../../../hw/image/recipe.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../../hw/image/recipe.sh"

debootstrap --arch=arm64 --variant=minbase --include=ca-certificates bookworm "$ROOT" "$MIRROR"

mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount -t sysfs sysfs "$ROOT/sys"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root "$ROOT" apt-get update -qq

# What pi-gen's stages give a Pi and qemu's "virt" machine needs: an init, udev, a kernel and
# an initramfs that finds the root on a virtio disk. MODULES=list before the kernel: with
# the default `most`, mkinitramfs takes ~13 min under emulation, twice.
in_root "$ROOT" apt-get install -y -qq --no-install-recommends \
    systemd-sysv udev kmod initramfs-tools zstd e2fsprogs >/dev/null
echo MODULES=list >"$ROOT/etc/initramfs-tools/conf.d/recorder-test"
printf '%s\n' virtio_mmio virtio_pci virtio_blk ext4 >>"$ROOT/etc/initramfs-tools/modules"
in_root "$ROOT" apt-get install -y -qq --no-install-recommends linux-image-arm64 >/dev/null

install_packages "$ROOT"
install_agent_dependencies "$ROOT" "$WHEELHOUSE"

# The root the emulator boots is one ext4 disk (a Pi's has the firmware partition too).
cat >"$ROOT/etc/fstab" <<FSTAB
LABEL=recorder-root  /  ext4  defaults,noatime  0  1
FSTAB
echo recorder >"$ROOT/etc/hostname"
# The console the tests read (ttyAMA0) needs no login prompt.
systemctl --root="$ROOT" --quiet mask serial-getty@ttyAMA0.service getty@tty1.service
in_root "$ROOT" apt-get clean
rm -f "$ROOT/etc/resolv.conf"
in_root "$ROOT" "$AGENT_VENV/bin/python" -c 'import av, cryptography, numpy; print("base ok: av", av.__version__)'
