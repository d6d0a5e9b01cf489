"""Lists that members of the friend groups own, so their Letterboxd exports carry lists/*.csv.

The catalogue's lists (festival slates, filmographies, five curated lists) have at most five owners. Here every
member of a friend group (a follow-graph cohort with planted films, or a saved group) owns a Poisson number of
lists (config.member_lists on average, at most len(LIST_NAMES)), each with a distinct name and LIST_SIZES films
drawn by popularity. The friend groups are bounded (a few hundred members each), so the number of lists does not
grow with the site. Drawn from the MEMBER_LISTS stream: turning it off (member_lists = 0) changes no other row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_jobs.generator.catalog import Catalog
from python_jobs.generator.community import Community
from python_jobs.generator.config import GeneratorConfig, Stream
from python_jobs.loaders.letterboxd import LIST_KIND

LIST_NAMES = ("Favourites", "Watched with friends", "Rainy Sunday", "Hidden gems", "To show my friends",
              "Rewatch pile", "Comfort films", "Date night")
LIST_SIZES = (5, 25)  # films per list, both ends included


def friend_group_members(config: GeneratorConfig, community: Community) -> np.ndarray:
    """Sorted ids of everyone in a planted follow-graph cohort or a saved group."""
    groups = [community.follow_cohort_members(k) for k in range(config.cohorts)]
    groups += list(community.saved_members.values())
    return np.unique(np.concatenate(groups)) if groups else np.empty(0, np.int64)


def member_lists(config: GeneratorConfig, catalog: Catalog, community: Community) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw.lists rows, raw.list_items rows) of the members' lists; list ids are member:<user_id>:<slug>."""
    rng = config.rng(Stream.MEMBER_LISTS)
    owners = friend_group_members(config, community) if config.member_lists > 0 else np.empty(0, np.int64)
    counts = np.minimum(rng.poisson(config.member_lists, len(owners)), len(LIST_NAMES)) if len(owners) else []
    popularity = catalog.weight / catalog.weight.sum()
    largest = min(LIST_SIZES[1], int((catalog.weight > 0).sum()) // 2)
    lists, items = [], []
    for owner, count in zip(owners, counts, strict=True):
        for name_index in rng.permutation(len(LIST_NAMES))[:count]:
            name = LIST_NAMES[name_index]
            list_id = f"member:{owner}:{name.lower().replace(' ', '-')}"
            size = int(rng.integers(min(LIST_SIZES[0], largest), largest + 1))
            films = rng.choice(catalog.n, size=size, replace=False, p=popularity) + 1
            lists.append((list_id, name, LIST_KIND, int(owner), f"{name}, by a member of a friend group"))
            items.append(pd.DataFrame({"list_id": list_id, "film_id": films, "position": np.arange(1, size + 1)}))
    list_frame = pd.DataFrame(lists, columns=["list_id", "name", "kind", "owner_user_id", "description"])
    list_frame["owner_user_id"] = list_frame["owner_user_id"].astype("Int64")
    item_frame = (
        pd.concat(items, ignore_index=True)
        if items
        else pd.DataFrame({"list_id": pd.Series(dtype=object), "film_id": pd.Series(dtype=np.int64),
                           "position": pd.Series(dtype=np.int64)})
    )
    return list_frame, item_frame
