"""se_plugin.sweep.spec: --sweep specs, values, labels and the grid."""

import pytest

from se_plugin.sweep import (
    SweepError,
    grid,
    parse_sweep,
    parse_sweeps,
    parse_value,
    slug,
    split_values,
)


@pytest.mark.parametrize(
    'spec, key, values',
    [
        (
            'model.backbone.attn_cfg.ratio=2,4,8,16,32',
            'model.backbone.attn_cfg.ratio',
            (2, 4, 8, 16, 32),
        ),
        (
            'model.backbone.attn_position=standard,post',
            'model.backbone.attn_position',
            ('standard', 'post'),
        ),
        (
            'model.backbone.attn_stages=(False,True,True,True),(True,True,True,True)',
            'model.backbone.attn_stages',
            ((False, True, True, True), (True, True, True, True)),
        ),
        ('optim_wrapper.optimizer.lr=0.1,1e-2', 'optim_wrapper.optimizer.lr', (0.1, 0.01)),
        ('model.backbone.attn_cfg=None', 'model.backbone.attn_cfg', (None,)),
        ('a.b=[1,2],[3]', 'a.b', ([1, 2], [3])),
        ('a.b=\'None\',"x,y"', 'a.b', ('None', 'x,y')),
        ('train_cfg.max_epochs=3', 'train_cfg.max_epochs', (3,)),
        # attention types: dotted type names stay strings, None is None
        (
            'model.backbone.attn_cfg.type=se_plugin.SELayer,SELayer,None',
            'model.backbone.attn_cfg.type',
            ('se_plugin.SELayer', 'SELayer', None),
        ),
    ],
)
def test_parse_sweep(spec, key, values):
    axis = parse_sweep(spec)
    assert axis.key == key
    assert axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


@pytest.mark.parametrize(
    'spec, needle',
    [
        ('model.backbone.attn_cfg.ratio', 'expected KEY=V1,V2'),
        ('model.backbone.attn_cfg.ratio=', 'no values'),
        ('model.backbone.attn_cfg.ratio=  ', 'no values'),
        ('model.backbone.attn_cfg.ratio=2,,4', 'empty value'),
        ('model.backbone.attn_cfg.ratio=2,', 'empty value'),
        ('=2,4', 'not a dotted config key'),
        ('model..ratio=2', 'not a dotted config key'),
        ('model.backbone.attn_stages=(True,False', 'unclosed'),
        ('model.backbone.attn_stages=True,False)', 'unbalanced'),
        ("a.b='x", 'unclosed quote'),
    ],
)
def test_parse_sweep_errors(spec, needle):
    with pytest.raises(SweepError, match=needle):
        parse_sweep(spec)


def test_split_and_values():
    assert split_values('(1,(2,3)),[4,5],6') == ['(1,(2,3))', '[4,5]', '6']
    assert parse_value(' 16 ') == 16
    assert parse_value('True') is True
    assert parse_value('avgmax') == 'avgmax'


def test_axes_labels_and_overlaps():
    axes = parse_sweeps(['model.backbone.attn_cfg.ratio=2', 'model.head.ratio=1'])
    assert [a.label for a in axes] == ['attn_cfg.ratio', 'head.ratio']
    axes = parse_sweeps(['model.backbone.attn_cfg.ratio=2', 'model.backbone.attn_position=post'])
    assert [a.label for a in axes] == ['ratio', 'attn_position']
    with pytest.raises(SweepError, match='overlaps'):
        parse_sweeps(['model.backbone.attn_cfg.ratio=2', 'model.backbone.attn_cfg.ratio=4'])
    with pytest.raises(SweepError, match='overlaps'):
        parse_sweeps(['model.backbone.attn_cfg=None', 'model.backbone.attn_cfg.ratio=4'])


def test_grid_names():
    points = grid(parse_sweeps(['m.ratio=2,4', 'm.attn_stages=(False,True),(True,True)']))
    assert [p.name for p in points] == [
        'ratio-2_attn_stages-False-True',
        'ratio-2_attn_stages-True-True',
        'ratio-4_attn_stages-False-True',
        'ratio-4_attn_stages-True-True',
    ]
    assert points[1].options == {'m.ratio': 2, 'm.attn_stages': (True, True)}
    assert [p.name for p in grid([])] == ['base']
    with pytest.raises(SweepError, match='given twice'):
        grid(parse_sweeps(['m.ratio=2,2']))
    with pytest.raises(SweepError, match="give the same point name 'a-b'"):
        grid(parse_sweeps(['m.x=a/b,a-b']))
    assert slug('a/b c') == 'a-b-c' and slug(()) == 'empty'


def test_grid_of_type_names():
    axes = parse_sweeps(['model.backbone.attn_cfg.type=se_plugin.SELayer,se_plugin.ECALayer'])
    points = grid(axes)
    assert [p.name for p in points] == ['type-se-plugin.SELayer', 'type-se-plugin.ECALayer']
    assert [p.options for p in points] == [
        {'model.backbone.attn_cfg.type': 'se_plugin.SELayer'},
        {'model.backbone.attn_cfg.type': 'se_plugin.ECALayer'},
    ]
    # the string 'None' and the value None would share a directory
    with pytest.raises(SweepError, match="values None and 'None' give the same point name"):
        grid(parse_sweeps(["model.backbone.attn_cfg.type=None,'None'"]))
