"""The dock's write-once evidence store (docs/ARCHIVE.md).

    archive = open_archive(settings, dock_dir)     # {"kind": "local"} or {"kind": "s3", ...}
    stored = archive.put(sha256, staged_file, "patrol", recorded_until)
    receipt["archive"] = stored.record()

Two stores: the dock's own disk (a content-addressed tree of read-only, immutable files)
and an S3 bucket with Object Lock in COMPLIANCE mode. Both refuse bytes that are not the
promised SHA-256, store each object once, return only once it is durable, and delete
nothing, ever.
"""

from pathlib import Path

from .base import Archive, ArchiveConfigError, ArchiveError, Stored
from .retention import RetentionPolicy, policy_from_settings, retain_until

__all__ = ["Archive", "ArchiveConfigError", "ArchiveError", "RetentionPolicy", "Stored", "open_archive",
           "retain_until"]

LOCAL_SETTINGS = {"kind", "retention_days"}
S3_SETTINGS = LOCAL_SETTINGS | {"endpoint", "bucket", "region", "access_key_file", "access_key", "secret_key",
                                "ca_file", "create_bucket"}


def open_archive(settings: dict, root: Path) -> Archive:
    """The archive the dock's settings name; `root` is the dock's directory (the local
    store's home; relative paths in the settings are read from it)."""
    settings = dict(settings or {})
    kind = settings.get("kind", "local")
    if kind == "local":
        _only(settings, LOCAL_SETTINGS, kind)
        from .local import LocalArchive

        return LocalArchive(Path(root), policy_from_settings(settings.get("retention_days")))
    if kind == "s3":
        _only(settings, S3_SETTINGS, kind)
        return _open_s3(settings, Path(root))
    raise ArchiveConfigError(f"archive kind {kind!r}: one of 'local', 's3'")


def _open_s3(settings: dict, root: Path) -> Archive:
    from .s3 import S3Archive, read_key_file

    for name in ("endpoint", "bucket"):
        if not isinstance(settings.get(name), str) or not settings[name]:
            raise ArchiveConfigError(f"archive setting {name!r} is required for kind 's3'")
    if "access_key_file" in settings:
        if "access_key" in settings or "secret_key" in settings:
            raise ArchiveConfigError("archive: access_key_file or access_key + secret_key, not both")
        access_key, secret_key = read_key_file(root / settings["access_key_file"])
    elif isinstance(settings.get("access_key"), str) and isinstance(settings.get("secret_key"), str):
        access_key, secret_key = settings["access_key"], settings["secret_key"]
    else:
        raise ArchiveConfigError("archive: kind 's3' needs access_key_file, or access_key and secret_key")
    create = settings.get("create_bucket", False)
    if not isinstance(create, bool):
        raise ArchiveConfigError(f"archive setting 'create_bucket' must be true or false, not {create!r}")
    try:
        import boto3  # noqa: F401  (the dock extra)
    except ImportError:
        raise ArchiveConfigError("archive kind 's3' needs boto3: install the dock extra (pip install recorder[dock])") \
            from None
    return S3Archive(endpoint=settings["endpoint"], bucket=settings["bucket"],
                     region=settings.get("region", "us-east-1"), access_key=access_key, secret_key=secret_key,
                     policy=policy_from_settings(settings.get("retention_days")),
                     ca_file=root / settings["ca_file"] if "ca_file" in settings else None, create_bucket=create)


def _only(settings: dict, known: set, kind: str) -> None:
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ArchiveConfigError(f"archive kind {kind!r}: unknown setting {unknown[0]!r}")
