_base_ = ['../se_resnet50_imagenet.py']
# torch.compile of the train step (mmengine Runner's `compile`; a dict passes torch.compile options)
compile = True
