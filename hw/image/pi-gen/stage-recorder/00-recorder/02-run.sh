#!/bin/bash -e
# pi-gen runs this on the build machine, in this directory, with ROOTFS_DIR the image's root
# and WHEELHOUSE from hw/image/build.sh (its environment). The rest of what the device needs
# (00-packages-nr: hw/image/packages, 01-packages-nr: hw/image/packages-raspberrypi) is
# installed by then. Everything here is hw/image/recipe.sh, the list CI checks.
# shellcheck source=../../../recipe.sh
. ../../../recipe.sh
# proc, dev and sys mounted in the root (pi-gen's on_chroot mounts them and leaves them)
on_chroot <<CHROOT
true
CHROOT
install_agent "$ROOTFS_DIR" "${WHEELHOUSE:?the wheelhouse hw/image/build.sh made}"
install_system "$ROOTFS_DIR"

# Raspberry Pi OS's kernel command line: the GNSS receiver's UART carries no console
# (hw/config.txt); the root is mounted read-only from the start; and no first-boot init,
# whose resize would grow the root over the data partition behind it (the data partition
# grows instead: recorder-grow-data.service).
cmdline=$ROOTFS_DIR/boot/firmware/cmdline.txt
sed -i -e 's/console=serial0,115200 //' -e 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||' "$cmdline"
grep -qw ro "$cmdline" || sed -i 's/$/ ro/' "$cmdline"
