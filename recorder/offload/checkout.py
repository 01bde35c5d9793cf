"""Checkout at the dock, the device's side (docs/DOCK.md, "Checkout").

The clock: several round trips to the dock's /v1/time; the one with the shortest round trip
gives offset = dock wall − device wall at the midpoint, its error the half round trip plus
the dock's own stated bound. The device's side of the comparison is what its time stamps say
(its clock's mapping at the midpoint), so the offset aligns its evidence, not just its
kernel clock. It is sealed in the ledger as found: nothing is rewritten, and the device's clock
is not set by the agent (chrony disciplines it).

The officer: the newest assignment the dock signed for this device, checked against the
pinned dock certificate, kept in the identity directory and recorded in the ledger once."""

import hashlib
from dataclasses import dataclass

from ..agency.assignment import open_assignment
from ..evidence import entries
from ..evidence.receipts import certificate_sha256
from ..provision.assignment import keep_assignment
from .link import DockRefused

SAMPLES = 8


@dataclass(frozen=True)
class Offset:
    offset_us: int
    error_us: int
    rtt_us: int
    samples: int
    dock_clock: dict
    at_mono_ns: int


def measure_offset(dock, clock, samples: int = SAMPLES) -> Offset:
    best = None
    for _ in range(samples):
        sent = clock.monotonic_ns()
        _, answer = dock.json("GET", "/v1/time")
        back = clock.monotonic_ns()
        if best is None or back - sent < best[1] - best[0]:
            best = (sent, back, answer)
    sent, back, answer = best
    middle = (sent + back) // 2
    device_wall_us = clock.stamp(middle)["wall_us"]
    rtt_us = (back - sent + 999) // 1000
    dock_error_us = None if answer.get("error_ns") is None else (answer["error_ns"] + 999) // 1000
    error_us = (rtt_us + 1) // 2 + (dock_error_us or 0)
    return Offset(answer["wall_ns"] // 1000 - device_wall_us, error_us, rtt_us, samples,
                  {"source": str(answer.get("source")), "error_us": dock_error_us}, middle)


def record_offset(ledger, clock, dock_certificate, offset: Offset) -> dict:
    return ledger.append("clock_offset", entries.clock_offset(
        certificate_sha256(dock_certificate), offset.offset_us, offset.error_us, offset.rtt_us, offset.samples,
        offset.dock_clock, clock.monotonic_id), clock.stamp(offset.at_mono_ns))


def take_assignment(dock, ledger, clock, identity_dir, dock_certificate, device_id: str):
    """The dock's newest assignment for this device, kept and recorded once; None when the
    dock has none (the refusal of a bad one raises ProvisioningError: nothing is recorded)."""
    try:
        _, data, _ = dock.request("GET", "/v1/assignment")
    except DockRefused as exc:
        if exc.status == 404:
            return None
        raise
    assignment = open_assignment(data, dock_certificate, device_id)
    _, new = keep_assignment(identity_dir, data)
    if new:
        document = assignment.document
        ledger.append("assignment", entries.assignment(
            assignment.officer_id, hashlib.sha256(data).hexdigest(), document["valid_from"], document["valid_until"],
            certificate_sha256(dock_certificate)), clock.stamp())
    return assignment
