"""The agent: the composition root that assembles store, sealer, pipeline, body, inputs,
cues and monitors around one state machine, and the run loop that drives them."""
