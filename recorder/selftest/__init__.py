"""The self-test a technician runs at the bench (`recorder selftest`, docs/SELFTEST.md):
every part the agent uses — camera, microphone, speaker, GNSS and the clock, each button and
cue, the store's disk, the keys and certificates, the battery — checked through the same
factories and code the agent uses, each failing when its part is broken, not only when it is
missing; a table a technician reads at a glance, or JSON.

    bench       what opens the parts (the device's, or the simulated body's: sim/bench.py)
    run         run_selftest(config, bench, clock, options) -> Report
    table       the Report as text (zh-CN, en) or JSON
    results     Result: check, status (FAIL, WARN, PASS, SKIP), value, action, measured
    capture, buttons, cues, storage, identity, wallclock, gnss, battery: one concern each
"""
