# Runtime shared by every se_plugin config (mmengine Runner settings).
# `se_plugin` is a child scope of `mmpretrain`: our names (SEResNet, SELayer,
# MNIST5k) shadow mmpretrain's, everything else resolves from mmpretrain/mmengine.
default_scope = 'se_plugin'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook with crash-safe saving (temp file + fsync + rename)
    checkpoint=dict(type='se_plugin.AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # se_plugin: stop at the first NaN / infinite loss with a clear error (exit 2)
    nonfinite_loss=dict(type='se_plugin.NonFiniteLossHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
    # se_plugin extension: torch intra-op threads (None keeps torch's default).
    torch_num_threads=None,
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
# tools/test.py --tta: the mean of the class scores of each image's augmented views
# (se_plugin's AverageClsScoreTTA: mmpretrain's, with pred_label the mean's arg-max);
# the views are the dataset base's tta_pipeline (a horizontal flip when it has none)
tta_model = dict(type='AverageClsScoreTTA')
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
