"""The agency's age key pair, as Debian's age reads and writes them: the Bech32 of
recorder/encryption against BIP 173's test vectors, then the real tool both ways."""

import subprocess
from datetime import datetime, timezone

import pytest

from conftest import require_tool
from recorder.encryption import bech32
from recorder.encryption.errors import KeyFormatError
from recorder.encryption.keys import Identity, Recipient
from recorder.agency.authority import init_agency

VALID = ["A12UEL5L", "a12uel5l",
         "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
         "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
         "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"]
INVALID = ["pzry9x8gf2tvdw0s3jn54khce6mua7l", "x1b4n0q5v", "li1dgmt3", "A1G7SGD8", "10a06t8", "1qzzfhee",
           "a12UEL5L", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx"]


@pytest.mark.parametrize("text", VALID)
def test_bip173_valid_strings_decode_and_encode_back(text):
    hrp, data = bech32.decode(text)
    assert bech32.encode(hrp, data) == text.lower()


@pytest.mark.parametrize("text", INVALID)
def test_bip173_invalid_strings_are_refused(text):
    with pytest.raises(ValueError):
        bech32.decode(text)


def test_age_encrypts_to_the_agency_and_the_agency_identity_decrypts(tmp_path):
    tool = require_tool("age")
    agency = init_agency(tmp_path / "agency", "Test", "dock.test", datetime.now(timezone.utc))
    secret = b"segment bytes \x00\xff" * 100
    sealed = subprocess.run([tool, "-r", agency.recipient], input=secret, capture_output=True, check=True).stdout
    opened = subprocess.run([tool, "-d", "-i", str(agency.root / "age-identity.txt")], input=sealed,
                            capture_output=True, check=True).stdout
    assert opened == secret


def test_a_key_from_age_keygen_reads_as_the_same_key_pair(tmp_path):
    keygen = require_tool("age-keygen")
    subprocess.run([keygen, "-o", str(tmp_path / "key.txt")], capture_output=True, check=True)
    lines = (tmp_path / "key.txt").read_text().splitlines()
    recipient = next(line.split(": ")[1] for line in lines if line.startswith("# public key:"))
    secret = next(line for line in lines if line.startswith("AGE-SECRET-KEY-1"))
    identity = Identity.parse(secret)
    assert str(identity.recipient) == recipient and identity.secret_text() == secret
    assert str(Recipient.parse(recipient)) == recipient
    with pytest.raises(KeyFormatError):
        Recipient.parse(recipient[:-1] + ("q" if recipient[-1] != "q" else "p"))


def test_the_agency_identity_file_reads_back_as_its_recipient(tmp_path):
    agency = init_agency(tmp_path / "agency", "Test", "dock.test", datetime.now(timezone.utc))
    (identity,) = Identity.parse_file((agency.root / "age-identity.txt").read_text())
    assert str(identity.recipient) == agency.recipient
