"""Test-chroot stand-in for kms++ (`pykms`), which picamera2's DRM preview imports
at import time. Debian has no package for it and the machine has no display; the
recorder never opens a preview. (The PyPI package named `kms` is unrelated.)"""


class _Names:
    def __getattr__(self, name):
        return name


PixelFormat = _Names()
PlaneType = _Names()


def Card(*args, **kwargs):
    raise RuntimeError("no display in the test chroot (pykms stub)")


ResourceManager = AtomicReq = DumbFramebuffer = DmabufFramebuffer = Card
