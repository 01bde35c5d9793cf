# Set-up and checks from a fresh Debian 12 clone: every target installs what it needs.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# runtime: ffmpeg, the venv, and the OSD's font (CJK + Latin; docs/CAPTURE.md, OSD watermark)
APT_PKGS  := ffmpeg python3-venv fonts-wqy-zenhei
# picamera2 tests: a Debian trixie chroot with libcamera's virtual camera (tests/support/picam)
APT_PKGS  += debootstrap
# microphones on real PortAudio/PulseAudio (tests: null sink + espeak-ng); pyaudio builds against these
APT_PKGS  += pulseaudio pulseaudio-utils libasound2-plugins portaudio19-dev espeak-ng python3-dev gcc
# an independent MP4 reader for the container checks (tests/test_container.py)
APT_PKGS  += mediainfo
# TEST ONLY (not for a demo or the device): power-cut tests on a write-back FUSE filesystem
# (tests/support/writeback_fs.py, mfusepy from the `test` extra): fusermount3 + libfuse3
APT_PKGS  += fuse3 libfuse3-3
DEMO_STORE ?= demo-store
# A scripted shift: arrive and press, two key moments, an accidental short hold, a held stop.

.PHONY: demo test bench system-deps

system-deps:
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml | system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: system-deps $(STAMP)
	$(VENV)/bin/recorder run --simulate --fast --store $(DEMO_STORE) \
	  --script 'press record @10s; mark @30s; hold record 1s @45s; mark @60s; hold record 3.5s @72s'
	$(VENV)/bin/recorder verify $(DEMO_STORE)

test: system-deps $(STAMP)
	$(PY) -m pytest -q

bench: system-deps $(STAMP)
	$(PY) bench/run.py
