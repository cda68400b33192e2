"""explore.py: the latent explorer, driven in Debian's chromium. The images the page decodes with
TensorFlow.js must be the Python decoder's, for the same z and label."""
import json
import shutil
import socket

import numpy as np
import pytest

from browser import drive
from conftest import QUICK_RUN, ROOT, run_main, tool
from cvae import explorer
from cvae.rundir import RunDir
train = tool("train")
explore = tool("explore")

PLAYWRIGHT = ROOT / "node_modules" / "playwright-core"
needs_browser = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("node") and PLAYWRIGHT.exists() and explorer.TFJS.exists()),
    reason="needs Debian's chromium (`apt-get install chromium`), Node.js, and `npm ci` (TensorFlow.js and "
           "playwright-core from package-lock.json); .ci/run installs them")


def write(log_dir, out, *run, capsys):
    status, stdout, err = run_main(explore.main, [*run, "--no-serve", "--log-dir", str(log_dir), "--out", str(out)],
                                   capsys)
    assert status == 0, err
    return out


def assert_same_as_python(reads, model):
    for read in reads:
        z = np.array([read["z"]], np.float32)
        expected = np.asarray(model.generate(z, np.array([read["label"]], np.int32))).reshape(-1)
        browser = np.array(read["image"])
        assert browser.shape == expected.shape and np.max(np.abs(browser - expected)) <= 1e-4, (read["z"], read["label"])
        # The canvas shows the page's own values: 8-bit gray levels of dark ink on white, or colour as it is.
        shown = 1 - browser if model.image_shape[2] == 1 else browser
        np.testing.assert_array_equal(read["canvas"], np.round(255 * shown))


@pytest.fixture(scope="module")
def fc3_run(tmp_path_factory):
    """cvae_fc3 with n = 20 (sliders), one epoch on 300 images."""
    log_dir = tmp_path_factory.mktemp("fc3")
    assert train.main(["cvae_fc3", "-n", "20", "--subset", "300", "-e", "1", "--log-dir", str(log_dir)]) == 0
    return log_dir


@needs_browser
@pytest.mark.slow  # a browser per model
@pytest.mark.parametrize("model_name", ["cvae_cnn3", "vae"])
def test_dragging_the_point_decodes_what_python_decodes(model_name, session_runs, tmp_path, capsys):
    run = [model_name, "-n", "2", "--subset", "300"]
    site = write(session_runs, tmp_path / "site", *run, capsys=capsys)
    conditional = model_name != "vae"
    steps = [{"read": True}, {"drag": [0.85, 0.2]}, {"read": True}, {"drag": [0.1, 0.9]}, {"read": True}]
    steps += [{"label": 7}, {"read": True}, {"label": 3}, {"drag": [0.4, 0.55]}, {"read": True}] if conditional else []
    out = drive(site, steps, tmp_path)
    assert out["error"] is None and len(out["reads"]) == (5 if conditional else 3)
    assert out["reads"][1]["z"] == pytest.approx([0.7 * 2.3263, 0.6 * 2.3263], abs=0.05)  # where it was dragged
    assert out["reads"][2]["z"] == pytest.approx([-0.8 * 2.3263, -0.8 * 2.3263], abs=0.05)
    if conditional:
        assert out["reads"][3]["label"] == 7 and out["reads"][4]["label"] == 3
    model = RunDir(session_runs / f"{model_name}_2_subset300").load().model
    assert_same_as_python(out["reads"], model)
    if not conditional:  # the test set's latent means are drawn behind the plane
        assert len(json.loads((site / "manifest.json").read_text())["codes"]) == explorer.CODES_SHOWN


@needs_browser
@pytest.mark.slow
def test_sliders_decode_what_python_decodes(fc3_run, tmp_path, capsys):
    site = write(fc3_run, tmp_path / "site", "cvae_fc3", "-n", "20", "--subset", "300", capsys=capsys)
    steps = [{"slider": [0, 1.5]}, {"slider": [3, -0.7]}, {"read": True}, {"label": 9}, {"slider": [19, 2.0]},
             {"read": True}, {"bench": 50}]
    out = drive(site, steps, tmp_path)
    assert out["error"] is None
    assert out["reads"][0]["z"][:4] == pytest.approx([1.5, 0, 0, -0.7]) and len(out["reads"][0]["z"]) == 20
    assert out["reads"][1]["label"] == 9 and out["reads"][1]["z"][19] == pytest.approx(2.0)
    model = RunDir(fc3_run / "cvae_fc3_20_subset300").load().model
    assert_same_as_python(out["reads"], model)
    assert out["bench"][0] > 0


@needs_browser
@pytest.mark.slow
def test_the_page_refuses_a_manifest_of_another_format(session_runs, tmp_path, capsys):
    site = write(session_runs, tmp_path / "site", "cvae_cnn3", "-n", "2", "--subset", "300", capsys=capsys)
    manifest = json.loads((site / "manifest.json").read_text())
    (site / "manifest.json").write_text(json.dumps(manifest | {"format": explorer.FORMAT + 1}))
    out = drive(site, [{"read": True}], tmp_path)
    assert out["error"].startswith(f"manifest.json has format {explorer.FORMAT + 1}, this page reads format 1")


def test_the_site_holds_the_page_tfjs_weights_and_manifest(session_runs, tmp_path, capsys):
    if not explorer.TFJS.exists():
        pytest.skip("TensorFlow.js is not installed: run `npm ci`")
    site = write(session_runs, tmp_path / "site", "cvae_cnn3", "-n", "2", "--subset", "300", capsys=capsys)
    assert sorted(p.name for p in site.iterdir()) == sorted(explorer.WRITTEN)
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["format"] == explorer.FORMAT and manifest["class_names"] == [str(d) for d in range(10)]
    assert [layer["kind"] for layer in manifest["layers"]] == ["dense", "reshape", "deconv", "crop", "deconv", "crop",
                                                               "deconv"]
    model = RunDir(session_runs / QUICK_RUN).load().model
    weights = np.frombuffer((site / "weights.bin").read_bytes(), "<f4")
    assert weights.size == sum(int(np.prod(v.shape)) for layer in model.decoder_layers for v in layer.weights)
    # Written again into the same folder: replaced; into a folder of another format or of other files: refused.
    write(session_runs, site, "cvae_cnn3", "-n", "2", "--subset", "300", capsys=capsys)
    (site / "manifest.json").write_text(json.dumps(manifest | {"format": 0}))
    status, _, err = run_main(explore.main, ["cvae_cnn3", "-n", "2", "--subset", "300", "--no-serve", "--log-dir",
                                             str(session_runs), "--out", str(site)], capsys)
    assert status == 2 and "holds an explorer of another version (manifest format 0" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    status, _, err = run_main(explore.main, ["cvae_cnn3", "-n", "2", "--subset", "300", "--no-serve", "--log-dir",
                                             str(session_runs), "--out", str(tmp_path / "mine")], capsys)
    assert status == 2 and "holds no explorer" in err and (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_a_missing_run_names_the_command_that_makes_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(explorer, "TFJS", tmp_path / "tf.min.js")  # what the run lacks comes first, npm or not
    status, _, err = run_main(explore.main, ["cvae_fc3", "-n", "3", "--log-dir", str(tmp_path), "--no-serve"], capsys)
    assert status == 1 and f"python train.py cvae_fc3 -n 3 --log-dir {tmp_path}" in err and "Traceback" not in err
    status, _, err = run_main(explore.main, ["cnn", "--pretrained", "--no-serve", "--out", str(tmp_path / "x")], capsys)
    assert status == 2 and "cnn is a classifier: it has no latent space to explore" in err


def test_a_port_in_use_gives_the_next_free_one(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        server = explorer.server_for(tmp_path, port)
        assert server.server_address[1] != port
        server.server_close()
    finally:
        taken.close()


def test_without_tensorflow_js_it_says_to_run_npm_ci(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(explorer, "TFJS", tmp_path / "tf.min.js")
    status, _, err = run_main(explore.main, ["cvae_cnn3", "-n", "2", "--pretrained", "--no-serve", "--out",
                                             str(tmp_path / "site")], capsys)
    assert status == 1 and "TensorFlow.js is not installed" in err and "npm ci" in err
    assert not (tmp_path / "site").exists()


@needs_browser
@pytest.mark.slow
def test_twenty_sliders_line_up_and_randomize_stays_within_them(fc3_run, tmp_path, capsys):
    site = write(fc3_run, tmp_path / "site", "cvae_fc3", "-n", "20", "--subset", "300", capsys=capsys)
    out = drive(site, [{"boxes": "#sliders input"}] + [{"click": "#randomize"}, {"read": True}] * 5, tmp_path)
    assert out["error"] is None
    lefts = {round(box["x"]) for box in out["boxes"][0]}
    assert len(out["boxes"][0]) == 20 and len(lefts) == 1, lefts  # z10-z19 no longer sit to the right of z0-z9
    z_range = json.loads((site / "manifest.json").read_text())["z_range"]
    values = np.array([read["z"] for read in out["reads"]])
    assert values.shape == (5, 20) and np.all(np.abs(values) <= z_range) and values.std() > 0.3


@needs_browser
@pytest.mark.slow
def test_the_page_opened_as_a_file_says_it_must_be_served(session_runs, tmp_path, capsys):
    import subprocess
    site = write(session_runs, tmp_path / "site", "cvae_cnn3", "-n", "2", "--subset", "300", capsys=capsys)
    (tmp_path / "steps.json").write_text("[]")
    result = subprocess.run(["node", str(ROOT / "web" / "drive.mjs"), (site / "index.html").as_uri(),
                             str(tmp_path / "steps.json"), str(tmp_path / "out.json")], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    error = json.loads((tmp_path / "out.json").read_text())["error"]
    assert error.startswith("this page must be served, not opened as a file") and "python explore.py" in error


@needs_browser
@pytest.mark.slow
def test_the_mixture_button_draws_the_label_s_codes(fc3_run, tmp_path, capsys):
    from cvae import samplers
    site = write(fc3_run, tmp_path / "site", "cvae_fc3", "-n", "20", "--subset", "300", "--sampler", "gmm",
                 "--components", "2", capsys=capsys)
    run = RunDir(fc3_run / "cvae_fc3_20_subset300").load()
    mixture = samplers.fitted(run, fc3_run / "cvae_fc3_20_subset300", 2)
    manifest = json.loads((site / "manifest.json").read_text())
    np.testing.assert_allclose(manifest["mixture"]["means"], mixture.means, rtol=1e-6)
    steps = [{"label": 4}] + [{"click": "#gmm"}, {"read": True}] * 6
    out = drive(site, steps, tmp_path)
    assert out["error"] is None
    for read in out["reads"]:
        assert read["label"] == 4
        # Each z lies near one of class 4's components: its Mahalanobis distance is that of a 20-D normal draw.
        z = np.array(read["z"])
        distances = [np.linalg.norm(np.linalg.solve(mixture.cholesky[4, k], z - mixture.means[4, k]))
                     for k in range(2)]
        assert min(distances) < 9  # sqrt(chi2_20) is about 4.4; 9 is beyond its 1e-9 tail
    assert len({tuple(read["z"]) for read in out["reads"]}) == 6
    assert_same_as_python(out["reads"], run.model)
    # Without --sampler gmm the page has no mixture and hides the button.
    site = write(fc3_run, tmp_path / "plain", "cvae_fc3", "-n", "20", "--subset", "300", capsys=capsys)
    assert "mixture" not in json.loads((site / "manifest.json").read_text())


@needs_browser
@pytest.mark.slow
def test_randomize_draws_from_a_learned_prior(tmp_path, capsys):
    """A VampPrior's components are in the manifest, and randomize draws from the current label's: here class 4's
    are made unmistakable (component k: every coordinate 0.02 k, sigma 0.001), so each draw must be one of them."""
    log_dir = tmp_path / "log"
    assert train.main(["cvae_fc3_vamp", "-n", "20", "--subset", "300", "-e", "1", "--log-dir", str(log_dir)]) == 0
    site = write(log_dir, tmp_path / "site", "cvae_fc3_vamp", "-n", "20", "--subset", "300", capsys=capsys)
    manifest = json.loads((site / "manifest.json").read_text())
    assert [len(weights) for weights in manifest["prior"]["weights"]] == [50] * 10
    manifest["prior"]["means"][4] = [[0.02 * k] * 20 for k in range(50)]
    manifest["prior"]["stds"][4] = [[0.001] * 20 for _ in range(50)]
    (site / "manifest.json").write_text(json.dumps(manifest))
    out = drive(site, [{"label": 4}] + [{"click": "#randomize"}, {"read": True}] * 6, tmp_path)
    assert out["error"] is None
    components = set()
    for read in out["reads"]:
        z = np.array(read["z"])
        k = round(z.mean() / 0.02)
        assert read["label"] == 4 and 0 <= k < 50 and np.abs(z - 0.02 * k).max() < 0.006, z
        components.add(k)
    assert len(components) > 1
    assert_same_as_python(out["reads"], RunDir(log_dir / "cvae_fc3_vamp_20_subset300").load().model)
