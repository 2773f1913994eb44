"""se_plugin.benchmark.timing: round-robin timing, ratios and the report."""

import json

import pytest

from se_plugin.benchmark import (
    Options,
    Result,
    markdown_table,
    run_benchmark,
    save_json,
    too_few_rounds,
)

from .tiny import TINY, TINY_OPTS


@pytest.mark.parametrize('channels_last', [False, True])
def test_run_benchmark_reports_ratios(channels_last, tmp_path):
    opts = Options(modes=('inference', 'train'), channels_last=channels_last, **TINY_OPTS)
    logged = []
    report = run_benchmark([TINY], baseline='torchvision.resnet18', opts=opts, log=logged.append)
    assert report['environment']['threads'] == 1 and logged
    results = report['results']
    assert [(r.model, r.mode) for r in results] == [
        ('torchvision.resnet18', 'inference'),
        (TINY, 'inference'),
        ('torchvision.resnet18', 'train'),
        (TINY, 'train'),
    ]
    for r in results:
        assert len(r.times_ms) == 3 and r.median_ms > 0 and r.ratio > 0
    assert results[0].ratio == results[0].paired_ratio == results[0].min_ratio == 1.0
    assert [r.saved_mb is None for r in results] == [True, True, False, False]
    assert all(r.saved_mb > 0.1 for r in results[2:])
    table = markdown_table(report)
    assert table.count('\n') == 1 + len(results)
    assert 'paired ratio' in table and 'min ratio' in table and 'saved for backward' in table
    save_json(report, str(tmp_path / 'out' / 'bench.json'))
    data = json.loads((tmp_path / 'out' / 'bench.json').read_text())
    assert data['options']['channels_last'] is channels_last
    assert data['results'][1]['model'] == TINY


def _result(name, times):
    return Result(name, 'train', 0, times_ms=list(times), paired_ratio=1.0)


def test_too_few_rounds_warnings():
    base = _result('base', [10.0] * 8)
    apart = [_result('a', [10.0] * 8), _result('b', [12.0] * 8)]
    close = [_result('a', [10, 11, 9, 10.5, 9.5, 10, 11, 9]), _result('b', [10.1] * 8)]
    assert too_few_rounds([base, *apart], 8) == []
    assert 'differ by' in too_few_rounds([base, *close], 8)[0]
    assert 'only 3 rounds' in too_few_rounds([base, *apart], 3)[0]
