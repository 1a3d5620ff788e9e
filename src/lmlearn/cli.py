"""The `lmlearn` command line: one subcommand per job, each with a settings dataclass.

Errors meant for users print as one line; a traceback appears only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lmlearn import __version__, config
from lmlearn.errors import LmlearnError

# (words, module): each module defines `Config` (a dataclass) and `main(cfg) -> int`.
COMMANDS = [
    (("pretrain",), "lmlearn.commands.pretrain", "pre-train a model with an objective (clm, ...)"),
    (("finetune",), "lmlearn.commands.finetune", "fine-tune on a task: classify, pair, regress, tag, qa, seq2seq"),
    (("instruct",), "lmlearn.commands.instruct", "instruction-tune a model on chats (alpaca, messages, ShareGPT)"),
    (("reward",), "lmlearn.commands.reward", "train a reward model on preference pairs (chosen vs rejected)"),
    (("dpo",), "lmlearn.commands.dpo", "align a causal LM on preference pairs directly (DPO, IPO, hinge, SimPO)"),
    (("ppo",), "lmlearn.commands.ppo", "align a causal LM with PPO against a reward, with a KL penalty"),
    (("pairs",), "lmlearn.commands.pairs", "preference pairs from a reward: two sampled answers per prompt, ranked"),
    (("rollout",), "lmlearn.commands.rollout", "sample answers from a policy; score them with a reward, KL to a reference"),
    (("distill",), "lmlearn.commands.distill", "distil a teacher into a smaller student (DistilBERT, TinyBERT, KD)"),
    (("generate",), "lmlearn.commands.generate", "generate text from a trained model"),
    (("merge",), "lmlearn.commands.merge", "fold a LoRA or IA3 adapter into its base model"),
    (("evaluate",), "lmlearn.commands.evaluate", "score a model on a YAML task, zero- and few-shot"),
    (("compare",), "lmlearn.commands.compare", "one task through several learning frameworks: one table, one report"),
    (("paired",), "lmlearn.commands.paired", "compare two runs on the same documents (paired bootstrap)"),
    (("tokenizer", "train"), "lmlearn.commands.tokenizer", "train a BPE, WordPiece or Unigram tokenizer"),
    (("flan", "build"), "lmlearn.commands.flan", "build FLAN-style instruction data with a held-out task cluster"),
    (("models",), "lmlearn.commands.models", "list the model presets"),
    (("scaling", "sweep"), "lmlearn.commands.scaling_sweep",
     "pre-train a grid of model sizes x token budgets for a scaling-law fit (resumable)"),
    (("scaling", "fit"), "lmlearn.commands.scaling", "fit a scaling law L(N, D) to measured runs, with intervals"),
    (("recipe", "run"), "lmlearn.commands.recipe", "run a multi-step recipe (translate → instruct → evaluate)"),
    (("tour",), "lmlearn.commands.tour", "run the learning-frameworks tour on built-in data"),
    (("translate",), "lmlearn.commands.translate", "translate an instruction dataset (DeepL, OpenAI API, local model)"),
    (("self-instruct",), "lmlearn.commands.self_instruct",
     "grow instruction data from seed tasks with a model (Self-Instruct, Alpaca), filtered and resumable"),
]


def _chosen(argv: list[str], words: tuple[str, ...]) -> bool:
    """Whether the command line names this command (its words are the first non-flag arguments)."""
    positional = [a for a in argv if not a.startswith("-")]
    return positional[:len(words)] == list(words)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand, with its settings as flags.

    Only the command being run is imported (with argv None, all are): the modules pull in torch and
    transformers, and `lmlearn --help` should not wait seconds for them.
    """
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog="lmlearn", parents=[debug],
                                     description="Teach a language model in any of the ways NLP has invented.")
    parser.add_argument("--version", action="version", version=f"lmlearn {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, module_name, help_text in COMMANDS:
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, parents=[debug], description=help_text)
        else:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(dest="action", metavar="ACTION", required=True)
            sub = groups[words[0]].add_parser(words[1], help=help_text, parents=[debug], description=help_text)
        if argv is None or _chosen(argv, words):
            module = importlib.import_module(module_name)
            config.add_arguments(sub, module.Config)
            sub.set_defaults(_module=module)
    return parser


def _quiet_libraries() -> None:
    """Library chatter (one-time notices, save progress bars) hides what matters in a CLI run."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# The settings that name models; a bare preset name in one gets a note, once per name and process.
_MODEL_SETTINGS = ("model", "models", "teacher", "student")
_noted: set[str] = set()


def _note_bare_presets(cfg: object) -> None:
    from lmlearn.models.presets import PREFIX, bare_preset_names

    for setting in _MODEL_SETTINGS:
        value = getattr(cfg, setting, None)
        for name in bare_preset_names(value) if isinstance(value, str) else []:
            if name not in _noted:
                _noted.add(name)
                print(f"lmlearn: note: --{setting} {name}: bare preset names are deprecated and will mean a Hub "
                      f"model in the next release; write {PREFIX}{name}", file=sys.stderr)


PEAK_RSS_FILE = "LMLEARN_PEAK_RSS_FILE"


def _report_peak_memory() -> None:
    """When a parent asks (`compare` runs each arm as a child process), write this process's own peak resident
    memory to the file it names, at exit. The kernel's rusage cannot say it: a child started by vfork, as
    subprocess starts one, carries its parent's high-water mark across exec, so a large parent sets every child's
    ru_maxrss. /proc/self/status's VmHWM is this process image's alone (Linux; elsewhere ru_maxrss, as before)."""
    path = os.environ.get(PEAK_RSS_FILE)
    if not path:
        return
    import atexit

    def write() -> None:
        import json
        import resource

        try:
            with open("/proc/self/status", encoding="ascii") as f:
                kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            source = "VmHWM"
        except (OSError, StopIteration, ValueError):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            kb, source = (peak // 1024 if sys.platform == "darwin" else peak), "ru_maxrss"
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"peak_rss_mb": round(kb / 1024, 1), "source": source}, f)
        os.replace(tmp, path)

    atexit.register(write)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    _report_peak_memory()
    args = build_parser(argv).parse_args(argv)
    debug = getattr(args, "debug", False)
    module = args._module
    if not debug:
        _quiet_libraries()
    try:
        cfg = config.from_args(module.Config, args)
        _note_bare_presets(cfg)
        return module.main(cfg) or 0
    except LmlearnError as e:
        if debug:
            raise
        print(f"lmlearn: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("lmlearn: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # anything unexpected still gets one line unless --debug
        if debug:
            raise
        print(f"lmlearn: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
