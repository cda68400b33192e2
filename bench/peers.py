"""train.py beside what a user would write instead, on this machine: images/s, one table.

    python -m bench.peers                                  # every model, 3 rounds
    python -m bench.peers --models cvae_fc3 --rounds 1

train.py runs as it is by default (which compiles vae's and cvae_fc3's step with XLA, the others' not), with
--xla, and with --precision bf16 (the last column takes the best of the three). Peers (the same layers and
loss, batch 100, n = 20, Adam at 1e-3), each trained for 4 epochs, timed over epochs 2-4:
  keras fit        a keras.Model whose train_step computes the loss, trained with model.fit (the keras-io
                   VAE example's way), Keras' default jit_compile
  tf.function      a @tf.function step over a shuffled, batched tf.data pipeline (TensorFlow's CVAE
                   tutorial's way); and the same step with jit_compile=True (XLA)
  torch            the layers in PyTorch, eager, torch.optim.Adam(fused=True); and under torch.compile.
                   Needs `pip install -r bench/requirements-peers.txt`; the row says "not installed" otherwise
TensorFlow's peers use this repository's layers written the straightforward way (the label concatenated
to the image as channels, Keras' general convolutions: bench/throughput.py's reference step). Peers train
on synthetic MNIST-shaped data (20,000 images); train.py trains on MNIST, its epochs timed between its
progress lines as bench/throughput.py does. cvae_resnet, the colour model, is timed on what it is made for:
synthetic 32 x 32 x 3 images (5,000, as its step is 20 times cvae_cnn3's), Bernoulli (its default), with
train.py given them as an .npz (--dataset) and its epochs 2-4 timed by metrics.csv's seconds (the training
loop's time, as the peers' is). Every measurement is its own process; the variants alternate within each
round, and the table shows each one's median over the rounds.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
import types

from cvae import import_tensorflow_quietly
from cvae.cli import positive_int

MODELS = ("vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "cnn", "cvae_resnet")  # what the peers can express (not m2)
# train.py's own settings: its default (XLA for vae and cvae_fc3), --xla, and --precision bf16 (with the default XLA).
OURS = ("train.py", "train.py --xla", "train.py bf16")
VARIANTS = (*OURS, "keras fit", "tf.function", "tf.function+XLA", "torch eager", "torch.compile")
BATCH, LATENT, IMAGES, EPOCHS = 100, 20, 20000, 4
# A model timed on other images than MNIST's: (shape, how many).
OWN_IMAGES = {"cvae_resnet": ((32, 32, 3), 5000)}


def images_for(name):
    """(image shape, images an epoch) that `name` is timed on."""
    return OWN_IMAGES.get(name, ((28, 28, 1), IMAGES))


def epochs_rate(run_epoch, images_per_epoch):
    """images/s over epochs 2-4 of run_epoch() (the first compiles and warms up)."""
    run_epoch()
    began = time.perf_counter()
    for _ in range(EPOCHS - 1):
        run_epoch()
    return (EPOCHS - 1) * images_per_epoch / (time.perf_counter() - began)


def synthetic(name):
    import numpy as np
    shape, images = images_for(name)
    rng = np.random.default_rng(0)
    return rng.random((images, *shape), np.float32), rng.integers(0, 10, images).astype(np.int32)


def straightforward_network(name):
    """The model's layers, with a ConvCVAE's (and cvae_resnet's) label channels concatenated and Keras' general
    convolutions."""
    from bench.throughput import build_for_training, features_with_label_channels, use_keras_convolutions
    from model.base import ConvCVAE
    if name in OWN_IMAGES:
        import keras
        from model.registry import build_model
        keras.utils.set_random_seed(0)
        network = build_model(name, LATENT, 0, 10, images_for(name)[0])
        network.features = types.MethodType(resnet_features_with_label_channels, network)
        return network
    network, _ = build_for_training(name)
    if isinstance(network, ConvCVAE):
        network.features = types.MethodType(features_with_label_channels, network)
        use_keras_convolutions(network)
    return network


def resnet_features_with_label_channels(network, x, y_onehot, training=False):
    """cvae_resnet's encoder with the label's channels concatenated to the image (its own convolves them apart)."""
    from model.base import with_label_channels
    from model.blocks import ACTIVATION
    h = network.stem(with_label_channels(x, y_onehot))
    for layer in network.encoder_blocks:
        h = layer(h)
    return network.encoder_flatten(ACTIVATION(h))


def train_py_rate(name, xla=None, precision="fp32"):
    if name in OWN_IMAGES:
        return train_py_rate_on_npz(name, xla, precision)
    import tempfile
    from pathlib import Path

    from cvae import training
    from bench.throughput import EpochClock
    from cvae.config import RunIdentity, TrainingSettings
    from cvae.rundir import RunDir
    from model.registry import model_class
    with tempfile.TemporaryDirectory() as log_dir:
        stamps, stdout = EpochClock(), sys.stdout
        sys.stdout = stamps
        try:
            latent_dim = LATENT if model_class(name).has_latent_space else None
            training.train(RunIdentity(name, latent_dim), TrainingSettings(epochs=EPOCHS, xla=xla, precision=precision),
                           RunDir(Path(log_dir) / "run"))
        finally:
            sys.stdout = stdout
        last = RunDir(Path(log_dir) / "run").read_metrics()[-1]
    return (EPOCHS - 1) * last["images_per_s"] * last["seconds"] / (stamps.times[-1] - stamps.times[0])


def train_py_rate_on_npz(name, xla, precision):
    """images/s of `python train.py NAME -n 20 -e 4` on synthetic images (an .npz of the model's shape), from
    metrics.csv's training seconds of epochs 2-4."""
    import csv
    import tempfile
    from pathlib import Path

    from bench.shapes import write_synthetic_npz
    shape, images = images_for(name)
    with tempfile.TemporaryDirectory() as folder:
        npz = write_synthetic_npz(Path(folder) / "synthetic.npz", shape, images, 1000)
        flags = (["--xla"] if xla else []) + (["--precision", precision] if precision != "fp32" else [])
        subprocess.run([sys.executable, "train.py", name, "-n", str(LATENT), "-e", str(EPOCHS), *flags,
                        "--dataset", str(npz), "--data-dir", folder, "--log-dir", folder],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        (metrics,) = Path(folder).glob("*/metrics.csv")
        rows = list(csv.DictReader(metrics.open()))[1:]
    return len(rows) * images / sum(float(row["seconds"]) for row in rows)


def keras_fit_rate(name):
    import keras
    import tensorflow as tf
    network = straightforward_network(name)

    class Fit(keras.Model):
        def __init__(self):
            super().__init__()
            self.network = network

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = self.network.compute_losses(x, y, training=True)["loss"]
            variables = self.network.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            return {"loss": loss}

    model = Fit()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x, y = synthetic(name)
    return epochs_rate(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0), len(x))


def tf_function_rate(name, xla):
    import keras
    import tensorflow as tf
    network = straightforward_network(name)
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function(jit_compile=xla)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = network.compute_losses(x, y, training=True)["loss"]
        optimizer.apply(tape.gradient(loss, network.trainable_variables), network.trainable_variables)
        return loss

    x, y = synthetic(name)
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(BATCH)
    return epochs_rate(lambda: [step(x, y) for x, y in data], len(x))


def torch_network(name):
    """The model's layers in PyTorch, as a user would write them: (module, loss(x, y) -> batch mean)."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    classes = 10

    def same(k, s, size):  # TensorFlow's SAME padding of a strided convolution, as (left, right, top, bottom)
        total = max((-(-size // s) - 1) * s + k - size, 0)
        return (total // 2, total - total // 2) * 2

    def negative_elbo(x, logits, mean, log_var):
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = -0.5 * (1 + log_var - mean ** 2 - log_var.exp()).sum(1)
        return (reconstruction + kl).mean()

    class Dense(nn.Module):  # vae, cvae_fc3
        def __init__(self, label):
            super().__init__()
            self.label = label
            extra = classes if label else 0
            self.encoder = nn.Sequential(nn.Linear(784 + extra, 500), nn.Softplus(), nn.Linear(500, 500), nn.Softplus(),
                                         nn.Linear(500, 2 * LATENT))
            self.decoder = nn.Sequential(nn.Linear(LATENT + extra, 500), nn.Softplus(), nn.Linear(500, 500),
                                         nn.Softplus(), nn.Linear(500, 784))

        def forward(self, x, y):
            onehot = F.one_hot(y, classes).float()
            h = torch.cat([x.flatten(1), onehot], 1) if self.label else x.flatten(1)
            mean, log_var = self.encoder(h).chunk(2, 1)
            z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
            logits = self.decoder(torch.cat([z, onehot], 1) if self.label else z)
            return negative_elbo(x.flatten(1), logits, mean, log_var)

    class Conv(nn.Module):  # cvae_cnn2, cvae_cnn3: the label as 10 more input channels
        def __init__(self, three):
            super().__init__()
            self.three = three
            if three:
                self.encoder = nn.ModuleList([nn.Conv2d(11, 16, 6, 3), nn.Conv2d(16, 32, 4, 3), nn.Conv2d(32, 64, 2, 2)])
                self.pads, features, self.start = [same(6, 3, 28), same(4, 3, 10), (0,) * 4], 256, (64, 2, 2)
                self.decoder = nn.ModuleList([nn.ConvTranspose2d(64, 32, 2, 2), nn.ConvTranspose2d(32, 16, 3, 3),
                                              nn.ConvTranspose2d(16, 1, 4, 4)])
            else:
                self.encoder = nn.ModuleList([nn.Conv2d(11, 16, 5, 2), nn.Conv2d(16, 32, 5, 2)])
                self.pads, features, self.start = [(0,) * 4] * 2, 512, (8, 7, 7)
                self.decoder = nn.ModuleList([nn.ConvTranspose2d(8, 8, 5, 2, padding=2, output_padding=1),
                                              nn.ConvTranspose2d(8, 1, 5, 2, padding=2, output_padding=1)])
            self.to_code = nn.Linear(features, 2 * LATENT)
            self.from_code = nn.Linear(LATENT + classes, self.start[0] * self.start[1] * self.start[2])

        def forward(self, x, y):
            onehot = F.one_hot(y, classes).float()
            h = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, 28, 28)], 1)
            for conv, pad in zip(self.encoder, self.pads):
                h = F.relu(conv(F.pad(h, pad)))
            mean, log_var = self.to_code(h.flatten(1)).chunk(2, 1)
            z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
            h = F.relu(self.from_code(torch.cat([z, onehot], 1))).view(-1, *self.start)
            for i, deconv in enumerate(self.decoder):
                h = deconv(h)
                if i < len(self.decoder) - 1:
                    h = F.relu(h)
                    if self.three:  # the crops to 3x3 and 7x7
                        h = h[:, :, :3, :3] if i == 0 else h[:, :, 1:-1, 1:-1]
            return negative_elbo(x, h, mean, log_var)

    class Classifier(nn.Module):  # cnn
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv2d(a, b, 4) for a, b in ((1, 8), (8, 16), (16, 32), (32, 64))])
            self.out = nn.Linear(64 * 2 * 2, classes)

        def forward(self, x, y):
            h = x
            for conv in self.convs:
                h = F.dropout(F.relu(F.max_pool2d(conv(F.pad(h, (1, 2, 1, 2))), 2, ceil_mode=True)), 0.2, self.training)
            return F.cross_entropy(self.out(h.flatten(1)), y)

    class Block(nn.Module):  # cvae_resnet's ResidualBlock
        def __init__(self, width):
            super().__init__()
            self.first, self.second = nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)

        def forward(self, h):
            return h + self.second(F.silu(self.first(F.silu(h))))

    class Resnet(nn.Module):  # cvae_resnet at 32 x 32 x 3 (model/cvae_resnet.py), Bernoulli
        def __init__(self):
            super().__init__()
            widths, code = (16, 32, 64, 64), LATENT + classes
            self.stem = nn.Conv2d(3 + classes, widths[0], 3, padding=1)
            encoder = [Block(widths[0])]
            for before, width in zip(widths, widths[1:]):
                encoder += [nn.Conv2d(before, width, 3, stride=2, padding=1), Block(width)]
            self.encoder = nn.Sequential(*encoder)
            self.to_code = nn.Linear(4 * 4 * widths[-1], 2 * LATENT)
            self.dense = nn.Linear(code, 4 * 4 * widths[-1])
            stages = widths[::-1]  # 64, 64, 32, 16
            self.ups = nn.ModuleList([nn.Conv2d(before, width, 3, padding=1) for before, width in zip(stages, stages[1:])])
            self.codes = nn.ModuleList([nn.Linear(code, width) for width in stages])
            self.blocks = nn.ModuleList([Block(width) for width in stages])
            self.out = nn.Conv2d(widths[0], 3, 3, padding=1)

        def forward(self, x, y):
            onehot = F.one_hot(y, classes).float()
            h = F.silu(self.stem(torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)))
            mean, log_var = self.to_code(F.silu(self.encoder(h)).flatten(1)).chunk(2, 1)
            z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
            code = torch.cat([z, onehot], 1)
            h = F.silu(self.dense(code)).view(-1, 64, 4, 4)
            for stage, (code_map, block) in enumerate(zip(self.codes, self.blocks)):
                if stage:
                    h = self.ups[stage - 1](F.interpolate(h, scale_factor=2, mode="nearest"))
                h = block(h + code_map(code)[:, :, None, None])
            return negative_elbo(x.flatten(1), self.out(F.silu(h)).flatten(1), mean, log_var)

    return {"vae": lambda: Dense(False), "cvae_fc3": lambda: Dense(True), "cvae_cnn2": lambda: Conv(False),
            "cvae_cnn3": lambda: Conv(True), "cnn": Classifier, "cvae_resnet": Resnet}[name]()


def torch_rate(name, compiled):
    import torch
    torch.manual_seed(0)
    model = torch_network(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    forward = torch.compile(model) if compiled else model
    images, labels = (torch.from_numpy(a) for a in synthetic(name))
    images = images.permute(0, 3, 1, 2).contiguous()
    labels = labels.long()
    count = len(images)

    def run_epoch():
        order = torch.randperm(count)
        for start in range(0, count, BATCH):
            rows = order[start:start + BATCH]
            loss = forward(images[rows], labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return epochs_rate(run_epoch, count)


def measure(variant, name):
    if variant.startswith("torch"):
        try:
            import torch  # noqa: F401
        except ImportError:
            return None
        return torch_rate(name, compiled=variant == "torch.compile")
    import_tensorflow_quietly()
    if variant in OURS:
        return train_py_rate(name, xla=True if variant.endswith("--xla") else None,
                             precision="bf16" if variant.endswith("bf16") else "fp32")
    if variant == "keras fit":
        return keras_fit_rate(name)
    return tf_function_rate(name, xla=variant.endswith("XLA"))


def run_in_process(variant, name):
    """images/s of one measurement in a fresh process; None when torch is missing; "failed" (with stderr)."""
    result = subprocess.run([sys.executable, "-m", "bench.peers", "--measure", variant, name],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  {variant} {name} failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}",
              file=sys.stderr)
        return "failed"
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("VARIANT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    rates = {(variant, name): [] for variant in args.variants for name in args.models}
    for round_number in range(args.rounds):
        # Alternate: every variant of a model runs before the next round, in a rotating order.
        for name in args.models:
            order = args.variants[round_number % len(args.variants):] + args.variants[:round_number % len(args.variants)]
            for variant in order:
                rates[variant, name].append(run_in_process(variant, name))
                print(f"round {round_number + 1}: {name}, {variant}: {rates[variant, name][-1]}", file=sys.stderr)
    print(f"| model | {' | '.join(args.variants)} | train.py / best peer | best train.py setting / best peer |")
    print("|---|" + "---|" * (len(args.variants) + 2))
    for name in args.models:
        cells, medians = [], {}
        for variant in args.variants:
            numbers = [r for r in rates[variant, name] if isinstance(r, float)]
            if numbers:
                medians[variant] = statistics.median(numbers)
                cells.append(f"{medians[variant]:,.0f}")
            else:
                cells.append("not installed" if None in rates[variant, name] else "failed")
        peers = [rate for variant, rate in medians.items() if variant not in OURS]
        ours = [rate for variant, rate in medians.items() if variant in OURS]
        ratio = f"{medians['train.py'] / max(peers):.2f}x" if "train.py" in medians and peers else "n/a"
        best = f"{max(ours) / max(peers):.2f}x" if ours and peers else "n/a"
        print(f"| {name} | {' | '.join(cells)} | {ratio} | {best} |")


if __name__ == "__main__":
    main()
