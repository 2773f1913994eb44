"""Analysis tools as functions: model complexity, excitation statistics, Grad-CAM, curves.

The submodules are imported on demand (``from se_plugin.analysis import
complexity``); ``import se_plugin`` does not load them.
"""
