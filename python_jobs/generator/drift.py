"""Drifting films: a planted change of opinion over the batches, for the sentiment-shift history.

With GeneratorConfig.drift = d (stars per batch, 0 = off), the two most popular generic films drift:
every rating of the first that is logged (or re-rated) in batch b moves up by d x b stars (its diary
entries' too), every rating of the second moves down by as much (half stars, clipped to 0.5..5). So each
later batch pulls the films' averages further, in every cohort that rates them. The third most popular
generic film does not drift: the control. truth.drifting_films records all three.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from python_jobs.generator.activity import History, batch_of
from python_jobs.generator.catalog import Catalog
from python_jobs.generator.config import GeneratorConfig

DIRECTIONS = ("rising", "falling", "control")
SIGNS = np.array([1.0, -1.0, 0.0])


def drifting_films(catalog: Catalog) -> np.ndarray:
    """film_ids of the rising, the falling and the control film: the three most popular generic films."""
    order = np.argsort(-catalog.weight, kind="stable")
    return order[:3] + 1


def apply_drift(config: GeneratorConfig, catalog: Catalog, history: History) -> History:
    """The history with the drifting films' ratings moved by their batch (unchanged when drift is 0)."""
    if not config.drift:
        return history
    films = drifting_films(catalog)

    def moved(film_id: np.ndarray, rating: np.ndarray, at: np.ndarray) -> np.ndarray:
        sign = np.select([film_id == f for f in films], SIGNS, 0.0)
        shifted = np.clip(np.round((rating + sign * config.drift * batch_of(config, at)) * 2) / 2, 0.5, 5.0)
        return np.where(sign != 0, shifted, rating)

    diary = history.diary.copy()
    diary["rating"] = moved(diary["film_id"].to_numpy(), diary["rating"].to_numpy(), diary["logged_epoch"].to_numpy())
    return dataclasses.replace(
        history,
        rating=moved(history.film_id, history.rating, history.logged_at),
        changed_rating=moved(history.film_id, history.changed_rating, history.later_at),
        diary=diary,
    )


def truth_frame(config: GeneratorConfig, catalog: Catalog) -> pd.DataFrame:
    """truth.drifting_films: the rising, falling and control film and their stars per batch."""
    return pd.DataFrame(
        {"film_id": drifting_films(catalog), "direction": DIRECTIONS, "stars_per_batch": SIGNS * config.drift}
    )
