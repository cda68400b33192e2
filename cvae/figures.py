"""Figure functions: each takes arrays and a path and writes one PNG (animate_grid: one GIF).

Images are [..., H, W, C] floats in [0, 1] (MNIST: [..., 28, 28, 1]); grids are drawn as one mosaic, not one
subplot per digit. Gray images are drawn as dark ink on white (1 - level), as MNIST's figures always were; colour
images as they are.
"""
import textwrap

import functools

import matplotlib
from matplotlib.figure import Figure
import numpy as np

from cvae.files import atomic_file, atomic_path

DPI = 100
DIGITS = [str(d) for d in range(10)]  # class names of MNIST; Fashion-MNIST passes its own


def new_figure(*args, figsize, layout=None, **kwargs):
    """(figure, axes) as matplotlib.pyplot.subplots makes them, but without pyplot: no window, no global figure,
    and the notebook or program that calls us keeps its own backend."""
    figure = Figure(figsize=figsize, layout=layout)
    return figure, figure.subplots(*args, **kwargs)


def drawn_as_written(plot):
    """A figure function whose text is drawn as written: a class or folder name holding $ is not read as TeX
    math (matplotlib would fail on "$x^$"). The setting holds while the figure is drawn and saved only."""
    @functools.wraps(plot)
    def plot_as_written(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)
    return plot_as_written


def save(fig, path):
    """Write the figure to `path` as a PNG, whole (cvae.files.atomic_file)."""
    with atomic_file(path) as f:
        fig.savefig(f, dpi=DPI, format="png")


GAP_INK = 0.12  # faint: drawn light grey between tiles once ink is shown dark on white


def mosaic(images, gap=2):
    """[R, C, H, W, K] -> one [R*(H+gap)-gap, C*(W+gap)-gap, K] image with faint gaps between tiles."""
    rows, cols, h, w, channels = images.shape
    gap_level = GAP_INK if channels == 1 else 1 - GAP_INK  # light grey once shown: gray images are inverted
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, channels), gap_level)
    for r in range(rows):
        for c in range(cols):
            canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = images[r, c]
    return canvas


def shown(canvas):
    """What imshow draws of a mosaic: gray levels inverted (ink dark on white), colour as it is."""
    return 1 - canvas[..., 0] if canvas.shape[-1] == 1 else np.clip(canvas, 0, 1)


def show_mosaic(ax, images, gap=2):
    """Draw the mosaic of [R, C, H, W, K] images on `ax`."""
    ax.imshow(shown(mosaic(images, gap)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def _show_grid(ax, images, row_labels=None, col_labels=None):
    """Draw a [R, C, H, W, K] grid with optional labels centred on each row and column."""
    rows, cols, height, width = images.shape[:4]
    show_mosaic(ax, images)
    long_names = col_labels is not None and max(len(label) for label in col_labels) > 5
    ax.set_xticks([c * (width + 2) + (width - 1) / 2 for c in range(cols)],
                  col_labels if col_labels is not None else [],
                  rotation=40 if long_names else 0, ha="right" if long_names else "center", fontsize=8)
    ax.set_yticks([r * (height + 2) + (height - 1) / 2 for r in range(rows)],
                  row_labels if row_labels is not None else [])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)


def shortened(name, longest=16):
    """A class name cut to `longest` characters, its last an ellipsis when it was longer."""
    return name if len(name) <= longest else name[:longest - 1] + "…"


MIN_GRID_INCHES = 3.2  # a grid of a few columns is drawn this wide, so its title is not a tower of short lines
LABEL_INCHES_IN_MARGIN = 0.45  # the width of row labels (5 characters) the 1-inch margin already holds


def _grid_figure(images, path, title, row_labels=None, col_labels=None, scale=0.55, label_inches=None):
    rows, cols = images.shape[:2]
    width = cols * scale + 1.0
    if row_labels and label_inches is None:  # class names (plot_grid's labels say more, and set label_inches)
        row_labels = [shortened(label) for label in row_labels]
    labels_width = 0.09 * max(map(len, row_labels)) if row_labels else 0  # 8-10 pt: about 0.09 inch a character
    if width < MIN_GRID_INCHES or (label_inches is None and labels_width > LABEL_INCHES_IN_MARGIN):
        # Narrow grids (sample.py -c 2) and long class names: the figure widened to hold them, and the title
        # over the whole figure (over the axes it was cut at the figure's edges).
        width = max(width + max(0.0, labels_width - LABEL_INCHES_IN_MARGIN), MIN_GRID_INCHES)
        lines = textwrap.wrap(title, width=int((width - 0.2) * 12))
        fig, ax = new_figure(figsize=(width, rows * scale + 0.9 + 0.17 * (len(lines) - 1)))
        _show_grid(ax, images, row_labels, col_labels)
        fig.suptitle("\n".join(lines), fontsize=10)
    else:
        # About 13 characters fit per inch at 10 pt. label_inches: the width that long row labels take from the
        # title, which then wraps at 12 a remaining inch.
        lines = textwrap.wrap(title, width=int(width * 13) if label_inches is None else
                              int((width - label_inches) * 12))
        fig, ax = new_figure(figsize=(width, rows * scale + 0.9 + 0.17 * (len(lines) - 1)))
        _show_grid(ax, images, row_labels, col_labels)
        ax.set_title("\n".join(lines), fontsize=10)
    fig.tight_layout()
    if row_labels and left_of_figure(fig, ax.get_yticklabels()):
        fig.tight_layout()  # a first pass can leave a long label (emoji's "Smileys & Emoti…") past the left edge
    save(fig, path)


def left_of_figure(fig, texts):
    """Whether any of `texts` starts left of the figure's edge, as the figure would be drawn now."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    renderer = FigureCanvasAgg(fig).get_renderer()
    return any(text.get_window_extent(renderer).x0 < 0 for text in texts)


@drawn_as_written
def plot_grid(images, path, title, row_labels=None, col_labels=None):
    """images: [R, C, H, W, K] in [0, 1], drawn as one mosaic with a label for each row and column."""
    label_inches = 0.09 * max(map(len, row_labels)) if row_labels else 0  # 8-10 pt text: about 0.09 inch a character
    _grid_figure(images, path, title, row_labels, col_labels, label_inches=label_inches)


GIF_FRAMES_PER_SECOND = 8


@drawn_as_written
def animate_grid(frames, frame_texts, path, title, row_labels=None):
    """An animated GIF (matplotlib's Pillow writer): frames [F, R, C, H, W, K] in [0, 1], one mosaic each,
    with frame_texts[f] under frame f's title; it loops forever."""
    from matplotlib.animation import PillowWriter
    rows, cols = frames.shape[1:3]
    width = cols * 0.7 + 1.0
    lines = textwrap.wrap(title, width=int(width * 13))
    fig, ax = new_figure(figsize=(width, rows * 0.7 + 1.1 + 0.17 * (len(lines) - 1)))
    _show_grid(ax, frames[0], row_labels)
    picture = ax.images[0]
    heading = ax.set_title("\n".join(lines + [frame_texts[0]]), fontsize=10)
    fig.tight_layout()
    writer = PillowWriter(fps=GIF_FRAMES_PER_SECOND)
    with atomic_path(path) as written:
        with writer.saving(fig, written, dpi=DPI):
            for frame, text in zip(frames, frame_texts):
                picture.set_data(shown(mosaic(frame)))
                heading.set_text("\n".join(lines + [text]))
                writer.grab_frame()


@drawn_as_written
def plot_confusions(matrices, panel_titles, path, title, class_names=DIGITS):
    """matrices: [P, K, K] fractions, row = the class asked for, column = the class the classifier read (each row
    sums to 1); one heat map per panel, every cell's percentage written in it."""
    count, classes = len(matrices), matrices.shape[1]
    size = max(3.6, 0.42 * classes + 1.2)
    title_lines = textwrap.wrap(title, width=int(count * size * 12))
    panel_lines = [textwrap.wrap(panel_title, width=int(size * 11)) for panel_title in panel_titles]
    # Each line of title past the first adds height (twice a line's: the square panels stay centred, so half of
    # it goes below them), or the panels push the x-labels off the bottom and the title onto their own titles.
    # A one-line title adds nothing, so the MNIST runs' figures are as they were.
    extra = 0.4 * (len(title_lines) - 1) + 0.4 * (max(map(len, panel_lines)) - 1)
    fig, axes = new_figure(1, count, figsize=(count * size + 0.6, size + 0.7 + extra), squeeze=False,
                           layout="constrained")
    for ax, matrix, panel_title in zip(axes[0], matrices, panel_lines):
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        if classes <= 20:
            for asked in range(classes):
                for read in range(classes):
                    share = matrix[asked, read]
                    if share >= 0.005:
                        ax.text(read, asked, f"{100 * share:.0f}", ha="center", va="center", fontsize=7,
                                color="white" if share > 0.6 else "black")
        ticks = list(range(classes))
        names = [shortened(name) for name in class_names]
        slanted = max(map(len, names)) > 3  # long names would overlap under the columns
        ax.set_xticks(ticks, names, fontsize=8, rotation=40 if slanted else 0, ha="right" if slanted else "center")
        ax.set_yticks(ticks, names, fontsize=8)
        ax.set_xlabel("class the classifier reads")
        ax.set_ylabel("class asked for")
        ax.set_title("\n".join(panel_title), fontsize=10)
    fig.suptitle("\n".join(title_lines), fontsize=11)
    save(fig, path)


@drawn_as_written
def plot_reconstruction(inputs, reconstructions, labels, path, title, class_names=DIGITS):
    """inputs, reconstructions: [N, H, W, K]; rows alternate inputs and their reconstructions, 10 a row (all
    of them in one row when there are fewer; what does not fill a row is left out). Each input is marked
    with its class's name (cut to 7 characters)."""
    columns = min(10, len(inputs))
    n = len(inputs) - len(inputs) % columns
    shape = inputs.shape[1:]
    pairs = np.stack([inputs[:n].reshape(-1, columns, *shape), reconstructions[:n].reshape(-1, columns, *shape)],
                     axis=1)
    grid = pairs.reshape(-1, columns, *shape)
    row_labels = ["input", "recon."] * (n // columns)
    width = columns * 0.55 + 1.4
    lines = textwrap.wrap(title, width=int(width * 13))
    fig, ax = new_figure(figsize=(width, len(grid) * 0.55 + 0.9 + 0.17 * (len(lines) - 1)))
    _show_grid(ax, grid, row_labels)
    for i, label in enumerate(labels[:n]):
        r, c = 2 * (i // columns), i % columns
        name = class_names[int(label)]
        height, width = shape[:2]
        if len(name) == 1:
            ax.text(c * (width + 2) + width - 2, r * (height + 2) + 3 * height / 28, name, color="tab:red",
                    fontsize=7, ha="right", va="top")
        else:  # a longer name, cut to what fits over its image, on a pale box that keeps it readable on any colour
            ax.text(c * (width + 2) + width - 1, r * (height + 2) + 1, shortened(name, 7),
                    color="tab:red", fontsize=5, ha="right", va="top",
                    bbox=dict(facecolor="white", alpha=0.7, pad=0.5, linewidth=0))
    ax.set_title("\n".join(lines), fontsize=10)
    fig.tight_layout()
    save(fig, path)


@drawn_as_written
def plot_digit_row(images, path, title, class_names=DIGITS):
    """images: [K, H, W, C], one per class."""
    _grid_figure(images[None], path, title, col_labels=list(class_names), scale=0.8)


@drawn_as_written
def plot_digit_samples(images, digits, path, title, class_names=DIGITS):
    """images: [D, K, H, W, C]: K samples for each class of `digits`, one row per class."""
    _grid_figure(images, path, title, row_labels=[class_names[d] for d in digits])


SAMPLE_COLUMNS = 16  # images per row of plot_samples_by_label; a label's images wrap onto as many rows as they need


def samples_grid(images, labels, count, class_names):
    """([rows, SAMPLE_COLUMNS, H, W, C] in [0, 1], a row label for each row: the label's name on its first row)
    of uint8 images [len(labels) * count, H, W, C], `count` for each of `labels` (None: an unconditional
    model's, unnamed)."""
    columns = min(count, SAMPLE_COLUMNS)
    rows_per_label = -(-count // columns)
    blocks, row_labels = [], []
    for index, label in enumerate(labels):
        block = np.zeros((rows_per_label * columns, *images.shape[1:]))
        block[:count] = images[index * count:(index + 1) * count] / 255.0
        blocks.append(block.reshape(rows_per_label, columns, *images.shape[1:]))
        row_labels += ["" if label is None else class_names[label]] + [""] * (rows_per_label - 1)
    return np.concatenate(blocks), row_labels


@drawn_as_written
def plot_samples_by_label(images, labels, count, class_names, path, title):
    """uint8 images [len(labels) * count, H, W, C], `count` for each of `labels`: a block of rows per label."""
    grid, row_labels = samples_grid(images, labels, count, class_names)
    _grid_figure(grid, path, title, row_labels=row_labels)


@drawn_as_written
def plot_analogy(inputs, generated, path, title, class_names=DIGITS):
    """inputs: [R, H, W, C] test images; generated: [R, K, H, W, C], each row's style with every label."""
    grid = np.concatenate([inputs[:, None], generated], axis=1)
    _grid_figure(grid, path, title, col_labels=["input"] + list(class_names))


@drawn_as_written
def plot_embedding(codes, labels, path, title, class_names=DIGITS, axis_labels=("z[0]", "z[1]")):
    """codes: [N, 2] latent means (or their PCA projection, with axis_labels ("PC 1", "PC 2")); labels: [N]
    class indices."""
    classes = len(class_names)
    fig, ax = new_figure(figsize=(6.4 + 1.2 * (classes // 25), 5.6))
    # Ten or twenty clearly different colours where they suffice; a continuous map beyond.
    colours = matplotlib.colormaps["tab10" if classes <= 10 else "tab20" if classes <= 20 else "turbo"]
    colours = colours.resampled(classes) if classes > 20 else colours
    for digit in range(classes):
        points = codes[labels == digit]
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.6, color=colours(digit), label=class_names[digit],
                   rasterized=True)
    ax.legend(title="digit" if class_names == DIGITS else "class", markerscale=5, loc="center left",
              bbox_to_anchor=(1.0, 0.5), frameon=False, ncol=1 + (classes - 1) // 25, fontsize=10 if classes <= 25 else 7)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    # Wrapped to the plot's width (a title longer than the axes was cut at the figure's edge).
    ax.set_title("\n".join(textwrap.wrap(title, width=62)), fontsize=10)
    fig.tight_layout()
    save(fig, path)


@drawn_as_written
def plot_manifolds(panels, panel_titles, path, title):
    """panels: [P, G, G, H, W, C], one G x G decoded latent grid per panel (P = 1, or one per class)."""
    count = len(panels)
    cols = min(count, 5)
    rows = -(-count // cols)
    size = 3.2 if count > 1 else 6.4
    # Wrapped to the figure's width (a run of 3 classes is 9.6 inches wide, and its title was cut on both
    # sides), each line past the first given its height; a title that fits one line changes nothing.
    lines = textwrap.wrap(title, width=int(cols * size * 12))
    fig, axes = new_figure(rows, cols, figsize=(cols * size, rows * (size + 0.3) + 0.4 + 0.25 * (len(lines) - 1)),
                           squeeze=False, layout="constrained")
    for ax, grid, panel_title in zip(axes.flat, panels, panel_titles):
        show_mosaic(ax, grid, gap=0)
        ax.set_title(panel_title, fontsize=10)
        ax.axis("off")
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    fig.suptitle("\n".join(lines), fontsize=11)
    save(fig, path)


@drawn_as_written
def plot_learning_curve(rows, path, title):
    """rows: metrics.csv as dicts. One panel per quantity, train and test per epoch."""
    epochs = [row["epoch"] for row in rows]
    quantities = [k[len("train_"):] for k in rows[0] if k.startswith("train_")]
    fig, axes = new_figure(1, len(quantities), figsize=(4.2 * len(quantities), 3.4), squeeze=False)
    for ax, quantity in zip(axes[0], quantities):
        for split, style in (("train", "-"), ("test", "--")):
            key = f"{split}_{quantity}"
            if key in rows[0]:
                ax.plot(epochs, [row[key] for row in rows], style, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity + (" (nats / image)" if quantity in ("loss", "reconstruction", "kl") else ""))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save(fig, path)
