"""Monitors: watchers of the device's health that turn what they see into events for the
one state machine (recorder/agent/state.py). Today: the capture sources, the pipeline
(writing and sealing), the battery (minutes of recording left) and the storage (free space
above the reserve, docs/POWER.md); GNSS monitors join them here. The interface is in `base`."""
