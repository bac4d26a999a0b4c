"""List a benchmark's samples from its ``data:`` block (jsonl, csv, folder or webdataset shards).

Listing never decodes audio. Order is deterministic (manifest order; folders sorted by relative path;
shards sorted, or in brace-pattern order). A problem with one sample (bad JSON line, missing field) gives
that Sample an ``error`` so only its item fails; a problem with the whole data block raises SpecError.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_audiollm.benchmarks.data_spec import DATA_FORMATS, Containment, DataSpec
from pytest_audiollm.errors import SpecError
from pytest_audiollm.sample import AudioRef, Sample

AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "ogg", "opus", "aiff", "aif")
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape kept
_MISSING_PATH = (
    "{path} does not exist (relative paths are resolved against the YAML file's folder, then $AUDIOLLM_DATA_HOME)"
)


@dataclass(frozen=True)
class _Where:
    """Where a sample was found, for duplicate-id messages: ``line 3`` of a manifest, a file, a shard key."""

    file: str
    item: str  # "line 3", "dog/x.wav", "key 'abc'"

    def pair(self, other: _Where) -> str:
        if self.file == other.file and self.item.startswith("line ") and other.item.startswith("line "):
            return f"lines {self.item[5:]} and {other.item[5:]} of {self.file}"
        if self.file == other.file:
            return f"{self.item} and {other.item} in {self.file}"
        return f"{self.item} of {self.file} and {other.item} of {other.file}"


_Listed = Iterator[tuple[Sample, _Where]]


def sanitize_id(raw: str) -> str:
    """A sample id usable as a pytest test id: characters outside ``[A-Za-z0-9_.-]`` become ``_``."""
    return _NOT_ID_CHARS.sub("_", raw) or "_"


def _identified(sample: Sample, raw: str) -> Sample:
    """``sample`` with its test-id safe id and, when that differs from the data's, the original kept."""
    safe = sanitize_id(raw)
    return dataclasses.replace(sample, id=safe, source_id=raw if raw != safe else None)


def _unique(listed: list[tuple[Sample, _Where]], data: DataSpec) -> list[Sample]:
    """Ids made safe for test ids may collide (``猫`` and ``狗`` both become ``_``; ``dog/1`` and ``dog_1``): the
    colliding ones get a short digest of their original id, ``_-3f2a9c1d``, so every item has its own stable id
    and the original stays in the results (``source_id``). The same original id twice is a duplicate: an error."""
    by_id: dict[str, list[int]] = {}
    for index, (sample, _) in enumerate(listed):
        by_id.setdefault(sample.id, []).append(index)
    samples = [sample for sample, _ in listed]
    for sample_id, indices in by_id.items():
        if len(indices) < 2:
            continue
        originals: dict[str, int] = {}
        for index in indices:
            original = samples[index].source_id or samples[index].id
            if original in originals:
                where = listed[originals[original]][1].pair(listed[index][1])
                raise SpecError(data.source, "data", f"duplicate sample id '{original}' ({where})")
            originals[original] = index
        for original, index in originals.items():
            digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:8]
            samples[index] = dataclasses.replace(samples[index], id=f"{sample_id}-{digest}", source_id=original)
    return samples


def list_samples(data: DataSpec, benchmark: str, limit: int | None = None) -> list[Sample]:
    """The benchmark's samples in a deterministic order; ``limit`` keeps the first N (listing stops there)."""
    listers: dict[str, Callable[[DataSpec, str], _Listed]] = {
        "jsonl": _list_jsonl,
        "csv": _list_csv,
        "folder": _list_folder,
        "webdataset": _list_webdataset,
    }
    lister = listers.get(data.format)
    if lister is None:
        raise SpecError(
            data.source,
            "data.format",
            f"unknown format '{data.format}': use one of {', '.join(DATA_FORMATS)}",
        )
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    listed: list[tuple[Sample, _Where]] = []
    for sample, where in lister(data, benchmark):
        if limit is not None and len(listed) >= limit:
            break
        listed.append((sample, where))
    return _unique(listed, data)


# --- manifests (jsonl, csv) -------------------------------------------------------------------------------


def _manifest_path(data: DataSpec) -> Path:
    path = data.resolve()
    if not path.exists():
        raise SpecError(data.source, "data.path", _MISSING_PATH.format(path=path))
    if not path.is_file():
        raise SpecError(data.source, "data.path", f"{path} is a folder: format '{data.format}' needs a file")
    return path


def _list_jsonl(data: DataSpec, benchmark: str) -> _Listed:
    path = _manifest_path(data)
    paths = data.containment(path.parent)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = _Where(str(path), f"line {number}")
            try:  # an editor's byte-order mark opens the first line
                record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problem = f"is not valid JSON: {exc}"
            else:
                if isinstance(record, dict):
                    yield _from_record(record, data, benchmark, paths, where, f"line{number}"), where
                    continue
                problem = f"is not a JSON object (got {type(record).__name__})"
            error = f"{path} line {number} {problem}; fix or delete the line"
            yield (
                Sample(id=f"line{number}", audio=None, references=(), benchmark=benchmark, error=error),
                where,
            )


def _list_csv(data: DataSpec, benchmark: str) -> _Listed:
    path = _manifest_path(data)
    paths = data.containment(path.parent)
    # a byte that is not UTF-8 fails its own row (surrogateescape keeps reading), not the whole benchmark
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise SpecError(data.source, "data.path", f"{path} has no header row: the first row names the fields")
        for row in reader:
            where = _Where(str(path), f"line {reader.line_num}")
            extra = row.pop(None, None)  # DictReader's restkey: cells beyond the header
            record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
            ref = record.get(data.reference_field)
            if isinstance(ref, str) and ref.lstrip().startswith("["):
                try:
                    parsed = json.loads(ref)
                except json.JSONDecodeError:
                    parsed = None  # a caption that merely starts with "[": keep the text
                if isinstance(parsed, list):
                    record[data.reference_field] = parsed
            sample = _from_record(record, data, benchmark, paths, where, f"line{reader.line_num}")
            if any(_NOT_UTF8.search(str(v)) for v in [*record.values(), *(extra or [])]):
                error = f"{path} line {reader.line_num} holds bytes that are not UTF-8: save the file as UTF-8"
                sample = dataclasses.replace(sample, id=f"line{reader.line_num}", error=error)
            elif extra:
                error = (
                    f"{path} line {reader.line_num} has {len(row) + len(extra)} cells but the header has "
                    f"{len(row)}; quote cells that contain commas"
                )
                sample = Sample(sample.id, sample.audio, sample.references, benchmark, sample.prompt, error=error)
            yield sample, where


def _from_record(
    record: dict[str, Any], data: DataSpec, benchmark: str, paths: Containment, where: _Where, fallback_id: str
) -> Sample:
    """A Sample from one manifest record; audio paths are relative to ``paths.folder`` (the manifest's folder)
    and must stay inside it or the data home (see :class:`Containment`)."""
    errors: list[str] = []
    audio: AudioRef | None = None
    audio_value = record.get(data.audio_field)
    if isinstance(audio_value, str) and audio_value:
        audio = AudioRef(str(paths.folder / audio_value))  # an absolute path stays as it is
        if outside := paths.problem(audio.path):
            errors.append(outside)
    elif audio_value is None:
        errors.append(
            f"no '{data.audio_field}' field (the audio file path): add it, or set data.fields.audio "
            "to the field that holds the path"
        )
    else:
        errors.append(f"field '{data.audio_field}' must be a non-empty path string, got {audio_value!r}")
    references, ref_error = _references(record.get(data.reference_field), data.reference_field)
    if ref_error and data.needs_reference:
        errors.append(ref_error)
    prompt = record.get(data.prompt_field)
    raw_id = record.get(data.id_field)
    if raw_id not in (None, ""):
        sample_id = str(raw_id)
    elif audio is not None:
        sample_id = Path(audio.path).stem
    else:
        sample_id = fallback_id
    used = {data.audio_field, data.reference_field, data.id_field, data.prompt_field}
    sample = Sample(
        id=sample_id,
        audio=audio,
        references=references,
        benchmark=benchmark,
        prompt=prompt if isinstance(prompt, str) else "",
        meta={k: v for k, v in record.items() if k not in used},
        error=f"{where.file} {where.item}: {'; '.join(errors)}" if errors else None,
    )
    return _identified(sample, sample_id)


def _references(value: Any, field_name: str) -> tuple[tuple[str, ...], str | None]:
    """The reference(s) of a record: a string, a number or a list of them; (refs, error message or None)."""
    if value is None:
        return (), (
            f"no '{field_name}' field (the reference answer): add it, or set data.fields.reference "
            "to the field that holds it"
        )
    values = value if isinstance(value, list) else [value]
    if not values:
        return (), f"field '{field_name}' is an empty list: give at least one reference"
    if not all(isinstance(v, str | int | float) for v in values):
        return (), f"field '{field_name}' must be a string or a list of strings, got {value!r}"
    return tuple(str(v) for v in values), None


# --- folder -----------------------------------------------------------------------------------------------


def _list_folder(data: DataSpec, benchmark: str) -> _Listed:
    root = data.resolve()
    if not root.exists():
        raise SpecError(data.source, "data.path", _MISSING_PATH.format(path=root))
    if not root.is_dir():
        raise SpecError(data.source, "data.path", f"{root} is a file: format 'folder' needs a folder")
    files = sorted((p.relative_to(root) for p in root.rglob("*") if _is_audio_file(p)), key=lambda rel: rel.as_posix())
    paths = data.containment(root)  # a symlink out of the folder (audio or sidecar) fails its sample
    for rel in files:
        path = root / rel
        sidecar = path.with_suffix(".txt")
        error = paths.problem(str(path)) or (paths.problem(str(sidecar)) if sidecar.is_file() else None)
        references: tuple[str, ...] = ()
        if error is None and sidecar.is_file():
            lines = sidecar.read_text(encoding="utf-8").splitlines()
            references = tuple(line.strip() for line in lines if line.strip())
            if not references:
                error = f"{sidecar} is empty: write the reference(s) in it, one per line"
        elif error is None and rel.parent != Path("."):
            references = (rel.parent.name,)
        elif error is None:
            error = (
                f"{path} is directly in the data folder and has no {sidecar.name}: move it into a "
                f"folder named after its label, or write its reference in {sidecar.name}"
            )
        sample = _identified(
            Sample(id="", audio=AudioRef(str(path)), references=references, benchmark=benchmark,
                   meta={"file": rel.as_posix()}, error=error),
            rel.with_suffix("").as_posix().replace("/", "."),
        )  # fmt: skip
        yield sample, _Where(str(root), rel.as_posix())


def _is_audio_file(path: Path) -> bool:
    # dot-files are skipped: macOS "._x.wav" resource forks carry an audio extension but hold no audio
    return path.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS and not path.name.startswith(".") and path.is_file()


# --- webdataset -------------------------------------------------------------------------------------------


_KEY_EXT = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")


def base_plus_ext(name: str) -> tuple[str | None, str | None]:
    """Split a tar member name into (key, extensions) by webdataset's rule (``tariterators.base_plus_ext``).

    Reimplemented so that listing shards never imports webdataset (which imports torch when installed);
    tests check it against webdataset's own function.
    """
    match = _KEY_EXT.match(name)
    return (match.group(1), match.group(2)) if match else (None, None)


def _list_webdataset(data: DataSpec, benchmark: str) -> _Listed:
    for shard in _shards(data):
        groups: dict[str, dict[str, tarfile.TarInfo]] = {}  # key -> extension -> member, in tar order
        try:
            with tarfile.open(shard, mode="r:*") as tar:
                for member in tar:
                    key, ext = base_plus_ext(member.name)
                    if (
                        member.isfile()
                        and key is not None
                        and ext is not None
                        and not re.match(r"__[^/]*__($|/)", member.name)
                    ):
                        groups.setdefault(key, {})[ext.lower()] = member
                for key, members in groups.items():
                    sample = _from_shard_key(tar, shard, key, members, data, benchmark)
                    yield sample, _Where(str(shard), f"key '{key}'")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SpecError(
                data.source,
                "data.path",
                f"{shard} is not a readable tar shard ({exc}): rebuild or re-download it",
            ) from exc


def _from_shard_key(
    tar: tarfile.TarFile,
    shard: Path,
    key: str,
    members: dict[str, tarfile.TarInfo],
    data: DataSpec,
    benchmark: str,
) -> Sample:
    """One webdataset sample: ``{key}.wav`` (or another audio extension) with its fields in ``{key}.json``.

    A field named in ``data.fields`` may also be its own member: ``fields: {reference: txt}`` reads
    ``{key}.txt``, as webdataset itself names a sample's parts by extension.
    """
    where = f"{shard} key '{key}'"
    errors: list[str] = []
    record: dict[str, Any] = {}
    if "json" in members:
        try:
            loaded = json.loads(_read(tar, members["json"]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            errors.append(f"{key}.json is not valid JSON: {exc}")
        else:
            if isinstance(loaded, dict):
                record = loaded
            else:
                errors.append(f"{key}.json is not a JSON object")
    for name in {data.reference_field, data.id_field, data.prompt_field}:
        if name not in record and name in members:
            record[name] = _read(tar, members[name]).decode("utf-8", errors="replace").strip()
    audio_ext = next((ext for ext in AUDIO_EXTENSIONS if ext in members), None)
    if audio_ext is None:
        errors.append(f"no audio member ({'/'.join(f'{key}.{e}' for e in AUDIO_EXTENSIONS[:4])}...)")
    references, ref_error = _references(record.get(data.reference_field), data.reference_field)
    if ref_error and data.needs_reference:
        errors.append(ref_error)
    raw_id = record.get(data.id_field)
    prompt = record.get(data.prompt_field)
    used = {data.audio_field, data.reference_field, data.id_field, data.prompt_field}
    sample = Sample(
        id="",
        audio=AudioRef(str(shard), members[audio_ext].name) if audio_ext else None,
        references=references,
        benchmark=benchmark,
        prompt=prompt if isinstance(prompt, str) else "",
        meta={k: v for k, v in record.items() if k not in used},
        error=f"{where}: {'; '.join(errors)}" if errors else None,
    )
    return _identified(sample, str(raw_id) if raw_id not in (None, "") else key.replace("/", "."))


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    fileobj = tar.extractfile(member)
    return fileobj.read() if fileobj else b""


def _shards(data: DataSpec) -> list[Path]:
    """The shards: a tar, a folder (its ``*.tar``, sorted), a glob (sorted), a brace pattern (in order)."""
    from pytest_audiollm.benchmarks.data_spec import expand_braces

    pattern = str(data.resolve())
    shards: list[Path] = []
    for expanded in expand_braces(pattern):
        if any(ch in expanded for ch in "*?["):
            matches = sorted(glob.glob(expanded))
            if not matches:
                raise SpecError(data.source, "data.path", f"{expanded} matches no files")
            shards.extend(Path(m) for m in matches)
        elif Path(expanded).is_dir():
            found = sorted(Path(expanded).glob("*.tar"))
            if not found:
                raise SpecError(data.source, "data.path", f"{expanded} is a folder with no *.tar shards")
            shards.extend(found)
        elif Path(expanded).is_file():
            shards.append(Path(expanded))
        else:
            raise SpecError(data.source, "data.path", _MISSING_PATH.format(path=expanded))
    return list(dict.fromkeys(shards))
