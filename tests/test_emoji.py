"""cvae.emoji: the second colour set, built from npm's emoji-datasource-google tarball only when its sha512 is the
pinned one. Tested on a small tarball of the same layout made here (the real one is 74 MB, fetched by hand)."""
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_main
from cvae import emoji
from cvae.errors import UserFacingError


def png(colour, size=emoji.SIZE):
    """An RGBA image file: a square of `colour` in the middle, transparent around it."""
    pixels = np.zeros((size, size, 4), np.uint8)
    pixels[16:48, 16:48] = [*colour, 255]
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, format="PNG")
    return out.getvalue()


def tarball(entries, size=emoji.SIZE):
    """A .tgz as npm packs the package: package/emoji.json and package/img/google/64/IMAGE for each entry."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        files = {"emoji.json": json.dumps(entries).encode()}
        files |= {f"img/google/64/{e['image']}": png((40 * e["sort_order"] % 256, 200, 10), size)
                  for e in entries if e.get("has_img_google")}
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


ENTRIES = ([{"image": f"s{i}.png", "category": "Smileys & Emotion", "sort_order": i, "has_img_google": True}
            for i in range(5)]
           + [{"image": f"f{i}.png", "category": "Flags", "sort_order": 10 + i, "has_img_google": True}
              for i in range(3)]
           + [{"image": "c.png", "category": "Component", "sort_order": 20, "has_img_google": True},  # a skin swatch
              {"image": "x.png", "category": "Objects", "sort_order": 21, "has_img_google": False}])  # no Google image


def test_the_set_holds_each_category_s_emoji_on_white_split_per_class_and_seeded():
    data = tarball(ENTRIES)
    arrays = emoji.build(data, integrity=emoji.integrity_of(data))
    assert arrays["images"].shape[1:] == (64, 64, 3) and arrays["images"].dtype == np.uint8
    labels = np.concatenate([arrays["labels"], arrays["test_labels"]])
    # Components and emoji without a Google image are left out; labels follow CATEGORIES.
    assert sorted(labels.tolist()) == [0] * 5 + [8] * 3 and list(arrays["class_names"]) == list(emoji.CATEGORIES)
    assert np.bincount(arrays["test_labels"], minlength=9)[[0, 8]].tolist() == [1, 1]  # 15%, at least one a class
    every = np.concatenate([arrays["images"], arrays["test_images"]])
    assert (every[:, 0, 0] == 255).all() and (every[:, 32, 32, 1] == 200).all()  # transparency onto white
    again = emoji.build(data, integrity=emoji.integrity_of(data))
    assert all(np.array_equal(arrays[key], again[key]) for key in arrays)


def test_a_tarball_without_the_pinned_sha512_or_of_other_images_is_refused():
    data = tarball(ENTRIES)
    with pytest.raises(UserFacingError, match="does not have npm's sha512 for it"):
        emoji.build(data)  # the pinned integrity is the real package's
    small = tarball(ENTRIES, size=32)
    with pytest.raises(UserFacingError, match="is 32 x 32, not 64 x 64"):
        emoji.build(small, integrity=emoji.integrity_of(small))


def test_the_command_writes_the_npz_from_a_given_tarball_and_says_what_is_wrong_in_one_line(tmp_path, capsys,
                                                                                         monkeypatch):
    given = tmp_path / "package.tgz"
    given.write_bytes(tarball(ENTRIES))
    status, _, err = run_main(emoji.main, [str(tmp_path / "emoji.npz"), "--tarball", str(given)], capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1 and "it is not used" in err
    assert not (tmp_path / "emoji.npz").exists()
    monkeypatch.setattr(emoji, "INTEGRITY", emoji.integrity_of(given.read_bytes()))  # as if it were the package
    status, out, err = run_main(emoji.main, [str(tmp_path / "emoji.npz"), "--tarball", str(given)], capsys)
    assert status == 0, err
    assert "Smileys & Emotion 5" in out and "Flags 3" in out
    with np.load(tmp_path / "emoji.npz") as written:
        assert written["images"].shape[1:] == (64, 64, 3) and len(written["test_labels"]) == 2
    for argv, message in (([str(tmp_path / "e.png")], "give a file name ending in .npz"),
                          ([str(tmp_path / "e.npz"), "--tarball", str(tmp_path / "none.tgz")], "no such file")):
        status, _, err = run_main(emoji.main, argv, capsys)
        assert status == 2 and message in err
