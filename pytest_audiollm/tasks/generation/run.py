"""One generation run in one process: the reference set, the generated files seen so far, their features.

A run is (owner, system, benchmark), where the system is a generated folder's label or a generator model. Items
add generated files (:meth:`GenerationRun.add_generated`); gates read the features of both sets. Embedding networks
are loaded once per process (:class:`BackboneBank`) and every file's features go through the on-disk embedding cache,
keyed by the audio's content hash, the network checkpoint's digest, the preset and the rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError, SampleError
from pytest_audiollm.features.frontend import PRESETS, Clip, FileFeatures, Preset, read_clip
from pytest_audiollm.tasks.generation.settings import GenerationSettings

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.features.bank import BackboneBank
    from pytest_audiollm.metrics.generation.protocol import AudioMetric

__all__ = ["GenerationRun"]

VGGISH_RATE = 16000
CACHE_VERSION = "1"


@dataclass
class GenerationRun:
    """The state of one (owner, system, benchmark) generation run in this process."""

    spec: BenchmarkSpec
    system: str
    bank: BackboneBank
    cache: Any  # EmbeddingCache or None
    metrics: dict[str, AudioMetric] = field(default_factory=dict)  # the spec's metrics, by name
    generated: dict[str, FileFeatures] = field(default_factory=dict)  # pairing key -> features
    excluded: dict[str, str] = field(default_factory=dict)  # generated id -> why it was left out
    references: dict[str, Path] = field(default_factory=dict)  # pairing key -> reference file
    reference_features: dict[str, FileFeatures] = field(default_factory=dict)
    reference_excluded: dict[str, str] = field(default_factory=dict)
    generated_keys: list[str] = field(default_factory=list)  # every generated key (full listing), for the mode
    prompts: dict[str, str] = field(default_factory=dict)  # generated key -> the text it was generated from
    backbone_errors: dict[str, str] = field(default_factory=dict)
    _paired: tuple[bool, str] | None = None
    _checksum: str | None = None

    @property
    def settings(self) -> GenerationSettings:
        assert isinstance(self.spec.settings, GenerationSettings)
        return self.spec.settings

    @property
    def preset(self) -> Preset:
        return PRESETS[self.settings.preset]

    @property
    def backbones(self) -> set[str]:
        return {b for m in self.metrics.values() if (b := m.backbone) in ("cnn14", "vggish")}

    # -- pairing ---------------------------------------------------------------------------------------------

    def paired(self) -> tuple[bool, str]:
        """Whether the run is in paired mode, and why (the rule and the counts); decided once per run."""
        if self._paired is None:
            self._paired = self._decide_pairing()
        return self._paired

    def _decide_pairing(self) -> tuple[bool, str]:
        mode = self.settings.mode
        gen = set(self.generated_keys)
        ref = set(self.references)
        common = len(gen & ref)
        counts = f"{common} of {len(gen)} generated and {len(ref)} reference files share a name"
        if mode != "auto":
            return mode == "paired", f"mode {mode} ({counts})"
        if self.preset.paired_share < 1.0:
            share = self.preset.paired_share
            paired = bool(gen) and bool(ref) and common / len(gen) > share and common / len(ref) > share
            return paired, f"auto: paired when shared names exceed {share:.0%} of both folders ({counts})"
        return bool(gen) and common == len(gen), f"auto: paired when every generated file has a reference ({counts})"

    def unpaired_lists(self) -> tuple[list[str], list[str]]:
        gen, ref = set(self.generated_keys), set(self.references)
        return sorted(gen - ref), sorted(ref - gen)

    # -- identity --------------------------------------------------------------------------------------------

    def data_checksum(self) -> str:
        """sha256 over what the run measures against: every generated key with its prompt, and every reference
        file's key with the sha256 of its bytes (so new prompts or replaced reference audio change it)."""
        if self._checksum is None:
            import hashlib
            import json

            digest = hashlib.sha256()
            for key in sorted(self.generated_keys):
                digest.update(json.dumps(["generated", key, self.prompts.get(key, "")]).encode())
            for key in sorted(self.references):
                digest.update(json.dumps(["reference", key, _file_sha256(self.references[key])]).encode())
            self._checksum = digest.hexdigest()
        return self._checksum

    # -- files -----------------------------------------------------------------------------------------------

    def clip(self, path: Path, key: str) -> Clip:
        return read_clip(path, key, self.preset)

    def features(self, clip: Clip) -> FileFeatures:
        """Embeddings of ``clip`` for every backbone the metrics need (cached on disk); missing ones stay None."""
        import numpy as np

        out = FileFeatures(clip.key, clip.path, clip.sha256, clip.duration_s)
        rate = self.settings.sample_rate
        for backbone in sorted(self.backbones):
            net_rate = rate if backbone == "cnn14" else VGGISH_RATE
            try:
                embedder = self.bank.embedder(backbone, net_rate)
            except AudioLLMError as exc:
                self.backbone_errors[backbone] = str(exc)
                continue
            arrays = self._cached(clip, backbone, net_rate)
            if arrays is None:
                result = embedder.embed([self.preset.pad(clip.at(net_rate), net_rate)])
                arrays = {"embedding": np.asarray(result.embeddings[0], dtype=np.float64)}
                if result.logits is not None:
                    arrays["logits"] = np.asarray(result.logits[0], dtype=np.float64)
                self._store(clip, backbone, net_rate, arrays)
            if backbone == "cnn14":
                out.embedding = arrays["embedding"].reshape(-1)
                out.logits = arrays["logits"].reshape(-1)
            else:
                out.vggish = arrays["embedding"].reshape(-1, 128)
        return out

    def _cache_key(self, clip: Clip, backbone: str, rate: int) -> str | None:
        if self.cache is None:
            return None
        preset = f"{self.preset.name}@{rate}@v{CACHE_VERSION}"
        key: str = self.cache.key(clip.sha256, self.bank.digest(backbone, rate), preset)
        return key

    def _cached(self, clip: Clip, backbone: str, rate: int) -> dict[str, Any] | None:
        key = self._cache_key(clip, backbone, rate)
        if key is None:
            return None
        found: dict[str, Any] | None = self.cache.get(key)
        return found

    def _store(self, clip: Clip, backbone: str, rate: int, arrays: dict[str, Any]) -> None:
        key = self._cache_key(clip, backbone, rate)
        if key is not None:
            self.cache.put(key, arrays)

    def add_generated(self, clip: Clip) -> FileFeatures:
        features = self.features(clip)
        self.generated[clip.key] = features
        return features

    def reference_clip(self, key: str) -> Clip | None:
        """The reference partner of ``key`` decoded (waveforms are not kept), or None: none, or unreadable."""
        path = self.references.get(key)
        if path is None or key in self.reference_excluded:
            return None
        try:
            clip = self.clip(path, key)
        except SampleError as exc:
            self.reference_excluded[key] = str(exc)
            return None
        return clip

    def reference_feature(self, key: str, clip: Clip | None = None) -> FileFeatures | None:
        """The features of reference ``key`` (``clip``: its decoded audio, when the caller has it already)."""
        if key not in self.reference_features:
            clip = clip if clip is not None else self.reference_clip(key)
            if clip is None:
                return None
            self.reference_features[key] = self.features(clip)
        return self.reference_features[key]

    def all_reference_features(self) -> list[FileFeatures]:
        """Every usable reference file's features (embedding the ones no item has needed yet)."""
        out = []
        for key in sorted(self.references):
            feature = self.reference_feature(key)
            if feature is not None:
                out.append(feature)
        return out


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return digest.hexdigest()
