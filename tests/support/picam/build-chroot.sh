#!/usr/bin/env bash
# Builds the Debian trixie chroot in which picamera2 runs on libcamera's virtual camera.
#   build-chroot.sh ROOT "PIP REQUIREMENTS..."
# Run inside a private mount namespace (chroot.py does `unshare -m`), so the bind
# mounts made here vanish with the process. The hash of this file keys the cache:
# change anything here and the next `make test` builds a fresh chroot.
set -euo pipefail
ROOT=$1
PIP_REQUIREMENTS=$2
MIRROR=http://deb.debian.org/debian

# Host variables (PIP_CERT, REQUESTS_CA_BUNDLE, PIP_FIND_LINKS...) point at host paths:
# every command inside the chroot runs with a clean environment.
in_root() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"
}

debootstrap --variant=minbase --include=ca-certificates trixie "$ROOT" "$MIRROR"

mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount -t sysfs sysfs "$ROOT/sys"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The build machine reaches the network through a TLS-inspecting proxy: trust its CAs too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
fi

cat >"$ROOT/etc/apt/sources.list.d/backports.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

in_root update-ca-certificates >/dev/null
in_root apt-get update -qq
# python3-av / numpy / cryptography from Debian (picamera2 and the project share them);
# gcc + headers because PiDNG builds from source; PortAudio + the ALSA pulse plugin so
# the microphone source reaches the host's PulseAudio server through its socket; the OSD's
# font (the Makefile's runtime package) and its renderer, Pillow (python3-pil).
in_root apt-get install -y -qq --no-install-recommends \
    python3-venv python3-pip gcc libc6-dev python3-dev fonts-wqy-zenhei \
    python3-numpy python3-av python3-prctl python3-piexif python3-jsonschema python3-pil \
    python3-libarchive-c python3-tqdm python3-cryptography python3-psutil \
    libportaudio2 libasound2-plugins pulseaudio-utils >/dev/null
in_root apt-get install -y -qq --no-install-recommends -t trixie-backports \
    python3-libcamera libcamera-ipa >/dev/null
in_root apt-get clean

# ALSA's default device goes to PulseAudio (PULSE_SERVER names the socket at run time).
cat >"$ROOT/etc/asound.conf" <<EOF
pcm.!default { type pulse }
ctl.!default { type pulse }
EOF

# A camera definition must exist for the virtual pipeline handler; each test run
# bind-mounts its own over this one.
mkdir -p "$ROOT/usr/share/libcamera/pipeline/virtual"
cat >"$ROOT/usr/share/libcamera/pipeline/virtual/virtual.yaml" <<EOF
"Virtual0":
  supported_formats:
    - width: 1280
      height: 720
      frame_rates: [30]
  test_pattern: "bars"
EOF

in_root python3 -m venv --system-site-packages /opt/venv
in_root /opt/venv/bin/pip install -q --disable-pip-version-check \
    --cert /etc/ssl/certs/ca-certificates.crt \
    picamera2 opencv-python-headless sounddevice $PIP_REQUIREMENTS
# The project itself comes from the work tree, bind-mounted at /src at run time, so the
# chroot always runs the current code without a rebuild.
site=$(in_root /opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo /src >"$ROOT$site/recorder-src.pth"
mkdir -p "$ROOT/src" "$ROOT/out" "$ROOT/pulse"
in_root /opt/venv/bin/python -c 'import libcamera, picamera2.encoders, cv2, av; print("chroot ok: libcamera", libcamera.__file__)' || true
