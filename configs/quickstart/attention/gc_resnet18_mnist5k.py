_base_ = ['../se_resnet18_mnist5k.py']
model = dict(backbone=dict(se_cfg=dict(_delete_=True, type='se_plugin.GlobalContext')))
