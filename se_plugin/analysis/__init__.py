"""Analysis tools as functions: model complexity, ablation sweeps, excitation statistics.

The submodules are imported on demand (``from se_plugin.analysis import
complexity``); ``import se_plugin`` does not load them.
"""
