"""A full disk under the ledger: the failure is reported, and no entry is glued onto a torn line."""

import subprocess
import sys
import textwrap


from conftest import require_root_unshare

SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys
    from pathlib import Path
    from recorder.seal.identity import DeviceIdentity
    from recorder.seal.ledger import Ledger
    from recorder.errors import StoreError
    from recorder.clock import SimulatedClock

    root = Path(sys.argv[1])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(root)], check=True)
    identity = DeviceIdentity.create(root / "device")
    ledger = Ledger(root / "ledger.jsonl", identity)
    clock = SimulatedClock()
    appended, error = 0, None
    for i in range(10_000):
        try:
            ledger.append("agent_start", {"padding": "x" * 300, "i": i}, clock.stamp())
            appended += 1
        except StoreError as exc:
            error = str(exc)
            break
    try:
        ledger.append("agent_stop", {"reason": "after the failure"}, clock.stamp())
        refused = False
    except StoreError as exc:
        refused = "closed" in str(exc)
    lines = (root / "ledger.jsonl").read_bytes().split(b"\\n")
    complete = [json.loads(l)["index"] for l in lines[:-1]]
    print(json.dumps({"appended": appended, "error": error, "refused": refused,
                      "complete": complete, "tail_bytes": len(lines[-1])}))
    """
)


def test_full_disk_closes_the_ledger(tmp_path):
    unshare = require_root_unshare()
    target = tmp_path / "small"
    target.mkdir()
    result = subprocess.run([unshare, "-m", sys.executable, "-c", SCRIPT, str(target)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import json

    outcome = json.loads(result.stdout)
    assert outcome["appended"] > 0 and outcome["error"] and "ledger write failed" in outcome["error"]
    assert outcome["refused"], "a ledger must not append after a failed write"
    # Every complete line is an entry in order; at most one torn tail remains, as found.
    assert outcome["complete"] == list(range(len(outcome["complete"])))
    assert len(outcome["complete"]) == outcome["appended"]
