"""The architecture in docs/ARCHITECTURE.md holds: imports flow one way, packages on one layer
do not import each other, and the evidence format needs nothing of the device."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import recorder

PACKAGE = Path(recorder.__file__).parent
DOC = PACKAGE.parent / "docs" / "ARCHITECTURE.md"
DEVICE_LIBRARIES = {"gpiozero", "av", "numpy", "cv2", "sounddevice", "pyaudio", "picamera2", "libcamera",
                    "PIL", "fontTools"}


def documented_layers() -> dict[str, int]:
    """Package (or root module) -> layer, from the table in docs/ARCHITECTURE.md."""
    return {name: layer for name, (layer, _) in _table().items()}


def _table() -> dict[str, tuple[int, bool]]:
    """name -> (layer, is a module at the package root)."""
    table = {}
    for layer, cell in re.findall(r"^\| (\d+) \| (`[^|]+)\|", DOC.read_text(), re.M):
        names = re.findall(r"`([\w.]+)`", cell)
        if names[0] == "recorder":  # root modules, listed in brackets
            table.update({module: (int(layer), True) for module in names[1:]})
        else:
            table[names[0]] = (int(layer), False)
    return table


def unit_of(module: str) -> str:
    """'recorder.seal.sealer' -> 'seal'; 'recorder.errors' -> 'errors'; 'recorder' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Absolute recorder module names imported anywhere in a file (lazy imports too)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        module = module.removesuffix(".__init__")
        package = module
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("recorder"):
                if target == "recorder" or not node.module:  # `from . import x` / `from recorder import x`
                    found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
                else:
                    found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("recorder")]
    return found


def third_party_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_every_package_is_on_the_map():
    layers = documented_layers()
    units = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in PACKAGE.glob("*.py")}
    assert units - {"__init__"} == set(layers) - {"__init__"}, "docs/ARCHITECTURE.md and the packages differ"


def test_imports_only_run_down_the_layers():
    table = {**_table(), "__init__": (0, True)}
    layers = {name: layer for name, (layer, _) in table.items()}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        here = unit_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for target, line in imports_of(path):
            there = unit_of(target)
            if there == here or there not in layers:
                continue
            root_modules_together = table[here][1] and table[there][1]  # one unit per root layer
            if layers[there] > layers[here] or (layers[there] == layers[here] and not root_modules_together):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} ({here}, layer {layers[here]}) "
                                 f"imports {target} ({there}, layer {layers[there]})")
    assert not offenders, "\n".join(offenders)


def test_the_evidence_package_needs_nothing_of_the_device():
    allowed = {"cryptography", "rfc8785", "recorder"}
    for path in (PACKAGE / "evidence").rglob("*.py"):
        foreign = {name for name in third_party_of(path) if name not in sys.stdlib_module_names} - allowed
        assert not foreign, f"{path.name} imports {foreign}"


def test_verifying_a_store_loads_no_device_library(recorded_store):
    """In a fresh interpreter: `recorder verify` and the verifier alone, as a dock would use them."""
    code = f"""
import json, sys
from recorder.cli import main
code = main(["verify", "--json", {str(recorded_store)!r}])
print(json.dumps({{"code": code, "loaded": sorted(m for m in sys.modules if m.split('.')[0] in {sorted(DEVICE_LIBRARIES)!r})}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 0
    assert outcome["loaded"] == []
