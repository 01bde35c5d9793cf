# shellcheck shell=bash
# What goes into the device image, as functions on a root filesystem: ONE list, used by the
# pi-gen stage (hw/image/pi-gen/stage-recorder) and by CI's Debian arm64 build
# (tests/support/image/), so CI checks what technicians flash. Source it, then:
#   install_packages ROOT               the Debian packages in hw/image/packages
#   install_agent ROOT WHEELHOUSE       /opt/recorder/.venv with the agent from the wheelhouse
#   install_agent_dependencies ROOT WHEELHOUSE   the same without the agent (CI's cached base)
#   install_system ROOT                 user, configuration, units, read-only root, data partition
# ROOT is an arm64 root filesystem; commands inside it run through chroot (qemu-user on an x86
# build machine: binfmt registered, as pi-gen needs too), with proc, dev and sys mounted by the
# caller (pi-gen's on_chroot; tests/support/image/build-base.sh).

RECIPE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$RECIPE_DIR/../.." && pwd)
AGENT_VENV=/opt/recorder/.venv
DATA_MOUNT=/var/lib/recorder
DATA_LABEL=recorder-data
AGENT_USER=recorder
AGENT_GROUPS=video,audio,gpio,render

# The build machine's variables (PIP_CERT, REQUESTS_CA_BUNDLE, proxies' CA paths...) name host
# paths: every command inside the root runs with a clean environment.
in_root() {
    local root=$1
    shift
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
}

# The names in a package list (hw/image/packages...), comments and blank lines dropped.
list_packages() {
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"
}

install_packages() {
    local root=$1
    # shellcheck disable=SC2046  # one word per package
    in_root "$root" apt-get install -y -qq --no-install-recommends $(list_packages "$RECIPE_DIR/packages") >/dev/null
}

# The venv sees the system's packages: picamera2 and lgpio come from Raspberry Pi's archive
# (hw/image/packages-raspberrypi). Everything else comes from the wheelhouse (wheelhouse.sh),
# never from the network.
install_agent_dependencies() {
    local root=$1 wheelhouse=$2
    [ -x "$root$AGENT_VENV/bin/python" ] || in_root "$root" python3 -m venv --system-site-packages "$AGENT_VENV"
    copy_wheelhouse "$root" "$wheelhouse"
    in_root "$root" "$AGENT_VENV/bin/pip" install -q --disable-pip-version-check --no-index \
        --find-links /tmp/wheelhouse -r /tmp/wheelhouse/requirements.txt
    rm -r "$root/tmp/wheelhouse"
}

# The dependencies (nothing to do when they are there), then the agent itself, always
# replaced: a wheel rebuilt from changed code keeps its version number.
install_agent() {
    local root=$1 wheelhouse=$2 wheel
    install_agent_dependencies "$root" "$wheelhouse"
    copy_wheelhouse "$root" "$wheelhouse"
    wheel=$(cd "$root/tmp/wheelhouse" && echo recorder-*.whl)
    in_root "$root" "$AGENT_VENV/bin/pip" install -q --disable-pip-version-check --no-index \
        --no-deps --force-reinstall "/tmp/wheelhouse/$wheel"
    rm -r "$root/tmp/wheelhouse"
}

copy_wheelhouse() {
    local root=$1 wheelhouse=$2
    mkdir -p "$root/tmp/wheelhouse"
    cp "$wheelhouse"/*.whl "$wheelhouse/requirements.txt" "$root/tmp/wheelhouse/"
}

install_system() {
    local root=$1
    install_user "$root"
    install_configuration "$root"
    install_units "$root"
    install_storage_layout "$root"
    install_firmware_config "$root"
}

# docs/SERVICE.md, User=: video (camera, dma heaps), render (dma heaps where udev gives them to
# render), audio (ALSA), gpio (gpiochip, gpiomem). Raspberry Pi OS has gpio; Debian has not.
install_user() {
    local root=$1 group
    for group in ${AGENT_GROUPS//,/ }; do
        in_root "$root" getent group "$group" >/dev/null || in_root "$root" groupadd --system "$group"
    done
    if ! in_root "$root" getent passwd "$AGENT_USER" >/dev/null; then
        in_root "$root" useradd --system --user-group --home-dir "$DATA_MOUNT" --no-create-home \
            --shell /usr/sbin/nologin --groups "$AGENT_GROUPS" "$AGENT_USER"
    fi
}

install_configuration() {
    local root=$1
    install -D -m 0644 "$RECIPE_DIR/files/recorder.toml" "$root/etc/recorder/recorder.toml"
    install -D -m 0644 "$REPO_DIR/hw/chrony/recorder.conf" "$root/etc/chrony/chrony.conf"
    install -D -m 0644 "$REPO_DIR/hw/gpsd/gpsd" "$root/etc/default/gpsd"
}

install_units() {
    local root=$1 unit
    for unit in "$REPO_DIR"/hw/systemd/*.service "$RECIPE_DIR"/files/systemd/*.service; do
        install -D -m 0644 "$unit" "$root/etc/systemd/system/$(basename "$unit")"
    done
    install -D -m 0755 "$RECIPE_DIR/files/recorder-grow-data" "$root/usr/local/sbin/recorder-grow-data"
    # the dock link (docs/DOCK.md): udev starts the offload when usb0 appears; networkd gives
    # the device its end of the point-to-point link
    install -D -m 0644 "$REPO_DIR/hw/network/90-recorder-dock.rules" "$root/etc/udev/rules.d/90-recorder-dock.rules"
    install -D -m 0644 "$REPO_DIR/hw/network/usb0.network" "$root/etc/systemd/network/50-recorder-usb0.network"
    systemctl --root="$root" --quiet enable recorder.service recorder-grow-data.service chrony.service gpsd.service \
        systemd-networkd.service
}

# docs/SERVICE.md, "Storage layout": the root filesystem (and the firmware's FAT partition)
# read-only, so a power cut can tear nothing of the system; the store on its own journaled
# ext4 partition; tmpfs where the system must write.
install_storage_layout() {
    local root=$1 fstab=$1/etc/fstab
    touch "$fstab"
    awk '!/^[[:space:]]*#/ && ($2 == "/" || $2 == "/boot/firmware") && $4 !~ /(^|,)ro(,|$)/ { $4 = $4 ",ro" } { print }' \
        "$fstab" >"$fstab.new"
    mv "$fstab.new" "$fstab"
    if ! grep -q "^LABEL=$DATA_LABEL " "$fstab"; then
        cat "$RECIPE_DIR/files/fstab" >>"$fstab"
    fi
    install -D -m 0644 "$RECIPE_DIR/files/tmpfiles.conf" "$root/etc/tmpfiles.d/recorder.conf"
    # the mount point on the read-only root; the partition's own root gets its owner at boot
    # (tmpfiles.conf)
    install -d -m 0750 "$root$DATA_MOUNT"
    in_root "$root" chown "$AGENT_USER:$AGENT_USER" "$DATA_MOUNT"
}

# hw/config.txt's lines, appended once to the firmware's config.txt (a Debian root without
# Raspberry Pi's firmware gets the file all the same: CI checks it is there).
install_firmware_config() {
    local root=$1 config=$1/boot/firmware/config.txt
    mkdir -p "$(dirname "$config")"
    touch "$config"
    if ! grep -qF "# /boot/firmware/config.txt additions for the recorder" "$config"; then
        cat "$REPO_DIR/hw/config.txt" >>"$config"
    fi
}
