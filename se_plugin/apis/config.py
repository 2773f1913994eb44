"""The config a checkpoint carries, read without running code from it.

mmengine's Runner writes the run's config into every checkpoint
(``meta['cfg']``, the text of ``Config.pretty_text``), and
``tools/convert.py`` writes a test config there
(:mod:`se_plugin.convert.meta`). mmengine reads that text back with
``Config.fromstring``, which executes it as Python: a crafted checkpoint would
run code although its tensors were loaded with ``weights_only=True``. Here the
text is parsed, not executed: only assignments of literals and ``dict(...)``
calls are accepted (what ``pretty_text`` writes), anything else is a
:class:`~se_plugin.runtime.errors.ConfigError` naming the line.
"""

from __future__ import annotations

import ast
import os.path as osp
from collections.abc import Mapping
from typing import Any

from mmengine.config import Config

from se_plugin.runtime.checkpoint import load_checkpoint_file
from se_plugin.runtime.errors import ConfigError

__all__ = ['checkpoint_config', 'parse_config_text']


def _not_plain(node: ast.AST, what: str) -> ValueError:
    return ValueError(f'line {getattr(node, "lineno", "?")}: {what}')


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _not_plain(node, '** in a dict')
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict':
        if node.args or any(kw.arg is None for kw in node.keywords):
            raise _not_plain(node, 'dict() with positional or ** arguments')
        return {kw.arg: _value(kw.value) for kw in node.keywords}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    raise _not_plain(node, f'{type(node).__name__} is not a plain value')


def parse_config_text(text: str) -> dict:
    """The variables of a plain config text (``name = value`` lines), without executing it.

    Args:
        text (str): Config text as mmengine's ``Config.pretty_text`` writes it.

    Returns:
        dict: Name -> value (``dict(...)`` calls become dicts).

    Raises:
        ValueError: Text that is not such a config (names the first line that is not).

    Example:
        >>> parse_config_text("model = dict(type='A', depth=-1, out=(3, ))\\nx = [1, 'b']")
        {'model': {'type': 'A', 'depth': -1, 'out': (3,)}, 'x': [1, 'b']}
        >>> parse_config_text("x = __import__('os').system('echo hi')")
        Traceback (most recent call last):
        ...
        ValueError: line 1: Call is not a plain value
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise ValueError(f'line {err.lineno}: {err.msg}') from None
    variables = {}
    for statement in tree.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise _not_plain(statement, f'{type(statement).__name__} is not `name = value`')
        variables[statement.targets[0].id] = _value(statement.value)
    return variables


def checkpoint_config(checkpoint: str) -> Config:
    """The config a checkpoint carries in ``meta['cfg']`` (mmengine's Runner,
    ``tools/convert.py``), parsed by :func:`parse_config_text`.

    Args:
        checkpoint (str): A local checkpoint file.

    Returns:
        Config: The config (without a ``filename``: mmengine's Runner then
        dumps it to ``<timestamp>.py`` in the work dir); a training run's
        ``work_dir`` is left out (it names the run that saved the file).

    Raises:
        ConfigError: The checkpoint has no ``meta['cfg']`` (converted with
            ``--backbone-only``, or a plain state dict), or its text is not a
            plain config.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    loaded = load_checkpoint_file(checkpoint, map_location='cpu')
    meta = loaded.get('meta') if isinstance(loaded, Mapping) else None
    text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        why = (
            'it was converted with --backbone-only (no classifier head)'
            if isinstance(meta, Mapping) and meta.get('backbone_only')
            else "it has no config in meta['cfg'] (a plain state dict?)"
        )
        raise ConfigError(f'cannot take the config from {checkpoint}: {why}; pass --config')
    try:
        variables = parse_config_text(text)
    except ValueError as err:
        raise ConfigError(
            f"the config in {checkpoint} (meta['cfg']) is not a plain config ({err}); "
            'nothing of it was run; pass --config'
        ) from None
    variables.pop('work_dir', None)
    return Config(variables)
