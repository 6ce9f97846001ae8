# SPDX-License-Identifier: GPL-2.0 OR MIT
"""mcxfer: Python binding of libmcxfer (cffi, API mode).  See README.md."""
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    try:
        with open(os.path.join(HERE, "..", "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "0.0.0"


setup(
    name="mcxfer",
    version=version(),
    description="Python binding of libmcxfer, the mcxfer RDMA transfer engine and registry",
    license="GPL-2.0 OR MIT",
    python_requires=">=3.9",
    packages=["mcxfer"],
    package_data={"mcxfer": ["py.typed", "*.pyi"]},
    setup_requires=[],
    install_requires=["cffi>=1.15"],
    cffi_modules=["mcxfer/_build.py:ffibuilder"],
    zip_safe=False,
)
