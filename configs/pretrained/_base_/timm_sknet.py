# timm's SK-ResNets (sknet.py): SKNet-50 (SK-ResNeXt-50 32x4d, timm's SelectiveKernel:
# paths 3x3 with dilation 1 and 2, fuse width max(C / 16, 32)), no attention in the slot.
_base_ = ['./timm_seresnet.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugin.SKNet',
        depth=50,
        attn_cfg=None,
        out_indices=(3,),
        sk_ratio=16,
        min_channels=32,
    )
)
