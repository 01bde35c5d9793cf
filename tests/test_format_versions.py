"""Stores written by earlier versions of the recorder keep verifying.

tests/data/v1-store was recorded by the agent at format version 1 (docs/FORMATS.md) on the
simulated body — two sessions, marks, a stealth toggle, 64x48 video with AAC — and kept
as it was written, without its private key (a copy of a store should not carry one)."""

from pathlib import Path

from recorder.evidence.verifier import verify_store

V1_STORE = Path(__file__).parent / "data" / "v1-store"


def test_a_version_1_store_verifies():
    report = verify_store(V1_STORE)
    assert report.ok, report.summary_text()
    assert [s["segments"] for s in report.sessions] == [5, 2]
    assert [len(s["marks"]) for s in report.sessions] == [2, 0]
