"""The deployment files stay valid: the Zero to JupyterHub values (the multi-machine path) and
the single-machine JupyterHub config (which tests/test_hub.py also runs for real)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
Z2JH = ROOT / "deploy" / "zero-to-jupyterhub" / "config.yaml"
HUB_CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"

# The top-level keys the Zero to JupyterHub chart accepts (its values.schema.yaml, chart 4.x).
CHART_KEYS = {"hub", "proxy", "singleuser", "scheduling", "prePuller", "ingress", "cull",
              "debug", "rbac", "imagePullSecret", "imagePullSecrets", "custom", "global",
              "fullnameOverride", "nameOverride", "enabled", "apps", "Chart", "Release",
              "cert-manager"}


def _bytes(quantity: str) -> float:
    """Kubernetes-style quantities: 1.5G, 2Gi, 512M."""
    match = re.fullmatch(r"([\d.]+)\s*([KMGT]i?)?", str(quantity))
    assert match, f"not a memory quantity: {quantity!r}"
    number, unit = float(match[1]), match[2] or ""
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[unit]
    return number * scale


def test_z2jh_values_use_only_chart_keys_and_the_binder_image():
    values = yaml.safe_load(Z2JH.read_text())
    assert set(values) <= CHART_KEYS, f"unknown top-level keys: {set(values) - CHART_KEYS}"
    image = values["singleuser"]["image"]
    assert image["name"] and isinstance(image["tag"], str), image
    assert "repo2docker" in Z2JH.read_text() and "binder/" in Z2JH.read_text()
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0


def test_z2jh_resources_fit_the_measured_course_budget():
    from cnnkit.report import MEMORY_BUDGET_MB as BUDGET_MB  # checked per lesson: conftest.py

    memory = yaml.safe_load(Z2JH.read_text())["singleuser"]["memory"]
    guarantee, limit = _bytes(memory["guarantee"]), _bytes(memory["limit"])
    assert guarantee >= BUDGET_MB * 2**20, "a student must be guaranteed the heaviest lesson"
    assert limit >= guarantee + 0.3e9, "JupyterLab needs about 0.3 GB beside the kernel"
    assert limit <= 2e9 * 1.01, "more than Binder's 2 GB: the course is sized for 2 GB"


def test_single_machine_config_parses_and_sets_what_the_docs_promise():
    source = HUB_CONFIG.read_text()
    ast.parse(source)
    for setting in ("c.Spawner.pre_spawn_hook", "jupyterhub_idle_culler", "c.Spawner.mem_limit",
                    "c.Exchange.root", "jupyterhub-singleuser"):
        assert setting in source, f"deploy/jupyterhub/jupyterhub_config.py lacks {setting}"
