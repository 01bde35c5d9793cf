"""No deletion path: the agent cannot delete or rewrite sealed segments or ledger entries."""

import ast
import stat
from pathlib import Path

import recorder
from media import segments_of

PACKAGE = Path(recorder.__file__).parent
# Calls that remove or overwrite files. os.rename is used once, partial -> sealed name,
# and O_EXCL creation refuses to replace anything; both are checked below.
FORBIDDEN = {"remove", "unlink", "rmtree", "rmdir", "truncate", "ftruncate", "replace",
             "removedirs", "write_text", "write_bytes"}


def calls_in(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node.lineno


def test_no_code_path_deletes_or_overwrites_files():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} {name}()"
        for path in PACKAGE.rglob("*.py")
        for name, line in calls_in(path)
        if name in FORBIDDEN
    ]
    assert offenders == []


def test_renames_only_move_partials_to_their_sealed_name():
    renames = sorted(
        (path.relative_to(PACKAGE).as_posix(), ast.unparse(node))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "rename"
    )
    # the segment (seal/sealer.py) and any sealed file, e.g. a manifest (store/disk.py)
    assert renames == [
        ("seal/sealer.py", "os.rename(partial, seg.final_path)"),
        ("store/disk.py", "os.rename(partial, path)"),
    ]


def test_ledger_is_only_ever_opened_for_append():
    source = (PACKAGE / "seal" / "ledger.py").read_text()
    assert "O_APPEND" in source and "O_TRUNC" not in source and '"w"' not in source


def test_cli_has_no_delete_command():
    from recorder.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == {"run", "status", "verify"}


def test_sealed_files_are_read_only(recorded_store):
    for seg in segments_of(recorded_store):
        manifest = seg.with_name(seg.name.replace(".mp4", ".manifest.json"))
        for path in (seg, manifest):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o222 == 0, f"{path} is writable ({oct(mode)})"
