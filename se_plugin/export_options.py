"""What ``tools/export.py`` offers: formats, ONNX exporters and their defaults.

Plain values, no torch: the tool builds its ``--help`` from them before
anything heavy is imported. :mod:`se_plugin.export` does the exporting.
"""

FORMATS = ('onnx', 'torchscript', 'export')
EXTENSIONS = {'onnx': '.onnx', 'torchscript': '.pt', 'export': '.pt2'}
DEFAULT_OPSET = 18
ONNX_EXPORTERS = ('torchscript', 'dynamo')
DEFAULT_ONNX_EXPORTER = 'torchscript'
# the opsets each ONNX exporter writes (torch.onnx._constants of torch 2.14): the
# dynamo exporter translates at 18 and up; asked for less, it silently keeps 18
OPSETS = {'torchscript': (7, 20), 'dynamo': (18, 23)}
DEFAULT_BATCH_SIZES = (1, 3)

__all__ = [
    'DEFAULT_BATCH_SIZES',
    'DEFAULT_ONNX_EXPORTER',
    'DEFAULT_OPSET',
    'EXTENSIONS',
    'FORMATS',
    'ONNX_EXPORTERS',
    'OPSETS',
]
