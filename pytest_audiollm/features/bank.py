"""BackboneBank: the embedding networks (CNN14, VGGish) of this process, loaded on first use."""

from __future__ import annotations

from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency

__all__ = ["BackboneBank"]


class BackboneBank:
    """The embedding networks of this process, loaded on first use; a missing checkpoint is remembered."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._embedders: dict[str, Any] = {}
        self._missing: dict[str, AudioLLMError] = {}
        self._digests: dict[str, str] = {}
        self.official: dict[str, bool] = {}  # checkpoint name -> whether its SHA-256 is the published one

    @staticmethod
    def checkpoint_name(backbone: str, rate: int) -> str:
        return f"cnn14-{rate // 1000}k" if backbone == "cnn14" else backbone

    def embedder(self, backbone: str, rate: int) -> Any:
        """The loaded embedder of ``backbone`` (cnn14 at ``rate``, or vggish); raises its missing-checkpoint error."""
        name = self.checkpoint_name(backbone, rate)
        if name in self._missing:
            raise self._missing[name]
        if name not in self._embedders:
            try:
                self._embedders[name] = self._load(backbone, name, rate)
            except (MissingDependency, AudioLLMError) as exc:
                self._missing[name] = exc
                raise
        return self._embedders[name]

    def digest(self, backbone: str, rate: int) -> str:
        return self._digests[self.checkpoint_name(backbone, rate)]

    def _load(self, backbone: str, name: str, rate: int) -> Any:
        """The embedder from the checkpoint that $AUDIOLLM_<NAME>_CHECKPOINT or the cache holds.

        A user-supplied file is not required to be the official one (fine-tuned networks are legitimate): its
        SHA-256 goes into every result, with ``official`` saying whether it matches the published checkpoint.
        """
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise MissingDependency("torch", f"the {name} embedding network", extra="generation") from exc
        from pytest_audiollm.features import weights
        from pytest_audiollm.features.backbones import Cnn14Embedder, VGGishEmbedder
        from pytest_audiollm.features.safe_load import load_state_dict

        path = weights.resolve_checkpoint(name, needed_for=f"the generation metrics on {name}", verify=False)
        self._digests[name] = weights.checkpoint_digest(path)
        self.official[name] = self._digests[name] == weights.checkpoint_spec(name).sha256
        state_dict = load_state_dict(path)
        if backbone == "cnn14":
            return Cnn14Embedder.from_state_dict(state_dict, rate, device=self.device)
        return VGGishEmbedder.from_state_dict(state_dict, device=self.device)

    def close(self) -> None:
        self._embedders.clear()
