"""Provisioning (docs/PROVISIONING.md): the device's keys outside the store, the enrolment, the
agency's signed bundle installed whole or not at all, mutual TLS with what the agency issued,
and no re-provisioning that would orphan footage."""

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import recorder, require_tool, write_config
from recorder.agency import authority
from recorder.agency.bundle import build_bundle
from recorder.agency.certs import issue_device, new_key, pem
from recorder.agency.enrolment import read_enrolment
from recorder.evidence.layout import StoreLayout
from recorder.evidence.verifier import verify_store
from recorder.provision.device import provisioned
from recorder.provision.install import current_install, install_bundle
from recorder.provision.tls import device_client_context
from recorder.seal.identity import DeviceIdentity, current_generation

RECORD = ("start @0.5s; stop @3s",)


def now() -> datetime:
    """The clock, read when asked (the certificates the CLI issues start now, less 5 minutes)."""
    return datetime.now(timezone.utc)


def tree(root: Path) -> dict:
    """Every file under root: its bytes and mode (to show that a refusal changed nothing)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
            for p in sorted(root.rglob("*"))} if root.exists() else {}


def private_keys_in(root: Path) -> list[str]:
    return [p.as_posix() for p in root.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]


@pytest.fixture(scope="module")
def agency_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("agency") / "agency"
    recorder("agency", "init", root, "--name", "Test City", "--dock-name", "dock.test")
    return root


@pytest.fixture(scope="module")
def agency(agency_dir):
    return authority.open_agency(agency_dir)


def provision(device: Path, agency, *extra, name="request.json") -> dict:
    """`recorder provision` for the device whose store is DEVICE/store (identity: DEVICE/identity)."""
    pin = ("--agency-ca", agency.ca_pin) if agency is not None else ()
    out = device / name
    device.mkdir(parents=True, exist_ok=True)
    recorder("provision", "--store", device / "store", *pin, "-o", out, *extra)
    return json.loads(out.read_text())


@pytest.fixture
def enrolled(tmp_path, agency_dir, agency) -> tuple[Path, str]:
    """A provisioned device whose request the agency enrolled: (device directory, device id)."""
    request = provision(tmp_path / "device", agency)
    recorder("agency", "enrol", tmp_path / "device" / "request.json", "--agency", agency_dir)
    return tmp_path / "device", request["device_id"]


def bundle_for(agency_dir, device_id, tmp_path, config='[device]\nofficer_id = "A-17"\n') -> Path:
    (tmp_path / "cfg.toml").write_text(config)
    out = tmp_path / f"bundle-{device_id}.json"
    recorder("agency", "bundle", "--agency", agency_dir, "--device", device_id, "--config", tmp_path / "cfg.toml",
             "-o", out)
    return out


# ---------------------------------------------------------------------------- keys


def test_provisioned_keys_are_private_and_outside_the_store(tmp_path, agency):
    request = provision(tmp_path / "device", agency)
    identity = tmp_path / "device" / "identity"
    generation = current_generation(identity)
    for directory in (identity, generation):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("device.key", "tls.key"):
        assert stat.S_IMODE((generation / name).stat().st_mode) == 0o600
    facts = json.loads((generation / "device.json").read_text())
    assert facts["device_id"] == request["device_id"] == DeviceIdentity.load(generation).device_id
    assert facts["agency_ca_spki_sha256"] == agency.ca_pin
    assert not (tmp_path / "device" / "store").exists(), "provisioning writes nothing into the store"
    assert "PRIVATE KEY" not in (tmp_path / "device" / "request.json").read_text()
    assert repr(DeviceIdentity.load(generation)) == f"DeviceIdentity({request['device_id']})"


def test_a_recorded_store_and_its_copy_carry_no_private_key_and_verify(tmp_path, agency):
    request = provision(tmp_path / "device", agency)
    store = tmp_path / "device" / "store"
    recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", store, "--script", *RECORD)
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    assert private_keys_in(copy) == []
    assert sorted(p.name for p in (copy / "device").iterdir()) == ["device.pub"]
    result = recorder("verify", "--json", copy)
    report = json.loads(result.stdout)
    assert report["device_id"] == request["device_id"]
    assert not [w for w in report["warnings"] if w["code"] == "private-key-present"]


def test_the_simulated_body_makes_its_own_identity_beside_each_store(tmp_path):
    config = write_config(tmp_path)
    for name in ("store", "other"):
        recorder("run", "--simulate", "--fast", "--config", config, "--store", tmp_path / name, "--script", *RECORD)
    ids = {json.loads(recorder("verify", "--json", tmp_path / name).stdout)["device_id"] for name in ("store", "other")}
    assert len(ids) == 2, "two stores never share an identity by default"
    for identity in (tmp_path / "identity", tmp_path / "other.identity"):
        key = current_generation(identity) / "device.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(identity.stat().st_mode) == 0o700
    assert private_keys_in(tmp_path / "store") == private_keys_in(tmp_path / "other") == []


def test_a_device_run_without_an_identity_refuses_and_writes_nothing(tmp_path):
    """Pins there (mock), the store's filesystem allowed, sources synthetic: only the identity
    is missing."""
    store = tmp_path / "store"
    config = tmp_path / "recorder.toml"
    config.write_text('[capture]\ncamera = "synthetic"\nmicrophone = "synthetic"\n'
                      '[storage]\nrequire_data_partition = false\n')
    result = recorder("run", "--once", "--config", config, "--store", store, check=False,
                      env=dict(os.environ, GPIOZERO_PIN_FACTORY="mock"))
    assert result.returncode == 2
    assert "recorder provision" in result.stderr and result.stderr.count("\n") == 1
    assert not store.exists() and not (tmp_path / "identity").exists()


def test_an_old_stores_key_is_adopted_and_kept(tmp_path):
    store = StoreLayout(tmp_path / "store")
    old = DeviceIdentity.create(store.device_dir)  # the layout before the identity left the store
    before = (store.device_dir / "device.key").read_bytes()
    recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", store.root,
             "--script", *RECORD)
    adopted = DeviceIdentity.load(current_generation(tmp_path / "identity"))
    assert adopted.device_id == old.device_id
    assert (store.device_dir / "device.key").read_bytes() == before, "the device deletes nothing from a store"
    assert verify_store(store.root).ok


# ---------------------------------------------------------------------------- the whole flow


def test_the_whole_flow_gives_mutual_tls_with_the_dock(enrolled, agency_dir, agency, tmp_path):
    device, device_id = enrolled
    bundle = bundle_for(agency_dir, device_id, tmp_path)
    recorder("provision", "--store", device / "store", "--install", bundle)
    client = device_client_context(device / "identity")
    assert handshake(authority.dock_server_context(agency), client) == ("TLSv1.3", device_id)

    # A device certificate from another CA, for the same key: the dock refuses it.
    other = authority.init_agency(tmp_path / "other", "Other", "dock.test", now())
    device_key = provisioned(device / "identity").tls_key()
    forged = issue_device(other._ca_key(), other.ca(), device_key.public_key(), device_id, None, now(), 30)
    (tmp_path / "forged.pem").write_bytes(pem(forged))
    forged_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    forged_client.load_verify_locations(agency_dir / "ca.pem")
    forged_client.load_cert_chain(tmp_path / "forged.pem", current_generation(device / "identity") / "tls.key")
    with pytest.raises(ssl.SSLError):
        handshake(authority.dock_server_context(agency), forged_client)


def handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> tuple[str, str]:
    """One TLS handshake over loopback, bounded: (version, the client certificate's CN as the
    dock saw it). The server's failure is raised here."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    outcome = {}

    def serve():
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with server_context.wrap_socket(conn, server_side=True) as tls:
                subject = dict(item for part in tls.getpeercert()["subject"] for item in part)
                outcome["seen"] = (tls.version(), subject["commonName"])
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_context.wrap_socket(raw, server_hostname="dock.test") as tls:
                tls.recv(2)
    except (ssl.SSLError, OSError):
        pass  # the server's view decides
    finally:
        thread.join(15)
        listener.close()
    if "error" in outcome:
        raise outcome["error"] if isinstance(outcome["error"], ssl.SSLError) else ssl.SSLError(str(outcome["error"]))
    return outcome["seen"]


def test_the_installed_configuration_is_the_runs(enrolled, agency_dir, tmp_path):
    device, device_id = enrolled
    recorder("provision", "--store", device / "store", "--install", bundle_for(agency_dir, device_id, tmp_path))
    recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", device / "store",
             "--script", *RECORD)
    starts = [json.loads(line) for line in (device / "store" / "ledger" / "ledger.jsonl").read_text().splitlines()
              if '"session_start"' in line]
    assert [e["body"]["officer_id"] for e in starts] == ["A-17"]


def test_a_provisioned_device_encrypts_to_its_agencys_recipient(enrolled, agency_dir, tmp_path):
    """The bundle's age recipient (installed as age-recipient.txt) is what the device's footage
    is encrypted to, with no setting: only the agency's identity opens it (Debian's age)."""
    age = require_tool("age")
    from recorder.encryption import Identity

    device, device_id = enrolled
    recorder("provision", "--store", device / "store", "--install", bundle_for(agency_dir, device_id, tmp_path))
    recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", device / "store",
             "--script", *RECORD)
    segments = sorted((device / "store").glob("media/*/*.mp4.age"))
    assert segments and not list((device / "store").glob("media/*/*.mp4"))
    for segment in segments:
        opened = subprocess.run([age, "-d", "-i", str(agency_dir / "age-identity.txt"), "-o",
                                 str(tmp_path / (segment.name + ".mp4")), str(segment)], capture_output=True, text=True)
        assert opened.returncode == 0, opened.stderr
    identities = Identity.parse_file((agency_dir / "age-identity.txt").read_text())
    assert verify_store(device / "store", identities=identities).ok


# ---------------------------------------------------------------------------- refusals


def refused(device: Path, bundle: Path, expect: str, *extra):
    before = tree(device)
    result = recorder("provision", "--store", device / "store", "--install", bundle, *extra, check=False)
    assert result.returncode == 2, result.stderr
    assert expect in result.stderr, result.stderr
    assert tree(device) == before, "a refused bundle changes nothing"
    assert current_install(device / "identity") is None


def test_a_bundle_with_one_byte_changed_is_refused(enrolled, agency_dir, tmp_path):
    device, device_id = enrolled
    bundle = bundle_for(agency_dir, device_id, tmp_path)
    data = bundle.read_bytes()
    at = data.index(b"A-17") + 2
    bundle.write_bytes(data[:at] + b"8" + data[at + 1:])
    refused(device, bundle, "signature does not verify")


def test_a_bundle_for_another_device_is_refused(enrolled, agency_dir, agency, tmp_path):
    device, _ = enrolled
    other = provision(tmp_path / "second", agency)
    recorder("agency", "enrol", tmp_path / "second" / "request.json", "--agency", agency_dir)
    refused(device, bundle_for(agency_dir, other["device_id"], tmp_path), "is for device")


def test_an_expired_bundle_is_refused(enrolled, agency, tmp_path):
    device, device_id = enrolled
    old = authority.make_bundle(agency, device_id, "", now() - timedelta(days=40), days=30)
    (tmp_path / "old.json").write_text(json.dumps(old))
    refused(device, tmp_path / "old.json", "not now")
    # ... and one that is valid now is refused at a later `now` (the clock injected, not set)
    fresh = json.dumps(authority.make_bundle(agency, device_id, "", now(), days=30)).encode()
    with pytest.raises(Exception, match="not now"):
        install_bundle(device / "identity", fresh, now() + timedelta(days=31))


def test_a_certificate_for_another_key_is_refused(enrolled, agency, tmp_path):
    device, device_id = enrolled
    stranger = issue_device(agency._ca_key(), agency.ca(), new_key().public_key(), device_id, None, now(), 30)
    bundle = build_bundle(agency._ca_key(), agency.ca(), stranger, agency.dock(), agency.recipient, "", device_id,
                          now(), now() + timedelta(days=1))
    (tmp_path / "stranger.json").write_text(json.dumps(bundle))
    refused(device, tmp_path / "stranger.json", "not for this device's TLS key")


def test_a_bundle_from_an_agency_the_device_does_not_trust_is_refused(enrolled, tmp_path):
    device, device_id = enrolled
    other = authority.init_agency(tmp_path / "other", "Other", "dock.test", now())
    request = (current_generation(device / "identity") / "enrolment.json").read_bytes()
    cert = issue_device(other._ca_key(), other.ca(), read_enrolment(request).tls_public_key, device_id, None, now(), 30)
    bundle = build_bundle(other._ca_key(), other.ca(), cert, other.dock(), other.recipient, "", device_id,
                          now(), now() + timedelta(days=1))
    (tmp_path / "foreign.json").write_text(json.dumps(bundle))
    refused(device, tmp_path / "foreign.json", "not by the agency CA this device trusts")


def test_a_bundle_setting_where_the_store_is_is_refused(enrolled, agency_dir, tmp_path):
    device, device_id = enrolled
    bundle = bundle_for(agency_dir, device_id, tmp_path, config='[device]\nstore = "/tmp/elsewhere"\n')
    refused(device, bundle, "may not set device.store")


# ---------------------------------------------------------------------------- re-provisioning


def test_reprovisioning_is_refused_while_footage_is_not_receipted(tmp_path, agency):
    device = tmp_path / "device"
    first = provision(device, agency)
    second = provision(device, agency, "--language", "en", name="second.json")  # the store is empty: allowed
    assert first["device_id"] != second["device_id"]
    assert current_generation(device / "identity").name == "2"
    recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", device / "store",
             "--script", *RECORD)
    before = tree(device)
    result = recorder("provision", "--store", device / "store", "--agency-ca", agency.ca_pin, "-o",
                      device / "again.json", check=False)
    assert result.returncode == 2
    assert "no dock receipt covers" in result.stderr
    assert tree(device) == before


# ---------------------------------------------------------------------------- enrolment


def test_a_tampered_enrolment_request_is_refused(tmp_path, agency_dir, agency):
    request = provision(tmp_path / "device", agency)
    forged = {**request, "hardware_serial": "someone-else"}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    result = recorder("agency", "enrol", tmp_path / "forged.json", "--agency", agency_dir, check=False)
    assert result.returncode == 2 and "signature does not verify" in result.stderr
    assert not (agency_dir / "devices" / f"{request['device_id']}.pem").exists()


def test_the_hardware_serial_is_read_from_the_device_tree_then_cpuinfo(tmp_path):
    from recorder.provision.hardware import hardware_serial

    (tmp_path / "serial-number").write_bytes(b"00000000a1b2c3d4\0")
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 10000000deadbeef\n")
    assert hardware_serial(tmp_path / "serial-number", tmp_path / "cpuinfo") == "00000000a1b2c3d4"
    assert hardware_serial(tmp_path / "absent", tmp_path / "cpuinfo") == "10000000deadbeef"
    assert hardware_serial(tmp_path / "absent", tmp_path / "absent") is None


# ---------------------------------------------------------------------------- installing whole


def test_an_install_cut_before_its_switch_is_no_install(enrolled, agency, monkeypatch):
    """A power cut after the files and before `installed.json`: the device goes on with what it
    had (here nothing); the next install is whole and current."""
    import recorder.provision.install as install

    device, device_id = enrolled
    data = json.dumps(authority.make_bundle(agency, device_id, '[voice]\nlanguage = "en"\n', now())).encode()
    real = install.write_sealed_file

    def cut_at_the_switch(path, content, *args):
        if path.name == install.MARKER:
            raise OSError(5, "power cut")
        real(path, content, *args)

    monkeypatch.setattr(install, "write_sealed_file", cut_at_the_switch)
    with pytest.raises(OSError):
        install_bundle(device / "identity", data, now())
    assert current_install(device / "identity") is None
    monkeypatch.setattr(install, "write_sealed_file", real)
    first, _ = install_bundle(device / "identity", data, now())
    assert current_install(device / "identity").directory == first.directory
    later = json.dumps(authority.make_bundle(agency, device_id, "", now())).encode()
    second, _ = install_bundle(device / "identity", later, now())
    assert current_install(device / "identity").directory == second.directory != first.directory
    (second.directory / "config.toml").chmod(0o644)
    (second.directory / "config.toml").write_text("[voice]\nlanguage = \"zh-CN\"\n")  # not what the marker names
    assert current_install(device / "identity").directory == first.directory


def test_the_agencys_certificates_say_what_they_are_for(enrolled, agency):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    _, device_id = enrolled
    ca, dock, device = agency.ca(), agency.dock(), agency.device_certificate(device_id)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert set(dock.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert dock.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["dock.test"]
    assert list(device.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert device.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier) == [f"urn:recorder:device:{device_id}"]
    assert not device.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_request_for_another_agency_is_not_enrolled(tmp_path, agency):
    request = provision(tmp_path / "device", agency)
    other = authority.init_agency(tmp_path / "other", "Other", "dock.test", now())
    with pytest.raises(Exception, match="not this agency's"):
        authority.enrol(other, (tmp_path / "device" / "request.json").read_bytes(), now())
    assert not (other.devices / f"{request['device_id']}.pem").exists()


def test_a_first_install_without_a_pinned_ca_is_refused(tmp_path, agency_dir, agency):
    request = provision(tmp_path / "device", None)  # no --agency-ca given
    recorder("agency", "enrol", tmp_path / "device" / "request.json", "--agency", agency_dir)
    bundle = bundle_for(agency_dir, request["device_id"], tmp_path)
    refused(tmp_path / "device", bundle, "no agency CA is pinned")
    recorder("provision", "--store", tmp_path / "device" / "store", "--install", bundle, "--agency-ca", agency.ca_pin)
    assert current_install(tmp_path / "device" / "identity").pin == agency.ca_pin


def test_no_private_key_reaches_the_log_or_the_output(tmp_path, agency):
    result = recorder("--log-level", "debug", "provision", "--store", tmp_path / "store", "--agency-ca", agency.ca_pin,
                      "--language", "en")
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["device_id"] in result.stderr  # what the technician is told
    run = recorder("--log-level", "debug", "run", "--simulate", "--fast", "--config", write_config(tmp_path),
                   "--store", tmp_path / "store", "--script", *RECORD)
    assert "PRIVATE KEY" not in run.stdout + run.stderr


def test_a_device_is_enrolled_once(enrolled, agency):
    device, device_id = enrolled
    issued = (agency.devices / f"{device_id}.pem").read_bytes()
    with pytest.raises(Exception, match="enrolled already"):
        authority.enrol(agency, (device / "request.json").read_bytes(), now())
    assert (agency.devices / f"{device_id}.pem").read_bytes() == issued
