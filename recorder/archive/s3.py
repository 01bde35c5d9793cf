"""The archive in an S3 bucket with Object Lock: each object one locked version.

Every object is a single PutObject to `objects/sha256/<sha256>`, hashed here first (bytes
that are not the SHA-256 are never sent), with the SHA-256 (x-amz-checksum-sha256) and the
MD5 (Content-MD5) of the bytes for the server to check: a body that changed on the way is
refused and nothing is stored. (Ceph RGW 18 ignores the SHA-256 header and checks the MD5;
AWS and newer RGW check both.) It is locked in COMPLIANCE mode until the class's date: no
one with S3 credentials, the bucket's owner included, can delete that version or shorten
its retention before then; it can only be lengthened. The version is confirmed with
HeadObject (size, digest, lock mode, date) before put returns. A bucket without Object
Lock and versioning is refused: evidence is never stored unlocked.

boto3 is imported here only, so the device never needs it (the `dock` extra).
"""

import base64
import hashlib
import os
import stat
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from .base import ArchiveConfigError, ArchiveError, Stored, check_sha256, rfc3339
from .retention import RetentionPolicy, retain_until, whole_second_up

LOCK_MODE = "COMPLIANCE"
KEY_PREFIX = "objects/sha256/"
SINGLE_PUT_LIMIT = 5 * 1024**3  # S3's largest single PutObject; segments are far smaller
READ_CHUNK = 1 << 20


class S3Archive:
    def __init__(self, *, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                 policy: RetentionPolicy, ca_file: Path | None = None, create_bucket: bool = False):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.policy = policy
        self.description = f"S3 bucket {bucket} at {endpoint} (Object Lock {LOCK_MODE})"
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                        connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                        # only the checksums we ask for: SHA-256 in a header, never a streamed trailer
                        request_checksum_calculation="when_required", response_checksum_validation="when_required")
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, verify=str(ca_file) if ca_file else True, config=config)
        self._require_object_lock(create_bucket)

    def find(self, sha256: str) -> Stored | None:
        key = KEY_PREFIX + check_sha256(sha256)
        with self._errors(f"looking up {key}"):
            listing = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
        # A delete marker hides an object from a plain GET, not from this listing. The
        # archive stores a key once: a later version can only be someone else's upload under
        # the same name, so the object is the first version (S3 lists the newest first).
        versions = [v for v in listing.get("Versions", []) if v["Key"] == key]
        if not versions:
            return None
        return self._head(sha256, versions[-1]["VersionId"])

    def put(self, sha256: str, source: Path, footage_class: str, recorded_until: datetime,
            checked: bool = False) -> Stored:
        """checked is not used: the upload reads the file for its MD5 and SHA-256 anyway, and
        the store checks both (docs/ARCHIVE.md)."""
        until = retain_until(footage_class, recorded_until, self.policy)
        size, sha_b64, md5 = _digests(check_sha256(sha256), source)
        found = self.find(sha256)
        if found is not None:  # stored once; kept as long as the longest class asks
            if found.locked and found.retain_until >= rfc3339(until):
                return found
            return self.extend(sha256, until)
        if until <= datetime.now(timezone.utc):
            raise ArchiveError(f"{footage_class} footage recorded until {rfc3339(recorded_until)} was to be kept until "
                               f"{rfc3339(until)}, which has passed: Object Lock cannot lock a past date; "
                               "archive it as a longer class")
        if size > SINGLE_PUT_LIMIT:
            raise ArchiveError(f"{source} is {size} bytes: larger than one PutObject can store")
        key = KEY_PREFIX + sha256
        with open(source, "rb") as body, self._errors(f"storing {key}"):
            answer = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentLength=size, ContentMD5=base64.b64encode(md5).decode(),
                ChecksumSHA256=sha_b64, ObjectLockMode=LOCK_MODE, ObjectLockRetainUntilDate=until)
        version = answer.get("VersionId")
        if not version:
            raise ArchiveError(f"bucket {self.bucket} gave {key} no version: it is not versioned")
        stored = self._head(sha256, version, expect=(size, sha_b64, md5.hex()))
        if stored.retain_until < rfc3339(until):
            raise ArchiveError(f"{stored.location} is locked only until {stored.retain_until}, not {rfc3339(until)}")
        return stored

    def open(self, sha256: str) -> BinaryIO:
        found = self.find(sha256)
        if found is None:
            raise ArchiveError(f"no object {sha256} in {self.description}")
        with self._errors(f"reading {sha256}"):
            return self.client.get_object(Bucket=self.bucket, Key=KEY_PREFIX + sha256,
                                          VersionId=_version_of(found))["Body"]

    def extend(self, sha256: str, retain_until: datetime) -> Stored:
        """Lengthen the lock (or lock a version found unlocked); asking for an earlier date
        than it has is an error, never a shortening."""
        if retain_until.tzinfo is None:
            raise ArchiveError("retain_until has no time zone")
        found = self.find(sha256)
        if found is None:
            raise ArchiveError(f"no object {sha256} in {self.description}")
        wanted = rfc3339(whole_second_up(retain_until))
        current = found.retain_until if found.locked else None  # a version stored unlocked by someone else
        if current is not None and wanted < current:
            raise ArchiveError(f"{sha256} is kept until {current}: retention is never shortened (asked {wanted})")
        if current is not None and wanted == current:
            return found
        version = _version_of(found)
        with self._errors(f"extending {sha256}"):
            self.client.put_object_retention(
                Bucket=self.bucket, Key=KEY_PREFIX + sha256, VersionId=version,
                Retention={"Mode": LOCK_MODE, "RetainUntilDate": whole_second_up(retain_until)})
        return self._head(sha256, version)

    def close(self) -> None:
        self.client.close()

    def _head(self, sha256: str, version: str, expect: tuple[int, str, str] | None = None) -> Stored:
        """The version as the server holds it; after a put (`expect`: size, SHA-256 in base64,
        MD5 in hex) its bytes and its lock are checked."""
        key = KEY_PREFIX + sha256
        with self._errors(f"checking {key}"):
            head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version, ChecksumMode="ENABLED")
        location = f"s3://{self.bucket}/{key}?versionId={version}"
        until = head.get("ObjectLockRetainUntilDate")
        locked = head.get("ObjectLockMode") == LOCK_MODE and until is not None and until > datetime.now(timezone.utc)
        if expect is not None:
            size, sha_b64, md5_hex = expect
            # The SHA-256 where the server keeps it; else the ETag, a single PUT's MD5.
            held = head.get("ChecksumSHA256") or head.get("ETag", "").strip('"')
            if head["ContentLength"] != size or held not in (sha_b64, md5_hex):
                raise ArchiveError(f"{location} holds {head['ContentLength']} bytes with digest {held}, "
                                   f"not the {size} bytes sent")
            if not locked:
                raise ArchiveError(f"{location} was stored without a {LOCK_MODE} lock")
        return Stored(sha256=sha256, size=head["ContentLength"], location=location,
                      retain_until=rfc3339(until) if until else None, locked=locked)

    def _require_object_lock(self, create: bool) -> None:
        with self._errors(f"opening bucket {self.bucket}"):
            exists = self._bucket_exists()
            if not exists and create:
                self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            elif not exists:
                raise ArchiveConfigError(f"bucket {self.bucket} does not exist at {self.client.meta.endpoint_url} "
                                         "(create it with Object Lock, or set create_bucket = true)")
            lock = self._object_lock_status()
            versioning = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if lock != "Enabled" or versioning != "Enabled":
            raise ArchiveConfigError(f"bucket {self.bucket} has no Object Lock (lock: {lock or 'none'}, versioning: "
                                     f"{versioning or 'never enabled'}): evidence is never stored unlocked")

    def _bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                return False
            raise
        return True

    def _object_lock_status(self) -> str | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return None
            raise
        return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")

    @contextmanager
    def _errors(self, doing: str):
        """botocore's exceptions as one-line ArchiveErrors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message") or ""
            if code == "403" and message in ("", "Forbidden"):  # a HEAD's answer has no body to say why
                message = "Forbidden (the keys are wrong, or not allowed this bucket)"
            raise ArchiveError(f"{doing} in {self.description}: {code} {message}".rstrip()) from None
        except BotoCoreError as exc:
            raise ArchiveError(f"{doing} in {self.description}: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"{doing}: {exc.strerror or exc}") from None


def _version_of(stored: Stored) -> str:
    return stored.location.rsplit("?versionId=", 1)[1]


def _digests(sha256: str, source: Path) -> tuple[int, str, bytes]:
    """(size, SHA-256 in base64, MD5) of the source; ArchiveError unless it is sha256.
    The server checks the digests again against the bytes it receives."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    try:
        with open(source, "rb") as f:
            while chunk := f.read(READ_CHUNK):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ArchiveError(f"cannot read {source}: {exc.strerror}") from None
    if sha.hexdigest() != sha256:
        raise ArchiveError(f"{source} is not {sha256} (its bytes hash to {sha.hexdigest()}): not stored")
    return size, base64.b64encode(sha.digest()).decode(), md5.digest()


def read_key_file(path: Path) -> tuple[str, str]:
    """An access key file: the key id on the first line, the secret on the second; only
    its owner may read it."""
    try:
        mode = os.stat(path).st_mode
        lines = Path(path).read_text().split()
    except OSError as exc:
        raise ArchiveConfigError(f"access_key_file {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise ArchiveConfigError(f"access_key_file {path} is readable by others ({oct(stat.S_IMODE(mode))}): "
                                 "chmod 600 it")
    if len(lines) != 2:
        raise ArchiveConfigError(f"access_key_file {path}: two lines expected, the key id and the secret")
    return lines[0], lines[1]
