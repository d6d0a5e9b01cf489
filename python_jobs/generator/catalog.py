"""The film side of the world: films, their taste vectors, people, lists, site histograms, planted films.

Built once per run from the CATALOG stream (a 60k-film catalogue is a few megabytes), then shared
by every block of users. Generic films get their ratings from the taste model in activity.py;
planted films get theirs from the pattern histograms in patterns.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from python_jobs.generator import names
from python_jobs.generator.config import (
    BUCKETS,
    SOURCE,
    GeneratorConfig,
    Stream,
    planted_per_pattern,
)
from python_jobs.generator.patterns import CATALOGUE_PATTERNS, COHORT_PATTERNS, PATTERNS

# The taste model (shared with activity.py): score = MEAN + user bias + film quality + director
# effect + TASTE_WEIGHT * <user taste, film vector> + user noise, rounded to (half) stars.
MEAN_SCORE = 3.35
QUALITY_SD = 0.45
DIRECTOR_SD = 0.3
TASTE_WEIGHT = 0.8
SITE_SCORE_SD = 0.95  # spread of one film's scores over the whole site population
WHOLE_STAR_SHARE = 0.3  # users who never give half stars

LATEST_YEAR = 2024
GENRES = np.array(
    [
        "Drama", "Comedy", "Thriller", "Horror", "Romance", "Documentary", "Animation", "Science Fiction",
        "Crime", "Action", "Adventure", "Fantasy", "Mystery", "Music", "War", "Western",
    ]
)
GENRE_WEIGHTS = np.array([22, 16, 10, 8, 8, 6, 5, 5, 5, 5, 3, 3, 2, 1, 0.6, 0.4])
TASTE_DIM = len(GENRES)  # one orthogonal taste direction per genre, rotated at random
LANGUAGES = np.array(["en", "fr", "ja", "ko", "es", "it", "de", "hi", "zh", "sv", "da", "pt", "ru"])
LANGUAGE_WEIGHTS = np.array([55, 8, 6, 5, 5, 4, 4, 3, 3, 2, 2, 2, 1])
FESTIVALS = (("cannes", "Cannes"), ("venice", "Venice"), ("berlinale", "Berlinale"), ("sundance", "Sundance"),
             ("tiff", "TIFF"))
FESTIVAL_YEARS = range(LATEST_YEAR - 9, LATEST_YEAR + 1)
SLATE_SIZE = 20
CURATED = ("Comfort Movies", "Midnight Madness", "Slow Cinema Essentials", "Perfect Date Night",
           "Films That Broke Me")
CURATED_SIZE = 25
FILMOGRAPHIES = 10
TOP_SITE_COUNT = 1_500_000
PLANTED_SITE_COUNT = (200_000, 900_000)


@dataclass
class TasteClusters:
    """Planted taste clusters: each loves two genres and dislikes a third."""

    centroids: np.ndarray  # (clusters, TASTE_DIM)
    share: np.ndarray  # of users in each cluster
    genres: list[tuple[list[str], str]]  # (favourite genres, disliked genre)


@dataclass
class Catalog:
    """Per-film arrays (index i is film_id i + 1) plus the catalogue's static tables as frames."""

    films: pd.DataFrame  # raw.films columns
    weight: np.ndarray  # how likely a user logs the film (0 for planted films: they are drawn apart)
    quality: np.ndarray  # quality + director effect, on the rating scale
    vectors: np.ndarray  # (films, TASTE_DIM) taste vectors
    clusters: TasteClusters
    primary_genre: np.ndarray
    histograms: np.ndarray  # (films, 10) site-population counts per half-star bucket
    planted_index: np.ndarray  # film indexes of planted films
    planted_pattern: np.ndarray  # their pattern names
    planted_cohort: np.ndarray  # follow-graph cohort index for cohort patterns, else -1
    people: pd.DataFrame
    film_people: pd.DataFrame
    lists: pd.DataFrame
    list_items: pd.DataFrame

    @property
    def n(self) -> int:
        return len(self.weight)

    def histogram_frame(self) -> pd.DataFrame:
        """raw.film_histograms rows: every film × every bucket (zeros included: a fixed grain)."""
        return pd.DataFrame(
            {
                "film_id": np.repeat(np.arange(1, self.n + 1), 10),
                "bucket": np.tile(BUCKETS, self.n),
                "n": self.histograms.ravel(),
            }
        )


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def rounding_probabilities(mean: np.ndarray, sd: float) -> np.ndarray:
    """P(bucket) when N(mean, sd) is rounded to half stars (or, for WHOLE_STAR_SHARE, whole stars)."""
    half_edges = np.concatenate(([-np.inf], BUCKETS[:-1] + 0.25, [np.inf]))
    half = np.diff(ndtr((half_edges[None, :] - mean[:, None]) / sd), axis=1)
    whole_edges = np.array([-np.inf, 1.5, 2.5, 3.5, 4.5, np.inf])
    whole_stars = np.diff(ndtr((whole_edges[None, :] - mean[:, None]) / sd), axis=1)
    whole = np.zeros_like(half)
    whole[:, 1::2] = whole_stars
    return (1 - WHOLE_STAR_SHARE) * half + WHOLE_STAR_SHARE * whole


def apportion(totals: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Integer counts per row that sum exactly to totals (largest remainders get the leftovers)."""
    exact = totals[:, None] * probabilities
    counts = np.floor(exact).astype(np.int64)
    left = totals - counts.sum(axis=1)
    rank = np.argsort(np.argsort(-(exact - counts), axis=1, kind="stable"), axis=1, kind="stable")
    return counts + (rank < left[:, None])


def choose_genres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each film gets 1-3 distinct genres; returns (n, 3) genre indexes (-1 = none) and the count."""
    p = GENRE_WEIGHTS / GENRE_WEIGHTS.sum()
    keys = np.log(p)[None, :] + rng.gumbel(size=(n, len(GENRES)))  # Gumbel top-k: weighted, no repeats
    top = np.argsort(-keys, axis=1)[:, :3]
    count = rng.choice([1, 2, 3], size=n, p=[0.35, 0.45, 0.2])
    top[np.arange(3)[None, :] >= count[:, None]] = -1
    return top, count


def genre_literals(top: np.ndarray) -> np.ndarray:
    """PostgreSQL text[] literals such as {"Drama","Science Fiction"}."""
    quoted = np.char.add(np.char.add('"', GENRES), '"')
    out = np.char.add("{", quoted[top[:, 0]])
    for j in (1, 2):
        more = top[:, j] >= 0
        out = np.where(more, np.char.add(np.char.add(out, ","), quoted[np.maximum(top[:, j], 0)]), out)
    return np.char.add(out, "}")


def build_catalog(config: GeneratorConfig) -> Catalog:
    """Every film-side table and array of the run, from the CATALOG stream."""
    rng = config.rng(Stream.CATALOG)
    m = config.films
    year = LATEST_YEAR - np.minimum(np.floor(rng.exponential(14.0, m)), LATEST_YEAR - 1920).astype(int)
    top, _ = choose_genres(rng, m)
    genre_dirs = np.linalg.qr(rng.standard_normal((TASTE_DIM, TASTE_DIM)))[0]
    genre_mix = np.where(top[..., None] >= 0, genre_dirs[np.maximum(top, 0)], 0.0).sum(axis=1)
    vectors = 0.8 * unit_rows(genre_mix) + 0.1 * rng.standard_normal((m, TASTE_DIM))

    people, film_people, director_of, n_directors = build_people(rng, m)
    director_effect = rng.normal(0.0, DIRECTOR_SD, n_directors)
    quality = rng.normal(0.0, QUALITY_SD, m) + director_effect[director_of]
    weight = rng.lognormal(0.0, 1.2, m) * np.exp(-(LATEST_YEAR - year) / 30.0) * np.exp(0.5 * quality)

    n_each = planted_per_pattern(m)
    patterns = [p for p in CATALOGUE_PATTERNS for _ in range(n_each)]
    patterns += ["same_avg_enthusiasm", "same_avg_crowd_pleaser"]
    cohorts = [-1] * len(patterns)
    for k in range(config.cohorts):
        patterns += list(COHORT_PATTERNS)
        cohorts += [k, k]
    planted_index = rng.choice(m, size=len(patterns), replace=False)
    weight[planted_index] = 0.0

    clusters = taste_clusters(config, genre_dirs)
    site_mean = MEAN_SCORE + quality + TASTE_WEIGHT * vectors @ (clusters.share @ clusters.centroids)
    probabilities = rounding_probabilities(site_mean, SITE_SCORE_SD)
    probabilities[planted_index] = np.stack([PATTERNS[p][1] for p in patterns])
    totals = np.maximum(20, np.round(TOP_SITE_COUNT * weight / weight.max() * rng.uniform(0.8, 1.2, m)))
    totals[planted_index] = rng.integers(*PLANTED_SITE_COUNT, size=len(patterns))
    histograms = apportion(totals.astype(np.int64), probabilities)
    counts = histograms.sum(axis=1)

    title = names.film_titles(rng, m)
    slug = names.unique_slugs(names.slugify(title) + "-" + year.astype(str))
    language = LANGUAGES[rng.choice(len(LANGUAGES), size=m, p=LANGUAGE_WEIGHTS / LANGUAGE_WEIGHTS.sum())]
    films = pd.DataFrame(
        {
            "film_id": np.arange(1, m + 1),
            "slug": slug,
            "title": title,
            "release_year": year,
            "genres": genre_literals(top),
            "original_language": language,
            "global_avg_rating": np.round((histograms @ BUCKETS) / counts, 3),
            "global_ratings_count": counts,
            "source": SOURCE,
        }
    )
    lists, list_items = build_lists(rng, config, films, quality, weight, people, film_people)
    return Catalog(
        films=films,
        weight=weight,
        quality=quality,
        vectors=vectors,
        clusters=clusters,
        primary_genre=top[:, 0],
        histograms=histograms,
        planted_index=planted_index,
        planted_pattern=np.array(patterns),
        planted_cohort=np.array(cohorts),
        people=people,
        film_people=film_people,
        lists=lists,
        list_items=list_items,
    )


def taste_clusters(config: GeneratorConfig, genre_dirs: np.ndarray) -> TasteClusters:
    """Cluster centroids in taste space, from the CLUSTERS stream; cluster sizes fall off as 1/sqrt(rank)."""
    rng = config.rng(Stream.CLUSTERS)
    centroids, genres = [], []
    for _ in range(config.clusters):
        liked_a, liked_b, disliked = rng.choice(len(GENRES), size=3, replace=False)
        direction = genre_dirs[liked_a] + genre_dirs[liked_b] - 0.7 * genre_dirs[disliked]
        centroids.append(1.3 * direction / np.linalg.norm(direction))
        genres.append(([str(GENRES[liked_a]), str(GENRES[liked_b])], str(GENRES[disliked])))
    share = 1.0 / np.sqrt(np.arange(1, config.clusters + 1))
    return TasteClusters(centroids=np.stack(centroids), share=share / share.sum(), genres=genres)


def zipf_choice(rng: np.random.Generator, pool: int, size: int, exponent: float) -> np.ndarray:
    """Draws from 0..pool-1 where index r has weight (r + 1)^-exponent: a few prolific, many rare."""
    w = (np.arange(1, pool + 1)) ** -exponent
    return rng.choice(pool, size=size, p=w / w.sum())


def build_people(rng: np.random.Generator, m: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, int]:
    """Directors, actors and writers with names, and their credits; returns the director of each film."""
    n_directors, n_actors, n_writers = max(2, m // 3), max(10, m // 2), max(2, m // 4)
    film_index = np.arange(m)
    director_of = zipf_choice(rng, n_directors, m, 0.8)

    cast_size = np.minimum(2 + rng.poisson(2.5, m), 8)
    cast_film = np.repeat(film_index, cast_size)
    cast = n_directors + zipf_choice(rng, n_actors, len(cast_film), 0.7)

    writes_own = rng.random(m) < 0.45
    second = rng.random(m) < 0.3
    writer_film = np.concatenate((film_index, film_index[second]))
    pool_writer = n_directors + n_actors + rng.integers(0, n_writers, len(writer_film))
    writer = np.where(np.concatenate((writes_own, np.zeros(second.sum(), bool))),
                      np.concatenate((director_of, director_of[second])), pool_writer)

    credits = pd.DataFrame(
        {
            "film_index": np.concatenate((film_index, cast_film, writer_film)),
            "person": np.concatenate((director_of, cast, writer)),
            "role": np.repeat(["director", "actor", "writer"], [m, len(cast_film), len(writer_film)]),
        }
    ).drop_duplicates(["film_index", "person", "role"])
    credits["billing"] = credits.groupby(["film_index", "role"]).cumcount() + 1
    credits = credits.sort_values(["film_index", "role", "billing"], kind="stable")

    n_people = n_directors + n_actors + n_writers
    person_id = np.char.add("syn:p", np.arange(1, n_people + 1).astype(str))
    people = pd.DataFrame({"person_id": person_id, "name": names.person_names(rng, n_people)})
    film_people = pd.DataFrame(
        {
            "film_id": credits["film_index"].to_numpy() + 1,
            "person_id": person_id[credits["person"].to_numpy()],
            "role": credits["role"].to_numpy(),
            "billing": credits["billing"].to_numpy(),
        }
    )
    used = np.zeros(n_people, bool)
    used[credits["person"].to_numpy()] = True
    return people[used].reset_index(drop=True), film_people, director_of, n_directors


def build_lists(
    rng: np.random.Generator,
    config: GeneratorConfig,
    films: pd.DataFrame,
    quality: np.ndarray,
    weight: np.ndarray,
    people: pd.DataFrame,
    film_people: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Festival slates ('cannes-2019'), the filmographies of the busiest directors, curated lists."""
    lists: list[dict] = []
    items: list[pd.DataFrame] = []

    def add(list_id: str, name: str, kind: str, film_ids: np.ndarray, owner: int | None = None) -> None:
        lists.append({"list_id": list_id, "name": name, "kind": kind, "owner_user_id": owner,
                      "description": f"synthetic {kind} list"})
        items.append(pd.DataFrame({"list_id": list_id, "film_id": film_ids,
                                   "position": np.arange(1, len(film_ids) + 1)}))

    year = films["release_year"].to_numpy()
    for slug, label in FESTIVALS:
        for y in FESTIVAL_YEARS:
            candidates = np.flatnonzero(year == y)
            if len(candidates) < 3:
                continue
            keys = 2.0 * quality[candidates] + rng.gumbel(size=len(candidates))  # festivals pick good films
            chosen = candidates[np.argsort(-keys)[:SLATE_SIZE]]
            add(f"{slug}-{y}", f"{label} {y}: official selection", "festival", chosen + 1)

    directors = film_people[film_people["role"] == "director"]
    busiest = directors["person_id"].value_counts(sort=True)
    busiest = busiest[busiest >= 2].head(FILMOGRAPHIES)
    name_of = people.set_index("person_id")["name"]
    for person_id in busiest.index:
        film_ids = directors.loc[directors["person_id"] == person_id, "film_id"].to_numpy()
        film_ids = film_ids[np.argsort(year[film_ids - 1], kind="stable")]
        add(f"filmography:{person_id}", f"{name_of[person_id]}: filmography", "filmography", film_ids)

    p = weight / weight.sum()
    size = min(CURATED_SIZE, int((weight > 0).sum()) // 2)
    for title in CURATED:
        owner = int(rng.integers(1, config.users + 1))
        chosen = rng.choice(len(weight), size=size, replace=False, p=p)
        add(f"curated:{names.slugify(np.array([title]))[0]}", title, "curated", chosen + 1, owner)

    list_frame = pd.DataFrame(lists, columns=["list_id", "name", "kind", "owner_user_id", "description"])
    list_frame["owner_user_id"] = list_frame["owner_user_id"].astype("Int64")
    return list_frame, pd.concat(items, ignore_index=True)
