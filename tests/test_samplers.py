"""The fitted sampler (cvae.samplers): the mixture's fit, cache and refusals, and the tools' --sampler (the
Fréchet distance and precision/recall are cvae.evaluation's, in test_evaluate.py)."""
import json
import shutil

import numpy as np
import pytest

from conftest import QUICK_RUN, run_main, tool
from cvae import samplers
from cvae import results as tables
from cvae.errors import UsageError
from cvae.rundir import RunDir
from cvae.samplers import Mixture

RUN = QUICK_RUN
ONLY_THE_RUN = shutil.ignore_patterns(samplers.CACHE, "eval.json", "samples.npz")  # what tests add to a shared run


def test_a_mixture_draws_from_each_label_s_components_by_weight():
    n = 3
    means = np.array([[[0.0] * n, [20.0] * n], [[-5.0] * n, [100.0] * n]])  # 2 classes, 2 components
    cholesky = np.tile(np.eye(n), (2, 2, 1, 1)) * np.array([1.0, 2.0])[None, :, None, None]
    mixture = Mixture(np.array([[0.25, 0.75], [1.0, 0.0]]), means, cholesky)
    labels = np.array([0] * 20000 + [1] * 20000)
    z = mixture.draw(labels, np.random.default_rng(0))
    assert z.shape == (40000, n) and z.dtype == np.float32
    class_0, class_1 = z[:20000], z[20000:]
    assert np.mean(class_0[:, 0] > 10) == pytest.approx(0.75, abs=0.01)  # component 1 by its weight
    far = class_0[class_0[:, 0] > 10]  # 5 sigma from either component's mean
    np.testing.assert_allclose(far.mean(axis=0), 20.0, atol=0.05)
    np.testing.assert_allclose(np.cov(far, rowvar=False), 4 * np.eye(n), atol=0.15)
    np.testing.assert_allclose(class_1.mean(axis=0), -5.0, atol=0.05)  # weight 0: never the far component
    assert mixture.draw(labels[:10], np.random.default_rng(5)).tolist() == \
        mixture.draw(labels[:10], np.random.default_rng(5)).tolist()


@pytest.fixture
def run_copy(session_runs, tmp_path):
    """The session's cvae_cnn3 run (one epoch on 300 images), in a log directory of the test's own, without
    the fit or evaluation other tests may have left in it."""
    shutil.copytree(session_runs / RUN, tmp_path / RUN, ignore=ONLY_THE_RUN)
    return RunDir(tmp_path / RUN).load(log=lambda *_: None), tmp_path / RUN


def test_the_fit_is_cached_by_checkpoint_and_refitted_when_damaged(run_copy, capsys):
    run, folder = run_copy
    first = samplers.fitted(run, folder, 2)
    assert "fitted a mixture of 2 Gaussians to each class's codes of 300 training images" in capsys.readouterr().out
    assert first.weights.shape == (10, 2) and first.means.shape == (10, 2, 2) and first.cholesky.shape == (10, 2, 2, 2)
    np.testing.assert_allclose(first.weights.sum(axis=1), 1.0)
    # The means of each class's mixture lie among that class's codes.
    data = run.data()
    codes = run.encode(data.train_images[:300], data.train_labels[:300])
    for c in range(10):
        of_class = codes[data.train_labels[:300] == c]
        assert np.all(first.means[c] >= of_class.min(axis=0) - 1e-6) and np.all(first.means[c] <= of_class.max(axis=0) + 1e-6)
    again = samplers.fitted(run, folder, 2)
    assert capsys.readouterr().out == ""  # read from the cache, silently
    np.testing.assert_array_equal(again.means, first.means)
    samplers.fitted(run, folder, 3)
    assert "fitted on another checkpoint or number of components: fitting it again" in capsys.readouterr().out
    (folder / samplers.CACHE).write_bytes(b"PK\x03\x04 not a whole zip")
    refitted = samplers.fitted(run, folder, 2)
    out = capsys.readouterr().out
    assert "does not read back" in out and "fitting it again" in out
    np.testing.assert_array_equal(refitted.means, first.means)  # the fit is seeded
    # A cache that is a link to /dev/zero would fill memory: it is no cache, and the link is replaced, not written
    # through (issue 36, 9).
    (folder / samplers.CACHE).unlink()
    (folder / samplers.CACHE).symlink_to("/dev/zero")
    assert np.array_equal(samplers.fitted(run, folder, 2).means, first.means)
    assert "is not a regular file" in capsys.readouterr().out and not (folder / samplers.CACHE).is_symlink()
    # A cache rewritten with its valid key but arrays no fit gives is fitted again, saying what is wrong with it.
    key = json.dumps(samplers.checkpoint_key(run, 2))
    crafted = {"NaN means": dict(weights=first.weights, means=first.means * np.nan, cholesky=first.cholesky),
               "one class's weights": dict(weights=first.weights[:1], means=first.means, cholesky=first.cholesky),
               "negative weights": dict(weights=-first.weights, means=first.means, cholesky=first.cholesky),
               "upper factors": dict(weights=first.weights, means=first.means,
                                     cholesky=np.swapaxes(first.cholesky, 2, 3) + 1.0)}
    for case, arrays in crafted.items():
        np.savez(folder / samplers.CACHE, key=key, **arrays)
        assert np.array_equal(samplers.fitted(run, folder, 2).means, first.means), case
        assert "does not read back" in capsys.readouterr().out, case


def test_the_fit_refuses_too_many_components_and_a_classifier(run_copy, session_runs):
    run, folder = run_copy
    with pytest.raises(UsageError, match=r"--components 200: class \d has \d+ training images"):
        samplers.fitted(run, folder, 200)
    assert not (folder / samplers.CACHE).exists()
    classifier = RunDir(session_runs / "cnn_subset300").load(log=lambda *_: None)
    with pytest.raises(UsageError, match="no latent space"):
        samplers.fit_mixtures(classifier, 2)


def test_sample_tool_draws_from_the_fitted_mixture(session_runs, tmp_path, capsys):
    sample = tool("sample")
    log_dir = tmp_path / "log"
    shutil.copytree(session_runs / RUN, log_dir / RUN, ignore=ONLY_THE_RUN)
    out = tmp_path / "gmm.npz"
    common = ["cvae_cnn3", "-n", "2", "--subset", "300", "--log-dir", str(log_dir)]
    assert sample.main([*common, "--sampler", "gmm", "--components", "2", "--out", str(out)]) == 0
    assert "fitted a mixture of 2 Gaussians" in capsys.readouterr().out
    drawn = np.load(out)
    mixture = samplers.fitted(RunDir(log_dir / RUN).load(log=lambda *_: None), log_dir / RUN, 2)
    # Every code is near one of its class's component means (within 6 sigma of the widest direction).
    for z, label in zip(drawn["z"], drawn["labels"]):
        spread = np.linalg.norm(mixture.cholesky[label], axis=(1, 2))
        assert np.min(np.linalg.norm(mixture.means[label] - z, axis=1) / spread) < 6
    status, _, err = run_main(sample.main, [*common, "--sampler", "gmm", "--std", "0.5", "--out", str(out)], capsys)
    assert status == 2 and "--std" in err and "Traceback" not in err
    status, _, err = run_main(sample.main, [*common, "--components", "0", "--out", str(out)], capsys)
    assert status == 2 and "--components" in err and "Traceback" not in err
    status, _, err = run_main(sample.main, [*common, "--sampler", "gmm", "--components", "500", "--out", str(out)], capsys)
    assert status == 2 and "--components 500: class" in err and "Traceback" not in err


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_eval_json_has_both_samplers_and_results_tables_them(session_runs, tmp_path, monkeypatch):
    evaluate = tool("evaluate")
    log_dir = tmp_path / "log"
    shutil.copytree(session_runs / RUN, log_dir / RUN, ignore=ONLY_THE_RUN)
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "20", "--test-images", "300",
                          "--components", "2", "--subset", "300", "--log-dir", str(log_dir)]) == 0
    result = json.loads((log_dir / RUN / "eval.json").read_text())
    quality = result["sample_quality"]
    assert quality["samples_per_class"] == 20 and quality["images_per_sampler"] == 200 and quality["k"] == 3
    # Against every test image, not the 300 of the NLL: a floor of fewer images than the samples is none.
    assert quality["fd_floor_images"] == 10_000 and quality["fd_floor"] > 0
    assert quality["classifier"].endswith("pretrained/cnn") and quality["gmm"]["components"] == 2  # MNIST's shipped one
    for sampler in ("prior", "gmm"):
        numbers = quality[sampler]
        assert numbers["fd"] > 0 and 0 <= numbers["precision"] <= 1 and 0 <= numbers["recall"] <= 1
        assert 0 <= numbers["class_consistency"] <= 1 and len(numbers["per_class"]) == 10
    # The class-consistency the README's results table shows is the prior's, measured on the same images.
    assert result["class_consistency"]["overall"] == quality["prior"]["class_consistency"]
    assert (log_dir / RUN / samplers.CACHE).exists()
    body = tables.tables(tables.load_results(log_dir))["sample-quality"]
    prior, gmm = quality["prior"], quality["gmm"]
    assert (f"| `cvae_cnn3` | 2 | 1 | MNIST, gray | 2 | {quality['fd_floor']:.2f} | {prior['fd']:.2f} | {gmm['fd']:.2f} "
            f"| {prior['precision']:.3f} / {gmm['precision']:.3f} | {prior['recall']:.3f} / {gmm['recall']:.3f} "
            f"| {prior['class_consistency']:.1%} / {gmm['class_consistency']:.1%} |") in body
    # A damaged sample_quality is named and left out rather than tabled.
    result["sample_quality"]["gmm"].pop("fd")
    (log_dir / RUN / "eval.json").write_text(json.dumps(result))
    warnings = []
    assert tables.load_results(log_dir, warn=warnings.append) == []
    assert warnings == [f"warning: skipping {log_dir / RUN / 'eval.json'}: 'sample_quality' has no gmm FD, "
                        "precision and recall"]




def test_a_fit_that_fails_on_collapsed_codes_is_regularised_and_says_so(monkeypatch):
    """'Fitting the mixture model failed because some components have ill-defined empirical covariance' stopped
    evaluate.py before its eval.json on a real colour set (issue 36, 15)."""
    from sklearn.mixture import GaussianMixture
    codes = np.random.default_rng(0).normal(size=(40, 3))
    fit = GaussianMixture.fit

    def failing_unless_regularised(self, X, y=None):
        if self.reg_covar <= 1e-6:
            raise ValueError("Fitting the mixture model failed because some components have ill-defined empirical "
                             "covariance (for instance caused by singleton or collapsed samples).")
        return fit(self, X, y)

    monkeypatch.setattr(GaussianMixture, "fit", failing_unless_regularised)
    said = []
    mixture = samplers.fit_gaussians(codes, 2, "class 4's codes", said.append)
    assert mixture.means_.shape == (2, 3) and len(said) == 1
    assert said[0].startswith("the mixture of class 4's codes failed (Fitting the mixture model failed")
    assert "added to each covariance's diagonal instead" in said[0]
    monkeypatch.setattr(GaussianMixture, "fit", lambda self, X, y=None: (_ for _ in ()).throw(ValueError("no")))
    with pytest.raises(samplers.UserFacingError, match="no mixture of 2 Gaussians fits class 4's codes"):
        samplers.fit_gaussians(codes, 2, "class 4's codes", said.append)


def test_an_m2_run_whose_classifier_reads_no_image_as_a_class_is_told_so_not_asked_for_fewer_components():
    """Issue 36, item 16: "--components 1: class 4 has 0 training images" asked for a value that does not exist."""
    from types import SimpleNamespace
    from cvae.errors import UserFacingError
    read = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9] * 3)  # never 4
    run = SimpleNamespace(model=SimpleNamespace(has_latent_space=True, semi_supervised=True, conditional=True),
                          identity=SimpleNamespace(model="m2", subset=None),
                          data=lambda data_dir: SimpleNamespace(train_images=np.zeros((27, 28, 28, 1)),
                                                                train_labels=np.full(27, -1)),
                          classify=lambda images: read, class_names=lambda: [str(k) for k in range(10)])
    with pytest.raises(UserFacingError, match="m2's classifier reads none of the 27 training images as class 4, so no "
                                              "mixture can be fitted"):
        samplers.fit_mixtures(run, 1)
    read = np.array(list(range(10)) * 2 + [1])
    run.classify, run.data = lambda images: read, lambda data_dir: SimpleNamespace(
        train_images=np.zeros((21, 28, 28, 1)), train_labels=np.full(21, -1))
    with pytest.raises(UsageError, match=r"--components 3: class 0 has 2 training images \(as its classifier reads "
                                         r"them\), .* ask for 2 or fewer"):
        samplers.fit_mixtures(run, 3)


def test_a_fit_says_how_far_it_has_gone_and_how_long_is_left(run_copy, monkeypatch):
    """Issue 36, item 30: the first fit ran minutes without a word. Every PROGRESS_EVERY seconds (here: always)
    a line says how many classes are done and the time left; the last class's is the summary line."""
    run, _ = run_copy
    monkeypatch.setattr(samplers, "PROGRESS_EVERY", -1.0)
    lines = []
    samplers.fit_mixtures(run, 2, log=lines.append)
    progress = [line for line in lines if line.startswith("  fitting the sampler:")]
    assert [line.split(":")[1].split(" classes")[0].strip() for line in progress] == [f"{k}/10" for k in range(1, 10)]
    assert all(line.endswith(" s left") for line in progress) and lines[-1].startswith("fitted a mixture of 2")
