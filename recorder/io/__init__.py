"""The officer's inputs and the device's cues, through gpiozero: RECORD, MARK and the
trigger (debounced on the agent's clock), LEDs, buzzer and vibration (patterns as data).
Every device takes a gpiozero pin factory: the real one on a Pi, MockFactory on the
simulated body (recorder/sim/)."""
