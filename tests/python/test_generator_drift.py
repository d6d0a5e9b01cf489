"""The generator's drifting films (--drift, python_jobs/generator/drift.py): without drift nothing changes; with it
only the rising and falling films' ratings move, by their batch, in the planted direction. No database."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from python_jobs.generator import Generator, GeneratorConfig
from python_jobs.generator.activity import batch_of
from python_jobs.generator.drift import drifting_films
from python_jobs.warehouse import WarehouseError

WORLD = GeneratorConfig(users=300, films=200, seed=11, batches=3, ratings_per_user=30)


def test_drift_moves_only_the_drifting_films_by_their_batch():
    still, drifting = Generator(WORLD), Generator(dataclasses.replace(WORLD, drift=1.0))
    rising, falling, control = drifting_films(still.catalog)
    assert len({rising, falling, control}) == 3
    before, after = still.history(0), drifting.history(0)
    for field in dataclasses.fields(before):
        if field.name not in ("rating", "changed_rating", "diary"):
            assert np.array_equal(getattr(before, field.name), getattr(after, field.name)), field.name
    moved = np.isin(before.film_id, [rising, falling])
    same = ~moved
    assert np.array_equal(before.rating[same], after.rating[same], equal_nan=True)
    assert np.array_equal(before.changed_rating[same], after.changed_rating[same], equal_nan=True)
    batch = batch_of(WORLD, before.logged_at)
    for film, sign in ((rising, 1), (falling, -1)):
        rows = (before.film_id == film) & ~np.isnan(before.rating)
        first = rows & (batch == 0)
        assert np.array_equal(before.rating[first], after.rating[first])  # batch 0 does not drift
        last = rows & (batch == WORLD.batches - 1)
        assert last.sum() > 10
        shift = after.rating[last].mean() - before.rating[last].mean()
        assert sign * shift > 1.0, (film, shift)


def test_drift_off_records_no_parameter_and_a_negative_drift_is_refused():
    assert "drift" not in WORLD.parameters()
    assert dataclasses.replace(WORLD, drift=0.5).parameters()["drift"] == 0.5
    with pytest.raises(WarehouseError, match="--drift"):
        dataclasses.replace(WORLD, drift=-1.0).validate()
