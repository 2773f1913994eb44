"""Convert public SE / SK / ECA ResNet weights (timm, mmpretrain) to se_plugin models.

Each supported architecture is an :class:`Arch`: the se_plugin model it becomes
(an mmpretrain ``ImageClassifier`` config with an ``se_plugin.SEResNet`` /
``se_plugin.SEResNeXt`` / ``se_plugin.SKNet`` backbone, ``GlobalAveragePooling``
neck and ``LinearClsHead``) and the rules that rename the source's keys to that
model's. ``python tools/convert.py --list`` prints them with the public weight
tags each fits (:mod:`~se_plugin.convert.tags`); docs/pretrained.md says which
public architectures do not convert, and why (``NOT_CONVERTIBLE``).
After renaming, the weights are checked key by key and shape by shape against
the model; anything missing, unexpected or mis-shaped is a
:class:`ConversionError` naming the keys. The output is a plain
``{'state_dict': ..., 'meta': ...}`` file for mmengine's ``load_from`` or an
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.

Input files are read safely (``weights_only=True`` via
:func:`se_plugin.runtime.checkpoint.load_checkpoint_file`, or ``.safetensors``
when the ``safetensors`` package is installed); no code from them is run.

Only architectures whose structure matches ours exactly are listed; the tests
check each conversion by comparing logits against the source model.
"""

from se_plugin.lazy import lazy_attributes

# names are loaded on first use: ``tools/convert.py --help`` imports no torch
__all__, __getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        'archs': ('ARCHS', 'SOURCES', 'Arch', 'build_model', 'get_arch', 'list_archs'),
        'checkpoint': ('convert_checkpoint',),
        'errors': ('ConversionError',),
        'io': ('read_source',),
        'state_dict': ('check_state_dict', 'convert_state_dict'),
    },
)
