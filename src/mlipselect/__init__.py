"""mlipselect: choose which configurations to label for a machine-learned interatomic
potential, and benchmark the choice."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlipselect")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
