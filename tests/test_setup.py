"""The set-up split (Makefile): `make demo` installs the runtime only, `make test` adds the test
tools; and the project's documents stand on their own."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def makefile_list(name: str) -> list[str]:
    """A variable of the Makefile built with := and +=, as a list of words."""
    words = []
    for op, value in re.findall(rf"^{name}\s*(:=|\+=)(.*)$", (ROOT / "Makefile").read_text(), re.M):
        words = (words if op == "+=" else []) + value.split("#")[0].split()
    return words


def planned(target: str) -> str:
    """What `make TARGET` would run from scratch (-n: nothing runs; -B: as on a fresh clone)."""
    make = shutil.which("make") or pytest.fail("make is missing (make test runs through it)")
    return subprocess.run([make, "-n", "-B", "-C", str(ROOT), target], capture_output=True, text=True,
                          check=True).stdout


def test_demo_installs_the_runtime_only():
    runtime, test_only = makefile_list("RUNTIME_APT"), makefile_list("TEST_APT")
    assert runtime and test_only and not set(runtime) & set(test_only)
    plan = planned("demo")
    assert "pip install -q -e .\n" in plan and ".[test]" not in plan, "no test extras for the demo"
    assert f"for p in {' '.join(runtime)};" in plan
    asked = set(" ".join(re.findall(r"for p in ([^;]*);", plan)).split())
    assert asked == set(runtime), f"make demo would install {asked - set(runtime)} too"


@pytest.mark.parametrize("target", ["test", "bench"])
def test_test_and_bench_add_the_test_tools(target):
    plan = planned(target)
    assert "pip install -q -e '.[test]'" in plan
    asked = set(" ".join(re.findall(r"for p in ([^;]*);", plan)).split())
    assert asked == set(makefile_list("RUNTIME_APT")) | set(makefile_list("TEST_APT"))


def test_pyaudio_and_pytest_are_test_extras_only():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"]).lower()
    assert "pytest" not in runtime and "pyaudio" not in runtime and "hypothesis" not in runtime
    assert any(req.startswith("pytest") for req in project["optional-dependencies"]["test"])


def test_the_documents_stand_on_their_own():
    """Nothing points outside the repository (the rule is summarised in docs/REGULATION.md)."""
    documents = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "hw").glob("*.md")]
    outside = [f"{doc.relative_to(ROOT)}: {line.strip()}" for doc in documents
               for line in doc.read_text().splitlines() if re.search(r"\.\./(shared|\.\.)", line)]
    assert not outside, outside
    assert "docs/REGULATION.md" in (ROOT / "README.md").read_text()
    regulation = (ROOT / "docs" / "REGULATION.md").read_text()
    for article in ("Art. 2", "Art. 6", "Art. 8", "Art. 12", "Art. 13"):
        assert f"**{article}" in regulation
