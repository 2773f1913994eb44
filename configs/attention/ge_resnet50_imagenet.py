# GE-ResNet-50 (Gather-Excite, arXiv 1810.12348): SE-ResNet-50's recipe with GE-theta-plus
# (depthwise gather + SE's excite MLP, r=16), the paper's strongest variant, at extent 8
# (three stride-2 depthwise 3x3 convs). The paper's global extent with parameters needs
# each stage's map size (feat_size), which one attn_cfg shared by all stages cannot give;
# extent 8, the largest of the paper's fixed extents, fits every stage (and is global in
# stage 4 at 224 px: 7 -> 4 -> 2 -> 1).
_base_ = ['../se_resnet50_imagenet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.GatherExcite', variant='theta-plus', extent=8)
    )
)
