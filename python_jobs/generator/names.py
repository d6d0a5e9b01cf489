"""Word lists and vectorised builders for titles, slugs and people's names.

Names are assembled with numpy string operations over index arrays, so a 60k-film catalogue or
a 160k-user community costs a few array operations, not a Python loop per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ADJECTIVES = np.array(
    "Silent Crimson Hollow Last Burning Quiet Endless Broken Golden Distant Wild Hidden Pale Northern "
    "Electric Bitter Lonely Secret Velvet Savage Gentle Fading Iron Paper Glass Midnight Summer Winter "
    "Restless Sacred Little Final Lost Forgotten Neon Violent Tender Empty Dark Bright".split()
)
NOUNS = np.array(
    "River House Garden Machine Mirror Harbor Kingdom Road Season Island Letter Orchard Storm Tide "
    "Frontier Window Ghost Hunter Station Engine Memory Daughter Stranger Empire Border Silence Circus "
    "Lighthouse Wolf Bridge Desert Heart Signal Promise Echo Forest Shadow City Dream Voyage".split()
)
PLACES = np.array(
    "Lisbon Tokyo Marseille Oslo Havana Naples Seoul Berlin Dakar Lagos Lima Kyoto Tangier Vienna "
    "Palermo Mumbai Warsaw Tbilisi Reykjavik Manila".split()
)
FIRST_NAMES = np.array(
    "Ada Akira Amara Anton Aurelie Ben Camille Chen Dario Elena Emeka Farah Greta Hana Hugo Ines Ivan "
    "Jonas Kaito Lars Leila Lucia Mateo Maya Mina Nadia Noah Oren Paz Priya Rafael Rosa Sami Sofia "
    "Tariq Tess Uma Viktor Wen Yara Zoe Agnes Bruno Celine Dmitri Esme Felix Goran Ida Joon".split()
)
LAST_NAMES = np.array(
    "Abe Almeida Bergman Bianchi Castro Dubois Eriksen Fischer Garcia Haddad Ito Jansen Kim Kowalski "
    "Laurent Lindqvist Moreau Nakamura Novak Okafor Olsen Park Petrov Quinn Rossi Sato Schmidt Silva "
    "Tanaka Torres Ueda Varga Weber Wong Yilmaz Zhou Adeyemi Brandt Costa Duarte".split()
)
HANDLE_WORDS = np.array(
    "cine reel frame lens film noir pulp kino vhs matinee cinephile reels celluloid popcorn projector "
    "arthouse montage dolly splice director".split()
)


def pick(rng: np.random.Generator, words: np.ndarray, n: int) -> np.ndarray:
    return words[rng.integers(0, len(words), n)]


def film_titles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Titles from five templates ('The Silent River', 'Memory of Lisbon', 'Ghost', ...)."""
    adj, noun, noun2, place = pick(rng, ADJECTIVES, n), pick(rng, NOUNS, n), pick(rng, NOUNS, n), pick(rng, PLACES, n)
    add = np.char.add
    templates = np.stack(
        [
            add("The ", add(adj, add(" ", noun))),
            add(noun, add(" of ", place)),
            add(adj, add(" ", noun)),
            add(noun, add(" and ", noun2)),
            add("The ", noun),
        ]
    )
    choice = rng.choice(len(templates), size=n, p=[0.3, 0.2, 0.25, 0.15, 0.1])
    return templates[choice, np.arange(n)]


def slugify(text: np.ndarray) -> pd.Series:
    """Letterboxd-style slugs: lowercase words joined by hyphens."""
    return (
        pd.Series(text, dtype="object")
        .str.lower()
        .str.replace(r"[^a-z0-9]+", "-", regex=True)
        .str.strip("-")
    )


def unique_slugs(base: pd.Series) -> np.ndarray:
    """Make slugs unique the way Letterboxd does: the second 'x-2019' becomes 'x-2019-1'."""
    repeat = base.groupby(base).cumcount()
    suffix = np.where(repeat > 0, "-" + repeat.astype(str), "")
    return (base + suffix).to_numpy(dtype=object)


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add(np.char.add(pick(rng, FIRST_NAMES, n), " "), pick(rng, LAST_NAMES, n))


def usernames(rng: np.random.Generator, user_ids: np.ndarray) -> np.ndarray:
    """Handles like 'noirlars1234': unique because the user id is part of them."""
    first = np.char.lower(pick(rng, FIRST_NAMES, len(user_ids)))
    return np.char.add(np.char.add(pick(rng, HANDLE_WORDS, len(user_ids)), first), user_ids.astype(str))
