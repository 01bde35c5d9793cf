"""Child process for the microphone-loss tests: records on a live body, tells the parent when
to take the sound server away, writes what happened as JSON, and leaves with os._exit.

A PortAudio stream whose server vanished can leave PortAudio unable to terminate, so a test
process that lost a microphone must not be reused for the next test (see test_microphone.py)."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.live_agent import record_live  # noqa: E402
from test_microphone import live_config, sources_for  # noqa: E402


def main(backend: str, store: str, result: str) -> None:
    import sounddevice  # PortAudio lists devices at import: after the parent's server is up

    assert sounddevice  # imported for its side effect

    run = record_live(live_config(backend), Path(store), sources_for(backend), record_s=6.0,
                      at={1.0: lambda run: print("lose-it-now", flush=True)})
    session = run.sessions[-1]
    Path(result).write_text(json.dumps({
        "error": None if run.error is None else str(run.error),
        "exit_code": getattr(run.error, "exit_code", None),
        "cause": session["cause"], "end_mono_us": session["end"]["mono_us"],
    }))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # skip PortAudio's exit handler, which can hang after a lost server
