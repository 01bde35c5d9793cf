"""The agency's X.509: its CA, the dock's certificate, the devices' TLS client certificates,
and the checks a device makes of what it is given. ECDSA P-256 with SHA-256 throughout: what
every TLS stack (Python's `ssl` on any OpenSSL) takes for mutual TLS.
"""

import hashlib
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BACKDATE = timedelta(minutes=5)  # a device clock a little behind the agency's still accepts it
DEVICE_URI_PREFIX = "urn:recorder:device:"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def is_p256(key) -> bool:
    return isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)) and key.curve.name == "secp256r1"


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def spki_sha256(public_key) -> str:
    """The pin of a key: SHA-256 of its DER SubjectPublicKeyInfo, hex (as HPKP and curl's
    --pinnedpubkey pin). It survives a renewal of the CA's certificate with the same key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def normalise_pin(text: str) -> str:
    """A pin as given on a command line: hex, colons and case allowed; ValueError otherwise."""
    pin = "".join(text.strip().split(":")).lower()
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise ValueError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return pin


def _name(common_name: str, organisation: str | None = None, serial: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, now: datetime, days: int):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _key_usage(signing: bool, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def make_ca(key, agency: str, now: datetime, days: int) -> x509.Certificate:
    """Self-signed; a CA that signs only end certificates (path length 0)."""
    name = _name(f"{agency} recorder CA", agency)
    return (_builder(name, name, key.public_key(), now, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signing=True, cert_sign=True), critical=True)
            .sign(key, hashes.SHA256()))


def _issued(ca_key, ca: x509.Certificate, builder, usages) -> x509.Certificate:
    return (builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def make_dock(ca_key, ca: x509.Certificate, dock_key, dock_name: str, now: datetime, days: int) -> x509.Certificate:
    """The dock: a TLS server for the devices (its DNS name in the SAN), and a client of the
    agency's systems."""
    builder = (_builder(_name(dock_name, _organisation(ca)), ca.subject, dock_key.public_key(), now, days)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(dock_name)]), critical=False))
    return _issued(ca_key, ca, builder, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def issue_device(ca_key, ca: x509.Certificate, device_key, device_id: str, hardware_serial: str | None,
                 now: datetime, days: int) -> x509.Certificate:
    """A device's TLS client certificate: its id as the subject's CN and as a URI in the SAN."""
    builder = (_builder(_name(device_id, _organisation(ca), hardware_serial), ca.subject, device_key, now, days)
               .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(DEVICE_URI_PREFIX + device_id)]),
                              critical=False))
    return _issued(ca_key, ca, builder, [ExtendedKeyUsageOID.CLIENT_AUTH])


def _organisation(ca: x509.Certificate) -> str | None:
    found = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return found[0].value if found else None


def common_name(certificate: x509.Certificate) -> str | None:
    found = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return found[0].value if found else None


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The certificate names this issuer and its signature verifies with the issuer's key."""
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
