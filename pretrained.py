"""Weights that ship with the repository, so the README's figures need no training:
`python plot.py cvae_cnn3 -n 2 --pretrained` on a fresh clone. pretrained/RUN/ holds, for the README
runs whose weights are under 1 MB (SHIPPED):

  config.json       the run's configuration, as in log/RUN/ (it rebuilds the model)
  metrics.csv       its numbers per epoch (the learning curve)
  weights.index     a TensorFlow checkpoint of the model's variables and its epoch, keyed by layer and
  weights.data-*    weight name as in log/RUN/ckpt/, without the optimizer's state
  SHA256SUMS        the sha256 of each file above; check by hand with `sha256sum -c SHA256SUMS`

plot.py, evaluate.py, sample.py and export.py read them with --pretrained and refuse a file whose
sha256 differs. `python pretrained.py` (the last step of `make figures`) refreshes them from log/.
"""
import argparse
import shutil
import sys
from pathlib import Path

from cli import HelpFormatter, UsageError, UserFacingError, add_debug_flag, import_tensorflow_quietly, report_errors
from dataset import changed_file, sha256_of
from rundir import DamagedFile, RunDir

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
# The README runs small enough to keep in git: MODEL_N as in log/.
SHIPPED = ("cvae_cnn3_2", "cvae_cnn3_20", "cvae_cnn2_20", "cnn")
MAX_WEIGHT_BYTES = 1_000_000
SUMS = "SHA256SUMS"
WEIGHTS = "weights"  # the checkpoint's prefix: weights.index, weights.data-00000-of-00001


class PretrainedRun(RunDir):
    """A run of pretrained/: read like a run of log/, after every file is checked against SHA256SUMS."""

    def checkpoint_paths(self):
        return [str(self.path / WEIGHTS)] if (self.path / f"{WEIGHTS}.index").exists() else []

    def kept_epochs(self):
        return []

    def verify(self):
        """DamagedFile naming the first file that is missing or whose sha256 is not the recorded one."""
        try:
            lines = (self.path / SUMS).read_text().splitlines()
            recorded = {name: sha for sha, name in (line.split(maxsplit=1) for line in lines if line.strip())}
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise DamagedFile(f"{self.path / SUMS} is missing or damaged ({err})") from err
        for required in ("config.json", f"{WEIGHTS}.index"):
            if required not in recorded:
                raise DamagedFile(f"{self.path / SUMS} lists no {required}")
        wrong = changed_file(self.path, recorded, SUMS)
        if wrong:
            raise DamagedFile(wrong)

    def load_model(self, epoch=None, log=print):
        self.verify()
        return super().load_model(epoch, log)


def shipped_run(name):
    """The PretrainedRun called `name` (MODEL_N); UsageError when the repository ships no such weights."""
    run = PretrainedRun(PRETRAINED_DIR / name)
    if name not in SHIPPED or not run.path.is_dir():
        available = ", ".join(n for n in SHIPPED if (PRETRAINED_DIR / n).is_dir()) or "none"
        raise UsageError(f"no pretrained weights for {name}; {PRETRAINED_DIR.name}/ has: {available}")
    return run


def publish(run_dir: RunDir, out: Path, log=print):
    """Write the weights of run_dir's latest checkpoint, its config and metrics, and SHA256SUMS to `out`.
    Written beside `out` and renamed into place: an interruption leaves the old files whole."""
    import tensorflow as tf
    from rundir import make_checkpoint
    model, config, epoch = run_dir.load_model(log=log)
    if config.subset is not None:
        raise UsageError(f"{run_dir} trained on --subset {config.subset}; only full runs are shipped")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(config.to_json())
    rows = [row for row in run_dir.read_metrics() if row["epoch"] <= epoch]
    RunDir(tmp).write_metrics(rows)
    make_checkpoint(model, epoch=tf.Variable(epoch, dtype=tf.int64)).write(str(tmp / WEIGHTS))
    weight_bytes = sum(p.stat().st_size for p in tmp.glob(f"{WEIGHTS}.*"))
    if weight_bytes > MAX_WEIGHT_BYTES:
        shutil.rmtree(tmp)
        raise UserFacingError(f"{run_dir}'s weights take {weight_bytes / 1e6:.1f} MB, more than the "
                              f"{MAX_WEIGHT_BYTES / 1e6:g} MB a pretrained run may")
    files = sorted(p.name for p in tmp.iterdir())
    (tmp / SUMS).write_text("".join(f"{sha256_of((tmp / name).read_bytes())}  {name}\n" for name in files))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"wrote {out}: epoch {epoch} of {run_dir}, weights {weight_bytes / 1e3:.0f} kB")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=f"Refresh {PRETRAINED_DIR.name}/ (the weights that ship with the repository) from the "
                    f"runs of the same name in LOG_DIR. make figures runs this after training them.",
        formatter_class=HelpFormatter)
    parser.add_argument("runs", nargs="*", metavar="RUN", default=list(SHIPPED),
                        help=f"the runs to refresh (default: all of {', '.join(SHIPPED)})")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    unknown = [run for run in args.runs if run not in SHIPPED]
    if unknown:
        parser.error(f"not a shipped run: {', '.join(unknown)} (choose from {', '.join(SHIPPED)})")
    return args


def refresh(args):
    missing = [run for run in args.runs if RunDir(args.log_dir / run).latest_checkpoint() is None]
    if missing:
        raise UserFacingError(f"no trained run in {', '.join(str(args.log_dir / run) for run in missing)}; "
                              f"make figures trains them")
    for run in args.runs:
        publish(RunDir(args.log_dir / run), PRETRAINED_DIR / run)
    return 0


def main(argv=None):
    args = parse_args(argv)
    import_tensorflow_quietly()
    return report_errors(lambda: refresh(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
