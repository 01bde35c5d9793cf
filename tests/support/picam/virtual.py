"""Test-environment adaptations that let picamera2 run on libcamera's virtual camera
in the test chroot (docs/TESTING-CAMERA.md). They adapt the *environment*, never the
product: the recorder's Picamera2Source gets `open_virtual_camera` as its camera
factory and otherwise runs exactly as on a Pi.

  * MemfdAllocator — this kernel has no /dev/dma_heap or udmabuf; memfd buffers,
    NV12 as two planes (Y, then UV) on one fd, mapped once.
  * VirtualPicamera2 — the virtual pipeline rejects the Raw stream role that
    picamera2 probes at construction: report the processed sizes as sensor modes.
  * PacedCamera — the virtual camera ignores FrameRate and completes requests as
    fast as they come: queueing one request per frame period on a fixed grid
    gives a steady 30 fps (a slot with no free buffer is skipped and counted, as
    a sensor drops a frame). `lose()` makes it deliver nothing more (a camera
    lost mid-recording).
  * GridRequest — the virtual camera stamps SensorTimestamp when its thread gets
    to a queued request: 1-5 ms jitter, and on a loaded machine two frames a few
    µs apart, which the MP4 muxer rejects (EINVAL). A real sensor stamps frames on
    its frame grid: a request's SensorTimestamp becomes the pacer's tick for it
    (libcamera numbers requests in queue order).
(The pykms import stub lives in stubs/, on PYTHONPATH inside the chroot.)
"""

import mmap
import os
import queue
import threading
import time

import libcamera
import picamera2.picamera2
import picamera2.request
from picamera2 import Picamera2
from picamera2.allocators.allocator import Allocator, Sync


class MemfdAllocator(Allocator):
    def __init__(self):
        super().__init__()
        self.sync = self.MemfdSync
        self.frame_buffers = {}
        self.maps = {}  # fd -> mmap; libcamera hands back duplicated fds, so map lazily by fd
        self._fds = []

    def allocate(self, libcamera_config, use_case):
        self.close()
        for stream_config in libcamera_config:
            buffers = []
            for i in range(stream_config.buffer_count):
                fd = os.memfd_create(f"picamera2-{i}")
                os.ftruncate(fd, stream_config.frame_size)
                self._fds.append(fd)
                buffers.append(libcamera.FrameBuffer(self._planes(fd, stream_config)))
            self.frame_buffers[stream_config.stream] = buffers

    @staticmethod
    def _planes(fd, stream_config):
        stride, height = stream_config.stride, stream_config.size.height
        fmt = str(stream_config.pixel_format)
        luma = stride * height
        if fmt in ("NV12", "NV21"):
            layout = [(0, luma), (luma, luma // 2)]
        elif fmt in ("YUV420", "YVU420"):
            layout = [(0, luma), (luma, luma // 4), (luma + luma // 4, luma // 4)]
        else:
            layout = [(0, stream_config.frame_size)]
        planes = []
        for offset, length in layout:
            plane = libcamera.FrameBuffer.Plane()
            plane.fd, plane.offset, plane.length = fd, offset, length
            planes.append(plane)
        return planes

    def buffers(self, stream):
        return self.frame_buffers[stream]

    def mapping(self, fb):
        fd = fb.planes[0].fd
        mapped = self.maps.get(fd)
        if mapped is None:
            mapped = self.maps[fd] = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                                               mmap.PROT_READ | mmap.PROT_WRITE)
        return mapped

    def close(self):
        for mapped in self.maps.values():
            try:
                mapped.close()
            except BufferError:
                pass  # a numpy view still holds it; freed with the process
        self.maps, self.frame_buffers = {}, {}
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    class MemfdSync(Sync):
        def __init__(self, allocator, fb, write):
            self.allocator, self.fb = allocator, fb

        def __enter__(self):
            return self.allocator.mapping(self.fb)

        def __exit__(self, *exc):
            pass


class PacedCamera:
    """Wraps libcamera's Camera: queue_request is held back to the next frame tick."""

    def __init__(self, camera, fps: int, on_queue=None):
        self._camera, self.period_ns = camera, 1_000_000_000 // fps
        self.on_queue = on_queue  # (frame index, monotonic ns) at each queued frame
        self._pending: queue.Queue = queue.Queue()
        self._thread = None
        self._running = threading.Event()
        self.lost = threading.Event()
        self.ticks: list[int] = []  # queue tick of each request, by libcamera's request sequence
        self.frames_queued = 0
        self.late_ticks = 0  # grid slots missed because no buffer was free (a dropped frame)
        self.first_tick_ns = None

    def __getattr__(self, name):
        return getattr(self._camera, name)

    def __eq__(self, other):
        return self._camera == getattr(other, "_camera", other)

    __hash__ = object.__hash__

    def start(self, *args):
        self.ticks = []  # libcamera numbers requests from 0 again after a start
        result = self._camera.start(*args)
        self._running.set()
        self._thread = threading.Thread(target=self._pace, name="virtual-camera-pacer", daemon=True)
        self._thread.start()
        return result

    def stop(self, *args):
        self._running.clear()
        self._pending.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        while not self._pending.empty():
            self._pending.get_nowait()
        return self._camera.stop(*args)

    def queue_request(self, request):
        self._pending.put(getattr(request, "request", request))  # unwrap a GridRequest

    def lose(self):
        """The camera vanishes mid-recording: no more frames (libcamera stops it)."""
        self.lost.set()

    def _pace(self):
        tick = None
        while self._running.is_set():
            request = self._pending.get()
            if request is None or not self._running.is_set():
                return
            if self.lost.is_set():
                continue  # a vanished camera completes nothing
            now = time.monotonic_ns()
            if tick is None:
                tick = self.first_tick_ns = now
            elif now > tick + self.period_ns // 2:
                missed = (now - tick) // self.period_ns + (1 if (now - tick) % self.period_ns else 0)
                self.late_ticks += missed
                tick += missed * self.period_ns
            while (delay := tick - time.monotonic_ns()) > 0:
                time.sleep(delay / 1e9)
            if self.on_queue is not None:
                self.on_queue(self.frames_queued, tick)
            self.ticks.append(tick)
            self._camera.queue_request(request)
            self.frames_queued += 1
            tick += self.period_ns


class GridRequest:
    """A completed libcamera request whose SensorTimestamp is its frame's grid tick."""

    def __init__(self, request, paced: PacedCamera):
        self.request = request
        self.metadata = dict(request.metadata)
        sequence = request.sequence
        if sequence < len(paced.ticks):
            self.metadata[libcamera.controls.SensorTimestamp] = paced.ticks[sequence]

    def __getattr__(self, name):
        return getattr(self.request, name)


class _GridCompletedRequest(picamera2.request.CompletedRequest):
    def __init__(self, request, picam2):
        if isinstance(picam2.camera, PacedCamera):
            request = GridRequest(request, picam2.camera)
        super().__init__(request, picam2)


class VirtualPicamera2(Picamera2):
    def _get_raw_modes(self):
        config = self.camera.generate_configuration([libcamera.StreamRole.VideoRecording])
        formats = config.at(0).formats
        return [
            {"format": str(pix), "size": (size.width, size.height)}
            for pix in formats.pixel_formats
            for size in formats.sizes(pix)
        ]


def _patch_picamera2():
    # Picamera2.close() puts a fresh DmaAllocator in place, which needs /dev/dma_heap.
    picamera2.picamera2.DmaAllocator = MemfdAllocator
    picamera2.picamera2.CompletedRequest = _GridCompletedRequest


def camera_factory(fps: int, on_queue=None):
    """open_camera for Picamera2Source; `.cameras` collects the PacedCamera of each open."""

    def open_virtual_camera(camera_num=0):
        _patch_picamera2()
        picam2 = VirtualPicamera2(camera_num, allocator=MemfdAllocator())
        picam2.camera = PacedCamera(picam2.camera, fps, on_queue)
        open_virtual_camera.cameras.append(picam2.camera)
        return picam2

    open_virtual_camera.cameras = []
    return open_virtual_camera

