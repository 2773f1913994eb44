"""Class activation maps (Grad-CAM and friends) of a config's classifier.

What ``tools/visualization/vis_cam.py`` does, on the ``grad-cam`` package
(``pytorch_grad_cam``), with mmpretrain's ``vis_cam.py`` options. An image
file goes through the config's test pipeline (with a ``LoadImageFromFile``
in front when the pipeline has no loader, as MNIST-5k's in-memory one) and
the model's data preprocessor; the CAM of the target class (the predicted one
by default) at the target layer is drawn over the image, one panel per image.

Default target layer: the last residual block of the last stage
(``backbone.layer4.1`` for a ResNet-18; the block output, after the SE/SK
attention and the shortcut), or for other backbones the last norm layer of
the backbone (mmpretrain's rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

# torch, numpy and matplotlib are imported where they are used: vis_cam.py --help
# reads METHODS only
METHODS = {
    'gradcam': 'GradCAM',
    'gradcam++': 'GradCAMPlusPlus',
    'xgradcam': 'XGradCAM',
    'eigencam': 'EigenCAM',
    'eigengradcam': 'EigenGradCAM',
    'layercam': 'LayerCAM',
}

__all__ = [
    'METHODS',
    'cam_method',
    'compute_cams',
    'default_target_layers',
    'load_images',
    'resolve_layer',
    'save_cam_figure',
    'visualize_cam',
]


def cam_method(name: str) -> type:
    """The ``pytorch_grad_cam`` class for ``name`` (case-insensitive, e.g. ``GradCAM++``)."""
    import pytorch_grad_cam

    key = str(name).lower()
    if key not in METHODS:
        raise ValueError(f'--method must be one of {", ".join(METHODS)} (any case), got {name!r}')
    return getattr(pytorch_grad_cam, METHODS[key])


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name``: dotted, with indices as ``.1``, ``.-1`` or ``[-1]``
    (``backbone.layer4[-1]``, mmpretrain's spelling)."""
    from torch import nn

    parts = [p for p in re.sub(r'\[(-?\d+)\]', r'.\1', name).split('.') if p]
    module = model
    for depth, part in enumerate(parts):
        if re.fullmatch(r'-?\d+', part) and isinstance(module, (nn.Sequential, nn.ModuleList)):
            if not -len(module) <= int(part) < len(module):
                raise ValueError(f'--target-layers {name}: index {part} out of range')
            module = module[int(part)]
        elif hasattr(module, '_modules') and part in module._modules:
            module = module._modules[part]
        else:
            where = '.'.join(parts[:depth]) or 'the model'
            children = ', '.join(module._modules) or 'none'
            raise ValueError(
                f'--target-layers {name}: {where} has no submodule {part!r} (children: {children})'
            )
    return module


def default_target_layers(model: nn.Module) -> list:
    """``[(name, module)]``: the last block of the backbone's last stage, else its last norm."""
    from torch import nn

    backbone = getattr(model, 'backbone', model)
    prefix = 'backbone.' if backbone is not model else ''
    stages = getattr(backbone, 'res_layers', None)
    if stages:
        name = stages[max(getattr(backbone, 'out_indices', [len(stages) - 1]))]
        blocks = getattr(backbone, name)
        return [(f'{prefix}{name}.{len(blocks) - 1}', blocks[-1])]
    norms = [
        (n, m)
        for n, m in backbone.named_modules()
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm))
    ]
    if not norms:
        raise ValueError('cannot choose a target layer for this model: pass --target-layers')
    return [(prefix + norms[-1][0], norms[-1][1])]


def load_images(cfg, model: nn.Module, paths: Sequence[str]) -> tuple:
    """``(inputs, images)``: the preprocessed batch and the images as the model sees
    them (uint8 ``(H, W, 3)`` RGB, before normalisation)."""
    import numpy as np
    from mmengine.dataset import Compose, default_collate
    from mmengine.registry import DefaultScope

    from se_plugin.apis import inference_pipeline

    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'se_plugin')):
        pipeline = Compose(inference_pipeline(cfg))
    samples = [pipeline(dict(img_path=p)) for p in paths]
    data = model.data_preprocessor(default_collate(samples), False)
    images = []
    for sample in samples:
        img = sample['inputs'].permute(1, 2, 0).numpy().astype(np.uint8)
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        else:
            img = img[..., ::-1]  # mmcv loads BGR
        images.append(np.ascontiguousarray(img))
    return data['inputs'], images


def compute_cams(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layers: Sequence[nn.Module],
    method: str = 'GradCAM',
    target_category: Optional[Sequence[int]] = None,
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
) -> tuple:
    """``(cams, probabilities)``: ``(N, H, W)`` maps in [0, 1] and ``(N, classes)`` softmax.

    Args:
        model (nn.Module): A classifier (its ``mode='tensor'`` logits are used).
        inputs (Tensor): Preprocessed ``(N, C, H, W)`` batch.
        target_layers (Sequence[nn.Module]): Layers whose activations are weighted.
        method (str): A key of :data:`METHODS` (any case). Default: 'GradCAM'.
        target_category (Sequence[int], optional): One class for all images, or
            one per image; None takes each image's predicted class. Default: None.
        eigen_smooth (bool): ``pytorch_grad_cam``'s eigen smoothing. Default: False.
        aug_smooth (bool): Test-time augmentation smoothing. Default: False.
    """
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from se_plugin.export import InferenceModel

    cls = cam_method(method)
    wrapped = InferenceModel(model)
    with torch.no_grad():
        probs = wrapped(inputs).softmax(-1)
    targets = None
    if target_category:
        cats = list(target_category) * (len(inputs) if len(target_category) == 1 else 1)
        if len(cats) != len(inputs) or not all(0 <= c < probs.shape[1] for c in cats):
            raise ValueError(
                f'--target-category: one class or one per image in [0, {probs.shape[1]}), '
                f'got {list(target_category)} for {len(inputs)} images'
            )
        targets = [ClassifierOutputTarget(int(c)) for c in cats]
    with cls(model=wrapped, target_layers=list(target_layers)) as cam:
        maps = cam(inputs, targets=targets, eigen_smooth=eigen_smooth, aug_smooth=aug_smooth)
    return maps, probs


def save_cam_figure(
    images: Sequence[np.ndarray],
    cams: np.ndarray,
    probs: torch.Tensor,
    out: str,
    targets: Optional[Sequence[int]] = None,
    title: Optional[str] = None,
) -> None:
    """One panel per image: the CAM over the image, titled with the prediction."""
    import matplotlib
    import numpy as np

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n + 0.4, 2.0 if title else 1.8), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], images)):
        ax.imshow(show_cam_on_image(img.astype(np.float32) / 255, cams[i], use_rgb=True))
        pred = int(probs[i].argmax())
        label = f'{pred} ({probs[i, pred]:.2f})'
        if targets:
            label += f', CAM of {targets[i if len(targets) > 1 else 0]}'
        ax.set_title(label, fontsize=9)
        ax.axis('off')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def visualize_cam(
    images: Sequence[str],
    config: str,
    checkpoint: Optional[str],
    out: str,
    target_layers: Optional[Sequence[str]] = None,
    method: str = 'GradCAM',
    target_category: Optional[Sequence[int]] = None,
    cfg_options: Optional[dict] = None,
    title: Optional[str] = None,
    **kwargs,
) -> dict:
    """Build the config's model, load the checkpoint, and save the CAMs of ``images``.

    Args:
        images (Sequence[str]): Image files.
        config (str): Config file.
        checkpoint (str, optional): Weights (strictly loaded); None keeps random ones.
        out (str): Picture file.
        target_layers (Sequence[str], optional): Names for :func:`resolve_layer`;
            None uses :func:`default_target_layers`. Default: None.
        method (str): See :func:`compute_cams`. Default: 'GradCAM'.
        target_category (Sequence[int], optional): See :func:`compute_cams`.
        cfg_options (dict, optional): ``--cfg-options``. Default: None.
        title (str, optional): Figure title. Default: None.
        **kwargs: ``eigen_smooth`` / ``aug_smooth`` of :func:`compute_cams`.

    Returns:
        dict: ``layers`` (names), ``cams`` (N, H, W) and ``predictions`` (ints).
    """
    from se_plugin.analysis.complexity import build_model
    from se_plugin.cli import load_config
    from se_plugin.export import load_weights

    cam_method(method)  # fail on a bad method before building anything
    cfg = load_config(config, cfg_options)
    model = build_model(cfg)
    if checkpoint:
        load_weights(model, checkpoint)
    model.eval()  # own line: mmpretrain's ResNet.train() returns None
    if target_layers:
        layers = [(name, resolve_layer(model, name)) for name in target_layers]
    else:
        layers = default_target_layers(model)
    inputs, pictures = load_images(cfg, model, images)
    cams, probs = compute_cams(
        model, inputs, [m for _, m in layers], method, target_category, **kwargs
    )
    save_cam_figure(pictures, cams, probs, out, target_category, title)
    return dict(layers=[n for n, _ in layers], cams=cams, predictions=probs.argmax(-1).tolist())
