"""No deletion path: the agent cannot delete or rewrite sealed segments or ledger entries."""

import ast
import stat
from pathlib import Path

import recorder
from media import segments_of

PACKAGE = Path(recorder.__file__).parent
# Calls that remove or overwrite files. os.rename moves partials to their sealed names and
# sets aside what cannot be sealed, and O_EXCL creation refuses to replace anything; both
# are checked below.
FORBIDDEN = {"remove", "unlink", "rmtree", "rmdir", "truncate", "ftruncate", "replace",
             "removedirs", "write_text", "write_bytes",
             # the dock's archive in S3 (recorder/archive/s3.py): no object, version or bucket removed
             "delete_object", "delete_objects", "delete_bucket"}
# The two truncations, each of a file that holds no evidence when it is cut:
ALLOWED = {
    # a cut segment's torn tail, after it was copied to `.torn` durably (docs/INTERRUPTIONS.md)
    ("store/recovery.py", "os.truncate(partial, keep)"),
    # the sealing ballast: zeros, given back to the filesystem on a full disk
    ("store/ballast.py", "os.truncate(self.path, 0)"),
    # `make prompts` (build time, never on the device): the voice prompts' WAVs in the package
    ("voice/render.py", "path.write_bytes(data)"),
    # the one removal of footage: files a dock receipt covers, after the receipt is kept and
    # the ledger's `release` entry names them (offload/release.py, docs/DOCK.md)
    ("offload/release.py", "os.unlink(path)"),
}


def test_no_code_path_deletes_or_overwrites_files():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _name(node.func) in FORBIDDEN
        and (path.relative_to(PACKAGE).as_posix(), ast.unparse(node)) not in ALLOWED
    ]
    assert offenders == []


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_the_calls_allowed_are_there():
    """So that the allow-list cannot outlive the code it allows."""
    found = {
        (path.relative_to(PACKAGE).as_posix(), ast.unparse(node))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _name(node.func) in FORBIDDEN
    }
    assert found == ALLOWED


def test_renames_only_move_partials_to_their_sealed_name():
    renames = sorted(
        (path.relative_to(PACKAGE).as_posix(), ast.unparse(node))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "rename"
    )
    # the segment (seal/sealer.py), any sealed file, e.g. a manifest (store/disk.py), and what
    # recovery sets aside as found under a `.torn` name (store/recovery.py)
    assert renames == [
        ("seal/sealer.py", "os.rename(partial, final_path)"),
        ("store/disk.py", "os.rename(partial, path)"),
        ("store/recovery.py", "os.rename(path, aside)"),
    ]


def test_ledger_is_only_ever_opened_for_append():
    source = (PACKAGE / "seal" / "ledger.py").read_text()
    assert "O_APPEND" in source and "O_TRUNC" not in source and '"w"' not in source


def test_cli_has_no_delete_command():
    from recorder.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    # export, provision and agency write only new files ("xb", O_EXCL, or a new install's files);
    # selftest: its probe overwritten in place (evidence/layout.py)
    assert set(commands) == {"run", "status", "verify", "report", "export", "unrecoverable", "provision", "agency",
                             "selftest", "dock", "offload"}


def test_sealed_files_are_read_only(recorded_store):
    for seg in segments_of(recorded_store):
        manifest = seg.with_name(seg.name.replace(".mp4", ".manifest.json"))
        for path in (seg, manifest):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o222 == 0, f"{path} is writable ({oct(mode)})"
