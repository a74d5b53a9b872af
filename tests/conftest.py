"""Shared fixtures: small profiles written to temporary YAML files, and a sampled smoke pool."""

from __future__ import annotations

import copy

import pytest
import yaml

from mlipselect.config import PROFILES_DIR


@pytest.fixture
def make_profile(tmp_path):
    """Write a profile to a temporary YAML: the ``base`` profile with ``sections`` merged in
    (section name -> dict of keys); returns its path."""

    def write(base: str = "smoke", **sections) -> str:
        profile = yaml.safe_load((PROFILES_DIR / f"{base}.yaml").read_text())
        for section, values in sections.items():
            profile[section] = {**profile.get(section, {}), **copy.deepcopy(values)}
        path = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}.yaml"
        path.write_text(yaml.safe_dump(profile))
        return str(path)

    return write


@pytest.fixture(scope="session")
def smoke_pool(tmp_path_factory):
    """The smoke profile's pool (64 ions; a crystal and a melt state point)."""
    from mlipselect.cli import main

    out = tmp_path_factory.mktemp("pool") / "pool.h5"
    assert main(["sample", "--config", "smoke", "--out", str(out)]) == 0
    return out
