"""The dock's own write-once store: a content-addressed tree on its disk.

    ROOT/objects/sha256/ab/ab12…  (0444, immutable where the flag can be set)

An object is written into an unnamed file on the tree's filesystem (O_TMPFILE), hashed as
it is written, fsync'd, and only then given its name with link(), which never replaces
an existing name. Bytes that are not the promised SHA-256 never get a name: the unnamed
file goes with its descriptor, so a refused put leaves nothing behind and nothing is ever
deleted. The directory is fsync'd after the link, then the immutable flag is set.
A local store has no retention clock: what it holds it keeps (`retain_until` None).
"""

import errno
import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ..durable import fsync_dir
from ..evidence.files import NotRegular, open_read_only
from .base import ArchiveError, Stored, check_sha256
from .immutable import is_immutable, make_immutable
from .retention import RetentionPolicy, retain_until

OBJECT_MODE = 0o444
COPY_CHUNK = 1 << 20


class LocalArchive:
    def __init__(self, root: Path, policy: RetentionPolicy):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ArchiveError(f"the dock's directory {self.root} does not exist")
        self.objects = self.root / "objects" / "sha256"
        self.policy = policy
        self.description = f"local write-once store in {self.objects}"
        self._make_levels(self.objects)

    def relative(self, sha256: str) -> Path:
        return Path("objects", "sha256", sha256[:2], sha256)

    def find(self, sha256: str) -> Stored | None:
        path = self.root / self.relative(check_sha256(sha256))
        try:
            fd = open_read_only(path)
        except FileNotFoundError:
            return None
        except (OSError, NotRegular) as exc:
            raise ArchiveError(f"archive object {path} cannot be read: {exc}") from None
        try:
            return self._stored(sha256, fd)
        finally:
            os.close(fd)

    def put(self, sha256: str, source: Path, footage_class: str, recorded_until: datetime,
            checked: bool = False) -> Stored:
        """checked: the caller has just hashed `source`, a read-only file it alone writes, and
        found `sha256` (the dock's intake, as the bytes arrived): a link in place does not
        read it again. A copy always hashes what it writes."""
        retain_until(footage_class, recorded_until, self.policy)  # a class the policy knows, a zoned time
        found = self.find(sha256)
        if found is not None:
            if not checked:
                _check_source(sha256, source)  # the same refusal whether or not it is stored already
            return found if found.locked else self._lock_again(sha256)
        shared = self._put_in_place(sha256, source, checked)
        if shared is not None:
            return shared
        try:  # unnamed until whole and right, in the tree's own filesystem so it can be linked
            fd = os.open(self.objects, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise ArchiveError(f"the filesystem of {self.objects} has no unnamed files (O_TMPFILE): "
                                   "an archive needs ext4, xfs, btrfs or tmpfs") from None
            raise ArchiveError(f"cannot write in {self.objects}: {exc.strerror}") from None
        try:
            size = _copy_hashing(sha256, source, fd)
            os.fchmod(fd, OBJECT_MODE)
            os.fsync(fd)  # the bytes are on disk before they have a name
            directory = self._make_levels(self.root / self.relative(sha256).parent)
            if not self._name(fd, directory, sha256):
                return self.find(sha256)  # another put named the same bytes first
            fsync_dir(directory)  # the name is on disk before the caller hears "stored"
            make_immutable(fd)
            return self._stored(sha256, fd, size)
        finally:
            os.close(fd)

    def _put_in_place(self, sha256: str, source: Path, checked: bool) -> Stored | None:
        """A read-only source on the archive's own filesystem (the dock's copy of a device's
        store) is given its name by a link to the same inode, not copied: the bytes are
        stored once, and the flag then guards every name they have. None when the source is
        elsewhere or writable (then it is copied)."""
        try:
            fd = open_read_only(source)
        except (OSError, NotRegular):
            return None  # the copy's path reports it
        try:
            info = os.fstat(fd)
            if info.st_dev != os.stat(self.objects).st_dev or info.st_mode & 0o222:
                return None
            size = info.st_size
            if not checked:
                digest, size = hashlib.sha256(), 0
                while chunk := os.read(fd, COPY_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                _refuse_unless(sha256, digest, source)
            os.fsync(fd)
            directory = self._make_levels(self.root / self.relative(sha256).parent)
            if not self._name(fd, directory, sha256):
                return self.find(sha256)
            fsync_dir(directory)
            make_immutable(fd)
            return self._stored(sha256, fd, size)
        finally:
            os.close(fd)

    def open(self, sha256: str) -> BinaryIO:
        path = self.root / self.relative(check_sha256(sha256))
        try:
            return os.fdopen(open_read_only(path), "rb")
        except FileNotFoundError:
            raise ArchiveError(f"no object {sha256} in {self.description}") from None
        except (OSError, NotRegular) as exc:
            raise ArchiveError(f"archive object {path} cannot be read: {exc}") from None

    def extend(self, sha256: str, retain_until: datetime) -> Stored:
        """Nothing to lengthen: a local object is kept for good (no retention clock)."""
        found = self.find(sha256)
        if found is None:
            raise ArchiveError(f"no object {sha256} in {self.description}")
        return found

    def close(self) -> None:
        pass

    def _lock_again(self, sha256: str) -> Stored:
        """An object stored while the flag could not be set (the dock ran without
        CAP_LINUX_IMMUTABLE): try again."""
        fd = open_read_only(self.root / self.relative(sha256))
        try:
            make_immutable(fd)
            return self._stored(sha256, fd)
        finally:
            os.close(fd)

    def _make_levels(self, directory: Path) -> Path:
        """Make the directories down to `directory`, each new one fsync'd into its parent."""
        level = self.root
        try:
            for part in directory.relative_to(self.root).parts:
                level = level / part
                if not level.is_dir():
                    level.mkdir(exist_ok=True)
                    fsync_dir(level.parent)
        except OSError as exc:
            raise ArchiveError(f"cannot create {level}: {exc.strerror}") from None
        return level

    def _name(self, fd: int, directory: Path, sha256: str) -> bool:
        """Link the unnamed file to its name; False if the name exists (never replaced).
        Through the directory's descriptor: with one, os.link is linkat(AT_SYMLINK_FOLLOW),
        which follows /proc's link to the open file (plain link() would not)."""
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(f"/proc/self/fd/{fd}", sha256, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ArchiveError(f"cannot name {directory / sha256}: {exc.strerror}") from None
        finally:
            os.close(dir_fd)
        return True

    def _stored(self, sha256: str, fd: int, size: int | None = None) -> Stored:
        return Stored(sha256=sha256, size=os.fstat(fd).st_size if size is None else size,
                      location=f"file:{self.relative(sha256).as_posix()}", retain_until=None,
                      locked=is_immutable(fd))


def _copy_hashing(sha256: str, source: Path, fd: int) -> int:
    """Copy source into fd, hashing what is written; ArchiveError if it is not sha256."""
    digest, size = hashlib.sha256(), 0
    try:
        with open(source, "rb") as src:
            while chunk := src.read(COPY_CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                size += len(chunk)
    except OSError as exc:
        raise ArchiveError(f"cannot copy {source} into the archive: {exc.strerror}") from None
    _refuse_unless(sha256, digest, source)
    return size


def _check_source(sha256: str, source: Path) -> None:
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src:
            while chunk := src.read(COPY_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ArchiveError(f"cannot read {source}: {exc.strerror}") from None
    _refuse_unless(sha256, digest, source)


def _refuse_unless(sha256: str, digest, source: Path) -> None:
    if digest.hexdigest() != sha256:
        raise ArchiveError(f"{source} is not {sha256} (its bytes hash to {digest.hexdigest()}): not stored")


