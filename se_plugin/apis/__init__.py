"""Prediction from Python: build a model from a config or checkpoint, predict
classes of image files (:func:`init_model`, :func:`inference_model`).

Example:
    >>> from se_plugin.apis import inference_model, init_model  # doctest: +SKIP
    >>> model = init_model('converted.pth', device='cpu')  # doctest: +SKIP
    >>> inference_model(model, ['cat.jpg'], topk=3)[0]['pred_class']  # doctest: +SKIP
    'tabby, tabby cat'
"""

from .config import checkpoint_config, parse_config_text
from .images import IMAGE_EXTENSIONS, list_images
from .inference import inference_model, inference_pipeline, init_model

__all__ = [
    'IMAGE_EXTENSIONS',
    'checkpoint_config',
    'inference_model',
    'inference_pipeline',
    'init_model',
    'list_images',
    'parse_config_text',
]
