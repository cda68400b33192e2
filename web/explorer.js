// The latent explorer: runs a trained decoder in the browser with TensorFlow.js, with no Python per frame.
// manifest.json (written by explore.py) lists the decoder's layers and where each weight lies in
// weights.bin (little-endian float32); this file rebuilds the decoder from that list.
"use strict";

const FORMAT = 1; // the manifest layout this page reads; explore.py writes the same number

const explorer = {
  ready: false,
  z: [],
  label: 0,
  lastImage: null, // pixel means [H * W * C] of the image on screen (Float32Array; MNIST: 784)
};
window.explorer = explorer;

let manifest, layers;

function activation(h, name) {
  if (name === "relu") return tf.relu(h);
  if (name === "softplus") return tf.softplus(h);
  if (name === "silu") return tf.mul(h, tf.sigmoid(h));
  if (name === "linear") return h;
  throw new Error(`unknown activation ${name}`);
}

// One decoder step (model/blocks.py) on h; code is the decoder's input [z, one-hot label].
function layerOutput(h, layer, code) {
  switch (layer.kind) {
    case "dense":
      return activation(tf.add(tf.matMul(h, layer.kernel), layer.bias), layer.activation);
    case "conv": // Keras' Conv2D, stride 1, SAME padding: kernel [k, k, in, out]
      return activation(tf.add(tf.conv2d(h, layer.kernel, 1, "same"), layer.bias), layer.activation);
    case "residual": // h + second(act(first(act(h))))
      return tf.add(h, layerOutput(activation(layerOutput(activation(h, layer.activation), layer.first, code),
                                              layer.activation), layer.second, code));
    case "add_code": { // h + dense(code) at every pixel
      const added = tf.add(tf.matMul(code, layer.kernel), layer.bias);
      return tf.add(h, added.reshape([added.shape[0], 1, 1, added.shape[1]]));
    }
    case "upsample": { // each pixel repeated 2 x 2
      const [, height, width] = h.shape;
      return tf.image.resizeNearestNeighbor(h, [2 * height, 2 * width]);
    }
    case "activation":
      return activation(h, layer.activation);
    case "reshape":
      return tf.reshape(h, [-1, ...layer.shape]);
    case "deconv": { // Keras' Conv2DTranspose: kernel [k, k, out, in], output size by its padding
      const [batch, height, width] = h.shape;
      const [k, , out] = layer.kernel.shape;
      const s = layer.strides;
      const size = (n) => (layer.padding === "same" ? n * s : (n - 1) * s + k);
      const y = tf.conv2dTranspose(h, layer.kernel, [batch, size(height), size(width), out], s, layer.padding);
      return activation(tf.add(y, layer.bias), layer.activation);
    }
    case "crop": {
      const [, height, width] = h.shape;
      const [top, bottom, left, right] = layer.crop;
      return tf.slice(h, [0, top, left, 0], [-1, height - top - bottom, width - left - right, -1]);
    }
    default:
      throw new Error(`unknown layer kind ${layer.kind}`);
  }
}

// Manifests written before images had a shape and a likelihood of their own were MNIST's.
const imageShape = () => manifest.image_shape || [28, 28, 1];
const imageSize = () => imageShape().reduce((a, b) => a * b, 1);

// The mean of a logistic(location, exp(logScale)) discretized to 256 levels (model/losses.py
// discretized_logistic_mean): the sum over the 255 bin edges of P(X above the edge), divided by 255.
function logisticMean(location, rawLogScale) {
  const inverseScale = tf.exp(tf.neg(tf.maximum(rawLogScale, -8)));
  let total = tf.zerosLike(location);
  for (let k = 1; k < 256; k++) {
    total = tf.add(total, tf.sigmoid(tf.mul(tf.sub(location, (k - 0.5) / 255), inverseScale)));
  }
  return tf.div(total, 255);
}

// The same mean as model/losses.py discretized_logistic_mean_windowed takes it (the mixture's ten components):
// the 16 edges nearest the location one by one, the rest as the integral of the sigmoid (a softplus).
function logisticMeanWindowed(location, rawLogScale) {
  const window = 16, width = 1 / 255;
  const scale = tf.exp(tf.clipByValue(rawLogScale, -8, 5)); // MIN_LOG_SCALE, MAX_LOG_SCALE
  const first = tf.clipByValue(tf.add(tf.floor(tf.add(tf.div(location, width), 0.5)), 1 - window / 2), 1, 256 - window);
  const integral = (start, end) => tf.mul(scale, tf.sub( // start and end: numbers or tensors, in edge units
    tf.softplus(tf.div(tf.sub(location, tf.mul(tf.sub(start, 0.5), width)), scale)),
    tf.softplus(tf.div(tf.sub(location, tf.mul(tf.sub(end, 0.5), width)), scale))));
  let inside = tf.zerosLike(location);
  for (let j = 0; j < window; j++) {
    inside = tf.add(inside, tf.sigmoid(tf.div(tf.sub(location, tf.mul(tf.add(first, j - 0.5), width)), scale)));
  }
  return tf.add(tf.add(integral(tf.scalar(0.5), tf.sub(first, 0.5)), tf.mul(inside, width)),
                integral(tf.add(first, window - 0.5), tf.scalar(255.5)));
}

// model/likelihoods.py LogisticMixture.mean: the decoder gives a pixel K weight logits, then C x K locations,
// C x K log-scales and C (C - 1) / 2 x K coupling coefficients (tanh-bounded); a later channel's location is
// moved by the coefficients times the earlier channels' component means.
function mixtureMeans(h) {
  const channels = imageShape()[2];
  const pairs = channels * (channels - 1) / 2;
  const parts = tf.split(h, 1 + 2 * channels + pairs, 3);
  const weights = tf.softmax(parts[0]);
  const coefficients = parts.slice(1 + 2 * channels).map((part) => tf.tanh(part));
  const means = [];
  for (let c = 0; c < channels; c++) {
    let location = parts[1 + c];
    const first = c * (c - 1) / 2;
    for (let before = 0; before < c; before++) {
      location = tf.add(location, tf.mul(coefficients[first + before], means[before]));
    }
    means.push(logisticMeanWindowed(location, parts[1 + channels + c]));
  }
  return tf.clipByValue(tf.stack(means.map((mean) => tf.sum(tf.mul(weights, mean), -1)), -1), 0, 1);
}

// The means of p(x | z, y) from the decoder's output h [rows, H, W, decoder channels] (model/likelihoods.py):
// Bernoulli's sigmoid of its logits, the discretized logistic's mean, or the mixture's.
function pixelMeans(h) {
  if (manifest.likelihood === "mixture") return mixtureMeans(h);
  if (manifest.likelihood !== "logistic") return tf.sigmoid(h);
  const channels = imageShape()[2];
  const [location, rawLogScale] = tf.split(h, [channels, channels], 3);
  return tf.clipByValue(logisticMean(location, rawLogScale), 0, 1);
}

// Pixel means [rows, H * W * C] of p(x | z, y) for codes zs [rows][n] and labels [rows].
function decodeRows(zs, labels) {
  return tf.tidy(() => {
    let h = tf.tensor2d(zs, [zs.length, manifest.latent_dim], "float32");
    if (manifest.conditional) {
      h = tf.concat([h, tf.oneHot(tf.tensor1d(labels, "int32"), manifest.class_names.length).toFloat()], 1);
    }
    const code = h;
    for (const layer of layers) h = layerOutput(h, layer, code);
    return pixelMeans(h.reshape([zs.length, imageShape()[0], imageShape()[1], -1])).reshape([zs.length, imageSize()])
      .dataSync();
  });
}

function decode(z, label) {
  return decodeRows([z], [label]);
}

function draw(canvas, pixels) { // gray: dark ink on white, as in the README's figures; colour: as it is
  const [height, width, channels] = imageShape();
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < height * width; i++) {
    if (channels === 1) {
      const level = Math.round(255 * (1 - pixels[i]));
      image.data.set([level, level, level, 255], 4 * i);
    } else {
      const [r, g, b] = pixels.subarray(3 * i, 3 * i + 3).map((v) => Math.round(255 * v));
      image.data.set([r, g, b, 255], 4 * i);
    }
  }
  context.putImageData(image, 0, 0);
}

function show() {
  const began = performance.now();
  explorer.lastImage = decode(explorer.z, explorer.label);
  const ms = performance.now() - began;
  draw(document.getElementById("image"), explorer.lastImage);
  if (manifest.conditional) {
    const count = manifest.class_names.length;
    const every = decodeRows(Array(count).fill(explorer.z), [...Array(count).keys()]);
    const size = imageSize();
    document.querySelectorAll("#every canvas").forEach((canvas, k) => draw(canvas, every.subarray(size * k, size * (k + 1))));
  }
  document.querySelectorAll("#classes button").forEach((b, k) => b.classList.toggle("on", k === explorer.label));
  document.querySelectorAll("#sliders input").forEach((input, i) => { input.value = explorer.z[i]; });
  drawPlane();
  document.getElementById("status").textContent =
    `z = [${explorer.z.slice(0, 6).map((v) => v.toFixed(2)).join(", ")}${explorer.z.length > 6 ? ", ..." : ""}]` +
    (manifest.conditional ? `, label ${manifest.class_names[explorer.label]}` : "") + `; decoded in ${ms.toFixed(1)} ms`;
}

// n = 2: the plane spans the prior's 1%-99% quantiles on each axis.
function toPlane(value, size) { return ((value / manifest.z_range + 1) / 2) * size; }
function fromPlane(offset, size) { return (2 * offset / size - 1) * manifest.z_range; }

function drawPlane() {
  const plane = document.getElementById("plane");
  if (plane.hidden) return;
  const context = plane.getContext("2d");
  context.clearRect(0, 0, plane.width, plane.height);
  context.strokeStyle = "#ddd";
  context.beginPath();
  context.moveTo(plane.width / 2, 0); context.lineTo(plane.width / 2, plane.height);
  context.moveTo(0, plane.height / 2); context.lineTo(plane.width, plane.height / 2);
  context.stroke();
  for (const [x, y, label] of manifest.codes || []) { // the test set's latent means (the plain vae)
    context.fillStyle = `hsla(${36 * label}, 70%, 45%, 0.25)`;
    context.fillRect(toPlane(x, plane.width) - 1, plane.height - toPlane(y, plane.height) - 1, 2, 2);
  }
  const [x, y] = explorer.z;
  context.fillStyle = "#d00";
  context.beginPath();
  context.arc(toPlane(x, plane.width), plane.height - toPlane(y, plane.height), 5, 0, 2 * Math.PI);
  context.fill();
}

const normal = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

// A component's index, drawn by the weights [K] that sum to 1.
function pick(weights) {
  let u = Math.random(), k = 0;
  while (k < weights.length - 1 && u >= weights[k]) { u -= weights[k]; k += 1; }
  return k;
}

// z from the model's prior: N(0, I), or the mixture of diagonal Gaussians the manifest gives for a learned one
// (a VampPrior: the current label's mixture for a conditional model).
explorer.drawFromPrior = () => {
  const prior = manifest.prior;
  if (!prior) return explorer.z.map(() => normal());
  const c = prior.weights.length > 1 ? explorer.label : 0;
  const k = pick(prior.weights[c]);
  return prior.means[c][k].map((mean, i) => mean + prior.stds[c][k][i] * normal());
};

// z from the run's fitted Gaussian mixture (explore.py --sampler gmm), the current label's one for a conditional
// model: a component by its weight, then mean + L eps with L its covariance's Cholesky factor. Not clamped to
// the sliders' range: the mixture's codes are the point.
explorer.drawFromMixture = () => {
  const mixture = manifest.mixture;
  const c = mixture.weights.length > 1 ? explorer.label : 0;
  const k = pick(mixture.weights[c]);
  const eps = mixture.means[c][k].map(() => normal());
  const factor = mixture.cholesky[c][k];
  return mixture.means[c][k].map((mean, i) => mean + factor[i].reduce((sum, l, j) => sum + l * eps[j], 0));
};

explorer.setZ = (z) => { explorer.z = z.slice(); show(); };
explorer.setLabel = (label) => { explorer.label = label; show(); };
explorer.decode = (z, label) => Array.from(decode(z, label));
// Milliseconds per decode of one image, the mean of `count` decodes after a warm-up.
explorer.benchmark = (count = 200) => {
  for (let i = 0; i < 10; i++) decode(explorer.z, explorer.label);
  const began = performance.now();
  for (let i = 0; i < count; i++) decode(explorer.z, explorer.label);
  return (performance.now() - began) / count;
};

function build() {
  const n = manifest.latent_dim;
  explorer.z = Array(n).fill(0);
  const title = `${manifest.run}, epoch ${manifest.epoch}`;
  document.getElementById("title").textContent = `${title}: latent explorer`;
  document.title = title;
  document.getElementById("about").textContent = n === 2
    ? "Drag the red point over the latent plane (the prior's 1%-99% quantiles); the decoder draws its image."
    : `Move the sliders (${Math.min(n, 20)} of ${n} latent dimensions shown); the decoder draws the image.`;
  if (n === 2) {
    const plane = document.getElementById("plane");
    plane.hidden = false;
    let dragging = false;
    const move = (event) => {
      const box = plane.getBoundingClientRect();
      const x = Math.min(Math.max(event.clientX - box.left, 0), box.width);
      const y = Math.min(Math.max(event.clientY - box.top, 0), box.height);
      explorer.setZ([fromPlane(x, box.width), fromPlane(box.height - y, box.height)]);
    };
    plane.addEventListener("pointerdown", (event) => { dragging = true; move(event); });
    plane.addEventListener("pointermove", (event) => { if (dragging) move(event); });
    window.addEventListener("pointerup", () => { dragging = false; });
  } else {
    const sliders = document.getElementById("sliders");
    sliders.hidden = false;
    document.getElementById("buttons").hidden = false;
    for (let i = 0; i < Math.min(n, 20); i++) {
      const label = document.createElement("label");
      label.appendChild(Object.assign(document.createElement("span"), { textContent: `z${i}` }));
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: -manifest.z_range, max: manifest.z_range, step: "any", value: 0 });
      input.addEventListener("input", () => { const z = explorer.z.slice(); z[i] = Number(input.value); explorer.setZ(z); });
      label.appendChild(input);
      sliders.appendChild(label);
    }
    // A draw from the prior, kept within the sliders' range (the prior's 1%-99% quantiles) so they can show it.
    const clamp = (v) => Math.min(Math.max(v, -manifest.z_range), manifest.z_range);
    document.getElementById("randomize").onclick = () => explorer.setZ(explorer.drawFromPrior().map(clamp));
    document.getElementById("reset").onclick = () => explorer.setZ(Array(n).fill(0));
  }
  if (manifest.mixture) {
    const button = document.getElementById("gmm");
    button.hidden = false;
    button.title = `z from mixtures of ${manifest.mixture.weights[0].length} Gaussians fitted to the training codes`;
    button.onclick = () => explorer.setZ(explorer.drawFromMixture());
  }
  if (manifest.conditional) {
    const classes = document.getElementById("classes");
    const every = document.getElementById("every");
    manifest.class_names.forEach((name, k) => {
      const button = document.createElement("button");
      button.textContent = name;
      button.onclick = () => explorer.setLabel(k);
      classes.appendChild(button);
      const figure = document.createElement("figure");
      const canvas = Object.assign(document.createElement("canvas"), { width: imageShape()[1], height: imageShape()[0] });
      figure.append(canvas, Object.assign(document.createElement("figcaption"), { textContent: name }));
      every.appendChild(figure);
    });
  }
}

async function start() {
  try {
    if (location.protocol === "file:") {
      throw new Error("this page must be served, not opened as a file (a browser does not let a file's page read " +
                      "manifest.json): run `python explore.py --run RUN` in the repository, or `python -m " +
                      "http.server` in this folder and open http://localhost:8000/");
    }
    await tf.setBackend("cpu"); // exact float32 everywhere, and fast enough for one 28x28 image
    manifest = await (await fetch("manifest.json")).json();
    if (manifest.format !== FORMAT) {
      throw new Error(`manifest.json has format ${manifest.format}, this page reads format ${FORMAT}: ` +
                      "write the folder again with explore.py");
    }
    const buffer = await (await fetch(manifest.weights)).arrayBuffer();
    const tensor = ([offset, shape]) =>
      tf.tensor(new Float32Array(buffer, offset, shape.reduce((a, b) => a * b, 1)), shape, "float32");
    const withTensors = (layer) => layer && ({ // a residual block's two convolutions too
      ...layer, kernel: layer.kernel && tensor(layer.kernel), bias: layer.bias && tensor(layer.bias),
      first: withTensors(layer.first), second: withTensors(layer.second),
    });
    layers = manifest.layers.map(withTensors);
    Object.assign(document.getElementById("image"), { width: imageShape()[1], height: imageShape()[0] });
    build();
    show();
    explorer.ready = true;
  } catch (error) {
    document.getElementById("error").textContent = `error: ${error.message}`;
    explorer.error = error.message;
  }
}

start();
