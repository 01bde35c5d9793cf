"""Rendering the prompts with espeak-ng: a build-time and test-time tool, never run on the device.

    python -m recorder.voice.render           # `make prompts`: (re)write every prompts/<lang>/<key>.wav
    python -m recorder.voice.render --check   # exit 1 if a shipped file differs from a fresh rendering

espeak-ng's output is byte-for-byte repeatable for a given version (measured: same bytes
across runs, environments and stdin/argument input, espeak-ng 1.51), so the check is exact.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .prompts import AUDIO_DIR, catalogue, prompt_text

ESPEAK = "espeak-ng"
SOURCE_DIR = Path(__file__).resolve().parent


def espeak_version() -> str:
    """e.g. 'eSpeak NG text-to-speech: 1.51  Data at: …' -> '1.51'."""
    out = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, check=True).stdout
    words = out.split()
    return next((w for w in words if w[:1].isdigit()), out.strip())


def render(text: str, voice: str, speed: int = 175, amplitude: int = 100) -> bytes:
    """The WAV file espeak-ng makes of text (UTF-8 on standard input, so no text is taken
    for an option)."""
    if shutil.which(ESPEAK) is None:
        raise RuntimeError(f"{ESPEAK} is not installed (Debian package espeak-ng; make test-deps)")
    with tempfile.TemporaryDirectory(prefix="prompt-") as scratch:
        out = Path(scratch) / "out.wav"
        subprocess.run([ESPEAK, "-b", "1", "-v", voice, "-s", str(speed), "-a", str(amplitude), "-w", str(out)],
                       input=text.encode("utf-8"), capture_output=True, check=True)
        return out.read_bytes()


def render_prompt(key: str, language: str) -> bytes:
    spec = catalogue().languages[language]
    return render(prompt_text(key, language), spec.espeak_voice, spec.espeak_speed, spec.espeak_amplitude)


def shipped_path(key: str, language: str, root: Path = SOURCE_DIR) -> Path:
    return root / AUDIO_DIR / language / f"{key}.wav"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    cat = catalogue()
    differ, total = [], 0
    print(f"espeak-ng {espeak_version()}")
    for language in cat.languages:
        for key in cat.keys:
            data = render_prompt(key, language)
            path = shipped_path(key, language)
            total += len(data)
            same = path.exists() and path.read_bytes() == data
            if not same:
                differ.append(f"{language}/{key}.wav")
                if not args.check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
            seconds = (len(data) - 44) / 2 / 22050
            print(f"  {language + '/' + key + '.wav':<22} {len(data) / 1024:4.0f} KiB  {seconds:4.1f} s  "
                  f"{'unchanged' if same else ('DIFFERS' if args.check else 'written')}")
    print(f"  {sum(1 for _ in cat.keys) * len(cat.languages)} files, {total / 1024:.0f} KiB")
    if args.check and differ:
        print(f"differ from a fresh rendering: {', '.join(differ)} (run `make prompts`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
