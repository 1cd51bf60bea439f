"""Claim matching on real data: CoAID's fact-checked false COVID claims against CONSTRAINT's labelled tweets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from modsweep.tasks.detect import parse_claims, score_claims
from modsweep.tasks.text import featurise, normalise

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.mark.skipif(not (DATASETS / "coaid").is_dir(), reason=f"shared datasets not found at {DATASETS}")
def test_coaid_false_claims_match_fake_tweets_more_than_real_ones():
    frames = []
    for f in sorted((DATASETS / "coaid").glob("*Fake*.csv")):
        t = pd.read_csv(f, usecols=lambda c: c in ("title", "fact_check_url"), dtype=str, encoding_errors="replace")
        frames.append(t.dropna(subset=["title"]))
    fake_claims = pd.concat(frames, ignore_index=True).drop_duplicates("title")
    claims_csv = pd.DataFrame(
        {
            "claim_id": [f"coaid-{i}" for i in range(len(fake_claims))],
            "text": fake_claims["title"],
            "fact_check_url": fake_claims["fact_check_url"].fillna(""),
            "language": "en",
        }
    )
    claims = parse_claims(claims_csv.to_csv(index=False))
    tweets = pd.read_csv(DATASETS / "constraint_covid" / "Constraint_Val.csv", dtype=str, encoding_errors="replace")
    features = featurise(normalise(tweets["tweet"]))

    class Bank:  # the minimum score_claims reads
        claim_detectors = [("misinfo.medical", "coaid-claims", claims, 1.0, 0.0)]

    found = pd.concat(score_claims(tweets["id"].to_numpy(dtype=object), features, Bank()))
    best = tweets["id"].map(found.set_index("item_id")["score"]).fillna(0)
    y = (tweets["label"] == "fake").to_numpy()
    assert len(claims.claim_ids) > 400
    assert roc_auc_score(y, best) > 0.6  # nearest fact-checked claim separates fake from real tweets
    assert best[y].mean() > best[~y].mean()
