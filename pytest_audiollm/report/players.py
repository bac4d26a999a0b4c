"""Audio players for the HTML report: samples embedded as small WAV data URIs, within a per-report budget."""

from __future__ import annotations

import base64
import html
import io
import wave
from typing import Any

AUDIO_BUDGET_BYTES = 20 * 2**20  # base64 bytes of all embedded players of one report
AUDIO_SAMPLE_RATE = 16000
AUDIO_MAX_SECONDS = 10.0


def escape(value: Any) -> str:
    """HTML-escaped text (quotes too); None is empty."""
    return html.escape("" if value is None else str(value), quote=True)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def wav_data_uri(path: str, member: str | None = None) -> str:
    """The audio at ``path`` as a ``data:audio/wav`` URI: mono, 16 kHz, 16-bit, at most 10 s."""
    import numpy as np

    from pytest_audiollm.audio import load_audio
    from pytest_audiollm.sample import AudioRef

    decoded = load_audio(AudioRef(path, member), AUDIO_SAMPLE_RATE, AUDIO_MAX_SECONDS)
    pcm = (np.clip(decoded.samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(decoded.sample_rate)
        out.writeframes(pcm.tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class AudioEmbedder:
    """Embeds players until the report's budget is used up."""

    def __init__(self, budget_bytes: int = AUDIO_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.embedded = 0
        self.refused = 0  # players left out because the budget was used up
        self.without_path = 0  # samples that would get a player but whose row has no audio_path

    def player(self, row: dict[str, Any]) -> str:
        path = row.get("audio_path")
        if not path:
            self.without_path += 1
            return ""
        if self.used_bytes >= self.budget_bytes:
            self.refused += 1
            return '<span class="audiollm-note">audio not embedded: the report\'s audio budget is used up</span>'
        try:
            uri = wav_data_uri(str(path), row.get("audio_member"))
        except Exception as exc:  # a missing or unreadable file costs the player only
            return f'<span class="audiollm-note">audio unavailable: {escape(cut(str(exc), 300))}</span>'
        if self.used_bytes + len(uri) > self.budget_bytes:
            self.used_bytes = self.budget_bytes
            self.refused += 1
            return '<span class="audiollm-note">audio not embedded: the report\'s audio budget is used up</span>'
        self.used_bytes += len(uri)
        self.embedded += 1
        return f'<audio controls preload="none" src="{uri}" title="{escape(path)}"></audio>'

    def note(self) -> str:
        parts = []
        if self.embedded or self.refused:
            parts.append(
                f"Audio players: {self.embedded} embedded ({self.used_bytes / 2**20:.1f} MiB of the "
                f"{self.budget_bytes / 2**20:.0f} MiB budget)."
            )
        if self.refused:
            parts.append(f"The budget was used up: {self.refused} more samples have no player.")
        if self.without_path:
            parts.append(f"{self.without_path} failed or worst samples have no player: their rows carry no audio path.")
        return f'<p class="audiollm-note">{escape(" ".join(parts))}</p>' if parts else ""
