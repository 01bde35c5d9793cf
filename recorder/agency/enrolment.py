"""The enrolment request: what a device tells the agency of itself (docs/PROVISIONING.md).

    {"format": "recorder-enrolment/1", "device_id", "hardware_serial" (or null),
     "signing_public_key" (Ed25519, PEM), "tls_csr" (PKCS#10, PEM, CN = the device id),
     "agency_ca_spki_sha256" (the agency the technician named, or null), "created_at",
     "signature"}

`signature` is Ed25519 (base64) by the signing key it names, over the RFC 8785 canonical
JSON of the request without `signature`; the CSR is signed by the TLS key it carries. So
the agency knows the request came from both keys it names, and that the id is the signing
key's (recorder/evidence/keys.py).
"""

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ProvisioningError
from ..evidence.canonical import canonical_bytes
from ..evidence.keys import device_id_for, verify_signature
from .certs import common_name, is_p256
from .documents import read_document, signed_bytes

ENROLMENT_FORMAT = "recorder-enrolment/1"
FIELDS = ("format", "device_id", "hardware_serial", "signing_public_key", "tls_csr", "agency_ca_spki_sha256",
          "created_at", "signature")


def tls_csr(tls_key, device_id: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, device_id)])
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .sign(tls_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def enrolment_request(sign, signing_public_pem: str, device_id: str, tls_key, hardware_serial: str | None,
                      agency_pin: str | None, created_at: str) -> dict:
    """The request, signed with `sign(bytes) -> base64` (the device's signing key)."""
    request = {
        "format": ENROLMENT_FORMAT,
        "device_id": device_id,
        "hardware_serial": hardware_serial,
        "signing_public_key": signing_public_pem,
        "tls_csr": tls_csr(tls_key, device_id).decode("ascii"),
        "agency_ca_spki_sha256": agency_pin,
        "created_at": created_at,
    }
    return {**request, "signature": sign(canonical_bytes(request))}


@dataclass(frozen=True)
class Enrolment:
    device_id: str
    hardware_serial: str | None
    tls_public_key: object
    agency_pin: str | None


def read_enrolment(data: bytes) -> Enrolment:
    """A request checked in full (both signatures, the id, the CSR's name and key), or
    ProvisioningError saying what is wrong."""
    request = read_document(data, ENROLMENT_FORMAT, FIELDS, "enrolment request")
    texts = ("device_id", "signing_public_key", "tls_csr", "created_at", "signature")
    if not all(isinstance(request[k], str) for k in texts) or not all(
            request[k] is None or isinstance(request[k], str) for k in ("hardware_serial", "agency_ca_spki_sha256")):
        raise ProvisioningError("the enrolment request's members are not text (hardware_serial and "
                                "agency_ca_spki_sha256: text or null)")
    try:
        signing_key = serialization.load_pem_public_key(request["signing_public_key"].encode("ascii"))
        csr = x509.load_pem_x509_csr(request["tls_csr"].encode("ascii"))
    except (ValueError, AttributeError, UnicodeEncodeError):
        raise ProvisioningError("the enrolment request's keys are not PEM") from None
    if not isinstance(signing_key, Ed25519PublicKey) or not verify_signature(
            signing_key, request["signature"], signed_bytes(request)):
        raise ProvisioningError("the enrolment request's signature does not verify with the signing key it names")
    if device_id_for(signing_key) != request["device_id"]:
        raise ProvisioningError(f"device id {request['device_id']!r} is not the signing key's "
                                f"({device_id_for(signing_key)})")
    if not csr.is_signature_valid or not is_p256(csr.public_key()):
        raise ProvisioningError("the TLS request (CSR) is not signed by its own P-256 key")
    if common_name(csr) != request["device_id"]:
        raise ProvisioningError("the TLS request (CSR) names another device")
    return Enrolment(request["device_id"], request["hardware_serial"], csr.public_key(),
                     request["agency_ca_spki_sha256"])
