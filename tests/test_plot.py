import matplotlib.image
import numpy as np
import pytest

from conftest import QUICK_RUN, run_main, tool
from cvae.run_figures import class_mean_codes, pca_2d
plot = tool("plot")


def plot_main(session_runs, figure_dir, *args):
    return plot.main([*args, "--subset", "300", "--log-dir", str(session_runs), "--figure-dir", str(figure_dir)])


SLOW = pytest.mark.slow  # about a second each: the slow tier keeps make check under a minute


@pytest.mark.parametrize("kind, filename, size", [
    ("re", "reconstruction.png", (690, 420)),
    ("gen_ave", "generated_image_mean.png", (900, 170)),
    pytest.param("gen_rand", "generated_image_rand_all_0.100.png", (650, 640), marks=SLOW),
    pytest.param("embed", "embedding.png", (640, 560), marks=SLOW),
    pytest.param("manifold", "manifold.png", (1600, 740), marks=SLOW),
    pytest.param("analogy", "analogy.png", (705, 530), marks=SLOW),
    ("curve", "learning_curve.png", (1260, 340)),
])
def test_each_figure_is_written_at_its_size(kind, filename, size, session_runs, tmp_path):
    assert plot_main(session_runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", kind) == 0
    image = matplotlib.image.imread(tmp_path / QUICK_RUN / filename)
    height, width = image.shape[:2]
    assert abs(width - size[0]) <= 1 and abs(height - size[1]) <= 1
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_gen_rand_for_one_digit_and_prior_samples(session_runs, tmp_path):
    assert plot_main(session_runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", "gen_rand", "-t", "7", "-s", "0.5") == 0
    one_digit = matplotlib.image.imread(tmp_path / QUICK_RUN / "generated_image_rand_7_0.500.png")
    every_digit = matplotlib.image.imread(tmp_path / QUICK_RUN / "generated_image_prior.png")
    # One row of samples for the 7, one for each of the 10 digits from the prior; neither a blank canvas.
    assert 4 * one_digit.shape[0] < every_digit.shape[0] and one_digit.shape[1] == every_digit.shape[1]
    assert one_digit[..., :3].std() > 0.05 and every_digit[..., :3].std() > 0.05


@pytest.mark.slow  # fits the mixture: over a second
def test_a_model_that_ignores_labels_draws_its_samples_from_the_prior_and_the_fitted_mixture(session_runs, tmp_path):
    """gen_rand of the plain vae: samples with z from the prior, and from the fitted mixture, each as large a grid
    as a conditional model's prior figure (10 rows), and different draws."""
    assert plot_main(session_runs, tmp_path, "vae", "-n", "2", "-m", "gen_rand", "--sampler", "gmm",
                     "--components", "2") == 0
    prior = matplotlib.image.imread(tmp_path / "vae_2_subset300" / "generated_image_prior.png")
    fitted = matplotlib.image.imread(tmp_path / "vae_2_subset300" / "generated_image_gmm.png")
    assert prior.shape[1] == fitted.shape[1] and abs(prior.shape[0] - fitted.shape[0]) < 30  # a title may wrap
    assert prior[..., :3].std() > 0.05 and fitted[..., :3].std() > 0.05
    assert plot_main(session_runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", "gen_rand") == 0
    conditional = matplotlib.image.imread(tmp_path / QUICK_RUN / "generated_image_prior.png")
    assert abs(conditional.shape[0] - prior.shape[0]) < 30  # the same rows; the conditional one's are named


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_without_mode_every_applicable_figure_is_made(session_runs, tmp_path):
    assert plot_main(session_runs, tmp_path, "vae", "-n", "2") == 0
    assert sorted(p.name for p in (tmp_path / "vae_2_subset300").iterdir()) == [
        "embedding.png", "generated_image_prior.png", "interpolation.gif", "interpolation.png", "learning_curve.png",
        "manifold.png", "reconstruction.png"]
    assert plot_main(session_runs, tmp_path, "cnn") == 0
    assert [p.name for p in (tmp_path / "cnn_subset300").iterdir()] == ["learning_curve.png"]


def test_class_mean_codes_average_each_digit_separately():
    codes = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]] + [[d, -d] for d in range(2, 10)], dtype=float)
    labels = np.array([0, 0, 1] + list(range(2, 10)))
    means = class_mean_codes(codes, labels, 10)
    assert means.shape == (10, 2)
    np.testing.assert_array_equal(means[0], [2.0, 1.0])
    np.testing.assert_array_equal(means[1], [10.0, 10.0])
    np.testing.assert_array_equal(means[9], [9.0, -9.0])


def test_pca_keeps_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 5)) * np.array([0.1, 5.0, 0.1, 1.0, 0.1])
    projected = pca_2d(codes)
    assert projected.shape == (500, 2)
    assert projected[:, 0].std() == pytest.approx(codes[:, 1].std(), rel=0.05)


def test_missing_checkpoint_names_the_train_command(tmp_path, capsys):
    status, _, err = run_main(plot.main, ["cvae_fc3", "-n", "7", "--log-dir", str(tmp_path)], capsys)
    assert status == 1
    assert f"python train.py cvae_fc3 -n 7 --log-dir {tmp_path}" in err and "Traceback" not in err


@pytest.mark.parametrize("args, complaint, status", [
    (["vae", "-n", "2", "-m", "analogy"], "needs a conditional model", 2),
    (["cnn", "-m", "re"], "only a learning curve", 2),
    (["cvae_cnn3", "-n", "2", "-p", "50"], "no checkpoint kept at epoch 50", 2),
    (["cvae_cnn3", "-n", "2", "-m", "gen_rand", "-t", "10"], "-t 10: this run has 10 classes, 0 to 9 by index", 2),
    (["cvae_cnn3", "-n", "2", "-m", "traverse"], "-m traverse sweeps the most-used of many latent dimensions", 2),
    (["vae", "-n", "2", "-m", "confusion"], "-m confusion needs a conditional model", 2),
    (["vae", "-n", "2", "-m", "pseudo"], "-m pseudo shows a VampPrior's pseudo-inputs (the *_vamp models); this "
     "run's prior is N(0, I)", 2),
    (["cvae_cnn3", "-n", "2", "-m", "gen_rand", "--sampler", "gmm", "--components", "100"],
     "--components 100: class", 2),
])
def test_inapplicable_requests_are_refused(session_runs, tmp_path, capsys, args, complaint, status):
    assert plot_main(session_runs, tmp_path, *args) == status
    assert complaint in capsys.readouterr().err


def test_bad_flags_exit_2_without_traceback(capsys):
    for args, complaint in ((["cvae_cnn3", "-s", "-1"], "must be a positive number"),
                            (["cvae_cnn3", "-m", "bogus"], "invalid choice: 'bogus'")):
        status, _, err = run_main(plot.main, args, capsys)
        assert status == 2 and complaint in err and "Traceback" not in err


def gif_frames(path):
    from PIL import Image
    with Image.open(path) as gif:
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L"), float))
        return gif.info.get("loop"), frames


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_interpolation_joins_two_test_images_in_a_png_and_a_looping_gif(session_runs, tmp_path):
    assert plot_main(session_runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", "interpolate") == 0
    folder = tmp_path / QUICK_RUN
    image = matplotlib.image.imread(folder / "interpolation.png")
    assert image.shape[1] > image.shape[0] and image[..., :3].std() > 0.05
    loop, frames = gif_frames(folder / "interpolation.gif")
    assert loop == 0 and len(frames) >= 16  # loops forever; there and back (Pillow merges equal neighbours)
    assert max(np.abs(frames[0] - frame).mean() for frame in frames) > 1  # the frames move


def test_pairs_to_interpolate_are_of_one_class_then_of_two():
    from cvae.run_figures import INTERPOLATED_PAIRS, interpolation_pairs
    labels = np.repeat(np.arange(10), 3)
    pairs = interpolation_pairs(labels, 10, conditional=True)
    assert len(pairs) == 2 * INTERPOLATED_PAIRS
    same, across = pairs[:INTERPOLATED_PAIRS], pairs[INTERPOLATED_PAIRS:]
    assert all(labels[a] == labels[b] and a != b for a, b in same)
    assert all(labels[a] != labels[b] for a, b in across)
    assert interpolation_pairs(labels[:5], 10, conditional=False) == [(0, 1), (2, 3)]
    assert interpolation_pairs(np.array([0, 1]), 2, conditional=True) == [(1, 0)]  # one image a class: one pair


def test_dimensions_are_ranked_by_their_average_kl():
    from cvae.run_figures import dimensions_by_kl
    means = np.array([[0.0, 2.0, 1.0], [0.0, -2.0, 1.0]])
    log_vars = np.zeros((2, 3))
    order, kl = dimensions_by_kl(means, log_vars)
    assert order.tolist() == [1, 2, 0]  # KL(N(m, 1) || N(0, 1)) = m^2 / 2
    np.testing.assert_allclose(kl, [2.0, 0.5, 0.0])


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_traversal_of_a_run_with_many_dimensions(tmp_path):
    # The shipped n = 20 run: no training needed (its figures go under FIGURE_DIR/pretrained/).
    assert plot.main(["cvae_cnn3", "-n", "20", "--pretrained", "-m", "traverse", "--log-dir", str(tmp_path / "log"),
                      "--figure-dir", str(tmp_path / "fig")]) == 0
    folder = tmp_path / "fig" / "pretrained" / "cvae_cnn3_20"
    assert matplotlib.image.imread(folder / "traversal.png")[..., :3].std() > 0.05
    loop, frames = gif_frames(folder / "traversal.gif")
    assert loop == 0 and len(frames) >= 16


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_confusion_and_the_fitted_sampler_figures(session_runs, tmp_path, monkeypatch, capsys):
    from cvae.run_figures import confusion_matrix
    runs = tmp_path / "log"  # no classifier in it: MNIST's shipped one (pretrained/cnn) reads the images
    import shutil
    shutil.copytree(session_runs / QUICK_RUN, runs / QUICK_RUN, ignore=shutil.ignore_patterns("sampler_gmm.npz"))  # fitted here
    assert plot_main(runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", "confusion", "--components", "2") == 0
    out = capsys.readouterr().out
    assert "fitted a mixture of 2 Gaussians" in out and (runs / QUICK_RUN / "sampler_gmm.npz").exists()
    assert matplotlib.image.imread(tmp_path / QUICK_RUN / "confusion.png")[..., :3].std() > 0.05
    assert plot_main(runs, tmp_path, "cvae_cnn3", "-n", "2", "-m", "gen_rand", "--sampler", "gmm",
                     "--components", "2") == 0
    assert "fitted a mixture" not in capsys.readouterr().out  # the cached fit
    assert matplotlib.image.imread(tmp_path / QUICK_RUN / "generated_image_gmm.png")[..., :3].std() > 0.05
    matrix = confusion_matrix([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 0], 3)
    np.testing.assert_allclose(matrix, [[2 / 3, 1 / 3, 0], [0, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize("modes", [["-m", "re", "gen_ave"], ["-m", "re", "-m", "gen_ave"]], ids=["one -m", "two -m"])
def test_several_figures_are_asked_for_at_once(modes, tmp_path, capsys):
    """plot.py -m re -m gen_ave drew only the last figure, and -m re gen_ave was refused."""
    status, out, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", "--pretrained", *modes, "--log-dir",
                                            str(tmp_path / "log"), "--figure-dir", str(tmp_path)], capsys)
    assert status == 0, err
    drawn = sorted(path.name for path in (tmp_path / "pretrained" / "cvae_cnn3_2").iterdir())
    assert drawn == ["generated_image_mean.png", "reconstruction.png"]


def test_image_size_names_runs_of_ones_own_data_only(tmp_path, capsys):
    status, _, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", "--image-size", "32", "--log-dir", str(tmp_path)],
                              capsys)
    assert status == 2 and "--image-size names a run of a data set of one's own; mnist is as published" in err


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
@pytest.mark.parametrize("title", ["short", "cvae_resnet, n = 20, data colour_mnist.npz, mixture of logistics, images are "
                                            "its means, epoch 24: 1,000 generated images per class, read by the "
                                            "classifier of cnn_colour_mnist_420af299 (percent of each row)"])
def test_a_confusion_figures_text_stays_inside_it_and_off_its_panels(title, tmp_path, monkeypatch):
    """A title of two lines (a colour run's) used to fall on the panels' titles and push the x-labels out."""
    from cvae import figures
    kept = {}
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.setdefault("figure", fig))
    matrices = np.full((2, 10, 10), 0.1)
    figures.plot_confusions(matrices, ["z from the prior N(0, I): 12.2% read as asked", "z from the mixtures"],
                            tmp_path / "c.png", title)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = kept["figure"]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    whole = fig.bbox
    suptitle = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        label, panel_title = ax.xaxis.label.get_window_extent(renderer), ax.title.get_window_extent(renderer)
        assert label.y0 >= whole.y0 - 1 and suptitle.y1 <= whole.y1 + 1
        assert not suptitle.overlaps(panel_title)


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_a_manifold_figure_of_three_classes_keeps_its_title_inside(tmp_path, monkeypatch):
    """Issue 36, item 33: with 3 classes manifold.png's title was cut on both sides."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from cvae import figures
    kept = {}
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.setdefault("figure", fig))
    title = ("cvae_cnn3, n = 2, data shapes_folder, epoch 100: each class's decoded latent grid, z spanning the "
             "prior's 1%-99% quantiles along both axes, the same grid for every class")
    figures.plot_manifolds(np.zeros((3, 4, 4, 8, 8, 3)), ["circle", "square", "triangle"], tmp_path / "m.png", title)
    canvas = FigureCanvasAgg(kept["figure"])
    canvas.draw()
    extent = kept["figure"]._suptitle.get_window_extent(canvas.get_renderer())
    whole = kept["figure"].bbox
    assert extent.x0 >= whole.x0 and extent.x1 <= whole.x1 and extent.y1 <= whole.y1


def drawn_figure(monkeypatch, draw):
    """(figure, renderer) of a figure function's figure, drawn but not saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from cvae import figures
    kept = {}
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.setdefault("figure", fig))
    draw(figures)
    canvas = FigureCanvasAgg(kept["figure"])
    canvas.draw()
    return kept["figure"], canvas.get_renderer()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
@pytest.mark.parametrize("count, names", [(1, ["circle", "square", "triangle"]),
                                          (2, ["circle", "square", "a_very_long_triangle_name"]),
                                          (16, ["circle", "square", "a_very_long_triangle_name"])])
def test_a_sample_grid_keeps_its_title_and_class_names_inside(count, names, tmp_path, monkeypatch):
    """Issue 36, item 33: narrow sample.py grids cut their titles, long class names were cut at the left."""
    title = ("cvae_resnet_20_mixture_shapes_1a2b3c4d, epoch 100: z ~ N(0, 1² I), seed 0, mixture of logistics, "
             "images are their means")
    images = np.zeros((3 * count, 16, 16, 3), np.uint8)
    fig, renderer = drawn_figure(monkeypatch, lambda figures: figures.plot_samples_by_label(
        images, [0, 1, 2], count, names, tmp_path / "s.png", title))
    whole = fig.bbox
    (ax,) = fig.axes
    texts = [ax.title, *ax.get_yticklabels()] + ([fig._suptitle] if fig._suptitle else [])
    for text in texts:
        if text.get_text():
            extent = text.get_window_extent(renderer)
            assert whole.x0 - 1 <= extent.x0 and extent.x1 <= whole.x1 + 1 and extent.y1 <= whole.y1 + 1, text
    assert [label.get_text() for label in ax.get_yticklabels() if label.get_text()] == \
        [name if len(name) <= 16 else name[:15] + "…" for name in names]


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_reconstructions_are_marked_with_their_class_names(tmp_path, monkeypatch):
    """Issue 36, item 33: own data's reconstructions were marked 0/1/2, not with their classes' names."""
    images = np.zeros((3, 16, 16, 3))
    fig, _ = drawn_figure(monkeypatch, lambda figures: figures.plot_reconstruction(
        images, images, np.array([0, 1, 2]), tmp_path / "r.png", "title", ["circle", "square", "triangle"]))
    assert [text.get_text() for text in fig.axes[0].texts] == ["circle", "square", "triang…"]


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_nine_long_class_names_beside_a_tall_grid_stay_inside(tmp_path, monkeypatch):
    """The emoji set's prior samples (9 categories, 10 a row, 64 x 64): tight_layout's first pass left
    "Smileys & Emoti…" starting 5 pixels left of the figure."""
    from cvae.emoji import CATEGORIES
    images = np.zeros((90, 64, 64, 3), np.uint8)
    fig, renderer = drawn_figure(monkeypatch, lambda figures: figures.plot_samples_by_label(
        images, list(range(9)), 10, list(CATEGORIES), tmp_path / "s.png",
        "cvae_resnet, n = 20, data emoji.npz, epoch 200: samples with z from the prior N(0, I)"))
    for label in fig.axes[0].get_yticklabels():
        assert label.get_window_extent(renderer).x0 >= 0, label.get_text()
