"""Caption tokenisers: ``basic`` (pure Python) and ``ptb`` (pycocoevalcap's Stanford PTBTokenizer, in Java).

``ptb`` gives exactly what pycocoevalcap users get: :func:`tokenize_corpus` tokenises all references of a corpus
(in item order) as ONE document and all predictions as another, as ``PTBTokenizer().tokenize(gts)`` and
``PTBTokenizer().tokenize(res)`` do (``edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase`` from
``stanford-corenlp-3.4.1.jar`` on the captions joined by newlines, newlines inside captions replaced by spaces,
punctuation tokens dropped). A caption's tokens can depend on its neighbours ("... a." before a capitalised
line ends a sentence: ``a .``), so tokenising captions one by one would differ. One JVM serves the session: a
small server of ours (:data:`SERVER_SOURCE`, run with Java's single-file source launcher,
``java -cp corenlp.jar Server.java``) calls that same ``PTBTokenizer.main`` on each requested document with
``System.in``/``System.out`` swapped. The source launcher needs Java 11+ with the ``jdk.compiler`` module;
without it each document costs one JVM start, as in pycocoevalcap. The only input on which we differ: other line
separators PTBLexer knows (``\r``, U+2028, ...) are replaced by spaces, where pycocoevalcap's file gets extra lines
and shifts every later caption onto the wrong item.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from pytest_audiollm.metrics.java import (
    JavaError,
    JavaProcess,
    find_java,
    has_source_launcher,
    java_runtime,
    java_unavailable_reason,
    pycocoevalcap_file,
    shared_process,
)
from pytest_audiollm.metrics.normalize import words

TOKENIZERS = ("ptb", "basic")
PTB_JAR = "tokenizer/stanford-corenlp-3.4.1.jar"
PTB_VERSION = "ptb-corenlp-3.4.1"
TOKENIZER_VERSIONS = {"ptb": PTB_VERSION, "basic": "basic-1"}  # what results record as the scorer's version
# pycocoevalcap.tokenizer.ptbtokenizer.PUNCTUATIONS
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
_ERROR_MARK = "\x01"

SERVER_SOURCE = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;

/**
 * One request = a line with a count n, then n captions ('\n'-terminated). The n captions, joined with '\n'
 * (no final newline), are ONE document for PTBTokenizer -preserveLines -lowerCase, exactly the file
 * pycocoevalcap writes; the answer is its n output lines (or an error mark and n - 1 empty lines).
 */
public class AudiollmPtbServer {
    static int readLine(InputStream in, ByteArrayOutputStream line) throws IOException {
        line.reset();
        int b;
        while ((b = in.read()) != -1 && b != '\n') line.write(b);
        return b;
    }

    public static void main(String[] args) throws Exception {
        InputStream in = new BufferedInputStream(new FileInputStream(FileDescriptor.in), 1 << 16);
        OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
        PrintStream err = System.err;
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream() {
            @Override public synchronized void write(byte[] b, int off, int len) {}
            @Override public synchronized void write(int b) {}
        });
        String[] ptbArgs = {"-preserveLines", "-lowerCase"};
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            int end = readLine(in, line);
            if (end == -1 && line.size() == 0) break;
            int n = Integer.parseInt(line.toString("UTF-8").trim());
            ByteArrayOutputStream document = new ByteArrayOutputStream();
            for (int i = 0; i < n; i++) {
                if (i > 0) document.write('\n');
                readLine(in, line);
                line.writeTo(document);
            }
            ByteArrayOutputStream result = new ByteArrayOutputStream();
            System.setIn(new ByteArrayInputStream(document.toByteArray()));
            System.setOut(new PrintStream(result, true, "UTF-8"));
            System.setErr(quiet);
            byte[] answer;
            try {
                edu.stanford.nlp.process.PTBTokenizer.main(ptbArgs);
                System.out.flush();
                answer = result.toByteArray();
                int lines = 1;
                for (int i = 0; i < answer.length; i++) {
                    if (answer[i] == '\n') lines++;
                    else if (answer[i] == '\r') answer[i] = ' ';
                }
                if (lines != n) {
                    String message = "\u0001PTBTokenizer returned " + lines + " lines for " + n + " captions";
                    answer = (message + "\n".repeat(n - 1)).getBytes(StandardCharsets.UTF_8);
                }
            } catch (Throwable e) {
                String message = "\u0001" + e.toString().replace('\n', ' ').replace('\r', ' ');
                answer = (message + "\n".repeat(n - 1)).getBytes(StandardCharsets.UTF_8);
            } finally {
                System.setErr(err);
            }
            out.write(answer);
            out.write('\n');
            out.flush();
        }
    }
}
"""

Tokenized = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]
_CORPUS_CACHE_SIZE = 4
_corpus_cache: OrderedDict[tuple[object, ...], Tokenized] = OrderedDict()
_cache_lock = threading.Lock()
_server_dir: list[str] = []  # the temporary directory holding SERVER_SOURCE, once written


def tokenizer_unavailable(tokenizer: str) -> str | None:
    """Why ``tokenizer`` cannot run here (with what to install), or None when it can."""
    if tokenizer == "basic":
        return None
    if tokenizer == "ptb":
        return java_unavailable_reason("ptb")
    return f"unknown caption tokenizer {tokenizer!r}: use one of {', '.join(TOKENIZERS)}"


def tokenize_captions(texts: Sequence[str], tokenizer: str) -> list[str]:
    """Each text's tokens, space-joined, the texts tokenised as ONE document (pycocoevalcap's semantics).

    ``ptb``: exactly ``PTBTokenizer().tokenize`` of these captions in this order (a caption's tokens may
    depend on its neighbours: "... a." before a capitalised line splits off the period); ``basic``: basic-1
    words of each caption.
    """
    if tokenizer == "basic":
        return [" ".join(words(text)) for text in texts]
    if tokenizer != "ptb":
        raise ValueError(tokenizer_unavailable(tokenizer))
    if not texts:
        return []
    reason = tokenizer_unavailable(tokenizer)
    if reason is not None:
        raise RuntimeError(reason)
    return _ptb_document(list(texts))


def tokenize_corpus(predictions: Sequence[str], references: Sequence[Sequence[str]], tokenizer: str) -> Tokenized:
    """The tokenised predictions and references of a corpus, as ``pycocoevalcap`` users tokenise them.

    The references of all items (in item order, like ``gts``) are one document and the predictions another,
    as ``PTBTokenizer().tokenize(gts)`` and ``PTBTokenizer().tokenize(res)`` do. The result (immutable) is
    cached for the last few corpora, so the gates of several metrics over one run tokenise once.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    key = (tokenizer, tuple(predictions), tuple(tuple(refs) for refs in references))
    with _cache_lock:
        found = _corpus_cache.get(key)
        if found is not None:
            _corpus_cache.move_to_end(key)
            return found
    flat = [r for refs in key[2] for r in refs]
    tok_refs = tokenize_captions(flat, tokenizer)
    tok_preds = tuple(tokenize_captions(key[1], tokenizer))
    grouped: list[tuple[str, ...]] = []
    at = 0
    for refs in key[2]:
        grouped.append(tuple(tok_refs[at : at + len(refs)]))
        at += len(refs)
    result: Tokenized = (tok_preds, tuple(grouped))
    with _cache_lock:
        _corpus_cache[key] = result
        while len(_corpus_cache) > _CORPUS_CACHE_SIZE:
            _corpus_cache.popitem(last=False)
    return result


def _drop_punctuation(line: str) -> str:
    # pycocoevalcap: ' '.join([w for w in line.rstrip().split(' ') if w not in PUNCTUATIONS])
    return " ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS)


# Characters PTBLexer treats as line ends besides '\n'. In pycocoevalcap's file they add lines and shift every
# later caption onto the wrong item; we replace them with spaces (the only input on which we differ from it).
_LEXER_NEWLINES = str.maketrans(dict.fromkeys("\r\u2028\u2029\x0b\x0c\x85", " "))


def _ptb_document(texts: list[str]) -> list[str]:
    captions = [text.replace("\n", " ").translate(_LEXER_NEWLINES) for text in texts]
    runtime = java_runtime()
    if runtime is not None and has_source_launcher(runtime):
        raw = ptb_server().request([str(len(captions)), *captions], len(captions))
        if raw and raw[0].startswith(_ERROR_MARK):
            raise JavaError(f"Stanford PTBTokenizer failed: {raw[0][1:]}")
    else:
        raw = _ptb_one_shot(captions)
    return [_drop_punctuation(line) for line in raw]


def _jar() -> Path:
    jar = pycocoevalcap_file(PTB_JAR)
    if jar is None:
        raise RuntimeError(java_unavailable_reason("ptb") or f"pycocoevalcap's {PTB_JAR} was not found")
    return jar


def _server_argv() -> list[str]:
    executable, _ = find_java()
    if executable is None:
        raise RuntimeError(java_unavailable_reason("ptb") or "java was not found")
    if not _server_dir or not os.path.isfile(os.path.join(_server_dir[0], "AudiollmPtbServer.java")):
        folder = tempfile.mkdtemp(prefix="audiollm-ptb-")
        Path(folder, "AudiollmPtbServer.java").write_text(SERVER_SOURCE, encoding="utf-8")
        atexit.register(shutil.rmtree, folder, True)
        _server_dir[:] = [folder]
    source = os.path.join(_server_dir[0], "AudiollmPtbServer.java")
    return [executable, "-Xss8m", "-cp", str(_jar()), source]


def ptb_server() -> JavaProcess:
    """The session's PTB tokeniser JVM (started on first request)."""
    return shared_process("ptb", lambda: JavaProcess("Stanford PTBTokenizer", _server_argv, startup_s=120))


def _ptb_one_shot(captions: list[str]) -> list[str]:
    """Fallback without the source launcher: one JVM for this batch, as pycocoevalcap does."""
    executable, _ = find_java()
    assert executable is not None
    lines = captions
    with tempfile.TemporaryDirectory(prefix="audiollm-ptb-") as tmp:
        path = Path(tmp, "captions.txt")
        path.write_bytes("\n".join(lines).encode("utf-8", "replace"))
        argv = [executable, "-cp", str(_jar()), "edu.stanford.nlp.process.PTBTokenizer"]
        proc = subprocess.run(
            [*argv, "-preserveLines", "-lowerCase", str(path)], capture_output=True, timeout=600, check=False
        )
    if proc.returncode != 0:
        raise JavaError(f"Stanford PTBTokenizer failed: {proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    out = proc.stdout.decode("utf-8", "replace").replace("\r", " ").split("\n")  # one line per '\n' given
    if len(out) != len(lines):
        raise JavaError(f"Stanford PTBTokenizer returned {len(out)} lines for {len(lines)} captions")
    return out
