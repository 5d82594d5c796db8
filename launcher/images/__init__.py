"""Images of packages: `uvx://PACKAGE[@VERSION]` resolved on the host and built with no network.

The host's pip resolves the package's whole tree to wheels for the base's CPython, checks
every hash, and unpacks it; the image is the base plus those files, copied in by a build
that runs nothing and reaches nothing, with its bill of materials inside and what was
asked and resolved in its labels. Part of the launcher, since it drives the engine and the
host's tools for the launch (the compiler stays pure); `run`/`start` use it before a
`LaunchRequest` is made, `build`, `images` and `base build` on their own.

    spec.py      the spec, read strictly
    resolve.py   the pinned tree, and why there is none
    wheels.py    pip for the target (stdlib only: the test images' build uses it too)
    rootfs.py    the base's Debian root filesystem (stdlib only, likewise)
    base.py      the base on an engine
    assembly.py  the build context: files, entry point, bytecode, Dockerfile
    sbom.py      the CycloneDX bill of materials
    builder.py   the order: base, warm image, resolve, build
    store.py     the built images on an engine: find, build, import, remove
"""

from .builder import Built, ensure
from .spec import PackageSpec, is_spec, parse

__all__ = ["Built", "PackageSpec", "ensure", "is_spec", "parse"]
