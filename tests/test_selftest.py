"""`recorder selftest`: every check passes on a sound simulated body, and each fails when its
part is broken — a black or stalled camera, a silent microphone, a stuck or never pressed
button, a shorted cue pin, a full disk (a real tmpfs in a private mount namespace), an
expired or foreign certificate, a key others can read — not only when the part is absent.
Broken parts are made broken for real where a simulated body can be: faults it is told to
have (sim/bench.py), pins held on gpiozero's MockFactory, real filesystems, real x509."""

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import recorder, require_root_unshare
from gpiozero.pins.mock import MockFactory, MockPin

from recorder.agency.authority import enrol, init_agency, make_bundle
from recorder.clock import SimulatedClock, SystemClock
from recorder.config import config_from_dict
from recorder.evidence.layout import StoreLayout
from recorder.provision.device import provision as provision_device
from recorder.provision.install import MARKER, current_install, install_bundle
from recorder.seal.identity import current_generation
from recorder.selftest.battery import check_battery
from recorder.selftest.bench import Technician
from recorder.selftest.buttons import check_buttons
from recorder.selftest.capture import check_capture, check_speaker
from recorder.selftest.cues import check_cues
from recorder.selftest.gnss import check_gnss
from recorder.selftest.identity import check_identity
from recorder.selftest.results import FAIL, PASS, SKIP, WARN
from recorder.selftest.storage import PROBE_BYTES, check_write_speed
from recorder.selftest.wallclock import check_clock
from recorder.sim.bench import Faults, simulated_bench
from recorder.sim.fingers import ScriptedFingers
from recorder.sim.script import parse_timeline
from recorder.telemetry.receivers import open_receiver

SMALL = {"video": {"width": 320, "height": 240, "bitrate": 600_000}, "gnss": {"receiver": "none"}}
CHECKS = ["clock", "keys", "certificates", "storage.space", "storage.write", "storage.partition", "battery",
          "camera", "microphone", "speaker", "cue.green", "cue.red", "cue.amber", "cue.buzzer", "cue.vibration",
          "button.record", "button.mark", "gnss"]
NOW = datetime(2027, 6, 1, tzinfo=timezone.utc)


def small_config(**sections):
    settings = {name: dict(values) for name, values in SMALL.items()}
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    return config_from_dict(settings)


def by_check(results) -> dict:
    return {result.check: result for result in results}


# --- The whole self-test, through the command line ---------------------------------------------


def test_the_simulated_body_passes_every_check(tmp_path):
    result = recorder("selftest", "--simulate", "--json", "--language", "en", "--store", tmp_path / "store",
                      "--identity", tmp_path / "identity", check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "simulated", "device_id", "language", "counts", "checks"}
    assert report["ok"] is True and report["simulated"] is True and report["language"] == "en"
    checks = {check["check"]: check for check in report["checks"]}
    assert list(checks) == CHECKS
    for check in report["checks"]:
        assert set(check) == {"check", "name", "status", "value", "action", "measured"}
    passing = [name for name in CHECKS if name not in ("clock", "keys", "certificates", "storage.partition",
                                                       "battery")]
    assert {name: checks[name]["status"] for name in passing} == dict.fromkeys(passing, PASS)
    # this machine's clock may have no source (WARN); nothing is provisioned on the simulated body
    assert checks["clock"]["status"] in (PASS, WARN)
    assert checks["keys"]["status"] == checks["certificates"]["status"] == SKIP
    assert checks["storage.partition"]["status"] == SKIP  # the simulated body never asks
    assert checks["camera"]["measured"]["frames"] >= 25 and checks["camera"]["measured"]["mean_luma"] > 60
    assert checks["microphone"]["measured"]["rms_dbfs"] == pytest.approx(-20, abs=1)  # the synthetic noise
    assert report["counts"][FAIL] == 0


def test_the_table_reads_in_both_languages_one_line_per_check(tmp_path):
    args = ("selftest", "--simulate", "--store", tmp_path / "store", "--identity", tmp_path / "identity")
    chinese = recorder(*args, timeout=120).stdout.splitlines()
    english = recorder(*args, "--language", "en", timeout=120).stdout.splitlines()
    for lines in (chinese, english):
        assert len(lines) == 1 + 1 + len(CHECKS) + 1  # title, headings, the checks, the verdict
    assert chinese[0] == "recorder 自检（模拟设备）" and chinese[-1].startswith("合格")
    assert english[0] == "recorder self-test (simulated body)" and english[-1].startswith("FIT")
    assert chinese[1].split()[:3] == ["检查", "结果", "测量值"]
    assert english[9].split()[:2] == ["camera", PASS] and chinese[9].split()[:2] == ["摄像头", PASS]
    # the status column starts at the same display column on every line (a Chinese character is two wide)
    from recorder.selftest.table import width

    assert len({width(line[:line.index(PASS)]) for line in chinese if f" {PASS} " in line}) == 1


def test_a_failed_check_fails_the_command(tmp_path):
    """An expired certificate, through the real command: exit 1, ok false, the line says so."""
    identity = provision(tmp_path / "identity", tls_days=(-400, -1))
    for args in (["--json"], []):
        result = recorder("selftest", "--simulate", "--store", tmp_path / "store", "--identity", identity,
                          "--language", "en", *args, check=False, timeout=120)
        assert result.returncode == 1, result.stderr
    report = json.loads(recorder("selftest", "--simulate", "--json", "--store", tmp_path / "store", "--identity",
                                 identity, check=False, timeout=120).stdout)
    assert report["ok"] is False and report["counts"][FAIL] == 1
    assert by_status(report)[FAIL] == ["certificates"]
    assert "NOT FIT" in result.stdout and "device.pem expired" in result.stdout


def by_status(report) -> dict:
    found = {}
    for check in report["checks"]:
        found.setdefault(check["status"], []).append(check["check"])
    return found


def test_a_refused_command_line_says_so_in_json():
    result = recorder("selftest", "--json", "--button-timeout", "0", check=False)
    assert result.returncode == 2 and json.loads(result.stdout)["ok"] is False


# --- Camera and microphone: the simulated body told to be broken ------------------------------


def capture_with(faults: Faults, **sections):
    config = small_config(**sections)
    clock = SystemClock()
    return by_check(check_capture(config, clock, simulated_bench(config, clock, faults).open_body, "rec-test"))


def test_a_black_camera_fails():
    results = capture_with(Faults(camera="black"))
    camera = results["camera"]
    assert camera.status == FAIL and "black" in camera.value.en
    assert camera.measured["frames"] >= 25 and camera.measured["mean_luma"] < 20  # frames came: they are black
    assert results["microphone"].status == PASS


def test_a_stalled_camera_fails():
    camera = capture_with(Faults(camera="stalled"))["camera"]
    assert camera.status == FAIL and "no frame" in camera.value.en and camera.measured["frames"] == 0


def test_a_silent_microphone_fails():
    results = capture_with(Faults(microphone="silent"))
    microphone = results["microphone"]
    assert microphone.status == FAIL and "silent" in microphone.value.en
    assert microphone.measured["rms_dbfs"] is None and microphone.measured["seconds"] >= 1  # samples came: zeros
    assert results["camera"].status == PASS


def test_without_audio_the_microphone_is_skipped():
    assert capture_with(Faults(), audio={"enabled": False})["microphone"].status == SKIP


def test_a_speaker_that_cannot_open_fails_and_none_fitted_is_skipped():
    clock = SystemClock()
    missing = check_speaker(small_config(voice={"output": "no-such-output-device"}), clock, None)
    assert missing.status == FAIL and "voice.output" in missing.value.en
    assert check_speaker(small_config(), clock, None).status == SKIP  # voice.output = "": cues only


# --- Buttons: fingers on gpiozero's mock pins ---------------------------------------------------


def buttons_with(faults: Faults, timeout_s=1.0, technician=None, **buttons):
    config = small_config(buttons=buttons)
    clock = SystemClock()
    bench = simulated_bench(config, clock, faults)
    return by_check(check_buttons(config, clock, bench.pin_factory, technician or bench.technician, timeout_s))


def test_each_button_is_pressed_through_the_mock_pins():
    results = buttons_with(Faults(), trigger="GPIO22")
    assert [r.check for r in results.values()] == ["button.record", "button.mark", "button.trigger"]
    assert all(r.status == PASS and r.measured["released"] for r in results.values())
    assert all(0.15 < r.measured["reaction_s"] < 2.0 for r in results.values())  # the finger's 200 ms, debounced


def test_a_stuck_button_fails_before_it_is_asked_for():
    results = buttons_with(Faults(stuck=frozenset({"mark"})))
    assert results["button.mark"].status == FAIL and "stuck" in results["button.mark"].value.en
    assert results["button.record"].status == PASS


def test_a_button_never_pressed_fails_at_the_timeout():
    results = buttons_with(Faults(unpressed=frozenset({"record"})), timeout_s=0.5)
    assert results["button.record"].status == FAIL and "no press" in results["button.record"].value.en
    assert results["button.record"].measured == {"pressed": False, "timeout_s": 0.5}
    assert results["button.mark"].status == PASS


class CrossedWires(Technician):
    """Pressing MARK when asked for RECORD: what swapped wires look like to the agent."""

    def ask_to_press(self, name, prompt, controls):
        other = "mark" if name == "record" else "record"
        press = parse_timeline(f"press {other} @100ms")
        return [ScriptedFingers(press.pins, controls, controls.clock.monotonic_ns())]


def test_swapped_wires_fail():
    result = buttons_with(Faults(), technician=CrossedWires())["button.record"]
    assert result.status == FAIL and result.measured["answered_by"] == "mark"


# --- Cues: the pin read back --------------------------------------------------------------------


class ShortedToGround(MockPin):
    """An output pin shorted to ground: it never reads high, whatever it is driven to."""

    def _change_state(self, value):
        return super()._change_state(False) if self.function == "output" else super()._change_state(value)


def test_each_cue_is_switched_and_read_back_and_a_shorted_pin_fails():
    config = small_config(cues={"amber": ""})
    results = by_check(check_cues(config, SystemClock(), MockFactory()))
    assert {c: r.status for c, r in results.items()} == {
        "cue.green": PASS, "cue.red": PASS, "cue.amber": SKIP, "cue.buzzer": PASS, "cue.vibration": PASS}
    shorted = by_check(check_cues(config, SystemClock(), MockFactory(pin_class=ShortedToGround)))
    assert shorted["cue.green"].status == FAIL and "reads off when switched on" in shorted["cue.green"].value.en


# --- Storage: a full disk, for real -------------------------------------------------------------

FULL_DISK = textwrap.dedent("""
    import json, os, subprocess, sys
    from recorder.clock import SystemClock
    from recorder.config import Config
    from recorder.selftest.storage import check_storage
    root = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", root], check=True)
    os.mkdir(root + "/store")  # a device's store is there: the mount point of its data partition
    subprocess.run(["dd", "if=/dev/zero", "of=" + root + "/filler", "bs=64k", "count=24"], check=True,
                   capture_output=True)
    results = check_storage(Config(), root + "/store", SystemClock(), simulated=False)
    cli = subprocess.run([sys.executable, "-m", "recorder", "selftest", "--simulate", "--json", "--store",
                          root + "/store", "--identity", root + "/identity"], capture_output=True, text=True)
    print(json.dumps({"results": {r.check: [r.status, r.value.en] for r in results}, "code": cli.returncode,
                      "cli": {c["check"]: c["status"] for c in json.loads(cli.stdout)["checks"]}}))
""")


def test_a_full_disk_fails_space_and_write(tmp_path):
    unshare = require_root_unshare()
    (tmp_path / "disk").mkdir()
    out = subprocess.run([unshare, "-m", "--propagation", "private", sys.executable, "-c", FULL_DISK,
                          str(tmp_path / "disk")], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    space, write, partition = (found["results"][name] for name in ("storage.space", "storage.write",
                                                                     "storage.partition"))
    assert space[0] == FAIL and space[1].startswith("0 min of recording left")
    assert write[0] == FAIL and "No space left on device" in write[1]
    assert partition[0] == FAIL and "memory" in partition[1]  # a device would refuse this store
    assert found["code"] == 1
    assert found["cli"]["storage.space"] == found["cli"]["storage.write"] == FAIL
    assert found["cli"]["camera"] == PASS  # the rest is still checked


def test_a_device_whose_store_is_not_there_fails_the_write(tmp_path):
    result = check_write_speed(small_config(), tmp_path / "unmounted", make_store=False)
    assert result.status == FAIL and "does not exist" in result.value.en
    assert not (tmp_path / "unmounted").exists()


def test_the_probe_is_overwritten_in_place_and_the_verifier_ignores_it(recorded_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(recorded_store, store, symlinks=True)
    config = small_config()
    assert check_write_speed(config, store).status == PASS
    probe = store / "selftest" / "write-probe"
    first = probe.stat()
    assert check_write_speed(config, store).status == PASS
    again = probe.stat()
    assert (again.st_ino, again.st_size) == (first.st_ino, PROBE_BYTES)
    assert oct(again.st_mode & 0o777) == oct(0o600)
    verified = json.loads(recorder("verify", "--json", store).stdout)
    assert verified["ok"] is True
    assert not [w for w in verified.get("warnings", []) if "selftest" in json.dumps(w)]
    assert "selftest" not in json.dumps(verified)


# --- Keys and certificates: real keys, real x509, `now` given -----------------------------------


def provision(directory: Path, tls_days=(-1, 365), bundle=True, relative_to_now=True) -> Path:
    """A device identity as `recorder provision` and `--install BUNDLE` leave it, made by the
    real agency and device code; tls_days: the TLS certificate's validity, in days from NOW
    (or from the real now)."""
    base = datetime.now(timezone.utc) if relative_to_now else NOW
    issued = base + timedelta(days=tls_days[0])
    agency = init_agency(directory.parent / f"{directory.name}-agency", "Test agency", "dock.test",
                         issued - timedelta(days=10))
    request = provision_device(directory, StoreLayout(directory.parent / f"{directory.name}-store"), agency.ca_pin,
                               issued, (directory.parent / "no-serial", directory.parent / "no-cpuinfo"))
    if bundle:
        enrol(agency, json.dumps(request).encode(), issued, tls_days[1] - tls_days[0])
        document = make_bundle(agency, request["device_id"], "", issued, 30)
        install_bundle(directory, json.dumps(document).encode(), issued, agency.ca_pin)
    return directory


def generation(directory: Path) -> Path:
    return current_generation(directory)


def replace_in_install(directory: Path, name: str, content: bytes) -> None:
    """A newer install whose marker agrees with its files, one of which is not the agency's:
    what a hand-made or damaged install would look like (install_bundle would refuse it)."""
    installed = current_install(directory).directory
    tampered = installed.parent / str(int(installed.name) + 1)
    shutil.copytree(installed, tampered)
    for path in tampered.iterdir():
        path.chmod(0o644)
    (tampered / name).write_bytes(content)
    marker = json.loads((tampered / MARKER).read_bytes())
    marker["files"] = {file: hashlib.sha256((tampered / file).read_bytes()).hexdigest() for file in marker["files"]}
    (tampered / MARKER).write_text(json.dumps(marker))


def identity_results(directory, now=NOW):
    return by_check(check_identity(directory, now))


def test_a_provisioned_device_passes(tmp_path):
    results = identity_results(provision(tmp_path / "id", relative_to_now=False))
    device_id = json.loads((generation(tmp_path / "id") / "device.json").read_text())["device_id"]
    assert results["keys"].status == PASS and results["keys"].measured["device_id"] == device_id
    assert results["certificates"].status == PASS and results["certificates"].measured["days_left"] == 365


def test_an_expired_certificate_fails_and_one_expiring_soon_warns(tmp_path):
    directory = provision(tmp_path / "id", tls_days=(-400, 20), relative_to_now=False)
    assert identity_results(directory)["certificates"].status == WARN  # 20 days left
    expired = identity_results(directory, NOW + timedelta(days=21))["certificates"]
    assert expired.status == FAIL and "device.pem expired" in expired.value.en
    early = identity_results(directory, NOW - timedelta(days=500))["certificates"]
    assert early.status == FAIL and "not valid yet" in early.value.en  # a clock years behind


def test_a_certificate_from_another_ca_or_for_another_key_fails(tmp_path):
    ours, theirs = provision(tmp_path / "ours", relative_to_now=False), provision(tmp_path / "theirs",
                                                                               relative_to_now=False)
    their_install = current_install(theirs).directory
    replace_in_install(ours, "dock.pem", (their_install / "dock.pem").read_bytes())
    result = identity_results(ours)["certificates"]
    assert result.status == FAIL and "dock.pem was not issued by the agency's CA" in result.value.en
    for name in ("agency-ca.pem", "device.pem"):  # a consistent chain, for another device
        replace_in_install(ours, name, (their_install / name).read_bytes())
    result = identity_results(ours)["certificates"]
    assert result.status == FAIL and "device.pem is not for tls.key" in result.value.en


def test_keys_others_can_read_or_that_do_not_match_fail(tmp_path):
    directory = provision(tmp_path / "id", relative_to_now=False)
    (generation(directory) / "tls.key").chmod(0o644)
    lax = identity_results(directory)["keys"]
    assert lax.status == FAIL and "tls.key is mode 0644" in lax.value.en
    (generation(directory) / "tls.key").chmod(0o600)
    other = provision(tmp_path / "other", relative_to_now=False)
    public = generation(directory) / "device.pub"
    public.chmod(0o644)
    public.write_bytes((generation(other) / "device.pub").read_bytes())
    assert "device.pub does not match device.key" in identity_results(directory)["keys"].value.en


def test_a_device_json_for_another_device_fails(tmp_path):
    directory = provision(tmp_path / "id", relative_to_now=False)
    facts = generation(directory) / "device.json"
    facts.chmod(0o644)
    facts.write_text(json.dumps({**json.loads(facts.read_text()), "device_id": "rec-0000000000000000"}))
    keys = identity_results(directory)["keys"]
    assert keys.status == FAIL and "device.json names rec-0000000000000000" in keys.value.en


def test_missing_keys_and_bundle_fail_with_what_to_run(tmp_path):
    nothing = identity_results(tmp_path / "none")
    assert nothing["keys"].status == nothing["certificates"].status == FAIL
    assert "recorder provision" in nothing["keys"].action.en
    directory = provision(tmp_path / "id", bundle=False)
    results = identity_results(directory)
    assert results["keys"].status == PASS
    assert results["certificates"].status == FAIL and "--install" in results["certificates"].action.en
    (generation(directory) / "tls.key").rename(tmp_path / "elsewhere")
    assert "tls.key is missing" in identity_results(directory)["keys"].value.en
    (generation(directory) / "device.key").rename(tmp_path / "elsewhere too")
    gone = identity_results(directory)["keys"]
    assert gone.status == FAIL and "recorder provision" in gone.action.en


# --- Clock, GNSS, battery -----------------------------------------------------------------------


def test_a_clock_never_set_fails_and_one_without_a_source_warns():
    unset = check_clock(SimulatedClock(start_wall_ns=0, source="none", error_ns=None))  # 1970
    assert unset.status == FAIL and "never set" in unset.value.en
    assert check_clock(SimulatedClock(source="none", error_ns=None)).status == WARN
    assert check_clock(SimulatedClock(source="rtc")).status == PASS


def test_gnss_fails_when_gpsd_cannot_be_reached_and_is_skipped_without_a_receiver(tmp_path):
    import socket

    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    gnss = small_config(gnss={"receiver": "gpsd", "port": port, "simulated_sky": False}).gnss
    clock = SystemClock()
    receiver = open_receiver(gnss, clock)
    try:
        result = check_gnss(gnss, receiver, [], clock, timeout_s=1.0)
    finally:
        receiver.close()
    assert result.status == FAIL and "cannot reach" in result.value.en
    assert check_gnss(small_config().gnss, None, [], clock).status == SKIP


def test_the_battery_is_read_through_the_power_supply_class(tmp_path):
    clock = SystemClock()
    low = check_battery(small_config(power={"supply": "simulated", "simulated_level": 0.3}).power, clock, False)
    assert low.status == WARN and low.measured["capacity"] == pytest.approx(0.3, abs=0.02)
    full = check_battery(small_config(power={"supply": "simulated"}).power, clock, False)
    assert full.status == PASS
    gone = check_battery(small_config(power={"supply": str(tmp_path / "BAT0")}).power, clock, False)
    assert gone.status == FAIL  # a gauge configured and not there
    assert check_battery(small_config(power={"supply": ""}).power, clock, False).status == SKIP


def test_a_wall_clock_off_from_gnss_time_warns():
    """The simulated sky tells the world's time through gpsd; the device's clock is 5 s off it
    while stating ±2 s (an RTC that drifted): the fix passes, the clock does not."""
    config = small_config(gnss={"receiver": "gpsd", "simulated_first_fix_seconds": 0.0})
    clock = SimulatedClock(wall_error_ns=5_000_000_000)
    receiver, feeders = simulated_bench(config, clock).open_receiver(config.gnss, clock)
    try:
        result = check_gnss(config.gnss, receiver, [f for f in feeders if f is receiver], clock, timeout_s=5.0)
    finally:
        receiver.close()
    assert result.status == WARN and "chrony" in result.action.en
    assert result.measured["clock_offset_s"] == pytest.approx(-5.0, abs=0.1)
    # the fix is where the simulated body stands; 2D or 3D: in its first cycle gpsd reports
    # after every sentence, and its first TPV may hold RMC alone (docs/GNSS.md) — the check
    # may be handed that one (seen once in CI, under load)
    assert result.measured["mode"] in (2, 3)
    assert (result.measured["lat"], result.measured["lon"]) == (pytest.approx(31.2304, abs=1e-5),
                                                                pytest.approx(121.4737, abs=1e-5))
