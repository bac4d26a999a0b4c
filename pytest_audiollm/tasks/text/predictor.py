"""Predictor: batches upcoming samples of a run into one predict() call and caches each outcome."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import SampleError

if TYPE_CHECKING:
    from pytest_audiollm.models.protocol import Request
    from pytest_audiollm.models.session import ModelSession
    from pytest_audiollm.tasks.cases import Case, RunPlan


@dataclass(frozen=True)
class Outcome:
    """What happened when a sample met a model: a prediction, or why there is none."""

    prediction: str | None
    error: str | None = None
    error_kind: str | None = None  # "data" (the sample), "model" (predict raised), "output" (bad output)
    latency_s: float = 0.0
    audio: dict[str, Any] = field(default_factory=dict)


def _key(case: Case) -> tuple[str, str, str, str]:
    return (case.model, case.spec.name, case.spec.version, case.sample.id)


class Predictor:
    def __init__(self, plan: RunPlan, batch_size: int) -> None:
        self.plan = plan
        self.batch_size = batch_size
        self._cache: dict[tuple[str, str, str, str], Outcome] = {}

    def outcome(self, case: Case, session: ModelSession) -> Outcome:
        key = _key(case)
        if key not in self._cache:
            size = max(self.batch_size, int(getattr(session.model, "min_batch_size", 1) or 1))
            batch = [c for c in self.plan.upcoming(case, size) if _key(c) not in self._cache]
            if not batch or _key(batch[0]) != key:
                batch = [case]
            self._run_batch(batch, session)
        return self._cache.pop(key)

    def _run_batch(self, batch: list[Case], session: ModelSession) -> None:
        ready: list[tuple[Case, Request, dict[str, Any]]] = []
        for case in batch:
            try:
                request, audio = _request(case, session)
            except SampleError as exc:
                self._cache[_key(case)] = Outcome(None, str(exc), "data")
                continue
            ready.append((case, request, audio))
        if not ready:
            return
        outcomes, ok = self._predict(ready, session)
        if not ok and len(ready) > 1:  # find the culprit: one sample fails, the others still get predictions
            outcomes = [self._predict([one], session)[0][0] for one in ready]
        for (case, _, _), outcome in zip(ready, outcomes, strict=True):
            self._cache[_key(case)] = outcome

    @staticmethod
    def _predict(
        ready: list[tuple[Case, Request, dict[str, Any]]], session: ModelSession
    ) -> tuple[list[Outcome], bool]:
        """Outcomes of one predict() call, and whether the call kept the protocol.

        Audio longer than the model's ``max_audio_seconds`` goes as one request per window (see
        :mod:`pytest_audiollm.models.windowing`); the model joins the window outputs into the sample's answer.
        """
        from pytest_audiollm.models.windowing import split_request, window_spans

        model = session.audio_model()
        window, hop = model.max_audio_seconds, model.window_hop_seconds
        parts = [split_request(request, window, hop) for _, request, _ in ready]
        requests = [part for split in parts for part in split]
        started = time.perf_counter()
        try:
            returned: object = session.predict(requests)
            if isinstance(returned, str | bytes) or returned is None:  # list("abc") would be one answer per letter
                kind = "None" if returned is None else f"one {type(returned).__name__}"
                error = f"predict() returned {kind}, not a list with one string per request (in order)"
                return [Outcome(None, error, "output", audio=audio) for _, _, audio in ready], False
            outputs: list[object] = list(returned)  # type: ignore[call-overload]
        except Exception as exc:
            error = f"predict() raised {type(exc).__name__}: {exc}"
            return [Outcome(None, error, "model", audio=audio) for _, _, audio in ready], False
        latency = (time.perf_counter() - started) / len(ready)
        if len(outputs) != len(requests):
            error = (
                f"predict() returned {len(outputs)} outputs for {len(requests)} requests "
                "(it must return exactly one string per request, in order)"
            )
            return [Outcome(None, error, "output", audio=audio) for _, _, audio in ready], False
        result = []
        position = 0
        for (_, request, audio), split in zip(ready, parts, strict=True):
            answers = outputs[position : position + len(split)]
            position += len(split)
            wrong = next((a for a in answers if not isinstance(a, str)), None)
            if wrong is not None:
                error = f"predict() returned {type(wrong).__name__} {wrong!r:.60}, expected a string"
                result.append(Outcome(None, error, "output", latency_s=latency, audio=audio))
                continue
            texts = [str(a) for a in answers]
            if len(split) > 1:
                audio = dict(audio, windows=len(split), window_s=window, hop_s=hop or window)
                texts = [model.join_windows(texts, window_spans(request, window, hop), request)]
            result.append(Outcome(texts[0], latency_s=latency, audio=audio))
        return result, True


def _request(case: Case, session: ModelSession) -> tuple[Request, dict[str, Any]]:
    from pytest_audiollm.audio import load_audio
    from pytest_audiollm.models.protocol import Request

    sample = case.sample
    if sample.error:
        raise SampleError(sample.error)
    if sample.audio is None:
        raise SampleError(f"sample {sample.id!r} has no audio")
    model = session.audio_model()
    spec_rate = case.spec.audio.sample_rate
    decoded = load_audio(sample.audio, spec_rate or model.sample_rate, case.spec.audio.max_seconds)
    samples = decoded.samples
    if decoded.sample_rate != model.sample_rate:
        import soxr

        samples = soxr.resample(samples, decoded.sample_rate, model.sample_rate, quality="HQ").astype("float32")
    audio = {
        "sha256": decoded.sha256,
        "duration_s": round(decoded.duration_s, 6),
        "truncated_s": round(decoded.truncated_s, 6),
        "original_sample_rate": decoded.original_sample_rate,
        "channels": decoded.channels,
    }
    request = Request(
        audio=samples,
        sample_rate=model.sample_rate,
        prompt=case.spec.render_prompt(sample.prompt),
        sample=sample,
        task=case.spec.task,
        choices=case.spec.choices,
    )
    return request, audio
