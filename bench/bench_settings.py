"""A benchmark server's settings: the app's, with ROOT_URLCONF naming a bench/ module that adds
the benchmark's comparison views to the app's URLs (the app itself has none)."""

import os

from galaxyco.settings import *  # noqa: F403

ROOT_URLCONF = os.environ["BENCH_ROOT_URLCONF"]
