"""One run of the agent on a live body (synthetic camera, a real PortAudio microphone, the
voice prompts through PortAudio's default output), as the supervisor's child: it exits with
the code `recorder run --once` would (75 after a fault), through os._exit (PortAudio's exit
handler can hang after a lost server; see test_microphone.py).

    mic_supervised_child.py BACKEND STORE lose   # record; say "lose-it-now" after 1 s
    mic_supervised_child.py BACKEND STORE after  # the restart: resumes, records 10 s, stops
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recorder.config import config_from_dict  # noqa: E402
from support.live_agent import record_live  # noqa: E402
from test_microphone import sources_for  # noqa: E402


def config(backend: str):
    return config_from_dict({
        "video": {"width": 320, "height": 240, "bitrate": 600_000},
        "segments": {"seconds": 30},
        "prerecord": {"seconds": 1, "audio": True},
        "capture": {"camera": "synthetic", "microphone": backend},
        "voice": {"output": "default", "language": "en"},
    })


def main(backend: str, store: str, mode: str) -> int:
    import sounddevice  # PortAudio lists devices at import: after the parent's server is up

    assert sounddevice
    if mode == "lose":
        run = record_live(config(backend), Path(store), sources_for(backend), record_s=6.0,
                          at={1.0: lambda run: print("lose-it-now", flush=True)})
    else:
        run = record_live(config(backend), Path(store), sources_for(backend), prerecord_s=0.3, record_s=10.0)
    if run.error is not None:
        print(f"recorder: {run.error}", file=sys.stderr, flush=True)
        return getattr(run.error, "exit_code", 2)
    return 0


if __name__ == "__main__":
    code = 1
    try:
        code = main(*sys.argv[1:4])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
