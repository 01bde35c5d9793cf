"""The voice side of a resume: the prompt naming the cause, then the explanation window in
which the officer states the reason (regulation art. 8; docs/VOICE.md, docs/INTERRUPTIONS.md).

The state machine calls begin() when recording resumes, end() when the window closes (a
MARK, its time up, a stop, another interruption), and due() at every tick. The prompt is
played while recording, so it is in the evidence; the window opens when the prompt has
played (the microphone hears the prompt, and a prompt is speech) and lasts
`voice.explanation_seconds`. Warnings (battery or storage low) are spoken too, with their
cue.
"""

import logging

from ..voice.prompts import catalogue, prompt_audio
from ..voice.window import ExplanationWindow

log = logging.getLogger("recorder.voice")

NS = 1_000_000_000
GRACE_NS = NS  # a window waits this long past its end for the microphone's last block
WARNING_PROMPTS = {"battery-low": "battery_low", "storage-low": "storage_low"}  # monitor event -> prompt


def prompt_key(cause: str, detail: str | None = None) -> str:
    """The prompt for an interruption: a lost camera or microphone has its own (`capture`)."""
    if cause == "fault" and detail and detail.startswith("capture-"):
        return "capture"
    return cause if cause in catalogue().keys else "resumed"  # a cause without its own prompt


class Explainer:
    def __init__(self, player, microphone, language: str, explanation_seconds: int, clock, quiet=lambda: False):
        """player: a PromptPlayer (recorder/voice/output.py); microphone: what windows listen
        to (add_listener/remove_listener: a capture body); quiet(): nothing may be heard now
        (stealth: the officer chose silence, the cues' vibration alone speaks)."""
        self.player, self.microphone, self.clock, self.quiet = player, microphone, clock, quiet
        self.language = language
        self.window_ns = explanation_seconds * NS
        self.window: ExplanationWindow | None = None
        self.deadline_ns: int | None = None
        self.listening = False

    def _play(self, key: str, at_ns: int) -> int:
        """Play a prompt; returns when it ends (from when it started, or from at_ns when the
        player cannot say: no speaker)."""
        if self.quiet():
            log.info("voice prompt %r not played: stealth", key)
            return at_ns
        try:
            prompt = prompt_audio(key, self.language)
        except Exception as exc:  # a prompt the catalogue lacks: the cue alone must do
            log.error("no voice prompt %r: %s", key, exc)
            return at_ns
        try:
            started = self.player.play(prompt)
        except Exception as exc:  # a speaker that vanished costs the recording nothing
            log.error("voice prompt %r could not be played: %s", key, exc)
            started = None
        if started is None:
            return at_ns
        return started + prompt.duration_ns

    def begin(self, cause: str, at_ns: int, detail: str | None = None) -> None:
        self._drop_window()
        opens_ns = self._play(prompt_key(cause, detail), at_ns)
        self.deadline_ns = max(opens_ns, at_ns) + self.window_ns
        self.window = ExplanationWindow(max(opens_ns, at_ns), self.deadline_ns)
        self.listening = bool(self.microphone.add_listener(self.window))
        if not self.listening:
            log.warning("no microphone: the explanation after the prompt cannot be heard")

    def due(self, now_ns: int) -> bool:
        """The window's time is up and the microphone has delivered it (or it waited long enough)."""
        if self.deadline_ns is None or now_ns < self.deadline_ns:
            return False
        return not self.listening or self.window.complete or now_ns >= self.deadline_ns + GRACE_NS

    def end(self, at_ns: int) -> tuple[int, int, int, bool] | None:
        """Close the window at at_ns (or its deadline, if earlier); returns (start_ns, end_ns,
        speech_ms, spoke), or None when nothing could listen."""
        window, listening = self.window, self.listening
        self.window, self.deadline_ns, self.listening = None, None, False
        if window is None:
            return None
        window.end_at(at_ns)
        try:
            if not listening:
                return None
            heard = window.result()
            return heard.start_ns, heard.end_ns, round(heard.speech_seconds * 1000), heard.spoke
        finally:
            if listening:
                self.microphone.remove_listener(window)
            window.close()

    def warn(self, kind: str, at_ns: int) -> None:
        """A warning the officer should hear (battery-low, storage-low): its own prompt."""
        self._play(WARNING_PROMPTS.get(kind, kind), at_ns)

    def _drop_window(self):
        if self.window is not None:
            self.end(self.clock.monotonic_ns())

    def close(self) -> None:
        self._drop_window()
        self.player.close()
