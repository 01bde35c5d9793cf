"""A/V sync proof on real parts: picamera2 on libcamera's virtual camera (in the test
chroot) and a microphone on PortAudio -> PulseAudio (a null sink on the host, reached
from the chroot through its socket). The camera shows white flash frames; a click is
played into the sink when a flash frame is captured (support/picam/clicker.py). In the
sealed files, each flash and its click must be within one frame (33 ms at 30 fps)."""

from recorder.evidence.verifier import verify_store
from support.picam.avsync import click_onsets_us, flash_onsets_us, rig_errors_ms
from support.picam.runner import chroot_or_skip, record_virtual
from support.pulse import PulseServer

FPS, WIDTH, HEIGHT = 30, 640, 360
REPEAT = 4
FLASH_IMAGES = (20, 45)  # frames 80 and 180: 2.7 s and 6 s after the camera's first frame


def test_flash_and_click_within_one_frame(tmp_path):
    root = chroot_or_skip()
    with PulseServer() as pulse:
        run = record_virtual(root, tmp_path, width=WIDTH, height=HEIGHT, fps=FPS, images=64,
                             flash=FLASH_IMAGES, prerecord_s=1.0, record_s=7.0, segment_s=2,
                             pulse_dir=pulse.dir,
                             click_at_frame=[REPEAT * i for i in FLASH_IMAGES])
    assert run.returncode == 0, run.stderr[-3000:]
    assert verify_store(run.store).ok
    rep = run.report
    rig = rig_errors_ms(rep)
    assert len(rig) == len(FLASH_IMAGES) and all(abs(e) < 2 for e in rig), rep["click"]
    flashes, clicks = flash_onsets_us(run.store), click_onsets_us(run.store)
    assert len(flashes) == len(FLASH_IMAGES), flashes
    assert len(clicks) == len(FLASH_IMAGES), clicks
    skews_ms = [(c - f) / 1000 for f, c in zip(flashes, clicks)]
    print(f"A/V skew (click - flash) per flash: {', '.join(f'{s:+.1f} ms' for s in skews_ms)}; "
          f"click placement vs frame capture {', '.join(f'{e:+.2f}' for e in rig)} ms; "
          f"microphone {rep['microphone']}")
    assert all(abs(s) <= 1000 / FPS for s in skews_ms)
