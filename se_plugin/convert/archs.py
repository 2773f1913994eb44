"""Convert public SE-ResNet(X) / SK-ResNeXt weights (timm, mmpretrain) to se_plugin models.

Each supported architecture is an :class:`Arch`: the se_plugin model it becomes
(an mmpretrain ``ImageClassifier`` config with an ``se_plugin.SEResNet`` /
``se_plugin.SEResNeXt`` / ``se_plugin.SKNet`` backbone, ``GlobalAveragePooling``
neck and ``LinearClsHead``) and the rules that rename the source's keys to that
model's. ``python tools/convert.py --list`` prints them; docs/pretrained.md says
which public architectures do not convert, and why.
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

from __future__ import annotations

import copy
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn

from se_plugin.runtime.atomic import atomic_open
from se_plugin.runtime.checkpoint import load_checkpoint_file
from se_plugin.version import __version__

__all__ = [
    'ARCHS',
    'SOURCES',
    'Arch',
    'ConversionError',
    'build_model',
    'check_state_dict',
    'convert_checkpoint',
    'convert_state_dict',
    'get_arch',
    'list_archs',
    'read_source',
]

SOURCES = ('timm', 'mmpretrain')
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_LIST_LIMIT = 8


class ConversionError(ValueError):
    """Weights that cannot become the requested se_plugin model."""


@dataclass(frozen=True)
class Arch:
    """One convertible architecture.

    Attributes:
        source (str): ``'timm'`` or ``'mmpretrain'``.
        name (str): The ``--arch`` name (timm's model name for timm).
        backbone (dict): Config of our backbone.
        head_channels (int): Input channels of the classifier head.
        rules (tuple): ``(pattern, replacement)`` pairs; the first pattern
            that matches a whole source key gives its new name
            (``re.Match.expand`` syntax).
        peer (str): The source model this matches.
    """

    source: str
    name: str
    backbone: dict
    head_channels: int
    rules: tuple
    peer: str

    def model_config(self, num_classes: int = 1000) -> dict:
        """Our ``ImageClassifier`` config for this arch with ``num_classes`` outputs."""
        return dict(
            type='ImageClassifier',
            backbone=copy.deepcopy(self.backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=self.head_channels,
                loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                topk=(1, 5) if num_classes >= 5 else (1,),
            ),
        )

    def rename(self, key: str) -> Optional[str]:
        """Our name of a source key, or None if no rule matches it."""
        for pattern, replacement in self.rules:
            match = re.fullmatch(pattern, key)
            if match:
                return match.expand(replacement)
        return None


# Our SE layer, as in timm (rd_ratio=1/16, rd_divisor=8) and mmpretrain (ratio=16, divisor 8).
_SE_CFG = dict(type='se_plugin.SELayer', ratio=16, divisor=8)


def _backbone(depth: int, groups: int = 1, width: int = 4, deep: bool = False) -> dict:
    cfg = dict(
        type='se_plugin.SEResNet' if groups == 1 else 'se_plugin.SEResNeXt',
        depth=depth,
        se_cfg=dict(_SE_CFG),
        se_position='standard',
        out_indices=(3,),
        style='pytorch',
    )
    if groups > 1:
        cfg.update(groups=groups, width_per_group=width)
    if deep:  # timm's 'd' variants: 3-conv stem (32, 32, 64) and avg-pool shortcuts
        cfg.update(deep_stem=True, avg_down=True, stem_channels=64)
    return cfg


# timm ResNet keys -> ours. The SE layers have the same names (se.fc1, se.fc2).
_TIMM_STEM = (
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{_BN}', r'backbone.bn1.\1'),
)
_TIMM_DEEP_STEM = (
    (r'conv1\.0\.weight', r'backbone.stem.0.conv.weight'),
    (rf'conv1\.1\.{_BN}', r'backbone.stem.0.bn.\1'),
    (r'conv1\.3\.weight', r'backbone.stem.1.conv.weight'),
    (rf'conv1\.4\.{_BN}', r'backbone.stem.1.bn.\1'),
    (r'conv1\.6\.weight', r'backbone.stem.2.conv.weight'),
    (rf'bn1\.{_BN}', r'backbone.stem.2.bn.\1'),
    # timm's avg-down shortcut is always (pool, conv, bn), with an Identity pool
    # at stride 1; mmpretrain's ResLayer leaves the pool out there (conv, bn).
    (r'layer1\.0\.downsample\.1\.weight', r'backbone.layer1.0.downsample.0.weight'),
    (rf'layer1\.0\.downsample\.2\.{_BN}', r'backbone.layer1.0.downsample.1.\1'),
)
_TIMM_BODY = (
    (r'(layer[1-4]\.\d+\..+)', r'backbone.\1'),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
)
# mmpretrain keys -> ours: only the SE layer differs (ConvModules -> plain convs).
_MMPRETRAIN_RULES = (
    (
        r'backbone\.(layer[1-4]\.\d+)\.se_layer\.conv([12])\.conv\.(weight|bias)',
        r'backbone.\1.se.fc\2.\3',
    ),
    (r'backbone\.(.+)', r'backbone.\1'),
    (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
)


def _timm(name: str, depth: int, groups: int = 1, width: int = 4, deep: bool = False) -> Arch:
    stem = _TIMM_DEEP_STEM if deep else _TIMM_STEM
    return Arch(
        source='timm',
        name=name,
        backbone=_backbone(depth, groups, width, deep),
        head_channels=512 if depth < 50 else 2048,
        rules=stem + _TIMM_BODY,
        peer=f'timm.create_model({name!r})',
    )


# timm SelectiveKernelBottleneck keys -> our SKBlock (SKConv: paths, fuse, select).
_TIMM_SK_BODY = (
    (r'(layer[1-4]\.\d+)\.conv1\.conv\.weight', r'backbone.\1.conv1.weight'),
    (rf'(layer[1-4]\.\d+)\.conv1\.bn\.{_BN}', r'backbone.\1.bn1.\2'),
    (
        r'(layer[1-4]\.\d+)\.conv2\.paths\.(\d+)\.conv\.weight',
        r'backbone.\1.conv2.paths.\2.conv.weight',
    ),
    (rf'(layer[1-4]\.\d+)\.conv2\.paths\.(\d+)\.bn\.{_BN}', r'backbone.\1.conv2.paths.\2.bn.\3'),
    (r'(layer[1-4]\.\d+)\.conv2\.attn\.fc_reduce\.weight', r'backbone.\1.conv2.fuse.conv.weight'),
    (rf'(layer[1-4]\.\d+)\.conv2\.attn\.bn\.{_BN}', r'backbone.\1.conv2.fuse.bn.\2'),
    (r'(layer[1-4]\.\d+)\.conv2\.attn\.fc_select\.weight', r'backbone.\1.conv2.select.weight'),
    (r'(layer[1-4]\.\d+)\.conv3\.conv\.weight', r'backbone.\1.conv3.weight'),
    (rf'(layer[1-4]\.\d+)\.conv3\.bn\.{_BN}', r'backbone.\1.bn3.\2'),
    (
        r'(layer[1-4]\.\d+\.downsample\.[01]\.(weight|bias|running_mean|running_var|num_batches_tracked))',
        r'backbone.\1',
    ),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
)


def _timm_sknet(name: str, depth: int) -> Arch:
    # timm: SelectiveKernel(split_input=False, rd_ratio=1/16, rd_divisor=32), paths
    # 3x3 dilation 1 and 2, fuse conv without bias + BN + ReLU, select conv without
    # bias; fuse width make_divisible(C/16, 32) = max(C/16, 32) for C in 128..1024.
    backbone = dict(
        type='se_plugin.SKNet',
        depth=depth,
        num_paths=2,
        sk_ratio=16,
        min_channels=32,
        groups=32,
        width_per_group=4,
        se_cfg=None,
        out_indices=(3,),
        style='pytorch',
    )
    return Arch(
        source='timm',
        name=name,
        backbone=backbone,
        head_channels=2048,
        rules=_TIMM_STEM + _TIMM_SK_BODY,
        peer=f'timm.create_model({name!r})',
    )


def _mmpretrain(name: str, depth: int, groups: int = 1, width: int = 4) -> Arch:
    peer = (
        f'mmpretrain SEResNet(depth={depth})'
        if groups == 1
        else f'mmpretrain SEResNeXt(depth={depth}, groups={groups}, width_per_group={width})'
    )
    return Arch(
        source='mmpretrain',
        name=name,
        backbone=_backbone(depth, groups, width),
        head_channels=2048,
        rules=_MMPRETRAIN_RULES,
        peer=peer + ' (se_ratio=16) in an ImageClassifier with a LinearClsHead',
    )


_ALL = (
    _timm('seresnet18', 18),
    _timm('seresnet34', 34),
    _timm('seresnet50', 50),
    _timm('seresnet101', 101),
    _timm('seresnet152', 152),
    _timm('seresnet152d', 152, deep=True),
    _timm('seresnext50_32x4d', 50, 32, 4),
    _timm('seresnext101_32x4d', 101, 32, 4),
    _timm('seresnext101_32x8d', 101, 32, 8),
    _timm('seresnext101d_32x8d', 101, 32, 8, deep=True),
    _timm('seresnext101_64x4d', 101, 64, 4),
    _timm_sknet('skresnext50_32x4d', 50),
    _mmpretrain('seresnet50', 50),
    _mmpretrain('seresnet101', 101),
    _mmpretrain('seresnet152', 152),
    _mmpretrain('seresnext50_32x4d', 50, 32, 4),
    _mmpretrain('seresnext101_32x4d', 101, 32, 4),
    _mmpretrain('seresnext152_32x4d', 152, 32, 4),
)
#: ``ARCHS[source][name]`` -> :class:`Arch`.
ARCHS: dict = {source: {a.name: a for a in _ALL if a.source == source} for source in SOURCES}


def list_archs(source: Optional[str] = None) -> list:
    """Names of the convertible architectures (of one source, or ``source:name`` of all)."""
    if source is None:
        return [f'{a.source}:{a.name}' for a in _ALL]
    return list(ARCHS[_check_source(source)])


def _check_source(source: Any) -> str:
    if source not in SOURCES:
        raise ConversionError(f'--from must be one of {", ".join(SOURCES)}; got {source!r}')
    return source


def get_arch(source: str, arch: str) -> Arch:
    """The :class:`Arch` named ``arch`` of ``source``, or a ConversionError listing them."""
    archs = ARCHS[_check_source(source)]
    if arch not in archs:
        other = [s for s in SOURCES if s != source and arch in ARCHS[s]]
        hint = f' ({arch!r} is a --from {other[0]} arch)' if other else ''
        raise ConversionError(
            f'unknown --arch {arch!r} for --from {source}{hint}; convertible: {", ".join(archs)}'
        )
    return archs[arch]


def build_model(source: str, arch: str, num_classes: int = 1000) -> nn.Module:
    """Our model for ``arch`` (random weights), built in the se_plugin scope."""
    from se_plugin.registry import MODELS

    return MODELS.build(get_arch(source, arch).model_config(num_classes))


# --------------------------------------------------------------------- reading


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(k, str) for k in obj)


def read_source(path: str) -> tuple:
    """``(state_dict, meta)`` of a timm or mmpretrain file.

    Accepted: a plain state dict (timm ``.pth``/``.bin``), ``.safetensors``
    (needs the ``safetensors`` package), or a dict holding it under
    ``state_dict`` (mmpretrain/mmengine, timm's train script) or ``model``.
    A DDP ``module.`` prefix is removed. ``meta`` is the file's ``meta`` dict
    (or ``{}``).
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'source checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        obj = _read_safetensors(path)
    else:
        obj = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(obj, Mapping):
        raise ConversionError(f'{path}: expected a dict of weights, got {type(obj).__name__}')
    meta = obj.get('meta') if isinstance(obj.get('meta'), Mapping) else {}
    for field in ('state_dict', 'model'):
        if isinstance(obj.get(field), Mapping):
            obj = obj[field]
            break
    if not _is_state_dict(obj) or not obj:
        raise ConversionError(f'{path}: no state dict found (keys: {_preview(list(obj))})')
    not_tensors = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise ConversionError(
            f'{path}: not a state dict: these entries are not tensors: {_preview(not_tensors)}'
        )
    if all(k.startswith('module.') for k in obj):
        obj = {k[len('module.') :]: v for k, v in obj.items()}
    return OrderedDict(obj), dict(meta)


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise ConversionError(
            f'{path}: reading .safetensors needs the safetensors package (pip install '
            'safetensors), or give the .pth/.bin file instead'
        ) from None
    try:
        return load_file(path, device='cpu')
    except (SafetensorError, OSError) as err:
        raise ConversionError(f'cannot read {path}: {err}') from None


# ------------------------------------------------------------------ converting


def _preview(items: list, limit: int = _LIST_LIMIT) -> str:
    items = [str(i) for i in items]
    shown = ', '.join(items[:limit])
    more = len(items) - limit
    return shown + (f', ... and {more} more' if more > 0 else '') if items else '(none)'


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if hasattr(t, 'shape') else repr(t)


def check_state_dict(
    state_dict: Mapping,
    reference: Mapping,
    what: str = 'the converted weights',
    renamed_from: Optional[Mapping] = None,
) -> None:
    """Raise a ConversionError unless ``state_dict`` has exactly ``reference``'s keys and shapes.

    Args:
        state_dict: Converted weights.
        reference: Our model's ``state_dict()`` (or a mapping of key -> shape-bearing value).
        what: How the error names the checked weights.
        renamed_from: Our key -> source key, to name both in the error.
    """
    renamed_from = renamed_from or {}

    def name(key: str) -> str:
        src = renamed_from.get(key)
        return key if src is None or src == key else f'{key} (source {src})'

    missing = [k for k in reference if k not in state_dict]
    unexpected = [name(k) for k in state_dict if k not in reference]
    misshaped = [
        f'{name(k)}: {_shape(v)} vs ours {_shape(reference[k])}'
        for k, v in state_dict.items()
        if k in reference and tuple(v.shape) != tuple(reference[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_preview(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_preview(unexpected)}')
    if misshaped:
        problems.append(f'{len(misshaped)} mis-shaped key(s): {_preview(misshaped)}')
    if problems:
        raise ConversionError(f'{what} do not match the se_plugin model: ' + '; '.join(problems))


def _plain(tensor: Tensor) -> Tensor:
    tensor = tensor.detach()
    if tensor.device.type not in ('cpu', 'meta'):
        tensor = tensor.cpu()
    return tensor.contiguous()


def _source_hint(source: str, keys: list) -> str:
    backbone = sum(k.startswith('backbone.') for k in keys)
    if source == 'timm' and backbone > len(keys) // 2:
        return (
            ' (its keys start with "backbone.": is it an mmpretrain checkpoint?'
            ' try --from mmpretrain)'
        )
    if source == 'mmpretrain' and backbone == 0:
        return ' (no key starts with "backbone.": is it a timm state dict? try --from timm)'
    return ''


def convert_state_dict(
    state_dict: Mapping,
    source: str,
    arch: str,
    backbone_only: bool = False,
    reference: Optional[Mapping] = None,
    what: str = 'the source weights',
) -> tuple:
    """Rename a timm / mmpretrain state dict to ours and check it strictly.

    Args:
        state_dict: The source weights (``{key: tensor}``).
        source: ``'timm'`` or ``'mmpretrain'``.
        arch: A name of :func:`list_archs` for that source.
        backbone_only: Drop the classifier head (for fine-tuning with a new head).
        reference: Our model's state dict to check against; None builds the model.
        what: How errors name the input (e.g. its path).

    Returns:
        ``(converted_state_dict, model_config)``; the config's head has the
        source's number of classes (unless ``backbone_only``).

    Raises:
        ConversionError: unknown source/arch, or keys missing, unexpected or
            mis-shaped after renaming (all of them named).
    """
    spec = get_arch(source, arch)
    converted, renamed_from, unmatched = OrderedDict(), {}, []
    for key, value in state_dict.items():
        new = spec.rename(key)
        if new is None:
            unmatched.append(key)
            continue
        if backbone_only and new.startswith('head.'):
            continue
        if new in converted:
            raise ConversionError(f'{what}: {renamed_from[new]} and {key} both map to {new}')
        converted[new], renamed_from[new] = value, key
    if unmatched:
        hint = _source_hint(source, list(state_dict))
        raise ConversionError(
            f'{what} do not fit --from {source} --arch {arch}{hint}: {len(unmatched)} '
            f'unexpected key(s) no rule maps: {_preview(unmatched)}'
        )
    head = converted.get('head.fc.weight')
    num_classes = int(head.shape[0]) if head is not None and head.dim() == 2 else 1000
    model_cfg = spec.model_config(num_classes)
    if reference is None:
        from se_plugin.registry import MODELS

        reference = MODELS.build(copy.deepcopy(model_cfg)).state_dict()
    if backbone_only:
        reference = {k: v for k, v in reference.items() if not k.startswith('head.')}
        model_cfg['head'] = None
    # BatchNorm counters: absent from some old files; load_state_dict would fill them too.
    for key, value in reference.items():
        if key.endswith('.num_batches_tracked') and key not in converted:
            converted[key] = torch.zeros_like(value, device='cpu')
    check_state_dict(
        converted,
        reference,
        what=f'{what} (--from {source} --arch {arch})',
        renamed_from=renamed_from,
    )
    ordered = OrderedDict((k, _plain(converted[k])) for k in reference)
    return ordered, model_cfg


def convert_checkpoint(
    src: str,
    dst: str,
    source: str,
    arch: str,
    backbone_only: bool = False,
) -> dict:
    """Convert the file ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``.

    The output loads with ``load_from=dst`` into :meth:`Arch.model_config`'s
    model (``meta['model']``), or into a backbone with
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Returns:
        The saved ``meta`` dict (``arch``, ``source``, ``num_classes``,
        ``model`` config, ...).
    """
    spec = get_arch(source, arch)  # unknown source/arch before reading anything
    if os.path.abspath(os.path.expanduser(src)) == os.path.abspath(os.path.expanduser(dst)):
        raise ConversionError(f'the output must not overwrite the source: {dst}')
    out_dir = os.path.dirname(os.path.abspath(os.path.expanduser(dst)))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f'output folder does not exist: {out_dir}')
    state_dict, src_meta = read_source(src)
    converted, model_cfg = convert_state_dict(
        state_dict, source, arch, backbone_only=backbone_only, what=f'the weights in {src}'
    )
    head = model_cfg.get('head')
    meta = dict(
        converted_by=f'se_plugin {__version__} tools/convert.py',
        source=dict(framework=spec.source, arch=spec.name, peer=spec.peer, file=str(src)),
        arch=spec.name,
        num_classes=None if head is None else head['num_classes'],
        backbone_only=bool(backbone_only),
        model=model_cfg,
    )
    if isinstance(src_meta.get('dataset_meta'), Mapping):
        meta['dataset_meta'] = dict(src_meta['dataset_meta'])
    with atomic_open(dst) as f:  # unique temp name next to dst, removed on failure
        torch.save({'state_dict': converted, 'meta': meta}, f)
    return meta
