"""The `sedkit` command line.

Groups are declared here; their commands live next to the code they drive and are imported lazily from the
table below ("module:attribute"), so `sedkit --help` stays fast and each area owns its commands.
A command whose module does not exist yet prints "not implemented yet".
"""
from __future__ import annotations

import importlib
import sys

import click

from sedkit import SedkitError, __version__
from sedkit.synth.registry import GENERATORS

# group -> (help, example, {command: ("module:attr", short help)}); a group whose table is a pair is one command.
# The short help lives here so that `sedkit --help` and `sedkit GROUP --help` list commands without importing
# them (torch, scaper and pandas stay unloaded until a command runs or shows its own help).
GROUPS: dict[str, tuple[str, str, dict[str, tuple[str, str]] | tuple[str, str]]] = {
    "soundbank": ("Index, import, make and inspect corpora of source sounds.",
                  "sedkit soundbank import folder ./my_sounds", {
                      "import": ("sedkit.synth.soundbank.commands:import_cmd",
                                 "Index a corpus (folder, desed, esc50, urbansound8k, fsd50k, fsdkaggle2018, "
                                 "tut-scenes) in place."),
                      "info": ("sedkit.synth.soundbank.commands:info_cmd", "Per-class table of a soundbank."),
                      "make": ("sedkit.synth.builtin.commands:make_cmd", "Make the procedural built-in bank."),
                  }),
    "synth": ("Synthesize datasets from a soundbank (built-in bank by default).",
              "sedkit synth waa --segment 1s --out waa_1s", {
                  **{g.name: (g.target, g.help) for g in GENERATORS.values()},
                  "preview-dynamic": ("sedkit.synth.dynamic.commands:preview_cmd",
                                      "Render a few dynamic mixtures to listen to."),
              }),
    "rir": ("Make or import banks of room impulse responses.",
            "sedkit rir make --out rirs --n 50", {
                "make": ("sedkit.synth.rir:make_cmd", "Simulate shoebox RIRs with pyroomacoustics."),
                "import": ("sedkit.synth.rir:import_cmd", "Index a folder of measured RIRs."),
            }),
    "dataset": ("Check, verify, show info of and export dataset folders; DESED's real sets as a data dir.",
                "sedkit dataset check ./waa_1s", {
                    "check": ("sedkit.synth.dataset:check_cmd",
                              "Verify a dataset folder against its manifest (sha256 of every file)."),
                    "verify": ("sedkit.synth.verify:verify_cmd",
                               "Make clips again from their JAMS and the soundbank; name every clip that differs."),
                    "info": ("sedkit.synth.dataset_info:info_cmd",
                             "Statistics of a dataset: per split and class, polyphony, SNR, label weakness."),
                    "export": ("sedkit.synth.export.commands:export_cmd",
                               "Export for other researchers: hf, webdataset or zenodo, with Croissant metadata."),
                    "import-desed": ("sedkit.synth.desed_real:import_desed_cmd",
                                     "Make a data dir of DESED's real sets (weak, unlabel, validation, eval)."),
                }),
    "train": ("Train a baseline model on a dataset folder.",
              "sedkit train classifier --data waa_1s --out runs/clf", ("sedkit.baselines.commands:train_cmd", "")),
    "eval": ("Evaluate a trained model or a score folder; compare two systems with a paired bootstrap.",
             "sedkit eval runs/clf --data waa_1s", {
                 "run": ("sedkit.baselines.commands:eval_cmd",
                         "Evaluate a run or a score folder (the default: sedkit eval RUN --data DIR)."),
                 "compare": ("sedkit.baselines.commands:compare_cmd",
                             "Is B better than A on the same clips? Paired, seed-aware bootstrap."),
             }),
    "bench": ("Run paper-replication benchmark suites and throughput benchmarks.",
              "sedkit bench run waa --scale small", {
                  "run": ("sedkit.benchmarks.commands:run_cmd", "Run benchmark suites and write their report."),
                  "report": ("sedkit.benchmarks.commands:report_cmd", "Rewrite the report of a benchmark folder."),
                  "perf": ("sedkit.benchmarks.commands:perf_cmd", "Run the throughput benchmarks."),
              }),
}
DEFAULTS = {"eval": "run"}  # the command of a group that runs when its first argument names none


def _load(target: str):
    module, attr = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            return None  # the module itself does not exist yet
        raise
    return getattr(mod, attr, None)


def _placeholder(name: str, example: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True},
                   help=f"Not implemented yet.\n\nExample: {example}")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args):
        raise SedkitError(f"'{name}' is not implemented yet")

    return cmd


class LazyCommand(click.Command):
    """A command listed by name and short help; its module is imported only when it runs or shows its help."""

    def __init__(self, name: str, target: str, short_help: str, example: str):
        super().__init__(name=name, short_help=short_help, help=short_help)
        self._target, self._example = target, example

    def real(self) -> click.Command:
        return _load(self._target) or _placeholder(self.name, self._example)

    def make_context(self, info_name, args, parent=None, **extra):
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        return self.real().invoke(ctx)


class LazyGroup(click.Group):
    """A group whose commands load lazily. ``default``: the command that runs when the first argument names none
    (``sedkit eval RUN ...`` is ``sedkit eval run RUN ...``)."""

    def __init__(self, *a, table: dict[str, str], example: str, default: str | None = None, **kw):
        super().__init__(*a, **kw)
        self._table = table
        self._example = example
        self._default = default

    def parse_args(self, ctx, args):
        if self._default and args and args[0] not in self._table and args[0] not in ctx.help_option_names:
            args = [self._default, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        return sorted(self._table)

    def get_command(self, ctx, name):
        if name not in self._table:
            return None
        target, short = self._table[name]
        return LazyCommand(name, target, short, f"sedkit {self.name} {name} --help")


def os_error_line(e: OSError) -> str:
    """A file-system error as one line: the path, what went wrong, and what to do for a full disk."""
    import errno

    where = e.filename if e.filename is not None else "sedkit"
    text = f"{where}: {e.strerror or e}"
    if e.errno == errno.ENOSPC:
        text += " (no space left; what was written so far is kept: free some space and run again with --resume)"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        text += " (choose an --out where you can write)"
    return text


class OneLineError(click.ClickException):
    """A SedkitError as the CLI shows it: one line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"sedkit: error: {self.format_message()}", err=True)


class Root(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Bad flags and values are one line too (``sedkit: error: sedkit synth waa: Invalid value for ...``), exit
        code 2, instead of click's usage block."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "sedkit"
            click.echo(f"sedkit: error: {where}: {e.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SedkitError as e:
            if ctx.params.get("debug"):
                raise
            raise OneLineError(str(e)) from None
        except OSError as e:  # the file system said no (not a folder, read-only, full disk, a symlink loop ...)
            if ctx.params.get("debug") or e.errno is None:
                raise
            raise OneLineError(os_error_line(e)) from None
        except KeyboardInterrupt:
            raise click.exceptions.Abort() from None

    def list_commands(self, ctx):
        return list(GROUPS)

    def get_command(self, ctx, name):
        if name not in GROUPS:
            return None
        help_, example, table = GROUPS[name]
        if isinstance(table, tuple):
            return LazyCommand(name, table[0], help_, example)
        return LazyGroup(name=name, table=table, example=example, help=f"{help_}\n\nExample: {example}",
                         default=DEFAULTS.get(name))


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]},
             help="sedkit: controlled datasets and paper baselines for weakly-labelled sound event detection.\n\n"
                  "Example: sedkit synth waa --segment 1s")
@click.version_option(__version__, prog_name="sedkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def root(ctx, debug):
    ctx.ensure_object(dict)["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    root.main(args=argv, prog_name="sedkit")


if __name__ == "__main__":
    main()
