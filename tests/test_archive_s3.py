"""The archive in S3 against a real Ceph RGW 18.2 (a one-node RADOS cluster in a Debian
trixie chroot, tests/support/rgw), not a mock: what Object Lock in COMPLIANCE mode is
claimed to refuse is refused by the server here — deleting the locked version, shortening
its retention, weakening it to GOVERNANCE — and a body that is not what was hashed is not
stored. (moto, the usual mock, lets a COMPLIANCE retention be shortened: no claim could
rest on it.)"""

import base64
import hashlib
import itertools
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import recorder.archive.s3 as s3_module
from conftest import require_root_unshare, require_tool
from recorder.archive import ArchiveConfigError, ArchiveError, open_archive, retain_until
from recorder.archive.retention import policy_from_settings
from support.rgw.chroot import ensure_chroot
from support.rgw.rgw import start_rgw

NAMES = itertools.count()


@pytest.fixture(scope="session")
def rgw(tmp_path_factory):
    """One cluster for the whole session (~12 s to start from the cached chroot)."""
    require_root_unshare()
    for tool in ("debootstrap", "chroot"):
        require_tool(tool)
    cluster = start_rgw(ensure_chroot(), tmp_path_factory.mktemp("rgw"))
    yield cluster
    cluster.stop()


@pytest.fixture
def client(rgw):
    """The bucket owner's own S3 client, used to try what the archive never does."""
    c = boto3.client("s3", endpoint_url=rgw.endpoint, region_name="us-east-1", aws_access_key_id=rgw.access_key,
                     aws_secret_access_key=rgw.secret_key,
                     config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                   response_checksum_validation="when_required"))
    yield c
    c.close()


def settings(rgw, bucket: str, **more) -> dict:
    return {"kind": "s3", "endpoint": rgw.endpoint, "bucket": bucket, "access_key": rgw.access_key,
            "secret_key": rgw.secret_key, **more}


@pytest.fixture
def archive(rgw, tmp_path):
    bucket = f"evidence-{next(NAMES)}"
    opened = open_archive(settings(rgw, bucket, create_bucket=True), tmp_path)
    yield opened
    opened.close()


def staged(directory, data: bytes, name="staged.mp4"):
    path = directory / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def versions(client, bucket: str, sha: str) -> list:
    return client.list_object_versions(Bucket=bucket, Prefix=f"objects/sha256/{sha}").get("Versions", [])


def test_objects_land_locked_until_their_class_date(archive, client, tmp_path):
    recorded = datetime.now(timezone.utc)
    data = os.urandom(1 << 20)
    source, sha = staged(tmp_path, data)
    stored = archive.put(sha, source, "patrol", recorded)
    key = f"objects/sha256/{sha}"
    assert stored.location.startswith(f"s3://{archive.bucket}/{key}?versionId=")
    assert stored.locked and stored.size == len(data)
    patrol_until = retain_until("patrol", recorded, policy_from_settings(None))
    assert stored.retain_until == patrol_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    head = client.head_object(Bucket=archive.bucket, Key=key, VersionId=stored.location.split("versionId=")[1])
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] == patrol_until
    assert archive.find(sha) == stored
    with archive.open(sha) as body:
        assert body.read() == data

    again = archive.put(sha, source, "evidence", recorded)  # the same bytes, now evidence: kept longer
    assert again.location == stored.location, "stored once"
    assert again.retain_until == retain_until("evidence", recorded, policy_from_settings(None)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert archive.put(sha, source, "patrol", recorded) == again, "a shorter class never shortens"
    assert len(versions(client, archive.bucket, sha)) == 1


def test_a_plain_delete_only_hides_the_locked_version(archive, client, tmp_path):
    source, sha = staged(tmp_path, b"footage" * 999)
    stored = archive.put(sha, source, "patrol", datetime.now(timezone.utc))
    answer = client.delete_object(Bucket=archive.bucket, Key=f"objects/sha256/{sha}")
    assert answer["DeleteMarker"] is True
    assert archive.find(sha) == stored, "the locked version is still found behind the marker"
    with archive.open(sha) as body:
        assert body.read() == b"footage" * 999


def test_deleting_the_locked_version_is_refused(archive, client, tmp_path):
    source, sha = staged(tmp_path, b"evidence" * 999)
    version = archive.put(sha, source, "evidence", datetime.now(timezone.utc)).location.split("versionId=")[1]
    key = f"objects/sha256/{sha}"
    assert refused(client.delete_object, Bucket=archive.bucket, Key=key, VersionId=version) == "AccessDenied"
    assert refused(client.delete_object, Bucket=archive.bucket, Key=key, VersionId=version,
                   BypassGovernanceRetention=True) == "AccessDenied"
    answer = client.delete_objects(Bucket=archive.bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert answer.get("Errors") and not answer.get("Deleted")
    assert [v["VersionId"] for v in versions(client, archive.bucket, sha)] == [version]


def test_the_retention_cannot_be_shortened_or_weakened(archive, client, tmp_path):
    source, sha = staged(tmp_path, b"patrol" * 999)
    stored = archive.put(sha, source, "patrol", datetime.now(timezone.utc))
    key, version = f"objects/sha256/{sha}", stored.location.split("versionId=")[1]
    until = client.head_object(Bucket=archive.bucket, Key=key, VersionId=version)["ObjectLockRetainUntilDate"]
    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(days=30)}
    assert refused(client.put_object_retention, Bucket=archive.bucket, Key=key, VersionId=version,
                   Retention=shorter) == "AccessDenied"
    governance = {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    assert refused(client.put_object_retention, Bucket=archive.bucket, Key=key, VersionId=version,
                   Retention=governance) == "AccessDenied"
    assert refused(client.put_object_retention, Bucket=archive.bucket, Key=key, VersionId=version,
                   Retention=governance, BypassGovernanceRetention=True) == "AccessDenied"
    assert refused(client.put_bucket_versioning, Bucket=archive.bucket,
                   VersioningConfiguration={"Status": "Suspended"}) in ("InvalidBucketState", "AccessDenied")
    with pytest.raises(ArchiveError, match="never shortened"):
        archive.extend(sha, until - timedelta(days=1))
    assert archive.find(sha) == stored


def test_extend_lengthens_the_lock(archive, client, tmp_path):
    source, sha = staged(tmp_path, b"a case" * 999)
    stored = archive.put(sha, source, "evidence", datetime.now(timezone.utc))
    case_closes = datetime.now(timezone.utc) + timedelta(days=3650, microseconds=1)
    extended = archive.extend(sha, case_closes)
    assert extended.location == stored.location and extended.locked
    assert extended.retain_until == (case_closes + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = client.head_object(Bucket=archive.bucket, Key=f"objects/sha256/{sha}",
                              VersionId=stored.location.split("versionId=")[1])
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] > case_closes


def test_a_bucket_without_object_lock_is_refused(rgw, client, tmp_path):
    client.create_bucket(Bucket="no-lock")
    with pytest.raises(ArchiveConfigError, match="bucket no-lock has no Object Lock"):
        open_archive(settings(rgw, "no-lock"), tmp_path)
    client.create_bucket(Bucket="versioned-no-lock")
    client.put_bucket_versioning(Bucket="versioned-no-lock", VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ArchiveConfigError, match="has no Object Lock"):
        open_archive(settings(rgw, "versioned-no-lock", create_bucket=True), tmp_path)
    with pytest.raises(ArchiveConfigError, match="does not exist"):
        open_archive(settings(rgw, "never-made"), tmp_path)
    assert "never-made" not in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_bytes_that_are_not_the_hash_are_never_sent(archive, client, tmp_path):
    source, sha = staged(tmp_path, b"as recorded")
    source.write_bytes(b"as altered")
    with pytest.raises(ArchiveError, match="not stored"):
        archive.put(sha, source, "evidence", datetime.now(timezone.utc))
    assert versions(client, archive.bucket, sha) == []


def test_a_body_changed_on_the_way_is_refused_by_the_server(archive, client, tmp_path, monkeypatch):
    """The staged file changes after the archive hashed it and before it is sent: the
    server, checking Content-MD5, refuses; nothing is stored; put raises."""
    source, sha = staged(tmp_path, b"hashed bytes " * 4096)
    hash_first = s3_module._digests

    def then_change(sha256, path):
        digests = hash_first(sha256, path)
        path.write_bytes(b"other bytes! " * 4096)  # the same size
        return digests

    monkeypatch.setattr(s3_module, "_digests", then_change)
    with pytest.raises(ArchiveError, match="BadDigest"):
        archive.put(sha, source, "evidence", datetime.now(timezone.utc))
    assert versions(client, archive.bucket, sha) == []


def test_which_digests_rgw_checks(archive, client):
    """Ceph RGW 18.2 checks Content-MD5 but not x-amz-checksum-sha256 (it stores a body with
    a wrong one, and returns no checksum): why the archive sends both and hashes first."""
    body = b"in transit"
    lock = {"ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": datetime.now(timezone.utc) + timedelta(days=1)}
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert refused(client.put_object, Bucket=archive.bucket, Key="md5", Body=body, ContentMD5=wrong_md5,
                   **lock) == "BadDigest"
    wrong_sha = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    client.put_object(Bucket=archive.bucket, Key="sha", Body=body, ChecksumSHA256=wrong_sha, **lock)
    head = client.head_object(Bucket=archive.bucket, Key="sha", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in head, "this RGW keeps SHA-256 checksums now: check them in the archive"


def test_a_put_without_a_lock_into_a_plain_bucket_is_refused_by_the_server(client):
    client.create_bucket(Bucket="plain-for-put")
    assert refused(client.put_object, Bucket="plain-for-put", Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                   ObjectLockRetainUntilDate=datetime.now(timezone.utc) + timedelta(days=1)) == "InvalidRequest"


def test_keys_from_a_file(rgw, tmp_path):
    keys = tmp_path / "archive.keys"
    keys.write_text(f"{rgw.access_key}\n{rgw.secret_key}\n")
    keys.chmod(0o600)
    opened = open_archive({"kind": "s3", "endpoint": rgw.endpoint, "bucket": "from-key-file",
                           "access_key_file": "archive.keys", "create_bucket": True}, tmp_path)
    try:
        assert opened.description == f"S3 bucket from-key-file at {rgw.endpoint} (Object Lock COMPLIANCE)"
        assert rgw.secret_key not in opened.description
        assert opened.find("0" * 64) is None
    finally:
        opened.close()
    keys.write_text("wrong\nkeys\n")
    with pytest.raises(ArchiveError, match="403 Forbidden \\(the keys are wrong"):
        open_archive({"kind": "s3", "endpoint": rgw.endpoint, "bucket": "from-key-file",
                      "access_key_file": "archive.keys"}, tmp_path)


def test_a_later_upload_under_the_same_name_is_not_the_object(archive, client, tmp_path):
    """Someone else's credentials can add a version under an object's key; the archive's
    object stays the first, locked version."""
    source, sha = staged(tmp_path, b"the original")
    stored = archive.put(sha, source, "evidence", datetime.now(timezone.utc))
    client.put_object(Bucket=archive.bucket, Key=f"objects/sha256/{sha}", Body=b"a substitute")
    assert len(versions(client, archive.bucket, sha)) == 2
    assert archive.find(sha) == stored
    with archive.open(sha) as body:
        assert body.read() == b"the original"


def test_footage_past_its_retention_is_not_stored_unlocked(archive, client, tmp_path):
    """A lock cannot be dated in the past: a put whose class ran out before it arrived is
    refused with a reason, not stored without a lock."""
    source, sha = staged(tmp_path, b"docked very late")
    with pytest.raises(ArchiveError, match="which has passed"):
        archive.put(sha, source, "patrol", datetime.now(timezone.utc) - timedelta(days=200))
    assert versions(client, archive.bucket, sha) == []
    assert archive.put(sha, source, "evidence", datetime.now(timezone.utc) - timedelta(days=200)).locked


def test_an_offload_to_a_dock_on_s3_lands_locked_by_footage_class(rgw, client, tmp_path):
    """The whole link with the S3 archive: `recorder dock serve` configured for the real RGW,
    a real device's offload; each receipted file is a locked version of the class its
    session asks (the marked session is evidence, the other patrol), and cannot be deleted."""
    from support.dock_rig import DockProcess, make_agency, make_device, make_dock, offload

    agency = make_agency(tmp_path / "agency")
    device = make_device(tmp_path / "device", agency, tmp_path)
    device.record("start @0.5s; mark @1.5s; stop @5s; start @7s; stop @10s")
    dock_dir = make_dock(tmp_path / "dock", agency)
    bucket = f"dock-{next(NAMES)}"
    (dock_dir / "dock.toml").write_text(
        f'[archive]\nkind = "s3"\nendpoint = "{rgw.endpoint}"\nbucket = "{bucket}"\naccess_key = "{rgw.access_key}"\n'
        f'secret_key = "{rgw.secret_key}"\ncreate_bucket = true\n')
    try:
        with DockProcess(dock_dir) as dock:
            code, outcome = offload(device, dock.port)
        assert code == 0, outcome
        [receipt] = [json.loads(p.read_bytes()) for p in (dock_dir / "devices" / device.device_id / "receipts").glob("*")]
        ledger = [json.loads(line) for line in (device.store / "ledger" / "ledger.jsonl").read_bytes().splitlines()]
        marked = next(e["body"]["session_id"] for e in ledger if e["type"] == "mark")
        until = {}
        for record in receipt["files"]:
            stored = record["stored"]
            assert stored["location"].startswith(f"s3://{bucket}/") and stored["locked"]
            key, version = stored["location"].removeprefix(f"s3://{bucket}/").split("?versionId=")
            head = client.head_object(Bucket=bucket, Key=key, VersionId=version)
            assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentLength"] == record["size"]
            assert head["ObjectLockRetainUntilDate"].strftime("%Y-%m-%dT%H:%M:%SZ") == stored["retain_until"]
            assert refused(client.delete_object, Bucket=bucket, Key=key, VersionId=version) == "AccessDenied"
            if record["path"].startswith("media/"):
                until.setdefault(record["path"].split("/")[1] == marked, set()).add(stored["retain_until"][:7])
        assert until[True] != until[False]  # evidence kept longer than patrol (article 11)
    finally:
        subprocess.run(["chattr", "-R", "-f", "-i", str(tmp_path)], capture_output=True)
