"""Pydantic models of every response (and of the feedback request): the OpenAPI document is built from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ParameterError(Model):
    parameter: str | None = Field(description="The parameter to change (query, path or body field).")
    message: str


class ErrorOut(Model):
    """Every 4xx and 503: one sentence naming what to change, and the parameter when one is at fault."""

    detail: str = Field(description="One sentence naming what to change.")
    parameter: str | None = None
    errors: list[ParameterError] | None = None


class Health(Model):
    status: Literal["ok"]
    marts_version: str
    writing: bool = Field(description="A build is writing the marts: answers are computed but not cached.")
    cache_entries: int | None = None


class ListOut(Model):
    list_id: str
    list_name: str
    list_kind: str
    films: int


class CatalogueOut(Model):
    """What the filter parameters may name, as of the current marts."""

    strategies: list[str]
    genres: list[str]
    languages: list[str]
    release_year_min: int | None
    release_year_max: int | None
    lists: list[ListOut]
    recommendation_models: list[str]
    similar_models: list[str]
    overlap_depths: list[int]
    person_roles: list[str]


class StrategyOut(Model):
    strategy: str
    ranked_films: int


class CohortOut(Model):
    cohort_id: str
    ranked_films: int = Field(description="Films ranked by the cohort's strategies (0: logged films only).")
    strategies: list[StrategyOut]


class CohortList(Model):
    cohorts: list[CohortOut]


class Components(Model):
    bayesian: float | None
    lower_bound: float | None
    like_wilson: float | None
    like_z: float | None
    favorite_z: float | None
    consensus: float | None
    volatility_z: float | None
    top_share: float | None
    middle_share: float | None


class Weights(Model):
    bayesian: float
    lower_bound: float
    like_wilson: float
    like: float
    favorite: float
    consensus: float
    volatility: float
    top_share: float
    middle_share: float


class RankedFilm(Model):
    rank: int
    film_id: int
    title: str
    release_year: int | None
    release_decade: int | None
    genres: list[str] | None
    original_language: str | None
    score: float
    ranked_films: int
    watchers: int
    ratings_count: int
    avg_rating: float
    cohort_avg_rating: float
    weights_renormalised: bool
    dropped_components: str | None
    components: Components
    weights: Weights
    consensus_label: str | None
    percentile_bucket: str | None
    engagement_cluster: str | None
    loves: bool | None
    hates: bool | None
    histogram: list[int | None] = Field(description="Ratings of 0.5, 1, …, 5 stars (cohort_film_stats buckets).")


class RankingFilters(Model):
    release_year_min: int | None = None
    release_year_max: int | None = None
    decade: int | None = None
    genre: str | None = None
    language: str | None = None
    list_id: str | None = None


class RankingPage(Model):
    cohort_id: str
    strategy: str
    filters: RankingFilters
    limit: int
    after_rank: int
    items: list[RankedFilm]
    next_after_rank: int | None = Field(description="Pass as after_rank for the next page; null on the last page.")


class DivergentFilm(Model):
    film_id: int
    title: str
    release_year: int | None
    ratings_count: int
    cohort_avg_rating: float
    other_avg_rating: float | None
    other_ratings_count: int | None
    other: str | None = Field(description="'site' or 'everyone' (the mart's global), or the versus cohort.")
    delta: float
    loves: bool
    hates: bool


class DivergenceList(Model):
    cohort_id: str
    versus: str | None
    direction: Literal["loves", "hates", "both"]
    items: list[DivergentFilm]


class OverlapOut(Model):
    strategy: str
    top_n: int
    other_cohort: str
    size: int
    other_size: int
    shared_films: int
    jaccard: float | None
    rbo: float


class OverlapList(Model):
    cohort_id: str
    strategy: str
    top_n: int
    items: list[OverlapOut]


class OverlapPair(Model):
    strategy: str
    top_n: int
    cohort_a: str
    cohort_b: str
    size_a: int
    size_b: int
    shared_films: int
    jaccard: float | None
    rbo: float


class OverlapMatrix(Model):
    strategy: str
    top_n: int
    pairs: list[OverlapPair]


class PersonOut(Model):
    person_id: str
    person_name: str | None
    person_label: str
    person_role: str
    films_count: int | None
    watchers: int | None
    ratings_count: int | None
    avg_rating: float | None
    weighted_score: float | None
    films_in_top_10pct: int | None
    best_film_id: int | None
    best_film_title: str | None


class PeopleList(Model):
    cohort_id: str
    role: str
    items: list[PersonOut]


class EventOut(Model):
    event_id: str
    event_type: str | None
    user_id: int
    film_id: int
    title: str | None
    event_at: datetime
    rating: float | None
    watched_on: date | None
    is_rewatch: bool | None


class BurstOut(Model):
    user_id: int
    activity_day: date = Field(description="A UTC day on which the member was unusually busy (marts.member_bursts).")
    events: int
    ratings: int
    diary_logs: int
    active_days: int
    median_events: float = Field(description="The member's median events on an active day.")
    times_median: float = Field(description="events / median_events.")


class ActivityPage(Model):
    user_id: int
    include_follows: bool
    items: list[EventOut]
    bursts: list[BurstOut] = Field(
        description="The busy days among the page's events (a member's day with an event here), newest first."
    )
    next_cursor: str | None = Field(description="Pass as cursor for older events; null on the last page.")


class BurstPage(Model):
    user_id: int
    include_follows: bool
    items: list[BurstOut]
    next_cursor: str | None = Field(description="Pass as cursor for older busy days; null on the last page.")


class WeekOut(Model):
    week_start: date
    active_members: int | None
    ratings_count: int | None
    logs_count: int | None
    rewatches_count: int | None
    likes_count: int | None
    most_rated_film_id: int | None
    most_rated_title: str | None
    most_rated_times: int | None
    most_liked_film_id: int | None
    most_liked_title: str | None
    most_liked_times: int | None
    longest_streak_user_id: int | None
    longest_streak_days: int | None


class DigestPage(Model):
    cohort_id: str
    items: list[WeekOut]
    next_before_week: date | None = Field(description="Pass as before_week for older weeks; null on the last page.")


class RecommendationOut(Model):
    rank: int = Field(description="Position shown (after the diversity re-ranking).")
    recommendation_rank: int = Field(description="The model's own rank.")
    film_id: int
    title: str | None
    release_year: int | None
    genres: list[str] | None
    score: float
    because_film_id: int | None
    because_film_title: str | None
    because_score: float | None
    explanation: str | None
    cohort_id: str | None
    run_id: int
    recommended_at: datetime | None


class RecommendationList(Model):
    user_id: int
    model: str
    cohort_id: str | None
    diversity: float
    items: list[RecommendationOut]


class FollowsFilm(Model):
    rank: int
    film_id: int
    title: str | None
    release_year: int | None
    score: float
    ratings_count: int
    avg_rating: float
    cohort_avg_rating: float
    ranked_films: int


class FollowsTopFilms(Model):
    user_id: int
    strategy: str
    items: list[FollowsFilm]


class FilmOut(Model):
    film_id: int
    title: str
    release_year: int | None
    release_decade: int | None
    genres: list[str] | None
    original_language: str | None


class FilmDetail(FilmOut):
    slug: str | None
    tmdb_id: int | None
    imdb_id: str | None
    global_avg_rating: float | None
    global_ratings_count: int | None


class SearchResult(Model):
    q: str
    items: list[FilmOut]


class SimilarOut(Model):
    similar_rank: int
    film_id: int
    title: str | None
    release_year: int | None
    genres: list[str] | None
    score: float


class SimilarList(Model):
    film_id: int
    title: str
    model: str
    items: list[SimilarOut]


class FeedbackIn(Model):
    """A click in the app: a save or a like (and their undoing), as implicit feedback."""

    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(ge=1, le=2**63 - 1)
    film_id: int = Field(ge=1, le=2**63 - 1)
    action: Literal["save", "unsave", "like", "unlike", "click"]
    surface: Literal["rankings", "recommendations", "similar", "search", "film", "activity"] | None = None
    cohort_id: str | None = Field(default=None, max_length=200)


class FeedbackOut(Model):
    feedback_id: int
    batch_id: int
    created_at: datetime
    user_id: int
    film_id: int
    action: str
