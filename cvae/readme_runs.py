"""The README's runs, listed once: what `make figures` trains and plots into img/, which of them ship their
weights in pretrained/, and what bench.explorer measures.

    python -m cvae.readme_runs                # the commands of `make figures`, one a line
    python -m cvae.readme_runs --epochs 1     # the same with every run trained for one epoch (a quick check)
"""
import argparse
import dataclasses
import shlex
import sys

from cvae.config import RunIdentity


@dataclasses.dataclass(frozen=True)
class ReadmeRun:
    identity: RunIdentity
    epochs: int
    shipped: bool = False  # its weights are small enough to ship in pretrained/ (under 1 MB)
    confusion: bool = False  # the README shows its confusion figure (plot.py -m confusion, both samplers)
    figures: bool = True  # plotted into img/; False for a row the README shows no figure of (a baseline's)
    # A data set of one's own, by its path and the command that makes it (the identity's dataset is then only
    # a stand-in: the real name holds the file's hash).
    dataset_path: str = None
    make_dataset: tuple = ()
    training_flags: tuple = ()  # train.py's settings other than the defaults, beside -e (-l, --schedule, ...)

    @property
    def name(self):
        return self.identity.directory_name()

    def flags(self):
        """The flags that name it, as train.py and plot.py take them."""
        return self.identity.flags(self.dataset_path)


FIGURE_RUNS = (
    ReadmeRun(RunIdentity("cvae_cnn3", 2), 50, shipped=True),
    ReadmeRun(RunIdentity("cvae_cnn3", 20), 50, shipped=True, confusion=True),
    ReadmeRun(RunIdentity("cvae_fc3", 2), 50),
    ReadmeRun(RunIdentity("cvae_fc3", 20), 50, confusion=True),
    ReadmeRun(RunIdentity("cvae_cnn2", 20), 50, shipped=True, confusion=True),
    ReadmeRun(RunIdentity("vae", 2), 50),
    ReadmeRun(RunIdentity("vae", 20), 50),
    ReadmeRun(RunIdentity("cnn"), 20, shipped=True),
    ReadmeRun(RunIdentity("m2", 50, labels=100), 30),
    ReadmeRun(RunIdentity("cvae_fc3", 20, dataset="fashion_mnist"), 50, confusion=True),
    # Trained with XLA, the default for the IWAE models when it ran (since then --no-xla, 1.7x faster here).
    ReadmeRun(RunIdentity("cvae_fc3_iwae", 50, binarize=True), 100, training_flags=("--xla",)),
    ReadmeRun(RunIdentity("iwae", 50, binarize=True), 100),
    ReadmeRun(RunIdentity("vamp", 50, binarize=True), 100),
    ReadmeRun(RunIdentity("vamp", 50, binarize=True, options={"pseudo_inputs": 100}), 135),
    ReadmeRun(RunIdentity("cvae_fc3_vamp", 50, binarize=True), 100),
    ReadmeRun(RunIdentity("cvae_cnn3", 20, dataset="colour_mnist", likelihood="logistic"), 30, confusion=True,
              dataset_path="data/colour_mnist.npz", make_dataset=("-m", "cvae.colour_mnist", "data/colour_mnist.npz")),
    ReadmeRun(RunIdentity("cvae_resnet", 20, dataset="colour_mnist", likelihood="mixture"), 20, confusion=True,
              dataset_path="data/colour_mnist.npz", training_flags=("--schedule", "cosine")),
    # The mixture with the VampPrior, tried for the NLL and the pictures at once (a row, no figures: docs/colour.md).
    ReadmeRun(RunIdentity("cvae_resnet_vamp", 20, dataset="colour_mnist", likelihood="mixture",
                          options={"pseudo_inputs": 100}), 20, figures=False,
              dataset_path="data/colour_mnist.npz", training_flags=("--schedule", "cosine")),
    # What docs/colour.md recommends for colour: the default Bernoulli likelihood.
    ReadmeRun(RunIdentity("cvae_resnet", 20, dataset="colour_mnist"), 20, confusion=True,
              dataset_path="data/colour_mnist.npz", training_flags=("--schedule", "cosine")),
    ReadmeRun(RunIdentity("cvae_fc3", 20, dataset="colour_mnist"), 30, confusion=True,
              dataset_path="data/colour_mnist.npz", training_flags=("--schedule", "cosine")),
    # The same layers with a learned prior (the VampPrior), 10 pseudo-inputs a class: 1.5x cvae_resnet's step.
    ReadmeRun(RunIdentity("cvae_resnet_vamp", 20, dataset="colour_mnist", options={"pseudo_inputs": 100}), 20,
              confusion=True, dataset_path="data/colour_mnist.npz", training_flags=("--schedule", "cosine")),
    # The second colour set, real drawings at 64 x 64 (cvae/emoji.py), with the colour recommendation: 1,619 images
    # are 17 steps an epoch, so 200 epochs (3,400 steps; colour MNIST's 20 epochs are 12,000 of a quarter the size).
    ReadmeRun(RunIdentity("cvae_resnet", 20, dataset="emoji"), 200, confusion=True,
              dataset_path="data/emoji.npz", make_dataset=("-m", "cvae.emoji", "data/emoji.npz"),
              training_flags=("--schedule", "cosine")),
    # The same layers with the VampPrior, half the epochs (its step is 1.5x, and the session's time was short).
    ReadmeRun(RunIdentity("cvae_resnet_vamp", 20, dataset="emoji", options={"pseudo_inputs": 100}), 100,
              confusion=True, dataset_path="data/emoji.npz", training_flags=("--schedule", "cosine")),
    # Beside it, the same epochs of the earlier colour recommendation and of the seed's dense model (rows, no figures).
    ReadmeRun(RunIdentity("cvae_cnn3", 20, dataset="emoji", likelihood="logistic"), 200, figures=False,
              dataset_path="data/emoji.npz"),
    ReadmeRun(RunIdentity("cvae_fc3", 20, dataset="emoji"), 200, figures=False, dataset_path="data/emoji.npz",
              training_flags=("--schedule", "cosine")),
)
SHIPPED = tuple(run.name for run in FIGURE_RUNS if run.shipped)


def figure_commands(python="python", epochs=None):
    """make figures, as argv lists: each run trained from scratch (for `epochs` instead of its own, if given)
    and plotted into img/ (the conditional ones with the fitted sampler's samples too); the confusion figures,
    once the classifier that reads them is trained; then pretrained/ refreshed from log/, and the explorer's
    screenshot taken (which needs `npm ci` and Debian's chromium)."""
    # here: importing it loads TensorFlow, which --help and the tests' lists need not (quietly: these are commands)
    from cvae import import_tensorflow_quietly
    import_tensorflow_quietly()
    from model.registry import model_class
    commands = []
    for run in FIGURE_RUNS:
        if run.make_dataset:
            commands.append([python, *run.make_dataset])
        commands.append([python, "train.py", *run.flags(), "-e", str(epochs or run.epochs), *run.training_flags,
                         "--restart"])
        sampler = ["--sampler", "gmm"] if model_class(run.identity.model).conditional else []  # gen_rand's samples
        if run.figures:
            commands.append([python, "plot.py", *run.flags(), "--figure-dir", "img", *sampler])
    for run in FIGURE_RUNS:
        if run.confusion:
            commands.append([python, "plot.py", *run.flags(), "-m", "confusion", "--figure-dir", "img"])
    commands.append([python, "pretrained.py"])
    commands.append([python, "-m", "bench.explorer", "--screenshot", "img/explorer.png"])
    return commands


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="python", help="the interpreter the commands call")
    parser.add_argument("--epochs", type=int, default=None, help="train every run for this many epochs instead")
    args = parser.parse_args(argv)
    for command in figure_commands(args.python, args.epochs):
        print(shlex.join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
