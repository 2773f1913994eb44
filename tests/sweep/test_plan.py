"""se_plugin.sweep.plan: every check before training, and the layout of the runs."""

import os.path as osp

import pytest
from helpers import plan_tiny

from se_plugin.sweep import SweepError, decode


def test_plan_checks(tmp_path):
    with pytest.raises(SweepError, match="--sweep modle.backbone.x: the config has no 'modle'"):
        plan_tiny(tmp_path, sweeps=['modle.backbone.x=1,2'])
    with pytest.raises(SweepError, match="unexpected keyword argument 'ratoi'"):
        plan_tiny(tmp_path, sweeps=['model.backbone.attn_cfg.ratoi=2,4'])
    with pytest.raises(SweepError, match=r'point ratio-0 \(model.backbone.attn_cfg.ratio=0\)'):
        plan_tiny(tmp_path, sweeps=['model.backbone.attn_cfg.ratio=0,4'])
    with pytest.raises(SweepError, match='overlaps --max-epochs train_cfg.max_epochs'):
        plan_tiny(tmp_path, sweeps=['train_cfg.max_epochs=1,2'])
    with pytest.raises(SweepError, match='seed is given twice'):
        plan_tiny(tmp_path, seeds=[0, 0])


def test_plan_layout(tmp_path):
    plan = plan_tiny(tmp_path / 'w', seeds=[0, 3])
    assert [r.label for r in plan.runs] == [
        'ratio-2/seed0',
        'ratio-2/seed3',
        'ratio-8/seed0',
        'ratio-8/seed3',
    ]
    assert plan.runs[1].work_dir == str(tmp_path / 'w' / 'ratio-2' / 'seed3')
    spec = plan.runs[0].spec
    assert spec['seed'] == 0 and spec['validate'] is False
    options = decode(spec['options'])
    assert options['model.backbone.attn_cfg.ratio'] == 2
    assert options['train_cfg.max_epochs'] == 2
    params = {name: c[0] for name, c in plan.complexity.items()}
    assert params['ratio-2'] > params['ratio-8']
    assert not osp.exists(tmp_path / 'w')  # planning writes nothing


def test_plan_over_attention_types(tmp_path):
    """A sweep of type names (how attention types are compared) builds every point."""
    plan = plan_tiny(
        tmp_path / 'w', sweeps=['model.backbone.attn_cfg.type=se_plugin.SELayer,SELayer']
    )
    assert [r.label for r in plan.runs] == ['type-se-plugin.SELayer/seed0', 'type-SELayer/seed0']
    types = [decode(r.spec['options'])['model.backbone.attn_cfg.type'] for r in plan.runs]
    assert types == ['se_plugin.SELayer', 'SELayer']
    assert len(set(plan.complexity.values())) == 1  # the same layer under two names
    no_se = plan_tiny(tmp_path / 'w2', sweeps=['model.backbone.attn_cfg=None'])
    assert no_se.complexity['attn_cfg-None'][0] < plan.complexity['type-SELayer'][0]


@pytest.mark.parametrize(
    'value, needle',
    [
        ('None', r'point type-None \(model.backbone.attn_cfg.type=None\).*must be a registered'),
        ("'None'", r"attn_cfg\['type'\] must be a registered attention type .*got 'None'"),
        ('se_plugin.NoSuchLayer', r"registered attention type .*got 'se_plugin.NoSuchLayer'"),
    ],
)
def test_plan_refuses_bad_attention_types(tmp_path, value, needle):
    with pytest.raises(SweepError, match=needle):
        plan_tiny(tmp_path, sweeps=[f'model.backbone.attn_cfg.type=se_plugin.SELayer,{value}'])
