"""The base classes: `BaseModel` is what training needs from every model; `VAE` adds the VAE machinery.

Shapes throughout: x [B, H, W, C] float32 in [0, 1] (MNIST: [B, 28, 28, 1]); y [B] int32 class labels in
[0, classes); z [B, latent_dim]. `classes` is 10 for MNIST and Fashion-MNIST and `image_shape` (H, W, C) is
(28, 28, 1); a data set of one's own sets both.
"""
import keras
import tensorflow as tf

from model import DEFAULT_LIKELIHOOD, IMAGE_SHAPE, OPTIONS, likelihood_refusal
from model.likelihoods import LIKELIHOODS
from model.losses import gaussian_log_density
from model.priors import StandardNormal

NUM_CLASSES = 10  # MNIST's and Fashion-MNIST's; the default of every model's `classes`
# The dtype of the layers that give a distribution's parameters (q(z | x, y), p(x | z, y), class logits):
# float32 even when the others compute in bfloat16 (train.py --precision bf16), so the losses, the noise
# and z stay float32. Under the default float32 policy it changes nothing.
PARAMETERS_DTYPE = "float32"


class BaseModel(keras.Model):
    """A model that train.py can train: it maps a labelled batch to named batch-mean losses.

    Its class attributes say what it is and can do; callers ask them rather than check names.
    """

    has_latent_space = False  # encode(x, y) -> q(z | x, y), decode(z, y) -> p(x | z, y); -n sets its size
    conditional = False  # generates given a class label
    semi_supervised = False  # trains on partly labelled data (train.py --labels); UNLABELLED marks the rest
    classifies = False  # classify(x) -> class logits
    # Whether train.py compiles its training step with XLA unless told (--xla / --no-xla). Where XLA
    # wins is measured per model in bench/README.md: the fully connected models turn it on.
    xla_by_default = False
    # Whether compute_losses takes kl_weight, the weight of its KL term while training (train.py --kl-warmup).
    weighs_kl = False

    def __init__(self, latent_dim, seed=0, classes=NUM_CLASSES, image_shape=IMAGE_SHAPE, **kwargs):
        options = {name: kwargs.pop(name) for name in OPTIONS if name in kwargs}
        super().__init__(**kwargs)
        for name, value in options.items():  # model.OPTIONS: numbers the model declares with their defaults
            if name not in self.options():
                raise ValueError(f"{type(self).__name__} takes no {OPTIONS[name].flag}")
            setattr(self, name, int(value))
        self.latent_dim = latent_dim
        self.seed = seed
        self.classes = classes
        self.image_shape = tuple(int(size) for size in image_shape)
        try:
            self.check_options({name: getattr(self, name) for name in self.options()}, classes)
            self.check_image_shape(self.image_shape)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__} {err}") from None

    @classmethod
    def options(cls):
        """The names of the model.OPTIONS it takes (as class attributes holding their defaults)."""
        return [name for name in OPTIONS if hasattr(cls, name)]

    @classmethod
    def check_options(cls, options, classes):
        """ValueError, in one line, for values of its options ({name: value}) its layers cannot take with
        `classes` classes; the range of each is model.OPTIONS'."""

    @classmethod
    def image_sizes(cls):
        """The square sizes S (S x S images, any channels) the model's layers can take; None: any size."""
        return None

    @classmethod
    def check_image_shape(cls, shape):
        """ValueError, in one line listing the sizes the model takes, for an image shape its layers cannot."""
        sizes = cls.image_sizes()
        height, width, _ = shape
        if sizes is not None and (height != width or height not in sizes):
            raise ValueError(f"cannot take {height} x {width} images; it takes square images of "
                             f"{describe_sizes(sizes)} pixels a side (train with --image-size S)")

    def get_config(self):
        """The constructor's arguments: from_config (Keras' default, cls(**config)) rebuilds the model."""
        return {"name": self.name, "latent_dim": self.latent_dim, "seed": self.seed, "classes": self.classes,
                "image_shape": list(self.image_shape), **{name: getattr(self, name) for name in self.options()}}

    def get_build_config(self):
        # Non-empty, so that keras.saving.load_model calls build_from_config before loading the weights.
        return {"built_by": "build_weights"}

    def build_from_config(self, config):
        self.build_weights()

    def compute_losses(self, x, y, training=False):
        """Dict of scalar batch means; training minimizes "loss". A model that `weighs_kl` takes kl_weight too."""
        raise NotImplementedError

    def variable_names(self):
        """A name for each of self.variables, in order, saying what it is: "layer/weight" (every layer is
        named in its model file, so the names are the same in every process). A Dropout's noise state,
        which Keras names per process (seed_generator_7), is named after its layer instead."""
        owned = {}

        def visit(layer):
            for sublayer in getattr(layer, "layers", ()):
                visit(sublayer)
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                owned[id(generator.state)] = f"{layer.name}/seed_generator_state"

        visit(self)
        names = [owned.get(id(variable), variable.path) for variable in self.variables]
        assert len(set(names)) == len(names), f"{type(self).__name__} has variables of the same name"
        return names

    def derived_metrics(self, means):
        """Metrics computed from the batch-mean losses `means` of a whole pass (train.py adds them to each
        epoch's test row): none by default."""
        return {}

    def train_step(self, data):
        """Keras' fit(x, y): one step on this model's own loss, as train.py's step takes it (compile() needs an
        optimizer and no loss: `model.compile(optimizer="adam"); model.fit(x, y)`). x: images [B, H, W, C] in
        [0, 1], or uint8 levels; y: class labels [B]. Returns the batch's losses, which fit() logs."""
        x, y = fit_batch(data)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, y, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return losses

    def test_step(self, data):
        """Keras' evaluate(x, y) and fit's validation: the losses of a batch, in inference mode."""
        return self.compute_losses(*fit_batch(data), training=False)

    def build_weights(self):
        """Create every weight by running one dummy batch: checkpoints restore only into existing weights."""
        self.compute_losses(tf.zeros((1,) + self.image_shape), tf.zeros([1], tf.int32))
        self.built = True
        return self


class VAEBase(BaseModel):
    """A (conditional) VAE: q(z | x, y) = N(mean, exp(log_var)), p(z) `self.prior` (model.priors: N(0, I)), and
    p(x | z, y) `self.likelihood` (model.likelihoods, by the name `likelihood`: Bernoulli by default, or the
    discretized logistic), independent over sub-pixels. The decoder gives `decoder_channels` numbers per pixel,
    as many as the likelihood takes.

    A subclass gives only its layers: `features(x, y_onehot, training) -> [B, F]` for the encoder and
    `decoder_parameters(z, y_onehot, training) -> [B, H, W, decoder_channels]` for the decoder, the likelihood's
    parameters (Bernoulli logits, logistic locations and log-scales, ...). To be drawn by the latent explorer in
    a browser it declares `decoder_layers`, the Keras layers `decoder_parameters` runs in order. Unconditional
    models ignore y_onehot. Everything else (the ELBO, the importance weights of the NLL,
    generating, reconstructing) is here, and the tools ask the model for it.
    """

    has_latent_space = True
    conditional = True
    weighs_kl = True
    mixture_components = OPTIONS["mixture_components"].default  # the mixture likelihood's K (--mixture-components)

    def __init__(self, latent_dim, seed=0, likelihood=DEFAULT_LIKELIHOOD, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood {likelihood!r}: one of {', '.join(LIKELIHOODS)}")
        kind = LIKELIHOODS[likelihood]
        for name in self.options():
            refusal = likelihood_refusal(name, getattr(self, name), likelihood)
            if refusal is not None:
                raise ValueError(refusal)
        self.likelihood = kind(self.image_shape, **{name: getattr(self, name) for name in kind.spec.options})
        self.prior = StandardNormal(latent_dim)
        self.decoder_channels = self.likelihood.decoder_channels
        self.to_mean = keras.layers.Dense(latent_dim, name="to_mean", dtype=PARAMETERS_DTYPE)
        self.to_log_var = keras.layers.Dense(latent_dim, name="to_log_var", dtype=PARAMETERS_DTYPE)
        # Stateful, and saved with the weights, so a resumed run draws the same noise.
        self.noise = keras.random.SeedGenerator(seed, name="noise")

    def features(self, x, y_onehot, training=False):
        raise NotImplementedError

    def decoder_parameters(self, z, y_onehot, training=False):
        raise NotImplementedError

    def encode(self, x, y, training=False):
        """(mean, log_var) of q(z | x, y), each [B, latent_dim]."""
        h = self.features(x, tf.one_hot(y, self.classes), training)
        return self.to_mean(h), self.to_log_var(h)

    def reparameterize(self, mean, log_var):
        """z = mean + sigma * eps with eps ~ N(0, I): a sample whose gradient flows to mean and log_var."""
        return mean + tf.exp(0.5 * log_var) * self.training_noise(tf.shape(mean))

    def training_noise(self, shape):
        """eps ~ N(0, I) of `shape` (batch first) from the model's own checkpointed generator: under a tf.distribute
        strategy this replica's rows of the global batch's draw (this_replicas_rows)."""
        return this_replicas_rows(lambda size: keras.random.normal(size, seed=self.noise), shape)

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood.name}

    def decode(self, z, y, training=False):
        """The parameters of p(x | z, y), [B, H, W, decoder_channels] (what they mean is the likelihood's)."""
        return self.decoder_parameters(z, tf.one_hot(y, self.classes), training)

    def reconstruct(self, x, y):
        """Pixel means of p(x | z = mean of q(z | x, y), y)."""
        mean, _ = self.encode(x, y)
        return self.likelihood.mean(self.decode(mean, y))

    def call(self, inputs, training=False):
        """(x [B, H, W, C], y [B]) -> pixel means [B, H, W, C] of the reconstruction (Keras' entry point)."""
        x, y = inputs
        return self.reconstruct(x, y)

    def generate(self, z, y):
        """Pixel means [B, H, W, C] of p(x | z, y) for codes z [B, latent_dim] and labels y [B]."""
        return self.likelihood.mean(self.decode(z, y))

    def negative_elbo(self, x, y, training=False):
        """(reconstruction -log p(x | z, y), KL(q(z | x, y) || p(z))), each [B] in nats, with one z ~ q."""
        mean, log_var = self.encode(x, y, training)
        z = self.reparameterize(mean, log_var)
        return self.likelihood.nll(x, self.decode(z, y, training)), self.prior.kl(mean, log_var, z, y)

    def compute_losses(self, x, y, training=False, kl_weight=None):
        """Negative ELBO per image = reconstruction (-log p(x | z, y)) + KL(q(z | x, y) || p(z)), in nats; "loss"
        weighs the KL by kl_weight (a scalar tensor, a KL warm-up's) when one is given."""
        reconstruction, kl = self.negative_elbo(x, y, training)
        weighed = kl if kl_weight is None else kl_weight * kl
        return {"loss": tf.reduce_mean(reconstruction + weighed),
                "reconstruction": tf.reduce_mean(reconstruction),
                "kl": tf.reduce_mean(kl)}

    def log_importance_weights(self, x, y, k, generator):
        """[B, k]: log p(x, z_i | y) - log q(z_i | x, y) with z_i ~ q(z | x, y), for images x [B, H, W, C]: the
        importance-sampled NLL is -logsumexp over them, less log k (Burda et al. 2015). `generator`: a
        tf.random.Generator, the evaluation's own noise (the training noise is left as it is)."""
        mean, log_var = self.encode(x, y)
        noise = generator.normal(tf.stack([tf.shape(mean)[0], k, tf.shape(mean)[1]]))
        log_px, log_pz, log_qz = self.importance_terms(x, y, mean, log_var, noise)
        return log_px + log_pz - log_qz

    def importance_terms(self, x, y, mean, log_var, noise, training=False):
        """(log p(x | z_i, y), log p(z_i), log q(z_i | x, y)), each [B, k], at the codes z_i = mean + sigma * noise_i,
        for q(z | x, y)'s parameters mean and log_var [B, n] and standard normal noise [B, k, n]; z keeps its
        gradient to mean and log_var (the importance-weighted bound trains through it: model/iwae.py)."""
        n, k = tf.shape(mean)[1], tf.shape(noise)[1]
        z = mean[:, None] + tf.exp(0.5 * log_var)[:, None] * noise
        log_px = self.likelihood.log_prob_samples(x, self.decode(tf.reshape(z, [-1, n]), tf.repeat(y, k), training))
        return log_px, self.prior.log_density(z, y), gaussian_log_density(z, mean[:, None], log_var[:, None])

    def derived_metrics(self, means):
        """The ELBO (nats per image, higher is better) from the means of its two terms."""
        return {"elbo": -(means["reconstruction"] + means["kl"])}


class ConvCVAE(VAEBase):
    """A conditional VAE whose encoder sees the label as extra image channels and whose decoder
    starts from [z, y]. A subclass sets `encoder_layers` (a Conv2D first, ending in Flatten) and
    `decoder_layers` (ending in [B, H, W, decoder_channels])."""

    encoder_layers: list
    decoder_layers: list

    def features(self, x, y_onehot, training=False):
        h = conv_with_label_channels(self.encoder_layers[0], x, y_onehot)
        for layer in self.encoder_layers[1:]:
            h = layer(h, training=training)
        return h

    def decoder_parameters(self, z, y_onehot, training=False):
        h = tf.concat([z, y_onehot], axis=1)
        for layer in self.decoder_layers:
            h = layer(h, training=training)
        return h


def fit_batch(data):
    """(x float32 in [0, 1], y int32) of a batch Keras' fit gives: (x, y), or (x, y, sample_weight), whose weights
    are not used (the loss is a mean over images, as train.py's)."""
    x, y = data[:2]
    x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
    return x, tf.cast(y, tf.int32)


def describe_sizes(sizes):
    """'8, 12, 16, ..., 128' for a run of sizes a fixed step apart, else the sizes one by one."""
    sizes = sorted(sizes)
    steps = {b - a for a, b in zip(sizes, sizes[1:])}
    if len(sizes) > 4 and len(steps) == 1:
        return f"{sizes[0]}, {sizes[1]}, {sizes[2]}, ..., {sizes[-1]}"
    return ", ".join(map(str, sizes))


def same_crop(size, target):
    """Cropping2D's ((before, after)) for cutting `size` down to `target` where TensorFlow's SAME transposed
    convolution cuts: the smaller half before."""
    cut = size - target
    return (cut // 2, cut - cut // 2)


def this_replicas_rows(draw, shape):
    """draw(shape), or under a tf.distribute strategy with several replicas, this replica's rows of
    draw([rows * replicas, ...]): every replica draws the whole global batch's noise from the same
    (mirrored) generator state and keeps its slice, so a batch split over R devices gets the noise one
    device would draw for it. One device: exactly draw(shape)."""
    replica = tf.distribute.get_replica_context()
    if replica is None or replica.num_replicas_in_sync == 1:
        return draw(shape)
    rows = shape[0]
    whole = draw(tf.concat([[rows * replica.num_replicas_in_sync], shape[1:]], axis=0))
    start = tf.cast(replica.replica_id_in_sync_group, tf.int32) * rows
    return whole[start:start + rows]


def with_label_channels(x, y_onehot):
    """x [B, H, W, C] with the one-hot label [B, K] broadcast as K more channels: [B, H, W, C + K]."""
    shape = tf.shape(x)
    labels = tf.broadcast_to(y_onehot[:, None, None, :], [shape[0], shape[1], shape[2], y_onehot.shape[-1]])
    return tf.concat([x, labels], axis=-1)


def conv_with_label_channels(conv, x, y_onehot):
    """`conv(with_label_channels(x, y_onehot))`, computed without the K label channels.

    A convolution is linear in its input channels, and a label channel is a constant plane, so the
    labels' part of the output depends on the label alone: convolve the K one-hot planes once
    (K images, not B) and mix the results with y_onehot. The image part convolves C channels
    instead of C + K, which makes the first layer of the CNN encoders several times cheaper
    (bench/README.md). Same weights, same result up to float rounding.
    """
    channels, classes = x.shape[-1], y_onehot.shape[-1]
    if not conv.built:
        conv.build((None, *x.shape[1:-1], channels + classes))
    strides, padding = conv.strides, conv.padding.upper()
    image_part = tf.nn.convolution(x, conv.kernel[:, :, :channels], strides=strides, padding=padding)
    planes = tf.broadcast_to(tf.eye(classes)[:, None, None, :], [classes, *x.shape[1:-1], classes])
    per_label = tf.nn.convolution(planes, conv.kernel[:, :, channels:], strides=strides, padding=padding)
    label_part = tf.einsum("bk,khwf->bhwf", y_onehot, per_label)
    return conv.activation(image_part + label_part + conv.bias)
