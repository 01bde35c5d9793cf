"""Monitors: watchers of the device's health that turn what they see into events for the
one state machine (recorder/agent/state.py). Today: the capture sources and the
pipeline (writing and sealing); battery, storage and GNSS monitors join them here.
The interface is in `base`."""
