"""`python -m recorder` with fragment syncing switched off: FragmentSyncer.fragment_written
does nothing, so a segment reaches the disk only when it closes (its fsync at close stays).

The negative control of the power-cut test (tests/test_power_cut.py): it shows that the
test sees the difference. Never used to make evidence.
"""

import sys

from recorder.pipeline.durable import FragmentSyncer

FragmentSyncer.fragment_written = lambda self: None

from recorder.cli import main  # noqa: E402  (after the patch, as the CLI would import it)

sys.exit(main())
