"""Buttons and cues through gpiozero (record, mark, trigger; LEDs, buzzer, vibration).

Arrives with the state-machine issue; the recording pipeline already takes start and
stop requests with a cause and a timestamp (recorder.agent.Agent)."""
