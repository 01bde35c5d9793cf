"""The recording pipeline: encoded packets in, gap-free fragmented MP4 segments out.

  outputframe(...)  ->  RecordingRouter  ->  Interleaver (timestamp order)
                                          ->  PrerecordRing   (ready)
                                          ->  SegmentWriter   (recording)  ->  sealer
"""
