"""Write raw's users as Letterboxd data exports: one zip per user, in the format `load letterboxd` reads.

Films are written as https://boxd.it/<code>, where the code is the film's slug when that slug is a
unique URL-safe word and `film-<film_id>` otherwise, so loading the zips back into the same
warehouse maps every film to itself, and into another one gives one film per code. Diary lines
link to the diary entry (a code derived from the entry's key), never to the film, as Letterboxd's do.
Zips are byte-for-byte deterministic: the same warehouse gives the same files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from python_jobs.loaders.letterboxd import FILM_ID_CODE_PREFIX, LIST_KIND, WATCHLIST_KIND, list_id
from python_jobs.warehouse import log

FILM_HEADER = ("Date", "Name", "Year", "Letterboxd URI")
RATINGS_HEADER = (*FILM_HEADER, "Rating")
DIARY_HEADER = (*FILM_HEADER, "Rating", "Rewatch", "Tags", "Watched Date")
PROFILE_HEADER = (
    "Date Joined",
    "Username",
    "Given Name",
    "Family Name",
    "Email Address",
    "Location",
    "Website",
    "Bio",
    "Pronoun",
    "Favorite Films",
)
LIST_VERSION_LINE = "Letterboxd list export v7"
LIST_HEADER = ("Date", "Name", "Tags", "URL", "Description")
LIST_ITEMS_HEADER = ("Position", "Name", "Year", "URL", "Description")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

USERS_QUERY = """
select user_id, coalesce(nullif(username, ''), 'user' || user_id) as username, display_name
from raw.users
where %(ids)s::bigint[] is null or user_id = any(%(ids)s)
order by user_id
"""

# a slug is the film's code when it is one URL-safe word held by no other film and not a film-<id> code
# of another film; every other film is film-<film_id>
FILMS_QUERY = """
with coded as (
    select
        film_id,
        title,
        release_year,
        case
            when slug ~ '^[A-Za-z0-9_-]+$'
                and count(*) over (partition by slug) = 1
                and (slug !~ %(id_pattern)s or slug = %(prefix)s || film_id)
                then slug
            else %(prefix)s || film_id
        end as code
    from raw.films
)
select film_id, code, title, release_year
from coded
where film_id in (
    select film_id from raw.ratings where not deleted and (%(ids)s::bigint[] is null or user_id = any(%(ids)s))
    union
    select film_id from raw.diary_entries where not deleted and (%(ids)s::bigint[] is null or user_id = any(%(ids)s))
    union
    select i.film_id from raw.list_items as i inner join raw.lists as l on l.list_id = i.list_id
    where %(ids)s::bigint[] is null or l.owner_user_id = any(%(ids)s)
)
"""

RATINGS_QUERY = """
select
    user_id, film_id, rating, coalesce(liked, false), coalesce(favorite, false),
    (coalesce(rated_at, updated_at) at time zone 'UTC')::date
from raw.ratings
where not deleted and (%(ids)s::bigint[] is null or user_id = any(%(ids)s))
order by user_id, 6, film_id
"""

DIARY_QUERY = """
select user_id, film_id, watched_on, entry_no, rating, rewatch,
    coalesce((logged_at at time zone 'UTC')::date, watched_on)
from raw.diary_entries
where not deleted and (%(ids)s::bigint[] is null or user_id = any(%(ids)s))
order by user_id, watched_on, film_id, entry_no
"""

LISTS_QUERY = """
select l.owner_user_id, l.list_id, l.name, l.kind, l.description, i.film_id, i.position
from raw.lists as l
left join raw.list_items as i on i.list_id = l.list_id
where l.owner_user_id is not null and (%(ids)s::bigint[] is null or l.owner_user_id = any(%(ids)s))
order by l.owner_user_id, l.list_id, i.position nulls last, i.film_id
"""


@dataclass(frozen=True)
class _Film:
    code: str
    title: str
    year: int | None

    @property
    def uri(self) -> str:
        return f"https://boxd.it/{self.code}"


@dataclass
class _List:
    list_id: str
    name: str
    kind: str
    description: str | None
    films: list[tuple[int, int | None]]


def _grouped(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[int, list[tuple]]:
    """Rows of a query grouped by their first column (the user), order kept."""
    groups: dict[int, list[tuple]] = defaultdict(list)
    for row in conn.execute(query, params):
        groups[row[0]].append(row[1:])
    return groups


def entry_code(user_id: int, film_id: int, watched_on: date, entry_no: int) -> str:
    """A stable boxd.it-style code for one diary entry (an 11-character base62 word, unlike film codes)."""
    digest = hashlib.sha256(f"{user_id}:{film_id}:{watched_on.isoformat()}:{entry_no}".encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(11):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    return "".join(chars)


def _stars(rating: Decimal | None) -> str:
    return "" if rating is None else f"{float(rating):g}"


def _csv(rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode()


def _list_slug(username: str, item: _List, taken: set[str]) -> str:
    """The list's slug: what follows lb:<username>: in its id, else its name made URL-safe; unique per export."""
    prefix = list_id(username, "")
    base = item.list_id[len(prefix) :] if item.list_id.startswith(prefix) else ""
    base = re.sub(r"[^a-z0-9]+", "-", (base or item.name).lower()).strip("-") or "list"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _list_file(username: str, slug: str, item: _List, films: dict[int, _Film]) -> bytes:
    url = f"https://letterboxd.com/{username}/list/{slug}/"
    items = [
        (position if position is not None else n, films[film_id].title, films[film_id].year, films[film_id].uri, "")
        for n, (film_id, position) in enumerate(item.films, 1)
    ]
    head = _csv([(LIST_VERSION_LINE,), LIST_HEADER, ("", item.name, "", url, item.description)])
    return head + b"\n" + _csv([LIST_ITEMS_HEADER, *items])


def _user_files(
    username: str,
    display_name: str | None,
    user_id: int,
    films: dict[int, _Film],
    ratings: list[tuple],
    diary: list[tuple],
    lists: list[_List],
) -> dict[str, bytes]:
    """Every file of one user's export, by its path inside the zip."""
    rows = [(films[film_id], *rest) for film_id, *rest in ratings]
    watched_ids = {r[0] for r in ratings}
    first_log = {}
    for film_id, _watched_on, _no, _rating, _rewatch, logged_on in diary:
        if film_id not in watched_ids:
            first_log.setdefault(film_id, logged_on)
    # a diary entry means the film was watched: Letterboxd lists it in watched.csv too
    watched = [(on, f.title, f.year, f.uri) for f, _r, _l, _fav, on in rows]
    watched += [(on, films[i].title, films[i].year, films[i].uri) for i, on in first_log.items()]
    dates = [r[-1] for r in rows] + [d[-1] for d in diary]
    favorites = ", ".join(f.uri for f, _r, _l, fav, _on in rows if fav)
    files = {
        "profile.csv": _csv(
            [PROFILE_HEADER, (min(dates, default=None), username, display_name, "", "", "", "", "", "", favorites)]
        ),
        "watched.csv": _csv([FILM_HEADER, *sorted(watched, key=lambda w: (w[0], w[3]))]),
        "ratings.csv": _csv(
            [RATINGS_HEADER, *((on, f.title, f.year, f.uri, _stars(r)) for f, r, _l, _fav, on in rows if r is not None)]
        ),
        "likes/films.csv": _csv(
            [FILM_HEADER, *((on, f.title, f.year, f.uri) for f, _r, liked, _fav, on in rows if liked)]
        ),
        "diary.csv": _csv(
            [
                DIARY_HEADER,
                *(
                    (
                        logged_on,
                        films[film_id].title,
                        films[film_id].year,
                        f"https://boxd.it/{entry_code(user_id, film_id, watched_on, entry_no)}",
                        _stars(rating),
                        "Yes" if rewatch else "",
                        "",
                        watched_on,
                    )
                    for film_id, watched_on, entry_no, rating, rewatch, logged_on in diary
                ),
            ]
        ),
    }
    taken: set[str] = set()
    for item in lists:
        if item.kind == WATCHLIST_KIND and "watchlist.csv" not in files:
            files["watchlist.csv"] = _csv(
                [FILM_HEADER, *(("", films[i].title, films[i].year, films[i].uri) for i, _p in item.films)]
            )
        else:
            slug = _list_slug(username, item, taken)
            files[f"lists/{slug}.csv"] = _list_file(username, slug, item, films)
    return files


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), data, compress_type=zipfile.ZIP_DEFLATED)


def _lists_by_owner(conn: psycopg.Connection, params: dict[str, Any]) -> dict[int, list[_List]]:
    owned: dict[int, list[_List]] = defaultdict(list)
    for owner, lid, name, kind, description, film_id, position in conn.execute(LISTS_QUERY, params):
        if not owned[owner] or owned[owner][-1].list_id != lid:
            owned[owner].append(_List(lid, name, kind or LIST_KIND, description, []))
        if film_id is not None:
            owned[owner][-1].films.append((film_id, position))
    return owned


def write_exports(conn: psycopg.Connection, out_dir: Path, user_ids: list[int] | None = None) -> list[Path]:
    """Write letterboxd-<username>.zip for each user (all of raw.users by default); returns the zips' paths.

    Reads only live rows (deleted = false) of raw.users/films/ratings/diary_entries/lists.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {
        "ids": None if user_ids is None else list(user_ids),
        "prefix": FILM_ID_CODE_PREFIX,
        "id_pattern": f"^{FILM_ID_CODE_PREFIX}[0-9]+$",
    }
    films = {film_id: _Film(code, title, year) for film_id, code, title, year in conn.execute(FILMS_QUERY, params)}
    ratings = _grouped(conn, RATINGS_QUERY, params)
    diary = _grouped(conn, DIARY_QUERY, params)
    lists = _lists_by_owner(conn, params)
    paths = []
    used: set[str] = set()
    for user_id, username, display_name in conn.execute(USERS_QUERY, params).fetchall():
        files = _user_files(
            username,
            display_name,
            user_id,
            films,
            ratings.get(user_id, []),
            diary.get(user_id, []),
            lists.get(user_id, []),
        )
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", username)
        name = stem if stem not in used else f"{stem}-{user_id}"
        used.add(name)
        path = out_dir / f"letterboxd-{name}.zip"
        _write_zip(path, files)
        paths.append(path)
    log(f"wrote {len(paths)} Letterboxd exports to {out_dir}")
    return paths
