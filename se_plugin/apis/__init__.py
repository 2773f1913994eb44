"""Prediction from Python: build a model from a config or checkpoint
(:func:`init_model`; a converted or trained checkpoint brings its config) and
predict the classes of image files or arrays (:func:`inference_model`), as
``tools/infer.py`` does."""

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
