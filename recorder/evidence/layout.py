"""Where things are in a store (docs/FORMATS.md, "Store layout"): names only, no I/O.

  STORE/device/device.pub                     public key (PEM), published for verifiers
  STORE/device/device.key                     private key: only in stores written before the keys
                                              moved to the identity directory (seal/identity.py)
  STORE/ledger/ledger.jsonl                   device-wide append-only ledger
  STORE/media/<session>/<seq>.mp4             sealed segment (read-only)
  STORE/media/<session>/<seq>.mp4.partial     segment being written (or cut by a crash)
  STORE/media/<session>/<seq>.mp4.age         sealed segment encrypted to the agency (age v1, format 5)
  STORE/media/<session>/<seq>.mp4.age.partial ... being written (or cut by a crash)
  STORE/media/<session>/<seq>.mp4.age.index   its fragment index (plaintext-free JSON lines, read-only;
                                              `.index.partial` while written)
  STORE/media/<session>/<seq>.manifest.json   signed manifest (read-only)
  STORE/media/<session>/<name>.torn           bytes a cut left that could not be sealed, kept
                                              as found (named by a manifest or an interruption)
  STORE/media/.seal-ballast                   zeros: room to seal on a full disk (not evidence)
  STORE/receipts/<sha256>.json                a dock receipt the device freed files under (named
                                              by a `release` entry; docs/DOCK.md)
  STORE/selftest/write-probe                  zeros: `recorder selftest`'s write-speed probe, rewritten
                                              in place (not evidence)
"""

from pathlib import Path

PRIVATE_KEY_FILE = "device.key"
PUBLIC_KEY_FILE = "device.pub"
PARTIAL_SUFFIX = ".partial"
MANIFEST_SUFFIX = ".manifest.json"
SEGMENT_SUFFIX = ".mp4"
ENCRYPTED_SUFFIX = ".age"  # an age v1 file (docs/ENCRYPTION.md)
INDEX_SUFFIX = ".index"
TORN_SUFFIX = ".torn"
BALLAST_NAME = ".seal-ballast"
SELFTEST_PROBE = "selftest/write-probe"
RECEIPTS_DIR = "receipts"


def segment_name(seq: int, encrypted: bool = False) -> str:
    return f"{seq:05d}{SEGMENT_SUFFIX}" + (ENCRYPTED_SUFFIX if encrypted else "")


def is_encrypted_name(name: str) -> bool:
    return name.endswith(SEGMENT_SUFFIX + ENCRYPTED_SUFFIX)


def index_path(final: Path) -> Path:
    """The fragment index beside an encrypted segment: `00001.mp4.age` -> `00001.mp4.age.index`."""
    return final.with_name(final.name + INDEX_SUFFIX)


def manifest_name(seq: int) -> str:
    return f"{seq:05d}{MANIFEST_SUFFIX}"


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def manifest_path(final: Path) -> Path:
    return final.with_name(final.name.removesuffix(ENCRYPTED_SUFFIX).removesuffix(SEGMENT_SUFFIX) + MANIFEST_SUFFIX)


class StoreLayout:
    """The paths of one store; creating nothing."""

    def __init__(self, root):
        self.root = Path(root)
        self.device_dir = self.root / "device"
        self.public_key_path = self.device_dir / PUBLIC_KEY_FILE
        self.ledger_path = self.root / "ledger" / "ledger.jsonl"
        self.media_dir = self.root / "media"
        self.receipts_dir = self.root / RECEIPTS_DIR

    def session_dir(self, session_id: str) -> Path:
        return self.media_dir / session_id

    def receipt_relative(self, sha256: str) -> str:
        return f"{RECEIPTS_DIR}/{sha256}.json"

    def segment_path(self, session_id: str, seq: int, encrypted: bool = False) -> Path:
        return self.session_dir(session_id) / segment_name(seq, encrypted)

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def segment_relative(self, session_id: str, seq: int, encrypted: bool = False) -> str:
        return f"media/{session_id}/{segment_name(seq, encrypted)}"

    def manifest_relative(self, session_id: str, seq: int) -> str:
        return f"media/{session_id}/{manifest_name(seq)}"
