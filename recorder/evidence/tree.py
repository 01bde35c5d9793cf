"""Everything in a store that the format does not list (docs/FORMATS.md, "Store layout").

  STORE/device/device.pub, STORE/ledger/ledger.jsonl, STORE/media/<session>/<seq>.mp4 and
  <seq>.manifest.json (named by trusted segment entries) belong there. The rest is reported:
  a problem where it could change what the evidence says (a file under media/ no entry
  accounts for, an unsealed `.partial`, a second file in ledger/, any symbolic link), a
  warning where it cannot (a stray file elsewhere, an empty folder, a private key).
"""

import os
import stat
from pathlib import Path

from .layout import BALLAST_NAME, PARTIAL_SUFFIX, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, RECEIPTS_DIR, SELFTEST_PROBE

SELFTEST_DIR = SELFTEST_PROBE.split("/")[0]  # the self-test's probe: not evidence, and no stray either
KNOWN_TOP = {"device", "ledger", "media", RECEIPTS_DIR, SELFTEST_DIR}


def check_tree(store, accounted: set[str], known_sessions: set[str], problem):
    """problem(code, location, message, session_id=None) for each thing out of place.
    accounted: store-relative paths that trusted entries name."""
    root = store.root
    for directory, subdirs, files in os.walk(root):  # never follows symlinks
        here = Path(directory)
        relative_dir = here.relative_to(root).as_posix()
        for name in sorted(subdirs + files):
            path = here / name
            relative = name if relative_dir == "." else f"{relative_dir}/{name}"
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                problem("symlink", relative, f"a symbolic link to {os.readlink(path)!r}", _session_of(relative))
            elif stat.S_ISDIR(mode):
                _check_folder(path, relative, known_sessions, problem)
            else:
                _check_file(relative, accounted, problem)
        subdirs[:] = sorted(d for d in subdirs if not os.path.islink(here / d))


def _session_of(relative: str) -> str | None:
    parts = relative.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "media" else None


def _check_folder(path: Path, relative: str, known_sessions: set[str], problem):
    parts = relative.split("/")
    if len(parts) == 1:
        if parts[0] not in KNOWN_TOP:
            problem("stray-file", relative, "a folder the format does not list")
        return
    if parts[0] == "media" and len(parts) == 2:
        if parts[1] not in known_sessions and not any(os.scandir(path)):
            problem("empty-folder", relative, "an empty folder for a session no ledger entry names", parts[1])
        return
    if parts[0] != "media" or len(parts) > 2:
        code = "unaccounted-file" if parts[0] == "media" else "stray-file"
        problem(code, relative, "a folder the format does not list", _session_of(relative))


def _check_file(relative: str, accounted: set[str], problem):
    parts = relative.split("/")
    top = parts[0]
    if top == "media":
        if relative in accounted or relative == f"media/{BALLAST_NAME}":
            return
        session = _session_of(relative)
        if relative.endswith(PARTIAL_SUFFIX):
            problem("partial-file", relative, "an unsealed file (still being written, or cut by a crash): "
                    "recovery pending; it is not evidence until sealed", session)
        else:
            problem("unaccounted-file", relative, "no trusted ledger segment entry accounts for this file", session)
    elif top == "ledger":
        if relative != "ledger/ledger.jsonl":
            problem("stray-ledger-file", relative, "only ledger/ledger.jsonl is the ledger; this file is not "
                    "verified and must not be taken for it")
    elif relative == SELFTEST_PROBE or (top == RECEIPTS_DIR and relative in accounted):
        return
    elif relative == f"device/{PRIVATE_KEY_FILE}":
        problem("private-key-present", relative, "this copy of the store carries the device's signing key: "
                "whoever holds it can sign as the device; a copy for others should not include it")
    elif relative != f"device/{PUBLIC_KEY_FILE}":
        problem("stray-file", relative, "a file the format does not list")
