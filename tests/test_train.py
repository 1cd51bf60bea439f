"""Training from a manifest of labelled data: manifest validation, readers, model cards, feature checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modsweep.registry import load_model, save_model
from modsweep.tasks.datasets import ManifestError, holdout_mask, load_manifest, parse_manifest, read_split
from modsweep.tasks.text import (
    _DELETE_ZW,
    FEATURE_PARAMS,
    LEET,
    FeatureMismatchError,
    _as_string,
    featurise,
    normalise,
)
from modsweep.tasks.train import (
    MODEL_NAME,
    TextPolicyModel,
    fit_platt,
    train_from_manifest,
    train_text_policy_model,
)

REPO = Path(__file__).resolve().parents[1]

LIAR_COLUMNS = [
    "id",
    "label",
    "statement",
    "subjects",
    "speaker",
    "job",
    "state",
    "party",
    "bt",
    "f",
    "ht",
    "mt",
    "pf",
    "context",
]


def write_manifest(path: Path, datasets: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "datasets": datasets}, sort_keys=False))
    return path


# --- manifest validation ----------------------------------------------------------------------------------


def test_bad_entry_error_names_the_file_the_entry_and_the_field(tmp_path):
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            {
                "id": "good",
                "label": "hate.speech",
                "format": "csv",
                "train": "a.csv",
                "validation": "b.csv",
                "text_column": "t",
                "label_column": "l",
                "positive": ["1"],
            },
            {
                "id": "broken",
                "label": "hate.speech",
                "format": "xlsx",
                "train": "a.csv",
                "validation": "b.csv",
                "text_column": "t",
                "label_column": "l",
                "positive": ["1"],
            },
        ],
    )
    with pytest.raises(ManifestError) as err:
        load_manifest(manifest)
    message = str(err.value)
    assert str(manifest) in message and "'broken'" in message and "'format'" in message
    assert "'good'" not in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text_column": None}, "text_column"),  # csv needs the columns
        ({"label": "Not A Policy"}, "label"),
        ({"holdout": 0.2}, "holdout"),  # holdout only with source
        ({"sep": ";"}, "sep"),  # unknown key (belongs under options)
        ({"options": {"quoting": "all"}}, "options.quoting"),
        ({"positive": []}, "positive"),
    ],
)
def test_each_invalid_field_is_reported(tmp_path, change, field):
    entry = {
        "id": "d1",
        "label": "misinfo.medical",
        "format": "csv",
        "train": "a.csv",
        "validation": "b.csv",
        "text_column": "t",
        "label_column": "l",
        "positive": ["fake"],
        **change,
    }
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(ManifestError, match=r"m\.yaml.*'d1'") as err:
        load_manifest(write_manifest(tmp_path / "m.yaml", [entry]))
    assert field in str(err.value)


def test_duplicate_ids_and_non_mapping_manifests_are_rejected(tmp_path):
    entry = {
        "id": "x",
        "label": "self_harm",
        "format": "lines",
        "positive": ["1"],
        "validation": {"path": "v.txt", "labels": "v_labels.txt"},
    }
    with pytest.raises(ManifestError, match=r"'x'.*more than one"):
        load_manifest(write_manifest(tmp_path / "m.yaml", [entry, entry]))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ManifestError, match=r"list\.yaml"):
        load_manifest(tmp_path / "list.yaml")
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "missing.yaml")


def test_the_shipped_manifest_is_valid():
    manifest = load_manifest(REPO / "manifests" / "shared-datasets.yaml")
    assert manifest.labels() == [
        "hate.speech",
        "hate.offensive",
        "misinfo.medical",
        "civic.election_integrity",
        "deceptive.spam",
        "self_harm",
        "aigc.machine_text",
    ]
    assert {e.id for e in manifest.datasets if not e.trains} == {"liar-elections"}
    by_id = {e.id: e for e in manifest.datasets}
    assert by_id["tweeteval-offensive"].policy_id == "hate.speech" and by_id["tweepfake"].violation is False
    assert by_id["tweeteval-background"].role == "background" and by_id["tweeteval-background"].label is None


def test_background_entry_reads_texts_as_negatives_and_rejects_labels(tmp_path):
    (tmp_path / "bg.txt").write_text("nice weather\n\nmatch tonight\n")
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            {"id": "bg", "role": "background", "format": "lines", "train": "bg.txt", "validation": "bg.txt"},
        ],
    )
    entry = load_manifest(manifest).datasets[0]
    texts, y = read_split(entry, tmp_path, "train")
    assert texts.tolist() == ["nice weather", "match tonight"] and not y.any()
    with pytest.raises(ManifestError, match="background"):
        parse_manifest(
            {
                "datasets": [
                    {
                        "id": "bg",
                        "role": "background",
                        "label": "hate.speech",
                        "format": "lines",
                        "train": "bg.txt",
                        "validation": "bg.txt",
                    }
                ]
            }
        )


def test_stream_training_gates_off_topic_text_and_records_curves(tiny):
    _, _, result = tiny
    model, card = result.model, result.card
    assert set(model.domains) == {"misinfo.medical", "deceptive.spam"}
    # a spam text is in-domain for spam and off-topic for medical misinformation: the gate scales it down
    p = model.score_texts(pd.Series(["WIN a free prize call now", "miracle cure kills the virus"]))
    assert p["misinfo.medical"][0] < 0.2 < p["misinfo.medical"][1]
    stream = card["stream"]
    assert set(stream["policies"]) == {"misinfo.medical", "deceptive.spam"} and stream["prevalence"] == 0.1
    curve = stream["policies"]["misinfo.medical"]
    assert curve["thresholds"] == sorted(curve["thresholds"], reverse=True)
    assert all(lo <= p + 1e-9 for lo, p in zip(curve["precision_lower"], curve["precision"], strict=True))
    assert "0.9" in stream["targets"]["misinfo.medical"]
    # the out-of-fold check's parts: three, and their flagged rows add up to the curve's at every threshold
    parts = curve["parts"]
    assert len(parts["flagged"]) == 3 == stream["threshold_rule"]["out_of_fold_parts"]
    assert [sum(column) for column in zip(*parts["flagged"], strict=True)] == curve["flagged"]
    assert card["label_training"]["deceptive.spam"]["hard_negatives"]["rows"] == 0  # its entry does not ask for them


def test_hard_negatives_are_the_other_posts_at_or_above_the_cap_and_lower_their_scores(tmp_path, monkeypatch):
    """Fake vs real health news, and ordinary posts of which half retell the fake news's words (as the
    politicians' COVID tweets in TweepFake use the news's words): trained on as hard negatives, such posts
    score lower for medical misinformation."""
    from modsweep.tasks import train as train_module
    from modsweep.tasks.datasets import DatasetEntry

    rng = np.random.default_rng(11)
    fake = ["miracle cure kills the virus", "vaccine chip tracks you", "garlic cures covid overnight"]
    real = ["health agency reports new covid cases", "vaccine trial results published", "hospital admissions fall"]
    off_topic = ["lovely walk in the park", "great match last night", "new phone who dis"]
    bad = rng.random(300) < 0.4
    rows = [(f"{rng.choice(fake if b else real)} {k}", "fake" if b else "real") for k, b in enumerate(bad)]
    pd.DataFrame(rows, columns=["tweet", "label"]).to_csv(tmp_path / "news.csv", index_label="id")
    retold = ["my aunt says {} lol", "people keep saying {} smh", "{} they said, unbelievable"]
    talk = [
        rng.choice(retold).format(rng.choice(fake)) + f" {1000 + k}" if k % 2 else f"{rng.choice(off_topic)} {k}"
        for k in range(300)
    ]
    (tmp_path / "talk.txt").write_text("\n".join(talk) + "\n")
    news = {
        "id": "news",
        "label": "misinfo.medical",
        "format": "csv",
        "source": "news.csv",
        "holdout": 0.2,
        "text_column": "tweet",
        "label_column": "label",
        "positive": ["fake"],
        "negative": ["real"],
    }
    background = {"id": "talk", "role": "background", "format": "lines", "source": "talk.txt", "holdout": 0.2}
    talk_train = read_split(DatasetEntry.model_validate(background), tmp_path, "train").texts
    results = {}
    for flag in (False, True):
        manifest = write_manifest(tmp_path / f"m{flag}.yaml", [{**news, "hard_negatives": flag}, background])
        results[flag] = train_from_manifest(manifest, tmp_path, c_grid=(4.0,), folds=3)
    assert results[False].card["label_training"]["misinfo.medical"]["hard_negatives"]["rows"] == 0
    # on this tiny corpus the gate tells every talk post from the news: none passes uncapped
    assert results[True].card["label_training"]["misinfo.medical"]["hard_negatives"]["rows"] == 0
    # with a cap of 0 every other post passes: all of them are hard negatives
    monkeypatch.setattr(train_module, "HARD_NEGATIVE_CAP", 0.0)
    results[True] = train_from_manifest(tmp_path / "mTrue.yaml", tmp_path, c_grid=(4.0,), folds=3)
    hard = results[True].card["label_training"]["misinfo.medical"]["hard_negatives"]
    assert hard == {"rows": len(talk_train), "by_dataset": {"talk": len(talk_train)}}
    probe = pd.Series(
        ["my aunt says garlic cures covid overnight lol 9999", "vaccine chip tracks you they said, unbelievable"]
    )
    with_hard = results[True].model.score_texts(probe)["misinfo.medical"]
    without = results[False].model.score_texts(probe)["misinfo.medical"]
    assert (with_hard < without).all(), (with_hard, without)


# --- readers, one per layout of the shared data sets -------------------------------------------------------


def test_lines_reader_keeps_texts_and_labels_aligned(tmp_path):
    # TweetEval: one tweet per line (trailing spaces), labels line-aligned in another file.
    (tmp_path / "train_text.txt").write_text("@user you are vermin \n\nline with a \u2028 separator \nok then \n")
    (tmp_path / "train_labels.txt").write_text("1\n0\n1\n0\n")
    entry = parse_manifest(
        {
            "datasets": [
                {
                    "id": "tweets",
                    "label": "hate.speech",
                    "format": "lines",
                    "positive": ["1"],
                    "negative": ["0"],
                    "train": {"path": "train_text.txt", "labels": "train_labels.txt"},
                    "validation": {"path": "train_text.txt", "labels": "train_labels.txt"},
                }
            ]
        }
    ).datasets[0]
    texts, y = read_split(entry, tmp_path, "train")
    assert texts.tolist() == [
        "@user you are vermin ",
        "line with a \u2028 separator ",
        "ok then ",
    ]  # empty line dropped
    assert y.tolist() == [True, True, False]
    (tmp_path / "train_labels.txt").write_text("1\n0\n")
    with pytest.raises(ValueError, match=r"'tweets'.*4 lines.*2"):
        read_split(entry, tmp_path, "train")


def test_csv_reader_with_quoted_commas_and_named_columns(tmp_path):
    # CONSTRAINT: id,tweet,label with real/fake.
    (tmp_path / "train.csv").write_text('id,tweet,label\n1,"Masks work, says the CDC",real\n2,5G spreads covid,fake\n')
    entry = parse_manifest(
        {
            "datasets": [
                {
                    "id": "covid",
                    "label": "misinfo.medical",
                    "format": "csv",
                    "train": "train.csv",
                    "validation": "train.csv",
                    "text_column": "tweet",
                    "label_column": "label",
                    "positive": ["fake"],
                    "negative": ["real"],
                }
            ]
        }
    ).datasets[0]
    texts, y = read_split(entry, tmp_path, "validation")
    assert texts.tolist() == ["Masks work, says the CDC", "5G spreads covid"] and y.tolist() == [False, True]
    bad = entry.model_copy(update={"text_column": "text"})
    with pytest.raises(ValueError, match=r"'covid'.*text_column.*'text'"):
        read_split(bad, tmp_path, "train")


def test_tsv_without_header_reads_quotes_literally_and_filters_rows(tmp_path):
    # LIAR: 14 columns, no header, statements with unbalanced quotes; the elections subset by subjects.
    rows = [
        [
            "1.json",
            "pants-fire",
            'Says "the election was rigged',
            "elections",
            "x",
            "",
            "",
            "",
            "0",
            "0",
            "0",
            "0",
            "1",
            "ad",
        ],
        ["2.json", "true", "Taxes went up.", "taxes", "y", "", "", "", "0", "0", "0", "1", "0", "speech"],
        [
            "3.json",
            "half-true",
            "Turnout was record high.",
            "elections,voting",
            "z",
            "",
            "",
            "",
            "0",
            "0",
            "1",
            "0",
            "0",
            "tv",
        ],
    ]
    (tmp_path / "train.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    base = {
        "id": "liar",
        "label": "civic.election_integrity",
        "format": "tsv",
        "train": "train.tsv",
        "validation": "train.tsv",
        "options": {"header": False, "columns": LIAR_COLUMNS},
        "text_column": "statement",
        "label_column": "label",
        "positive": ["pants-fire", "false", "barely-true"],
    }
    entry = parse_manifest({"datasets": [base]}).datasets[0]
    texts, y = read_split(entry, tmp_path, "train")
    assert texts.tolist()[0] == 'Says "the election was rigged' and y.tolist() == [True, False, False]
    elections = parse_manifest(
        {"datasets": [{**base, "where": {"column": "subjects", "contains": "ELECTIONS"}}]}
    ).datasets[0]
    texts, y = read_split(elections, tmp_path, "validation")
    assert len(texts) == 2 and y.tolist() == [True, False]
    by_index = parse_manifest(
        {"datasets": [{**base, "options": {"header": False}, "text_column": 2, "label_column": 1}]}
    )
    assert read_split(by_index.datasets[0], tmp_path, "train").y.tolist() == [True, False, False]


def test_single_file_is_split_deterministically_and_dirt_survives(tmp_path):
    # Suicide-ideation layout: Tweet,Suicide with a trailing space in one label, mojibake and empty rows.
    lines = ["Tweet,Suicide"]
    for k in range(300):
        lines.append(f"post number {k} about lunch,Not Suicide post")
        lines.append(f'"i cannot go on, {k} yâ\u0080¦",Potential Suicide post ')
    lines += [",Not Suicide post", '"",Potential Suicide post ', "cafÃ© time,Not Suicide post"]
    (tmp_path / "dev.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    entry = parse_manifest(
        {
            "datasets": [
                {
                    "id": "suicide",
                    "label": "self_harm",
                    "format": "csv",
                    "source": "dev.csv",
                    "holdout": 0.2,
                    "text_column": "Tweet",
                    "label_column": "Suicide",
                    "positive": ["Potential Suicide post"],
                    "negative": ["Not Suicide post"],
                }
            ]
        }
    ).datasets[0]
    train, valid = read_split(entry, tmp_path, "train"), read_split(entry, tmp_path, "validation")
    assert len(train.texts) + len(valid.texts) == 601  # the two empty rows are dropped
    assert not set(train.texts) & set(valid.texts)
    assert 0.1 < len(valid.texts) / 601 < 0.3 and train.y.sum() > 0 and valid.y.sum() > 0
    everything = pd.concat([train.texts, valid.texts])
    assert "café time" in set(everything) and any(t.endswith("y…") for t in everything)  # mojibake repaired
    again = read_split(entry, tmp_path, "validation")
    assert again.texts.tolist() == valid.texts.tolist()
    assert holdout_mask(pd.Series(["a", "a"]), 0.5).tolist()[0] == holdout_mask(pd.Series(["a"]), 0.5).tolist()[0]


def test_semicolon_csv_with_negative_values_only(tmp_path):
    # TweepFake: screen_name;text;account.type;class_type, every class_type except human is machine text.
    (tmp_path / "train.csv").write_text(
        "screen_name;text;account.type;class_type\nbot1;YEA now that note GOOD;bot;others\n"
        "hum;Listen to This Charming Man;human;human\nbot2;the the the cat;bot;gpt2\nbot3;lol;bot;rnn\n"
    )
    entry = parse_manifest(
        {
            "datasets": [
                {
                    "id": "tweepfake",
                    "label": "aigc.machine_text",
                    "format": "csv",
                    "options": {"sep": ";"},
                    "train": "train.csv",
                    "validation": "train.csv",
                    "text_column": "text",
                    "label_column": "class_type",
                    "negative": ["human"],
                }
            ]
        }
    ).datasets[0]
    assert read_split(entry, tmp_path, "train").y.tolist() == [True, False, True, True]
    with pytest.raises(FileNotFoundError, match=r"'tweepfake'.*nowhere"):
        read_split(entry, tmp_path / "nowhere", "train")


# --- normalisation and features -----------------------------------------------------------------------------


def _reference_normalise(texts: pd.Series) -> list[str]:
    """The original per-step regex normalisation, which the vectorised one must reproduce exactly."""
    s = _as_string(texts).str.normalize("NFKC").str.casefold().str.translate(_DELETE_ZW).str.translate(LEET)
    s = s.str.replace(r"[^\w]+", " ", regex=True).str.replace(r"(\w)\1+", r"\1", regex=True)
    return (" " + s.str.strip() + " ").tolist()


def test_vectorised_normalisation_matches_the_reference():
    texts = pd.Series(
        [
            "V3RM\u200bIN!!",
            "veeeermin",
            "Ｖｅｒｍｉｎ",
            "",
            None,
            "a\x00b",
            "ß STRASSE",
            "ǅ ﬁ ½ ²",
            "h\ud800i",
            "  lead  trail  ",
            "1337 h4x0r $$$ @@",
            "日本語のテキスト",
            "İstanbul",
            "😀😀 ok",
            "x\u3000\u3000y",
            "naïve café",
            "__init__ 3.14",
        ],
        dtype=object,
    )
    norm = normalise(texts)
    assert norm.text.tolist() == _reference_normalise(texts)
    assert norm.cased is not None and norm.cased.tolist()[:3] == ["V3RMIN!!", "veeeermin", "Vermin"]
    assert list(norm.text.index) == list(texts.index) and len(norm.truncated) == len(texts)


def test_featurise_empty_and_odd_partitions():
    for texts in (pd.Series([], dtype=object), pd.Series(["", None, "h\ud800i", "!!!"], dtype=object)):
        features = featurise(normalise(texts))
        assert features.shape[0] == len(texts) and features.char_block is not None
        assert np.isfinite(features.data).all()


def test_surrounding_and_repeated_whitespace_does_not_change_the_features():
    # combined_text joins caption, transcript and OCR text with spaces, so a caption alone ends in two spaces
    plain = featurise(normalise(pd.Series(["Says the vote was rigged", "x"])))
    padded = featurise(normalise(pd.Series(["  Says the   vote was rigged  ", "x"])))
    assert abs(plain - padded).sum() == 0
    assert abs(plain.char_block.matrix() - padded.char_block.matrix()).sum() == 0


# --- training from a manifest --------------------------------------------------------------------------------


def _tiny_corpus(tmp_path: Path) -> Path:
    """Two small labelled data sets in two layouts, with a clear signal, plus their manifest."""
    rng = np.random.default_rng(3)
    benign = [
        "lovely walk in the park",
        "coffee with friends today",
        "new recipe turned out great",
        "watching the match",
    ]
    bad = ["miracle cure kills the virus", "doctors hide the real cure", "bleach cures covid fast"]
    spam = ["WIN a free prize call now", "claim your cash reward txt STOP", "urgent: your account won £1000"]
    for split, n in (("train", 240), ("val", 80)):
        rows = []
        for k in range(n):
            label = rng.random() < 0.4
            rows.append((f"{rng.choice(bad if label else benign)} #{k}{split}", "fake" if label else "real"))
        pd.DataFrame(rows, columns=["tweet", "label"]).to_csv(tmp_path / f"covid_{split}.csv", index_label="id")
        texts, labels = [], []
        for k in range(n):
            label = rng.random() < 0.3
            texts.append(f"{rng.choice(spam if label else benign)} {k}{split}")
            labels.append("1" if label else "0")
        (tmp_path / f"sms_{split}.txt").write_text("\n".join(texts) + "\n")
        (tmp_path / f"sms_{split}_labels.txt").write_text("\n".join(labels) + "\n")
    return write_manifest(
        tmp_path / "manifest.yaml",
        [
            {
                "id": "covid",
                "label": "misinfo.medical",
                "format": "csv",
                "licence": "test data",
                "train": "covid_train.csv",
                "validation": "covid_val.csv",
                "text_column": "tweet",
                "label_column": "label",
                "positive": ["fake"],
                "negative": ["real"],
                "hard_negatives": True,
            },
            {
                "id": "sms",
                "label": "deceptive.spam",
                "format": "lines",
                "positive": ["1"],
                "train": {"path": "sms_train.txt", "labels": "sms_train_labels.txt"},
                "validation": {"path": "sms_val.txt", "labels": "sms_val_labels.txt"},
            },
        ],
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    manifest = _tiny_corpus(root)
    result = train_from_manifest(manifest, root, c_grid=(4.0,), folds=3)
    return root, manifest, result


def test_manifest_training_writes_a_complete_card(tiny, tmp_path):
    _, _, result = tiny
    card = result.card
    assert result.model.labels == card["labels"] == ["misinfo.medical", "deceptive.spam"]
    data = card["training_data"]
    assert len(data["sha256"]) == 64 and len(data["manifest_sha256"]) == 64 and data["rows"] == 480
    covid = data["datasets"]["covid"]
    assert (
        covid["licence"] == "test data"
        and covid["rows_train"] == 240
        and covid["files"] == ["covid_train.csv", "covid_val.csv"]
    )
    for key in (
        "rows",
        "positives",
        "macro_f1",
        "roc_auc",
        "precision_at_removal",
        "recall_at_review",
        "items_per_s_cpu",
    ):
        assert key in covid["validation"], key
    assert covid["validation"]["roc_auc"] > 0.95
    assert card["features"]["key"] == result.model.feature_key and card["features"]["params"]["char_ngrams"] == [2, 5]
    assert card["thresholds"]["removal"] == 0.9 and card["thresholds"]["review"] == 0.5
    assert set(card["validation_metrics"]) == {"misinfo.medical", "deceptive.spam"}
    assert "licences" in card["limitations"].lower() or "licence" in card["limitations"].lower()
    # The registry round trip keeps everything needed to score.
    save_model(tmp_path / "models", MODEL_NAME, result.version, result.model, card)
    model, loaded = load_model(tmp_path / "models", MODEL_NAME)
    assert loaded["version"] == result.version and json.dumps(loaded)  # plain JSON
    p = model.score_texts(pd.Series(["bleach cures covid fast", "lovely walk in the park"]))
    assert p["misinfo.medical"][0] > 0.7 > p["misinfo.medical"][1]


def test_same_data_and_parameters_give_the_same_version(tiny):
    root, manifest, result = tiny
    again = train_from_manifest(manifest, root, c_grid=(4.0,), folds=3)
    assert again.version == result.version
    assert again.card["training_data"]["sha256"] == result.card["training_data"]["sha256"]
    other = train_from_manifest(manifest, root, c_grid=(1.0,), folds=3)
    assert other.version != result.version


def test_scoring_with_other_feature_parameters_raises(tiny):
    _, _, result = tiny
    model = result.model
    texts = pd.Series(["miracle cure", "hello"])
    other = featurise(normalise(texts), {**FEATURE_PARAMS, "char_ngrams": [3, 5]})
    with pytest.raises(FeatureMismatchError, match="cannot score features"):
        model.predict_proba(other)
    same = featurise(normalise(texts), model.feature_params)
    with pytest.raises(FeatureMismatchError, match="no feature key"):
        model.predict_proba(same[[0]])  # a slice drops the key and the character block
    old = TextPolicyModel.__new__(TextPolicyModel)
    old.__dict__.update({"labels": model.labels, "classifiers": model.classifiers})  # an older pickle
    with pytest.raises(FeatureMismatchError, match="older featurisation"):
        old.predict_proba(same)
    with pytest.raises(FeatureMismatchError, match="not implemented here"):
        featurise(normalise(texts), {**FEATURE_PARAMS, "scheme": "something-else"})


def test_predict_proba_survives_empty_missing_and_broken_text(tiny):
    _, _, result = tiny
    probs = result.model.score_texts(pd.Series(["", None, "h\ud800i", "   ", "💥" * 50], dtype=object))
    for p in probs.values():
        assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))
    empty = result.model.score_texts(pd.Series([], dtype=object))
    assert all(len(p) == 0 for p in empty.values())


def test_a_loaded_model_keeps_one_copy_of_its_weights(tiny, tmp_path):
    _, _, result = tiny
    save_model(tmp_path / "models", MODEL_NAME, result.version, result.model, result.card)
    model, _ = load_model(tmp_path / "models", MODEL_NAME)
    texts = pd.Series(["bleach cures covid fast", "WIN a free prize call now"])
    before = {k: v.copy() for k, v in model.score_texts(texts).items()}
    word, chars = model._weights()[:2]
    heads = [model.classifiers[label] for label in model.labels] + [model.domains[label] for label in model._gated()]
    assert all(np.shares_memory(h.word_coef, word) and np.shares_memory(h.char_coef, chars) for h in heads)
    one = model.classifiers["misinfo.medical"]  # a head alone still scores (from its view of the stack)
    features = featurise(normalise(texts))
    alone = one.calibrate(one.decision_function(features))
    gate = model.domains["misinfo.medical"]
    saturation = model.domain_saturations["misinfo.medical"]
    gated = np.minimum(alone, gate.calibrate(gate.decision_function(features)) / saturation)
    np.testing.assert_allclose(gated, before["misinfo.medical"], rtol=1e-4, atol=1e-6)
    assert {k: list(v) for k, v in model.score_texts(texts).items()} == {k: list(v) for k, v in before.items()}


def test_synthetic_multilabel_training_is_calibrated_and_keyed():
    rng = np.random.default_rng(1)
    words = np.array(["cat", "sun", "tea", "bike", "rain", "book"])
    texts = pd.Series(
        [" ".join(rng.choice(words, 6)) + (" buy followers now" if k % 5 == 0 else "") for k in range(1500)]
    )
    labels = pd.DataFrame({"deceptive.spam": [k % 5 == 0 for k in range(1500)]})
    result = train_text_policy_model(texts, labels, source="test")
    m = result.card["validation_metrics"]["deceptive.spam"]
    assert m["roc_auc"] > 0.99 and m["recall_at_review"] > 0.9 and "positives_train" in m and "f1_at_0.5" in m
    assert result.card["features"]["key"] == result.model.feature_key
    p = result.model.score_texts(pd.Series(["tea rain buy followers now", "tea rain cat"]))["deceptive.spam"]
    assert p[0] > 0.9 and p[1] < 0.1


def test_platt_scaling_recovers_a_known_sigmoid():
    rng = np.random.default_rng(0)
    z = rng.normal(size=20_000)
    y = rng.random(20_000) < 1 / (1 + np.exp(-(2.0 * z - 1.0)))
    a, b = fit_platt(z, y)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)
    a, b = fit_platt(np.r_[np.full(50, 3.0), np.full(50, -3.0)], np.r_[np.ones(50, bool), np.zeros(50, bool)])
    assert 0.95 < 1 / (1 + np.exp(-(3 * a + b))) < 0.99  # separable data: smoothed targets, not certainty


def test_training_on_a_slice_of_the_real_covid_data(shared_datasets):
    manifest = REPO / "manifests" / "shared-datasets.yaml"
    result = train_from_manifest(
        manifest, shared_datasets, datasets=["constraint-covid"], max_train_rows=2000, c_grid=(8.0,), folds=3
    )
    validation = result.card["training_data"]["datasets"]["constraint-covid"]["validation"]
    assert validation["rows"] == 2140 and validation["roc_auc"] > 0.8
