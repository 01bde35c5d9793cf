"""The device's keys and the agency's certificates, where `recorder provision` leaves them
(docs/PROVISIONING.md): the current generation of the identity directory holds

  device.key   Ed25519 signing key, mode 0600     device.pub   its public key
  tls.key      ECDSA P-256 TLS key, mode 0600     device.json  {"device_id", "hardware_serial", …}

and its newest whole install (`provision/install.py`: every file the marker names, with its
hash) the agency's bundle: agency-ca.pem, device.pem (the device's TLS certificate), dock.pem.

Two checks, each a function of the directory and `now` (tests pass a time; nothing here reads
the clock): the keys (there, private to their owner, the signing key matching device.pub, the
TLS key the right kind) and the certificates (there, issued by the agency's CA, the TLS
certificate for tls.key, none expired; one expiring within EXPIRY_WARNING is a warning). The
install checked the bundle when it went in; this checks that it still holds today.
"""

import stat
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..agency.certs import signed_by, spki_sha256
from ..errors import RecorderError
from ..evidence.keys import device_id_for
from ..evidence.layout import PRIVATE_KEY_FILE as SIGNING_KEY, PUBLIC_KEY_FILE as SIGNING_PUB
from ..provision.device import DEVICE_FILE as DEVICE_JSON, TLS_KEY_FILE as TLS_KEY, provisioned
from ..provision.install import CA_FILE as CA_CERT, DEVICE_CERT_FILE as TLS_CERT, DOCK_FILE as DOCK_CERT, current_install
from .results import FAIL, PASS, SKIP, WARN, Result, Text

EXPIRY_WARNING = timedelta(days=30)
PRIVATE_BITS = 0o077  # a private key readable or writable by anyone but its owner is not private

PROVISION = Text("运行 recorder provision", "run recorder provision")
INSTALL_BUNDLE = Text("运行 recorder provision --install BUNDLE（机构签发的证书包）",
                      "run recorder provision --install BUNDLE (the agency's bundle)")


class Problem(Exception):
    """What is wrong, in both languages, and what to do."""

    def __init__(self, found: Text, action: Text):
        super().__init__(found.en)
        self.found, self.action = found, action


def device_id_of(directory) -> str | None:
    try:
        device = provisioned(Path(directory))
    except (RecorderError, OSError):
        return None
    return None if device is None else device.identity.device_id


def check_identity(directory, now: datetime, simulated: bool = False) -> list[Result]:
    directory = Path(directory)
    try:
        device = provisioned(directory)
    except RecorderError as exc:
        found = Text(f"身份目录无法读取：{exc}", f"the identity cannot be read: {exc}")
        return [Result("keys", FAIL, found, PROVISION), Result("certificates", FAIL, found, PROVISION)]
    if device is None:
        status = SKIP if simulated else FAIL  # the simulated body makes its own, unenrolled key
        found = Text(f"未配发：{directory} 没有配发的密钥", f"not provisioned: no provisioned keys in {directory}")
        return [Result("keys", status, found, PROVISION), Result("certificates", status, found, PROVISION)]
    keys = _keys(device.generation, device.facts)
    install = current_install(directory)
    if install is None:
        return [keys, Result("certificates", FAIL, Text("机构证书包未安装（或安装的文件与其记录不符）",
                                                        "the agency's bundle is not installed (or an install's files "
                                                        "no longer match its record)"), INSTALL_BUNDLE)]
    return [keys, _certificates(install.directory, device.generation, now)]


def _keys(directory: Path, facts) -> Result:
    """facts: device.json as provisioning read it."""
    try:
        signing = _private_key(directory / SIGNING_KEY, Ed25519PrivateKey, "Ed25519")
        _matches_public(signing, directory / SIGNING_PUB)
        _private_key(directory / TLS_KEY, ec.EllipticCurvePrivateKey, "ECDSA P-256", curve=ec.SECP256R1)
        device = _device_facts(facts, device_id_for(signing.public_key()))
    except Problem as problem:
        return Result("keys", FAIL, problem.found, problem.action)
    return Result("keys", PASS, Text(f"设备 {device['device_id']}：签名密钥与公钥一致，TLS 密钥就绪，权限 0600",
                                     f"device {device['device_id']}: signing key matches device.pub, TLS key "
                                     "ready, mode 0600"),
                  measured={"device_id": device["device_id"], "hardware_serial": device.get("hardware_serial")})


def _private_key(path: Path, kind, name: str, curve=None):
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise Problem(Text(f"缺少 {path.name}", f"{path.name} is missing"), PROVISION) from None
    except (OSError, ValueError, TypeError) as exc:
        raise Problem(Text(f"{path.name} 无法读取：{type(exc).__name__}", f"{path.name} cannot be read: "
                           f"{type(exc).__name__}"), PROVISION) from None
    if mode & PRIVATE_BITS:
        raise Problem(Text(f"{path.name} 权限为 {mode:04o}：他人可读写", f"{path.name} is mode {mode:04o}: others "
                           "can read or write it"),
                      Text("密钥可能已泄露：重新配发并吊销旧证书（chmod 0600 不能挽回）", "the key may have leaked: "
                           "re-provision and have the old certificate revoked (chmod 0600 does not undo it)"))
    if not isinstance(key, kind) or (curve is not None and not isinstance(key.curve, curve)):
        raise Problem(Text(f"{path.name} 不是 {name} 私钥", f"{path.name} is not an {name} private key"), PROVISION)
    return key


def _matches_public(signing: Ed25519PrivateKey, path: Path):
    try:
        public = serialization.load_pem_public_key(path.read_bytes())
        message = b"recorder selftest"
        public.verify(signing.sign(message), message)  # the key signs what device.pub verifies
    except FileNotFoundError:
        raise Problem(Text(f"缺少 {path.name}", f"{path.name} is missing"), PROVISION) from None
    except (OSError, ValueError, TypeError, AttributeError, InvalidSignature):
        raise Problem(Text(f"{path.name} 与 device.key 不符", f"{path.name} does not match device.key"),
                      PROVISION) from None


def _device_facts(device, signing_id: str) -> dict:
    if not isinstance(device, dict) or not device.get("device_id"):
        raise Problem(Text(f"{DEVICE_JSON} 没有 device_id", f"{DEVICE_JSON} has no device_id"), PROVISION)
    if device["device_id"] != signing_id:
        raise Problem(Text(f"{DEVICE_JSON} 写的是 {device['device_id']}，签名密钥属于 {signing_id}",
                           f"{DEVICE_JSON} names {device['device_id']}, the signing key is {signing_id}'s"), PROVISION)
    return device


def _certificates(install: Path, generation: Path, now: datetime) -> Result:
    try:
        ca = _certificate(install / CA_CERT)
        tls = _certificate(install / TLS_CERT)
        dock = _certificate(install / DOCK_CERT)
        for cert, name in ((tls, TLS_CERT), (dock, DOCK_CERT)):
            _issued_by(cert, name, ca)
        _for_key(tls, generation / TLS_KEY)
        ends = {name: _valid_at(cert, name, now) for cert, name in ((ca, CA_CERT), (tls, TLS_CERT), (dock, DOCK_CERT))}
    except Problem as problem:
        return Result("certificates", FAIL, problem.found, problem.action)
    first = min(ends, key=ends.get)
    days = (ends[first] - now).days
    measured = {"expires": {name: end.isoformat() for name, end in ends.items()}, "days_left": days}
    seen = Text(f"由机构 CA 签发，{first} 最先到期：{ends[first]:%Y-%m-%d}（{days} 天后）",
                f"issued by the agency CA; {first} expires first: {ends[first]:%Y-%m-%d} (in {days} days)")
    if ends[first] - now < EXPIRY_WARNING:
        return Result("certificates", WARN, seen, Text("即将到期：请机构续签并安装新证书包",
                                                       "expiring soon: have the agency renew it and install the new "
                                                       "bundle"), measured)
    return Result("certificates", PASS, seen, measured=measured)


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise Problem(Text(f"缺少 {path.name}：机构证书包未安装", f"{path.name} is missing: the agency's bundle is "
                           "not installed"), INSTALL_BUNDLE) from None
    except (OSError, ValueError):
        raise Problem(Text(f"{path.name} 不是证书", f"{path.name} is not a certificate"), INSTALL_BUNDLE) from None


def _issued_by(cert: x509.Certificate, name: str, ca: x509.Certificate):
    if not signed_by(cert, ca):
        raise Problem(Text(f"{name} 不是本机构 CA 签发的", f"{name} was not issued by the agency's CA"),
                      INSTALL_BUNDLE)


def _for_key(cert: x509.Certificate, key_path: Path):
    key = _private_key(key_path, ec.EllipticCurvePrivateKey, "ECDSA P-256", curve=ec.SECP256R1)
    if spki_sha256(cert.public_key()) != spki_sha256(key.public_key()):
        raise Problem(Text(f"{TLS_CERT} 与 {TLS_KEY} 不符", f"{TLS_CERT} is not for {TLS_KEY}"), INSTALL_BUNDLE)


def _valid_at(cert: x509.Certificate, name: str, now: datetime) -> datetime:
    if now < cert.not_valid_before_utc:
        raise Problem(Text(f"{name} 尚未生效（{cert.not_valid_before_utc:%Y-%m-%d} 起）：时钟是否正确？",
                           f"{name} is not valid yet (from {cert.not_valid_before_utc:%Y-%m-%d}): is the clock right?"),
                      Text("检查时钟行", "see the clock line"))
    if now >= cert.not_valid_after_utc:
        raise Problem(Text(f"{name} 已于 {cert.not_valid_after_utc:%Y-%m-%d} 过期", f"{name} expired on "
                           f"{cert.not_valid_after_utc:%Y-%m-%d}"),
                      Text("请机构续签并安装新证书包", "have the agency renew it and install the new bundle"))
    return cert.not_valid_after_utc
