"""The ``generation`` task of a benchmark YAML: which audio is compared with which, and how.

Two ways to evaluate generated audio:

- folder against folder: ``data: {generated: DIR, reference: DIR}`` (``generated`` may also map labels to folders, one
  run per label, e.g. one per checkpoint); every generated file is an item;
- a generator model (``pytest_audiollm_register_generators``): ``data`` is a manifest of prompts (``prompt`` field)
  with their reference audio (``audio`` field); every prompt is an item whose output is compared with the references.

The ``generation:`` block holds the settings (all optional)::

    generation:
      preset: clean                 # or audioldm_eval-0.0.3
      mode: auto                    # auto | paired | unpaired
      sample_rate: 16000            # CNN14 variant: 16000 or 32000
      kid_subsets: 100
      kid_subset_size: 1000
      isc_splits: 10
      seed: 2020
      clap_checkpoint: /path/to/clap   # for clap_score
      outliers: 10                  # how many most-distant generated files the results list
      bootstrap: 0                  # N > 0: a 95% CI for fad/fd/kid/kad/isc from N resamples of both sets
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_audiollm.benchmarks.data_spec import DataSpec
from pytest_audiollm.errors import SpecError

__all__ = ["KEYS", "GenerationSettings", "parse_generation", "parse_generation_data"]


PRESETS = ("clean", "audioldm_eval-0.0.3")
MODES = ("auto", "paired", "unpaired")
KEYS = (
    "preset",
    "mode",
    "sample_rate",
    "kid_subsets",
    "kid_subset_size",
    "isc_splits",
    "seed",
    "clap_checkpoint",
    "outliers",
    "bootstrap",
)
FOLDER_DATA_KEYS = ("generated", "reference", "prompts")


@dataclass(frozen=True)
class GenerationSettings:
    """The ``generation:`` block and the folders of a folder-against-folder benchmark."""

    preset: str = "clean"
    mode: str = "auto"
    sample_rate: int = 16000
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    isc_splits: int = 10
    seed: int = 2020
    clap_checkpoint: str | None = None
    outliers: int = 10
    bootstrap: int = 0  # resamples of both sets for the CI of distribution metrics (0: no CI)
    systems: dict[str, DataSpec] = field(default_factory=dict)  # label -> generated folder (folder mode)
    reference: DataSpec | None = None  # the reference folder (folder mode); manifests carry their own audio
    prompts: DataSpec | None = None  # folder mode: optional manifest of text prompts by file id (clap_score)

    @property
    def folder_mode(self) -> bool:
        return bool(self.systems)


def parse_generation_data(raw: Mapping[str, Any], source: str, base_dir: Path) -> dict[str, Any]:
    """``data: {generated, reference[, prompts]}``: the folder DataSpecs (empty dict when ``raw`` is a manifest)."""
    if "generated" not in raw and "reference" not in raw:
        return {}
    for key in raw:
        if str(key) not in FOLDER_DATA_KEYS:
            raise SpecError(
                source,
                f"data.{key}",
                f"is not a known key here; a folder comparison takes {', '.join(FOLDER_DATA_KEYS)}",
            )
    for key in ("generated", "reference"):
        if not raw.get(key):
            raise SpecError(
                source, f"data.{key}", "is required: the folder of generated audio and the reference folder"
            )
    generated = raw["generated"]
    if isinstance(generated, str):
        generated = {"generated": generated}
    if not isinstance(generated, Mapping) or not all(isinstance(v, str) and v for v in generated.values()):
        raise SpecError(source, "data.generated", "expected a folder, or a mapping of label to folder")
    systems = {str(label): DataSpec("folder", str(path), base_dir, source) for label, path in generated.items()}
    if not isinstance(raw["reference"], str):
        raise SpecError(source, "data.reference", f"expected a folder, got {type(raw['reference']).__name__}")
    out: dict[str, Any] = {"systems": systems, "reference": DataSpec("folder", str(raw["reference"]), base_dir, source)}
    if raw.get("prompts"):
        out["prompts"] = DataSpec("jsonl", str(raw["prompts"]), base_dir, source)
    return out


def parse_generation(raw: Any, folders: dict[str, Any], source: str) -> GenerationSettings:
    """Validate the ``generation:`` block of a generation benchmark (its metrics are checked by the kind)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(source, "generation", f"expected a mapping of settings ({', '.join(KEYS)})")
    for key in raw:
        if str(key) not in KEYS:
            raise SpecError(source, f"generation.{key}", f"is not a known key; allowed here: {', '.join(KEYS)}")
    preset = str(raw.get("preset", "clean"))
    if preset not in PRESETS:
        raise SpecError(source, "generation.preset", f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
    mode = str(raw.get("mode", "auto"))
    if mode not in MODES:
        raise SpecError(source, "generation.mode", f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    rate = _int(raw, "sample_rate", 16000, source)
    if rate not in (16000, 32000):
        raise SpecError(source, "generation.sample_rate", f"CNN14 exists for 16000 and 32000 Hz, got {rate}")
    clap = raw.get("clap_checkpoint")  # else $AUDIOLLM_CLAP_CHECKPOINT, checked when the gate runs
    return GenerationSettings(
        preset=preset,
        mode=mode,
        sample_rate=rate,
        kid_subsets=_int(raw, "kid_subsets", 100, source),
        kid_subset_size=_int(raw, "kid_subset_size", 1000, source),
        isc_splits=_int(raw, "isc_splits", 10, source),
        seed=_int(raw, "seed", 2020, source, minimum=0),
        clap_checkpoint=str(clap) if clap else None,
        outliers=_int(raw, "outliers", 10, source, minimum=0),
        bootstrap=_int(raw, "bootstrap", 0, source, minimum=0),
        systems=folders.get("systems", {}),
        reference=folders.get("reference"),
        prompts=folders.get("prompts"),
    )


def _int(raw: Mapping[str, Any], key: str, default: int, source: str, *, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(source, f"generation.{key}", f"expected an integer >= {minimum}, got {value!r}")
    return value
