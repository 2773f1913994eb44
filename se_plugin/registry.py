"""Registries of se_plugin: children of mmpretrain's, in the scope ``se_plugin``.

Every registry here has the matching mmpretrain registry as its parent, so

* ``type='se_plugin.SEResNet'`` resolves from the ``mmpretrain`` scope (and,
  through :func:`mmengine.utils.get_object_from_string`, from any other
  OpenMMLab scope such as ``mmdet`` or ``mmseg``) without ``custom_imports``;
* configs with ``default_scope = 'se_plugin'`` still find every mmpretrain and
  mmengine module (``ImageClassifier``, ``PackInputs``, ``Accuracy``, ...)
  through the parent chain, while our own names (``SEResNet``) shadow
  mmpretrain's.

The ``locations`` make the registries import their modules (and their parents'
modules) lazily on first use.
"""

from mmengine.registry import Registry
from mmpretrain import registry as _mmpretrain

SCOPE = 'se_plugin'

_MODELS_AT = ['se_plugin.models']
_DATASETS_AT = ['se_plugin.datasets']
# the runtime modules that register something (importing se_plugin.runtime does not)
_ENGINE_AT = [
    'se_plugin.runtime.checkpoint_hook',
    'se_plugin.runtime.distributed',
    'se_plugin.runtime.hooks',
    'se_plugin.runtime.loops',
    'se_plugin.runtime.weights',
]


def _child(name: str, parent: Registry, locations: list) -> Registry:
    # A child's lookup reads its parents' tables without importing their
    # modules, so the child also imports what its parent would have.
    locations = [*locations, *(loc for loc in parent._locations if loc not in locations)]
    return Registry(name, parent=parent, scope=SCOPE, locations=locations)


# runtime
RUNNERS = _child('runner', _mmpretrain.RUNNERS, _ENGINE_AT)
RUNNER_CONSTRUCTORS = _child('runner constructor', _mmpretrain.RUNNER_CONSTRUCTORS, _ENGINE_AT)
LOOPS = _child('loop', _mmpretrain.LOOPS, _ENGINE_AT)
HOOKS = _child('hook', _mmpretrain.HOOKS, _ENGINE_AT)
LOG_PROCESSORS = _child('log processor', _mmpretrain.LOG_PROCESSORS, _ENGINE_AT)
OPTIMIZERS = _child('optimizer', _mmpretrain.OPTIMIZERS, _ENGINE_AT)
OPTIM_WRAPPERS = _child('optimizer_wrapper', _mmpretrain.OPTIM_WRAPPERS, _ENGINE_AT)
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', _mmpretrain.OPTIM_WRAPPER_CONSTRUCTORS, _ENGINE_AT
)
PARAM_SCHEDULERS = _child('parameter scheduler', _mmpretrain.PARAM_SCHEDULERS, _ENGINE_AT)

# data
DATASETS = _child('dataset', _mmpretrain.DATASETS, _DATASETS_AT)
DATA_SAMPLERS = _child('data sampler', _mmpretrain.DATA_SAMPLERS, _DATASETS_AT)
TRANSFORMS = _child('transform', _mmpretrain.TRANSFORMS, _DATASETS_AT)

# models
MODELS = _child('model', _mmpretrain.MODELS, _MODELS_AT)
MODEL_WRAPPERS = _child('model_wrapper', _mmpretrain.MODEL_WRAPPERS, _MODELS_AT + _ENGINE_AT)
WEIGHT_INITIALIZERS = _child(
    'weight initializer', _mmpretrain.WEIGHT_INITIALIZERS, _MODELS_AT + _ENGINE_AT
)
BATCH_AUGMENTS = _child('batch augment', _mmpretrain.BATCH_AUGMENTS, _MODELS_AT)
TASK_UTILS = _child('task util', _mmpretrain.TASK_UTILS, _MODELS_AT)
TOKENIZER = _child('tokenizer', _mmpretrain.TOKENIZER, _MODELS_AT)

# evaluation and visualization
METRICS = _child('metric', _mmpretrain.METRICS, ['se_plugin.evaluation'])
EVALUATORS = _child('evaluator', _mmpretrain.EVALUATORS, ['mmpretrain.evaluation'])
VISUALIZERS = _child('visualizer', _mmpretrain.VISUALIZERS, ['mmpretrain.visualization'])
VISBACKENDS = _child('vis_backend', _mmpretrain.VISBACKENDS, ['mmpretrain.visualization'])
