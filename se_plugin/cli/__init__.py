"""The command-line layer every tool in ``tools/`` shares.

* :mod:`~se_plugin.cli.parser`: :class:`ToolArgumentParser` (errors are one
  line on stderr, exit 2), the shared options, argparse int types;
* :mod:`~se_plugin.cli.values`: the one grammar of ``key=value`` values;
* :mod:`~se_plugin.cli.paths`: output paths checked before any work;
* :mod:`~se_plugin.cli.config`: the config ``train.py`` / ``test.py`` run;
* :mod:`~se_plugin.cli.run`: the Runner, ``train`` and ``test``;
* :mod:`~se_plugin.cli.entry`: :func:`run_cli`, a tool's ``main`` with user
  errors as one line and exit 2.

Names are loaded on first use, so a tool that only parses (``--help``) does
not import what preparing or running a config needs.
"""

from se_plugin.lazy import lazy_attributes

__all__, __getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        'parser': (
            'EXIT_USER_ERROR',
            'LAUNCHERS',
            'CfgOptionsAction',
            'ToolArgumentParser',
            'add_run_options',
            'non_negative_int',
            'parse_tool_args',
            'positive_int',
            'tool_parser',
        ),
        'paths': ('check_output_dir', 'check_output_file'),
        'config': (
            'check_checkpoint_file',
            'check_checkpoint_path',
            'check_option_key',
            'load_config',
            'prepare_test_config',
            'prepare_train_config',
        ),
        'run': ('apply_env', 'build_runner', 'format_metrics', 'test', 'train'),
        'entry': ('run_cli',),
        'se_plugin.runtime.errors': ('ConfigError',),
        'se_plugin.runtime.data_checks': ('check_data_roots',),
    },
)
