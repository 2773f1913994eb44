"""Helpers of the integration tests: the shipped configs and doc snippets, shrunk
models built in mmdet's / mmseg's scope, and one training step on random data.

Nothing here imports mmdet or mmseg at module level: the main environment (mmcv-lite)
collects this package too, and its tests skip there.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import importlib
import os
import re

import torch

from se_plugin.models.layers import ATTENTION_LAYERS
from tests.conftest import REPO_ROOT

DOC = os.path.join(REPO_ROOT, 'docs', 'mmdet_mmseg.md')
SIZE = 64  # input images are SIZE x SIZE
WIDTH = 8  # base_channels of the shrunk backbones: stage outputs 32, 64, 128, 256 (depth 50)
NECK = 16  # channels of the shrunk necks and heads
# each built-in slot module but SE as an mmcv plugin after conv3 of stages 2-4
ZOO = tuple(name for name in ATTENTION_LAYERS if name != 'SELayer')


def configs(codebase: str) -> list:
    """The shipped config files of ``codebase`` ('mmdet' or 'mmseg'), repo-relative."""
    paths = sorted(glob.glob(os.path.join(REPO_ROOT, 'configs', codebase, '*.py')))
    return [os.path.relpath(p, REPO_ROOT) for p in paths]


def load_config(path: str):
    from mmengine.config import Config

    return Config.fromfile(os.path.join(REPO_ROOT, path))


def doc_blocks() -> list:
    """The ```python blocks of docs/mmdet_mmseg.md as (first line, code)."""
    with open(DOC, encoding='utf-8') as f:
        text = f.read()
    blocks = re.findall(r'^```python\n(.*?)^```', text, flags=re.S | re.M)
    return [(b.split('\n', 1)[0].strip(), b) for b in blocks]


def doc_snippet(name: str) -> dict:
    """The names defined by the doc block headed ``# snippet: <name>``."""
    for head, code in doc_blocks():
        if head == f'# snippet: {name}':
            namespace: dict = {}
            exec(compile(code, f'{DOC}:{name}', 'exec'), namespace)
            return {k: v for k, v in namespace.items() if not k.startswith('__')}
    raise KeyError(f'no "# snippet: {name}" block in {DOC}')


@contextlib.contextmanager
def scope(name: str):
    """Register ``name``'s modules and make it the default scope (as its tools do)."""
    from mmengine.registry import DefaultScope

    importlib.import_module(f'{name}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(name):
        yield importlib.import_module(f'{name}.registry').MODELS


def build(model_cfg, codebase: str, init: bool = False) -> torch.nn.Module:
    """Build ``model_cfg`` in ``codebase``'s scope; SyncBN reverted to BN as mmengine's
    Runner does outside distributed training; ``init``: its ``init_weights()`` too (the
    heads' prior-probability biases), as the Runner does before training."""
    from mmengine.model import revert_sync_batchnorm

    with scope(codebase) as models:
        model = models.build(copy.deepcopy(model_cfg))
        if init:
            model.init_weights()
    return revert_sync_batchnorm(model)


def backbone_channels(backbone_cfg, codebase: str) -> list:
    """Channels of each output of the backbone, measured on a SIZE x SIZE image."""
    from mmengine.model import revert_sync_batchnorm

    with scope(codebase) as models:
        backbone = revert_sync_batchnorm(models.build(copy.deepcopy(backbone_cfg)))
        backbone.eval()
        with torch.no_grad():
            outs = backbone(torch.zeros(1, 3, SIZE, SIZE))
    return [o.shape[1] for o in outs]


def shrink_backbone(backbone) -> None:
    """Small widths for a ResNet-like backbone config (ours, mmdet's or mmseg's)."""
    kind = backbone['type'].split('.')[-1]
    if kind == 'AttentionInjected':
        shrink_backbone(backbone['backbone'])
        return
    # No ImageNet weights fit the small widths (and tests download nothing). Non-zero
    # last-BN scales, as in pretrained weights: with zero_init_residual, a frozen stage's
    # residual branches (and attention injected after them) would stay at zero.
    backbone.update(
        base_channels=WIDTH, stem_channels=WIDTH, init_cfg=None, zero_init_residual=False
    )
    if kind in ('SEResNeXt', 'SKNet'):
        backbone.update(groups=4, width_per_group=2)
    if kind == 'SKNet':
        backbone.update(min_channels=8)


def shrink_det(model, codebase: str = 'mmdet') -> list:
    """Shrink a RetinaNet / Faster R-CNN config in place; returns the backbone widths."""
    shrink_backbone(model.backbone)
    widths = backbone_channels(model.backbone, codebase)
    model.neck.update(in_channels=widths, out_channels=NECK)
    if 'bbox_head' in model:  # one-stage
        model.bbox_head.update(in_channels=NECK, feat_channels=NECK, stacked_convs=1)
    else:  # two-stage
        model.rpn_head.update(in_channels=NECK, feat_channels=NECK)
        model.roi_head.bbox_roi_extractor.update(out_channels=NECK)
        model.roi_head.bbox_head.update(in_channels=NECK, fc_out_channels=2 * NECK)
    return widths


def shrink_seg(model, codebase: str = 'mmseg') -> list:
    """Shrink an mmseg EncoderDecoder config in place; returns the backbone widths."""
    shrink_backbone(model.backbone)
    model.pretrained = None
    widths = backbone_channels(model.backbone, codebase)
    model.data_preprocessor.update(size=(SIZE, SIZE))
    if model.get('neck') is not None:  # FPN: the decoder reads the neck
        model.neck.update(in_channels=widths, out_channels=NECK)
        model.decode_head.update(in_channels=[NECK] * len(widths), channels=NECK)
    else:  # FCN: the heads read backbone stages
        for head in ('decode_head', 'auxiliary_head'):
            cfg = model.get(head)
            if cfg is not None:
                cfg.update(in_channels=widths[cfg.in_index], channels=NECK)
    return widths


def det_batch(batch: int = 2, num_classes: int = 80) -> dict:
    from mmdet.testing import demo_mm_inputs

    return demo_mm_inputs(
        batch_size=batch,
        image_shapes=[(3, SIZE, SIZE)] * batch,
        num_items=[3] * batch,
        num_classes=num_classes,
    )


def seg_batch(batch: int = 2, num_classes: int = 19) -> dict:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8))
        sample = SegDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE))
        )
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, SIZE, SIZE)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step(model: torch.nn.Module, batch: dict, codebase: str, steps: int = 2) -> tuple:
    """``steps`` training steps (forward in 'loss' mode, parsed losses, backward; an SGD
    update between steps); returns the last step's (loss, log_vars) with its gradients
    left in place. Two steps by default: the residual branches' last BN starts at zero
    (``zero_init_residual``), so attention after it gets its first gradient in step 2."""
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for step in range(steps):
        optimizer.zero_grad()
        with scope(codebase):
            data = model.data_preprocessor(copy.deepcopy(batch), True)
            losses = model(**data, mode='loss')
            loss, log_vars = model.parse_losses(losses)
        assert torch.isfinite(loss), log_vars
        loss.backward()
        if step < steps - 1:
            optimizer.step()
    return loss, log_vars


def zoo_plugins(name: str) -> list:
    """mmdet / mmseg ResNet ``plugins`` putting ``se_plugin.<name>`` (its defaults) after
    conv3 of every bottleneck of stages 2-4; mmcv's build_plugin_layer gives in_channels."""
    cfg = dict(type=f'se_plugin.{name}')
    return [dict(cfg=cfg, stages=(False, True, True, True), position='after_conv3')]


@contextlib.contextmanager
def count_calls(model: torch.nn.Module, kinds: tuple):
    """Count the forward calls of the submodules whose class name is in ``kinds``
    (yields a dict name -> calls, filled while the context is open)."""
    calls: dict = {}
    handles = []
    for name, module in attention_modules(model, kinds):
        calls[name] = 0

        def hook(module, args, output, name=name):
            calls[name] += 1

        handles.append(module.register_forward_hook(hook))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def losses_text(log_vars: dict) -> str:
    return ', '.join(f'{k}={float(v.detach()):.4f}' for k, v in log_vars.items())


def predict(model: torch.nn.Module, batch: dict, codebase: str) -> list:
    model.eval()
    with scope(codebase), torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        return model(**data, mode='predict')


def attention_modules(model: torch.nn.Module, kinds=('SELayer', 'SKConv')) -> list:
    """(name, module) of our attention layers inside ``model``."""
    return [(n, m) for n, m in model.named_modules() if type(m).__name__ in kinds]


def assert_attention_trained(model: torch.nn.Module, kinds=('SELayer', 'SKConv')) -> int:
    """Every trainable attention layer got a finite, non-zero gradient; returns how many
    (a parameter-free one, SimAM, has nothing to train and is not counted)."""
    found = 0
    for name, module in attention_modules(model, kinds):
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:  # a frozen stage or a parameter-free module
            continue
        found += 1
        grads = [p.grad for p in params]
        assert all(g is not None for g in grads), f'{name}: no gradient'
        assert all(torch.isfinite(g).all() for g in grads), f'{name}: non-finite gradient'
        assert any(g.abs().sum() > 0 for g in grads), f'{name}: zero gradient'
    assert found, 'no trainable attention layer in the model'
    return found
