#!/usr/bin/env bash
# The technician's build of the device image (hw/README.md, "The device image"): Raspberry
# Pi OS Lite (bookworm, 64-bit) by pi-gen, plus this repository's stage (pi-gen/stage-recorder:
# the agent, its configuration and services, the read-only root; hw/image/recipe.sh), plus the
# data partition. Needs root, network access and pi-gen's dependencies (its README); on an x86
# machine also qemu-user-static with binfmt (pi-gen runs arm64 programs in the root).
#   sudo hw/image/build.sh [WORK_DIR]        -> WORK_DIR/deploy/*-recorder.img
# FIRST_USER_PASS (required): the technician account's password on the device.
set -euo pipefail
WORK=${1:-$PWD/image-build}
PI_GEN_REPO=${PI_GEN_REPO:-https://github.com/RPi-Distro/pi-gen.git}
# The newest bookworm arm64 release tag (the head of pi-gen's bookworm-arm64 branch, June
# 2026); the arm64 branch itself has moved to trixie.
PI_GEN_REF=${PI_GEN_REF:-2026-06-18-raspios-bookworm-arm64}
DATA_SIZE=${DATA_SIZE:-512M}
: "${FIRST_USER_PASS:?set FIRST_USER_PASS: the password of the technician account on the device}"
IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ ! -d "$WORK/pi-gen" ]; then
    git clone --depth 1 --branch "$PI_GEN_REF" "$PI_GEN_REPO" "$WORK/pi-gen"
fi
rm -rf "$WORK/wheelhouse"
"$IMAGE_DIR/wheelhouse.sh" "$WORK/wheelhouse"

cat >"$WORK/pi-gen/config" <<CONFIG
IMG_NAME=recorder
RELEASE=bookworm
DEPLOY_COMPRESSION=none
DEPLOY_DIR=$WORK/deploy
LOCALE_DEFAULT=en_GB.UTF-8
TIMEZONE_DEFAULT=UTC
FIRST_USER_NAME=technician
FIRST_USER_PASS=$FIRST_USER_PASS
DISABLE_FIRST_BOOT_USER_RENAME=1
ENABLE_SSH=0
STAGE_LIST="stage0 stage1 stage2 $IMAGE_DIR/pi-gen/stage-recorder"
CONFIG
# pi-gen exports the stages that have an EXPORT_IMAGE: only ours (stage2's Lite image is not wanted)
touch "$WORK/pi-gen/stage2/SKIP_IMAGES"
# pi-gen exports only the variables it knows from its config: the stage's WHEELHOUSE comes
# through the environment
(cd "$WORK/pi-gen" && WHEELHOUSE="$WORK/wheelhouse" ./build.sh)

image=$(find "$WORK/deploy" -name '*-recorder.img' -newer "$WORK/pi-gen/config" | head -n 1)
[ -n "$image" ] || { echo "pi-gen exported no *-recorder.img in $WORK/deploy" >&2; exit 1; }
"$IMAGE_DIR/add-data-partition.sh" "$image" "$DATA_SIZE"
echo "flash $image (e.g. rpi-imager, or dd bs=4M conv=fsync of=/dev/sdX)"
