"""cvae: the machinery behind the command-line tools (train.py, plot.py, evaluate.py, ...), beside the
models of `model/`.

Modules, lowest first; a module imports only from those above it in this list (tests/test_imports.py
checks it), and none imports a command-line tool:

  errors        UsageError, UserFacingError: what a user is shown
  files         atomic writes, sha256 checks
  data          ImageSet (uint8 images and labels) and its checksummed cache in data/
  mnist         MNIST and Fashion-MNIST from their first valid source
  owndata       --dataset PATH: image folders and .npz files of one's own
  datasets      the data set a run names, loaded from what its config records
  config        a run's configuration as config.json holds it, and its directory's name
  readme_runs   the README's runs: what make figures trains, what pretrained/ ships
  checkpoints   TensorFlow checkpoints of a model (and optimizer), restored whichever layout they have
  rundir        a run's directory (log/RUN or pretrained/RUN): config, metrics, checkpoints, lock
  generation    uint8 pixels to model input and back; encoding, decoding and drawing in batches
  batches       what training sees: epochs in memory, m2's labelled subset, the fixed test binarization
  training      the training loop
  evaluation    ELBO, importance-sampled NLL, class-consistency and the classifier that judges it
  figures       figure functions: arrays in, one PNG out
  run_figures   the figures of a trained run, by kind (plot.py -m)
  exporting     a run as model.keras and a SavedModel with serving signatures, and the check of one
  explorer      the latent explorer's static site, its server, and the browser driver of its tests
  pretrained    refreshing pretrained/ from log/
  results       the README's results tables, from eval.json files
  cli           what the command-line tools share: flags, opening the run they name, error reporting

TensorFlow is imported inside the modules that compute (generation, batches, training, ...), so that a
tool's --help and a usage error answer before it loads.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: data/, pretrained/, web/, node_modules/
