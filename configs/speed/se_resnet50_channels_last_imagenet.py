_base_ = ['../se_resnet50_imagenet.py']
# channels-last (NHWC) memory format for the model and every batch (se_plugin.ChannelsLastHook);
# measure first: python tools/benchmark.py configs/se_resnet50_imagenet.py --channels-last
custom_hooks = [dict(type='se_plugin.ChannelsLastHook')]
