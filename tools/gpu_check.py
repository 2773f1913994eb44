"""Fast paths on a GPU: parity with the reference paths, then the AMP + channels_last table.

``bash tools/gpu_check.sh`` runs this in the pinned environment; see
``se_plugin/gpu_check.py``.
"""

from se_plugin.cli.entry import run_cli
from se_plugin.gpu_check import main

if __name__ == '__main__':
    run_cli(main)
