"""Multiple-choice answer extraction (mcq_accuracy) and species identification (species_accuracy): known answers,
properties, and corpus values through ``stats.aggregate`` (the path the gates use)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_audiollm.metrics.mcq import McqAccuracy, extract_choice, option_letter
from pytest_audiollm.metrics.normalize import basic
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.species import SpeciesAccuracy, parse_windows, predicted_species, species_key
from pytest_audiollm.metrics.stats import aggregate

FAST = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------------------------------------------
# multiple choice: answer extraction

OPTIONS = ("dog barking", "cat meowing", "car horn", "rain")  # A B C D
SYNONYMS: dict[str, tuple[str, ...]] = {"car horn": ("honk",)}
A, B, C, D = range(4)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # a letter alone, in its common forms, any case
        ("B", B),
        ("b", B),
        ("(B)", B),
        ("[b]", B),
        ("B.", B),
        ("B)", B),
        ("B:", B),
        ("  **B**  ", B),
        ("a", A),
        ("(a)", A),
        # a letter after a cue word
        ("Answer: B", B),
        ("answer: c", C),
        ("The answer is B", B),
        ("The answer is B.", B),
        ("the correct answer is (d).", D),
        ("The correct option is C because of the horn", C),
        ("option B", B),
        ("Option a", A),
        ("choice D", D),
        ("It is A.", A),
        ("A is correct.", A),
        # a leading marked letter with or without the option text
        ("B. cat meowing", B),
        ("(B) cat meowing", B),
        ("b) cat", B),
        ("B - cat meowing", B),
        ("B, because a cat is meowing", B),
        ("A. Dog barking", A),
        # a capital letter standing alone
        ("It's B.", B),
        ("I think it's D", D),
        ("I'd pick C", C),
        ("I'm sure: C", C),
        # option texts, synonyms, case and punctuation
        ("cat meowing", B),
        ("Cat-Meowing!", B),
        ("It sounds like rain.", D),
        ("a honk", C),
        ("A dog barking.", A),  # "A" is the article, the option text names A
        ("e.g. rain", D),  # lowercase letters standing alone are not read
        # the article "a" is not option A
        ("a dog", None),
        ("The answer is a dog", None),
        ("a cat meowing", B),
        ("A cat meowing", B),
        ("A cat is meowing, I think", None),  # "cat meowing" is not a phrase of this answer
        # conflicts are unparsed, never resolved by a guess
        ("A or B", None),
        ("not A, it's B", None),
        ("The answer is B, not A", None),
        ("choices A and B", None),
        ("B. dog barking", None),  # the letter disagrees with the option text it names
        ("(C) rain", None),
        ("It's a car horn, not rain", None),  # two option texts
        ("dog barking or cat meowing", None),
        # letters that are not options
        ("E", None),
        ("Answer: E", None),
        ("option F", None),
        # nothing to read
        ("", None),
        ("   ", None),
        ("I don't know", None),
        ("The sound is ambiguous.", None),
    ],
)
def test_extract_choice_known_answers(answer: str, expected: int | None) -> None:
    assert extract_choice(answer, OPTIONS, SYNONYMS) == expected


def test_letters_inside_an_option_text_belong_to_that_text() -> None:
    chords = ("A minor", "C major", "E minor")
    assert extract_choice("it sounds like C major", chords) == 1
    assert extract_choice("B. C major", chords) == 1
    assert extract_choice("C. C major", chords) is None  # letter C is "E minor", the text names "C major"
    assert extract_choice("A minor", chords) == 0
    assert extract_choice("C", chords) == 2


def test_options_with_articles_in_their_text() -> None:
    options = ("a dog barking", "a cat meowing")
    assert extract_choice("a dog barking", options) == 0
    assert extract_choice("B. a cat meowing", options) == 1
    assert extract_choice("A. a cat meowing", options) is None


def test_an_option_text_that_is_a_letter_is_read_as_text() -> None:
    assert extract_choice("B", ("B", "A")) == 0  # exact option text first (rule 1)


def test_nine_options_pronoun_i_is_not_option_i() -> None:
    options = tuple(f"sound {i}" for i in range(9))
    assert extract_choice("I think it's B", options) == 1
    assert extract_choice("Answer: I", options) == 8
    assert extract_choice("I", options) == 8


# properties: an answer that is exactly a letter, or exactly an option text, is read correctly

_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
_OPTION = st.lists(_WORD, min_size=1, max_size=4).map(" ".join)
_OPTIONS = st.lists(_OPTION, min_size=2, max_size=8, unique_by=basic)


def _perturb(text: str, data: st.DataObject) -> str:
    cases: list[Callable[[str], str]] = [str.lower, str.upper, str.title, str.strip]
    case = data.draw(st.sampled_from(cases))
    words = case(text).split(" ")
    separator = data.draw(st.sampled_from([" ", "  ", "-", " - "]))
    end = data.draw(st.sampled_from(["", ".", "!", "?", " "]))
    return data.draw(st.sampled_from(["", " ", '"'])) + separator.join(words) + end


@FAST
@given(options=_OPTIONS, data=st.data())
def test_property_exact_option_text_is_read(options: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(options) - 1))
    assert extract_choice(options[index], options) == index
    assert extract_choice(_perturb(options[index], data), options) == index


_LETTER_FORMS = ["{}", "({})", "[{}]", "{}.", "{})", "{}:", " {} ", "**{}**"]


@FAST
@given(options=_OPTIONS, data=st.data())
def test_property_exact_letter_is_read(options: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(options) - 1))
    letter = option_letter(index)
    letter = data.draw(st.sampled_from([letter, letter.lower()]))
    form = data.draw(st.sampled_from(_LETTER_FORMS))
    assert extract_choice(form.format(letter), options) == index


_CUED = ["Answer: {}", "The answer is {}", "The answer is {}.", "option {}", "The correct answer is ({})."]


@FAST
@given(options=_OPTIONS, data=st.data())
def test_property_cued_letter_is_read(options: list[str], data: st.DataObject) -> None:
    cue_words = {"the", "answer", "is", "option", "correct"}
    assume(not any(set(basic(o).split()) & cue_words for o in options))  # a cue word that is an option is text
    index = data.draw(st.integers(0, len(options) - 1))
    letter = option_letter(index)
    assert extract_choice(data.draw(st.sampled_from(_CUED)).format(letter), options) == index


@FAST
@given(options=_OPTIONS, data=st.data())
def test_property_two_different_letters_are_unparsed(options: list[str], data: st.DataObject) -> None:
    i, j = data.draw(st.lists(st.integers(0, len(options) - 1), min_size=2, max_size=2, unique=True))
    answer = data.draw(st.sampled_from(["{} or {}", "not {}, it's {}", "({}) or ({})", "Answer: {} and {}"]))
    assert extract_choice(answer.format(option_letter(i), option_letter(j)), options) is None


# ---------------------------------------------------------------------------------------------------------------
# multiple choice: the metric

MCQ = ScoringContext(task="mcq", choices=OPTIONS, synonyms=SYNONYMS)


def test_mcq_reference_as_text_or_letter() -> None:
    metric = McqAccuracy()
    assert metric.sample_stats("B", ["cat meowing"], MCQ) == [1.0, 1.0, 0.0]
    assert metric.sample_stats("cat meowing", ["B"], MCQ) == [1.0, 1.0, 0.0]
    assert metric.sample_stats("(c)", ["car horn"], MCQ) == [1.0, 1.0, 0.0]
    assert metric.sample_stats("A", ["B"], MCQ) == [0.0, 1.0, 0.0]
    assert metric.sample_stats("A or B", ["B"], MCQ) == [0.0, 1.0, 1.0]


def test_mcq_bad_benchmark_data_is_an_error() -> None:
    metric = McqAccuracy()
    with pytest.raises(ValueError, match="choices"):
        metric.sample_stats("A", ["A"], ScoringContext(task="mcq"))
    with pytest.raises(ValueError, match="names no single option"):
        metric.sample_stats("A", ["a giraffe"], MCQ)
    with pytest.raises(ValueError, match="reference"):
        metric.sample_stats("A", [], MCQ)


def test_mcq_corpus_and_details() -> None:
    metric = McqAccuracy()
    answers = [("B", "B"), ("cat meowing", "B"), ("A", "B"), ("A or B", "B"), ("I don't know", "D")]
    rows = [metric.sample_stats(p, [r], MCQ) for p, r in answers]
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(2 / 5)
    totals = np.asarray(rows, dtype=np.float64).sum(axis=0)
    assert metric.details(totals) == {"extraction_failure_rate": pytest.approx(2 / 5)}
    batched = np.stack([totals, totals * 2])  # corpus is vectorised over leading axes
    assert metric.corpus(batched).tolist() == pytest.approx([0.4, 0.4])
    assert np.isnan(metric.details(np.zeros(3))["extraction_failure_rate"])
    assert aggregate(metric, rows, resamples=200, seed=1).ci95[0] <= 0.4


# ---------------------------------------------------------------------------------------------------------------
# species: parsing and names

NATURELM = """#0.00s - 10.00s#: Green Treefrog
#10.00s - 20.00s#: Green Treefrog
#20.00s - 30.00s#: American Bullfrog
"""


def test_parse_windows() -> None:
    windows = parse_windows("Detections:\n#0.00s - 10.00s#: Green Treefrog\nnoise\n#10.00s - 20.00s#:   None  \n")
    assert [(w.start, w.end, w.label) for w in windows] == [(0.0, 10.0, "Green Treefrog"), (10.0, 20.0, "None")]
    inline = parse_windows("#0-10#: A #10 - 20#:B")
    assert [w.label for w in inline] == ["A", "B"]
    assert [w.label for w in parse_windows("Green Treefrog\n\n Hyla cinerea ")] == ["Green Treefrog", "Hyla cinerea"]
    assert parse_windows("") == []
    assert [w.label for w in parse_windows("#0.00s - 10.00s#:\n#10.00s - 20.00s#: Owl")] == ["", "Owl"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Green Treefrog", "green treefrog"),
        ("Green Tree-frog", "green tree frog"),
        ("  The Green Treefrog. ", "green treefrog"),
        ("Green Treefrogs", "green treefrog"),
        ("Black-capped Chickadees", "black capped chickadee"),
        ("Finches", "finch"),
        ("Hyla cinerea", "HYLA CINEREA"),
        ("Hyla cinerea (Schneider, 1799)", "hyla cinerea"),
        ("Turdus merula Linnaeus, 1758", "Turdus merula"),
        ("Green Treefrog (Hyla cinerea)", "Green Treefrog"),
        ("**Green Treefrog**", "Green Treefrog"),
        ("(Green Treefrog)", "Green Treefrog"),
    ],
)
def test_species_key_equal(a: str, b: str) -> None:
    assert species_key(a) == species_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Green Treefrog", "Gray Treefrog"),
        ("Green Treefrog", "Green Tree frog"),  # spelling variants are synonyms, not normalisation
        ("Hyla cinerea", "Hyla versicolor"),
        ("Turdus merula", "Turdus"),
        ("Great Crested Flycatcher", "Great Crested"),
    ],
)
def test_species_key_different(a: str, b: str) -> None:
    assert species_key(a) != species_key(b)


def test_latin_endings_are_kept() -> None:
    assert species_key("Turdus") == "turdus"
    assert species_key("Hyla cinereus") == "hyla cinereus"


def test_predicted_species_majority_and_ties() -> None:
    assert predicted_species(NATURELM) == "green treefrog"
    tie = "#0-10#: American Bullfrog\n#10-20#: Green Treefrog\n#20-30#: Green Treefrog\n#30-40#: American Bullfrog"
    assert predicted_species(tie) == "american bullfrog"  # tie: the label seen first
    assert predicted_species("#0-10#: None\n#10-20#: No animal\n#20-30#: Owl\n#30-40#: None") == "owl"
    assert predicted_species("#0-10#: None\n#10-20#:") is None
    assert predicted_species("") is None


# ---------------------------------------------------------------------------------------------------------------
# species: the metric

TREEFROG = ["Green Treefrog", "Hyla cinerea"]
BIO = ScoringContext(task="species")


@pytest.mark.parametrize(
    ("output", "references", "expected"),
    [
        (NATURELM, TREEFROG, [1.0, 1.0, 0.0]),
        ("#0.00s - 10.00s#: Hyla cinerea", TREEFROG, [1.0, 1.0, 0.0]),
        ("#0.00s - 10.00s#: hyla cinerea (Schneider, 1799)", ["Hyla cinerea"], [1.0, 1.0, 0.0]),
        ("Green Treefrog", TREEFROG, [1.0, 1.0, 0.0]),
        ("Hyla cinerea", ["Green Treefrog", "Hyla cinerea"], [1.0, 1.0, 0.0]),
        ("Hyla cinerea", ["Green Treefrog"], [0.0, 1.0, 0.0]),  # no synonyms given: the names are not linked
        ("the green tree-frogs", ["Green Tree Frog"], [1.0, 1.0, 0.0]),
        ("#0-10#: American Bullfrog\n#10-20#: American Bullfrog\n#20-30#: Green Treefrog", TREEFROG, [0.0, 1.0, 0.0]),
        # the sample's accepted names vote together: 1 + 1 beats a single other label seen first
        ("#0-10#: American Bullfrog\n#10-20#: Green Treefrog\n#20-30#: Hyla cinerea", TREEFROG, [1.0, 1.0, 0.0]),
        # noise lines and null windows are ignored
        (
            "Sure, here are the detections:\n#0.00s - 10.00s#: None\n#10.00s - 20.00s#: Green Treefrog\nDone.",
            TREEFROG,
            [1.0, 1.0, 0.0],
        ),
        ("#0.00s - 10.00s#: None\n#10.00s - 20.00s#: no animals", TREEFROG, [0.0, 1.0, 1.0]),
        ("", TREEFROG, [0.0, 1.0, 1.0]),
        ("   \n ", TREEFROG, [0.0, 1.0, 1.0]),
        ("Unknown", TREEFROG, [0.0, 1.0, 1.0]),
        ("Gray Treefrog", TREEFROG, [0.0, 1.0, 0.0]),
        # a sentence is a label of its own: no partial credit by containment
        ("This sounds like a Green Treefrog.", TREEFROG, [0.0, 1.0, 0.0]),
    ],
)
def test_species_known_answers(output: str, references: list[str], expected: list[float]) -> None:
    assert SpeciesAccuracy().sample_stats(output, references, BIO) == expected


def test_species_synonyms_from_context() -> None:
    context = ScoringContext(task="species", synonyms={"Hyla cinerea": ("Green Treefrog", "Green Tree Frog")})
    metric = SpeciesAccuracy()
    assert metric.sample_stats("Green Tree Frog", ["Hyla cinerea"], context) == [1.0, 1.0, 0.0]
    assert metric.sample_stats("Green Treefrog", ["Hyla cinerea"], context) == [1.0, 1.0, 0.0]
    # synonyms of one species vote together too
    output = "#0-10#: Bullfrog\n#10-20#: Green Tree Frog\n#20-30#: Green Treefrog"
    assert metric.sample_stats(output, ["Hyla cinerea"], context) == [1.0, 1.0, 0.0]


def test_species_needs_a_reference() -> None:
    with pytest.raises(ValueError, match="accepted species name"):
        SpeciesAccuracy().sample_stats("Owl", [], BIO)
    with pytest.raises(ValueError, match="accepted species name"):
        SpeciesAccuracy().sample_stats("Owl", ["  "], BIO)


def test_species_corpus_and_details() -> None:
    metric = SpeciesAccuracy()
    outputs = [NATURELM, "Hyla cinerea", "Gray Treefrog", ""]
    rows = [metric.sample_stats(o, TREEFROG, BIO) for o in outputs]
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(0.5)
    totals = np.asarray(rows, dtype=np.float64).sum(axis=0)
    assert metric.details(totals) == {"unparseable_rate": pytest.approx(0.25)}
    assert metric.corpus(np.stack([totals, np.zeros(3)])).tolist()[0] == pytest.approx(0.5)


@FAST
@given(labels=st.lists(st.sampled_from(["Green Treefrog", "Hyla cinerea", "Bullfrog", "Owl", "None"]), max_size=8))
def test_property_windowed_majority(labels: list[str]) -> None:
    output = "\n".join(f"#{10 * i:.2f}s - {10 * (i + 1):.2f}s#: {label}" for i, label in enumerate(labels))
    stats = SpeciesAccuracy().sample_stats(output, TREEFROG, BIO)
    counts: dict[str, int] = {}
    for label in labels:
        if label != "None":
            group = "frog" if label in TREEFROG else label
            counts[group] = counts.get(group, 0) + 1
    if not counts:
        assert stats == [0.0, 1.0, 1.0]
    else:
        best = max(counts.values())
        winner = next(g for g in counts if counts[g] == best)
        assert stats == [1.0 if winner == "frog" else 0.0, 1.0, 0.0]
