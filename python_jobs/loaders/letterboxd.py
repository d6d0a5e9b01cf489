"""Letterboxd data exports → raw: one member's export (zip or unpacked folder) per path, plus a cohort of them.

An export is the member's whole current state, so each one loads as a single batch (one
ops.load_batches row, one transaction): users, films, ratings, diary entries, lists, with
tombstones for ratings and diary entries that a re-export no longer has. Only the files at the
export's root count; `deleted/` and `orphaned/` hold what Letterboxd removed or cannot link to a
film any more, and are ignored (a removal reaches raw as a tombstone when a later export lacks
the row). Films are keyed by their boxd.it code, the only stable film id an export carries;
diary rows link to the diary entry, not the film, so they join to films by (Name, Year).
A file missing from an export changes nothing it would carry; raw.list_items has no tombstone
column, so a film taken off a re-exported list is deleted there (a list gone from the export stays).
Loading an export identical to one loaded before is skipped (ops.load_batches sha256), so load a
member's exports oldest first: the last one loaded is the member's state.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pandas as pd
import psycopg
from psycopg import sql

from python_jobs import warehouse
from python_jobs.cohorts import check_cohort_id
from python_jobs.loaders import common
from python_jobs.loaders.common import Batch
from python_jobs.warehouse import WarehouseError, log

SOURCE = "letterboxd"
EXPORT_ENTITY = "letterboxd_export"
COHORT_ENTITY = "cohort_members"
LIST_KIND = "letterboxd_list"
WATCHLIST_KIND = "watchlist"
WATCHLIST_KEY = "watchlist"
# A film with no usable slug is exported as https://boxd.it/film-<film_id>; the loader maps it back.
FILM_ID_CODE_PREFIX = "film-"

# root file -> the kind of film mark each of its rows is
MARK_FILES = {
    "watched.csv": "watched",
    "ratings.csv": "rating",
    "likes/films.csv": "like",
    "watchlist.csv": WATCHLIST_KIND,
}
WATCHED_KINDS = ("watched", "rating", "like")
DIARY_FILE = "diary.csv"
PROFILE_FILE = "profile.csv"
LISTS_FOLDER = "lists"
SKIPPED_FOLDERS = ("deleted", "orphaned", "__MACOSX")

BOXD_URI = re.compile(r"^https?://boxd\.it/([^/?#\s]+)/?$")
LIST_URL = re.compile(r"^https?://letterboxd\.com/[^/]+/list/([^/?#\s]+)/?$")
LIST_VERSION = re.compile(r"^Letterboxd list export v\d+$")
EXPORT_NAME = re.compile(r"^letterboxd-(.+?)(?:-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-utc)?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YEAR = re.compile(r"^\d{4}$")
# Dates an export may carry (as MovieLens: nothing before 1990), and release years (the first films).
FIRST_DATE = date(1990, 1, 1)
FIRST_YEAR = 1870

MARK_COLUMNS = (
    ("kind", "text"),
    ("list_key", "text"),
    ("code", "text"),
    ("title", "text"),
    ("year", "integer"),
    ("rating", "numeric(2, 1)"),
    ("on_date", "date"),
    ("position", "integer"),
)
DIARY_COLUMNS = (
    ("entry_code", "text"),
    ("title", "text"),
    ("year", "integer"),
    ("watched_on", "date"),
    ("logged_on", "date"),
    ("rating", "numeric(2, 1)"),
    ("rewatch", "boolean"),
)


# ---------------------------------------------------------------------------------------------
# reading an export


@dataclass
class ExportFiles:
    """The files of one export that this loader reads, by their path inside the export."""

    path: Path
    files: dict[str, bytes]
    skipped: list[str] = field(default_factory=list)


def _is_read(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    if rel in MARK_FILES or rel in (DIARY_FILE, PROFILE_FILE):
        return True
    return len(parts) == 2 and parts[0] == LISTS_FOLDER and rel.lower().endswith(".csv")


def _strip_wrapper(names: list[str]) -> tuple[list[str], str]:
    """An export re-zipped with its folder around it: drop that one top folder."""
    if any(_is_read(n) for n in names):
        return names, ""
    tops = {PurePosixPath(n).parts[0] for n in names if len(PurePosixPath(n).parts) > 1}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in names):
        prefix = f"{tops.pop()}/"
        return [n[len(prefix) :] for n in names], prefix
    return names, ""


def read_export(path: Path) -> ExportFiles:
    """Read an export zip or folder: root files only (deleted/ and orphaned/ are listed as skipped)."""
    path = Path(path)
    if path.is_dir():
        members = {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*")) if p.is_file()}
        names, prefix = _strip_wrapper(list(members))
        wanted = [n for n in names if _is_read(n)]
        files = {n: members[prefix + n].read_bytes() for n in wanted}
    elif path.is_file() and zipfile.is_zipfile(path):
        member = None
        try:
            with zipfile.ZipFile(path) as zf:
                all_names = [n for n in zf.namelist() if not n.endswith("/")]
                names, prefix = _strip_wrapper(all_names)
                wanted = [n for n in names if _is_read(n)]
                files = {}
                for member in wanted:
                    files[member] = zf.read(prefix + member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            where = f"{path}/{member}" if member else str(path)
            raise WarehouseError(f"{where}: cannot be read, the zip is damaged ({exc}); nothing loaded") from exc
    else:
        raise WarehouseError(f"PATH {path}: not a folder or a zip file; give a Letterboxd export .zip or its folder")
    if not files:
        raise WarehouseError(
            f"PATH {path}: not a Letterboxd export (no watched.csv, ratings.csv, diary.csv, likes/films.csv, "
            "watchlist.csv, profile.csv or lists/*.csv at its root)"
        )
    skipped = sorted(n for n in names if not _is_read(n))
    return ExportFiles(path, files, skipped)


# ---------------------------------------------------------------------------------------------
# parsing: CSV records with their line numbers and raw text, then one row per good line


class _Record(NamedTuple):
    line_no: int
    raw_line: str
    cells: list[str] | None
    error: str | None


class _Bad(ValueError):
    """A field that fails its check; the message is the quarantine reason."""


class LayoutError(WarehouseError):
    """A file that is not laid out as a Letterboxd export file (header, empty file): the export is refused."""


def _decode(data: bytes) -> tuple[str, bool, str]:
    """Text without its byte-order mark: (text, clean, encoding).

    Letterboxd writes UTF-8. A file with no valid UTF-8 character beyond ASCII at all was re-saved in a
    Western encoding (a spreadsheet's Windows-1252 / Latin-1): it is read as that, and the loader says so.
    A file of UTF-8 with a few bad bytes stays UTF-8, with the lines holding them quarantined (clean False).
    """
    try:
        return data.decode("utf-8-sig"), True, "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="replace")
    if all(c == "\ufffd" for c in text if not c.isascii()):
        try:
            return data.decode("cp1252"), True, "windows-1252"
        except UnicodeDecodeError:
            return data.decode("latin-1"), True, "latin-1"
    return text, False, "utf-8"


def _records(text: str) -> Iterator[_Record]:
    """CSV records with the line they start on and their raw text (quoted cells may span lines)."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=True)
    start = 1
    while True:
        try:
            cells, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as exc:
            cells, error = None, f"unparsable CSV: {exc}"
        raw = "".join(consumed).rstrip("\r\n")
        consumed.clear()
        yield _Record(start, raw, cells, error)
        start = reader.line_num + 1


def _text(cells: dict[str, str], column: str) -> str:
    value = cells.get(column, "").strip()
    if not value:
        raise _Bad(f"empty {column}")
    return value


def _date(cells: dict[str, str], column: str, *, required: bool = True) -> date | None:
    """A YYYY-MM-DD date from FIRST_DATE to tomorrow (UTC): a watch or a log is never in the future."""
    value = cells.get(column, "").strip()
    if not value and not required:
        return None
    try:
        if not DATE.match(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"unparsable {column} '{value}' (expected YYYY-MM-DD)") from None
    last = datetime.now(timezone.utc).date() + timedelta(days=1)
    if not FIRST_DATE <= day <= last:
        raise _Bad(f"{column} '{value}' is not between {FIRST_DATE} and today")
    return day


def _year(cells: dict[str, str]) -> int | None:
    """A release year from FIRST_YEAR to ten years ahead (announced films sit on watchlists)."""
    value = cells.get("Year", "").strip()
    if not value:
        return None
    if not YEAR.match(value):
        raise _Bad(f"unparsable Year '{value}'")
    last = datetime.now(timezone.utc).year + 10
    if not FIRST_YEAR <= int(value) <= last:
        raise _Bad(f"Year '{value}' is not between {FIRST_YEAR} and {last}")
    return int(value)


def _rating(cells: dict[str, str]) -> Decimal | None:
    value = cells.get("Rating", "").strip()
    if not value:
        return None
    try:
        rating = Decimal(value)
    except InvalidOperation:
        rating = None
    if rating is None or not rating.is_finite() or not (Decimal("0.5") <= rating <= 5) or (rating * 2) % 1:
        raise _Bad(f"rating '{value}' is not on the half-star scale 0.5..5")
    return rating


def boxd_code(uri: str) -> str | None:
    """The code of a https://boxd.it/<code> link, or None."""
    match = BOXD_URI.match(uri.strip())
    return match.group(1) if match else None


def _code(cells: dict[str, str], column: str) -> str:
    value = cells.get(column, "").strip()
    code = boxd_code(value)
    if code is None:
        raise _Bad(f"{column} '{value}' is not a https://boxd.it/<code> link")
    return code


def _rewatch(cells: dict[str, str]) -> bool:
    value = cells.get("Rewatch", "").strip()
    if value.lower() not in ("", "yes", "no"):
        raise _Bad(f"Rewatch '{value}' is neither 'Yes' nor empty")
    return value.lower() == "yes"


@dataclass
class ListMeta:
    """One list of the export: the watchlist or a lists/*.csv file."""

    key: str
    name: str
    kind: str
    description: str | None
    file: str


@dataclass
class ParsedExport:
    """Every good row of an export, grouped by file, and every rejected line with its reason.

    present holds the files whose header could be read: a file that is missing or unreadable changes
    nothing of what it would carry (no tombstones without watched.csv, stored likes kept without likes).
    """

    path: Path
    username: str
    username_from: str
    display_name: str | None
    digest: str = ""
    present: set[str] = field(default_factory=set)
    unclean: set[str] = field(default_factory=set)
    marks: dict[str, list[tuple]] = field(default_factory=dict)
    diary: list[tuple] = field(default_factory=list)
    favorites: list[tuple] = field(default_factory=list)
    lists: list[ListMeta] = field(default_factory=list)
    rejects: dict[str, list[tuple[int | None, str, str]]] = field(default_factory=dict)
    rows_read: int = 0
    side_lines: int = 0  # lines kept that are not film rows: the profile, a list's description row
    encodings: dict[str, str] = field(default_factory=dict)

    def reject(self, file: str, line_no: int | None, raw_line: str, reason: str) -> None:
        self.rejects.setdefault(file, []).append((line_no, raw_line, reason))

    @property
    def n_good(self) -> int:
        return (
            sum(map(len, self.marks.values())) + len(self.diary) + len(self.favorites) + (PROFILE_FILE in self.present)
        )

    @property
    def n_rejected(self) -> int:
        return sum(map(len, self.rejects.values()))


def _table(
    out: ParsedExport,
    file: str,
    header: _Record,
    records: Iterable[_Record],
    required: Sequence[str],
    parse: Callable[[dict[str, str]], tuple],
) -> list[tuple]:
    """Check a table's header, then parse each record; bad ones go to out.rejects with their reason.

    Columns are found by name (any order; columns the loader does not read are ignored). A header
    without a required column refuses the whole export (LayoutError): nothing of it is loaded.
    """
    columns = [c.strip() for c in header.cells or []]
    missing = [c for c in required if c not in columns]
    if header.error or missing:
        found = header.raw_line if len(header.raw_line) <= 120 else header.raw_line[:120] + "..."
        raise LayoutError(
            f"{out.path}/{file}: line {header.line_no} names columns {found!r}, expected {','.join(required)} "
            f"(in any order){'; missing ' + ', '.join(missing) if missing and not header.error else ''}"
        )
    out.present.add(file)
    rows = []
    for rec in records:
        if rec.cells == []:
            continue
        out.rows_read += 1
        if rec.error is not None:
            out.reject(file, rec.line_no, rec.raw_line, rec.error)
        elif file in out.unclean and "\ufffd" in rec.raw_line:
            out.reject(file, rec.line_no, rec.raw_line, "not valid UTF-8 (undecodable bytes shown as U+FFFD)")
        elif len(rec.cells) != len(columns):
            out.reject(file, rec.line_no, rec.raw_line, f"expected {len(columns)} columns, got {len(rec.cells)}")
        else:
            try:
                rows.append((*parse(dict(zip(columns, rec.cells, strict=True))), rec.line_no, rec.raw_line))
            except _Bad as exc:
                out.reject(file, rec.line_no, rec.raw_line, str(exc))
    return rows


def _mark_parser(kind: str, list_key: str) -> tuple[Sequence[str], Callable[[dict[str, str]], tuple]]:
    """Required columns and row parser of a film file: (kind, list_key, code, title, year, rating, date, position)."""
    is_list = kind == "list"
    uri = "URL" if is_list else "Letterboxd URI"
    required = (  # in the order an export writes them
        ["Position", "Name", "Year", uri] if is_list else ["Date", "Name", "Year", uri]
    ) + (["Rating"] if kind == "rating" else [])

    def parse(cells: dict[str, str]) -> tuple:
        position = None
        if is_list:
            value = cells["Position"].strip()
            if not value.isdigit():
                raise _Bad(f"unparsable Position '{value}'")
            position = int(value)
        return (
            kind,
            list_key,
            _code(cells, uri),
            _text(cells, "Name"),
            _year(cells),
            _rating(cells) if kind == "rating" else None,
            _date(cells, "Date", required=kind in WATCHED_KINDS) if not is_list else None,
            position,
        )

    return required, parse


def _diary_row(cells: dict[str, str]) -> tuple:
    return (
        _code(cells, "Letterboxd URI"),
        _text(cells, "Name"),
        _year(cells),
        _date(cells, "Watched Date"),
        _date(cells, "Date", required=False),
        _rating(cells),
        _rewatch(cells),
    )


def _profile_row(cells: dict[str, str]) -> tuple:
    name = " ".join(p for p in (cells.get("Given Name", "").strip(), cells.get("Family Name", "").strip()) if p)
    return cells["Username"].strip(), name or None, cells.get("Favorite Films", "")


def _first_nonblank(records: Iterator[_Record]) -> _Record | None:
    return next((r for r in records if r.cells != []), None)


def _parse_file(out: ParsedExport, file: str, text: str, required: Sequence[str], parse: Callable) -> list[tuple]:
    records = _records(text)
    header = _first_nonblank(records)
    if header is None:
        raise LayoutError(f"{out.path}/{file}: no header line, expected {','.join(required)}")
    return _table(out, file, header, records, required, parse)


def _parse_profile(out: ParsedExport, text: str) -> None:
    rows = _parse_file(out, PROFILE_FILE, text, ["Username", "Favorite Films"], _profile_row)
    if not rows:
        return
    for extra in rows[1:]:
        out.reject(PROFILE_FILE, extra[-2], extra[-1], "profile.csv has more than one row; first kept")
    username, display_name, favorites, line_no, _raw = rows[0]
    out.side_lines += 1
    if username:
        out.username, out.username_from = username, PROFILE_FILE
    out.display_name = display_name
    for link in (s.strip() for s in favorites.split(",")):
        if not link:
            continue
        out.rows_read += 1  # each favorite film is an item of its own: loaded or quarantined
        code = boxd_code(link)
        if code is None:
            out.reject(
                PROFILE_FILE, line_no, link, f"Favorite Films link '{link}' is not a https://boxd.it/<code> link"
            )
        else:
            out.favorites.append((code, line_no, link))


def _parse_list(out: ParsedExport, file: str, text: str) -> ListMeta | None:
    """lists/<name>.csv: a version line, a one-row block about the list, a blank line, then its films."""
    records = [r for r in _records(text) if r.cells != []]
    if not records or not records[0].cells or not LIST_VERSION.match(records[0].cells[0].strip()):
        first = records[0].raw_line[:120] if records else ""
        raise LayoutError(
            f"{out.path}/{file}: line 1 is {first!r}, expected 'Letterboxd list export v7' (a list export's first line)"
        )
    at = next((i for i, r in enumerate(records) if r.cells and r.cells[0].strip() == "Position"), None)
    if at is None or at < 2:
        raise LayoutError(
            f"{out.path}/{file}: no 'Position,Name,Year,URL,Description' header after the list's description block"
        )
    metas = _table(out, file, records[1], records[2:at], ["Name"], lambda c: (_text(c, "Name"), c))
    for extra in metas[1:]:
        out.reject(file, extra[-2], extra[-1], "list has more than one description row; first kept")
    out.side_lines += 1 if metas else 0
    stem = PurePosixPath(file).stem
    name, cells = metas[0][:2] if metas else (stem, {})
    url = LIST_URL.match(cells.get("URL", "").strip())
    meta = ListMeta(url.group(1) if url else stem, name, LIST_KIND, cells.get("Description") or None, file)
    required, parse = _mark_parser("list", meta.key)
    out.marks[file] = _table(out, file, records[at], records[at + 1 :], required, parse)
    return meta


def _unique_keys(lists: list[ListMeta]) -> None:
    """Two lists with one slug (or a list called 'watchlist') would share a list_id: suffix the later ones."""
    seen: set[str] = set()
    for meta in lists:
        key, n = meta.key, 1
        while key in seen:
            n += 1
            key = f"{meta.key}-{n}"
        seen.add(key)
        meta.key = key


def export_digest(export: ExportFiles, username: str) -> str:
    """The sha256 of what an export says, the same for its zip and its folder."""
    h = hashlib.sha256(username.encode())
    for name in sorted(export.files):
        h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(export.files[name]).digest())
    return h.hexdigest()


def fallback_username(path: Path) -> str:
    """The member's name from the export's name (letterboxd-<username>[-<yyyy-mm-dd-hh-mm>-utc][.zip])."""
    stem = path.name[:-4] if path.name.lower().endswith(".zip") else path.name
    match = EXPORT_NAME.match(stem)
    return match.group(1) if match else stem


def parse_export(export: ExportFiles) -> ParsedExport:
    """Parse every file of an export; nothing touches the database here."""
    out = ParsedExport(
        export.path,
        fallback_username(export.path),
        f"the name of {export.path} (no profile.csv)",
        None,
    )
    texts = {}
    for name, data in export.files.items():
        if not data.strip():
            raise LayoutError(
                f"{export.path}/{name}: empty file ({len(data)} bytes); a Letterboxd export file has a header line"
            )
        texts[name], clean, encoding = _decode(data)
        if not clean:
            out.unclean.add(name)
        if encoding != "utf-8":
            out.encodings[name] = encoding
    if PROFILE_FILE in texts:
        _parse_profile(out, texts[PROFILE_FILE])
    for name, kind in MARK_FILES.items():
        if name in texts:
            required, parse = _mark_parser(kind, WATCHLIST_KEY if kind == WATCHLIST_KIND else "")
            out.marks[name] = _parse_file(out, name, texts[name], required, parse)
    if "watchlist.csv" in out.present:
        out.lists.append(ListMeta(WATCHLIST_KEY, "Watchlist", WATCHLIST_KIND, None, "watchlist.csv"))
        out.marks["watchlist.csv"] = [
            (*row[:7], position, *row[8:]) for position, row in enumerate(out.marks["watchlist.csv"], 1)
        ]
    for name in sorted(n for n in texts if n.startswith(f"{LISTS_FOLDER}/")):
        meta = _parse_list(out, name, texts[name])
        if meta is not None:
            out.lists.append(meta)
    _unique_keys(out.lists)
    for meta in out.lists:
        out.marks[meta.file] = [(*row[:1], meta.key, *row[2:]) for row in out.marks.get(meta.file, [])]
    if DIARY_FILE in texts:
        required = ["Date", "Name", "Year", "Letterboxd URI", "Rating", "Rewatch", "Watched Date"]
        out.diary = _parse_file(out, DIARY_FILE, texts[DIARY_FILE], required, _diary_row)
    out.digest = export_digest(export, out.username)
    return out


# ---------------------------------------------------------------------------------------------
# writing one export: a batch in one transaction


@contextmanager
def _quarantine_file(batch: Batch, member: str) -> Iterator[Batch]:
    """Quarantine rows under '<export>/<member>' so a reject names the file inside the export."""
    export = batch.file
    batch.file = f"{export}/{member}"
    try:
        yield batch
    finally:
        batch.file = export


def _temp_as(
    conn: psycopg.Connection, name: str, query: str, params: Sequence[Any] | dict[str, Any] | None = None
) -> None:
    conn.execute(
        sql.SQL("create temporary table {} on commit drop as ").format(sql.Identifier(name)) + sql.SQL(query),
        params,
    )


def _allocate(conn: psycopg.Connection, stage: str, id_col: str, order_col: str, target: str) -> None:
    """Give stage rows without an id the next free ids of target (max + 1, ...), set-based, ordered by order_col."""
    conn.execute(
        sql.SQL(
            'with todo as (select {o}, row_number() over (order by {o} collate "C") as n from {s} where {i} is null) '
            "update {s} s set {i} = (select coalesce(max({i}), 0) from {t}) + todo.n from todo where s.{o} = todo.{o}"
        ).format(
            s=sql.Identifier(stage),
            i=sql.Identifier(id_col),
            o=sql.Identifier(order_col),
            t=warehouse.table_name(target),
        )
    )


def _merge_owned(batch: Batch, stage: str, target: str, key: str, columns: Sequence[str]) -> int:
    """Upsert stage rows into target, leaving alone the rows another source owns (their ids are only reused)."""
    batch.conn.execute(
        sql.SQL("delete from {s} using {t} where {t}.{k} = {s}.{k} and {t}.source <> %s").format(
            s=sql.Identifier(stage), t=warehouse.table_name(target), k=sql.Identifier(key)
        ),
        (SOURCE,),
    )
    return common.upsert_from_stage(batch, stage, target, [key], columns)


def _keep_stored(
    conn: psycopg.Connection, stage: str, target: str, keys: Sequence[str], columns: Sequence[str]
) -> None:
    """For a file missing from the export, its columns keep what raw already has (missing is not 'none')."""
    if not columns:
        return
    conn.execute(
        sql.SQL("update {s} set ({cols}) = (select {rcols}) from {t} r where {match} and not r.deleted").format(
            s=sql.Identifier(stage),
            t=warehouse.table_name(target),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            rcols=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in columns),
            match=sql.SQL(" and ").join(
                sql.SQL("r.{k} = {s}.{k}").format(k=sql.Identifier(k), s=sql.Identifier(stage)) for k in keys
            ),
        )
    )


def _write_rejects(batch: Batch, parsed: ParsedExport) -> None:
    for file, rows in parsed.rejects.items():
        with _quarantine_file(batch, file):
            batch.reject(pd.DataFrame(rows, columns=["line_no", "raw_line", "reason"]))


def _stage_marks(batch: Batch, parsed: ParsedExport) -> None:
    """_lb_marks: every good film line of watched/ratings/likes/watchlist/lists, one copy per file and film."""
    conn = batch.conn
    common.create_stage(conn, "_lb_marks", MARK_COLUMNS)
    common.create_stage(conn, "_lb_file", MARK_COLUMNS)
    names = [c for c, _ in MARK_COLUMNS] + ["line_no", "raw_line"]
    for file, rows in parsed.marks.items():
        conn.execute("truncate _lb_file")
        warehouse.copy_rows(conn, "_lb_file", names, rows)
        with _quarantine_file(batch, file):
            common.reject_duplicate_keys(batch, "_lb_file", ["kind", "list_key", "code"])
        conn.execute("insert into _lb_marks select * from _lb_file")


def _stage_users(batch: Batch, parsed: ParsedExport) -> int:
    conn = batch.conn
    _temp_as(
        conn,
        "_lb_user",
        "with known as (select min(user_id) as user_id from raw.users where username = %(u)s) "
        "select k.user_id, %(u)s::text as username, "
        "case when %(has_profile)s then %(d)s::text else u.display_name end as display_name, "
        "%(s)s::text as source from known k left join raw.users u on u.user_id = k.user_id",
        {"u": parsed.username, "d": parsed.display_name, "s": SOURCE, "has_profile": PROFILE_FILE in parsed.present},
    )
    _allocate(conn, "_lb_user", "user_id", "username", "raw.users")
    user_id = conn.execute("select user_id from _lb_user").fetchone()[0]
    _merge_owned(batch, "_lb_user", "raw.users", "user_id", ["username", "display_name", "source"])
    return user_id


def _stage_films(batch: Batch) -> None:
    """_lb_films: one row per boxd.it code, with the film_id it has in raw.films (reused or newly allocated)."""
    conn = batch.conn
    _temp_as(
        conn,
        "_lb_films",
        "select distinct on (code) code, title, year, null::bigint as film_id from _lb_marks "
        "order by code, array_position(array['watched', 'rating', 'like', 'watchlist', 'list'], kind), "
        "list_key, line_no",
    )
    conn.execute(
        "update _lb_films s set film_id = f.film_id from raw.films f "
        "where s.code ~ %(pattern)s and f.film_id = substr(s.code, %(skip)s)::bigint "
        "and f.title = s.title and f.release_year is not distinct from s.year",
        {"pattern": f"^{FILM_ID_CODE_PREFIX}[0-9]{{1,18}}$", "skip": len(FILM_ID_CODE_PREFIX) + 1},
    )
    conn.execute(
        "update _lb_films s set film_id = m.film_id from (select slug, min(film_id) as film_id from raw.films "
        "where slug in (select code from _lb_films) group by slug) m where s.film_id is null and m.slug = s.code"
    )
    _allocate(conn, "_lb_films", "film_id", "code", "raw.films")
    _temp_as(
        conn,
        "_lb_film_merge",
        "select s.film_id, coalesce(f.slug, s.code) as slug, s.title, s.year as release_year, %(s)s::text as source "
        "from _lb_films s left join raw.films f on f.film_id = s.film_id",
        {"s": SOURCE},
    )
    _merge_owned(batch, "_lb_film_merge", "raw.films", "film_id", ["slug", "title", "release_year", "source"])


def _watched_marks() -> sql.Composable:
    return sql.SQL("kind in ({})").format(sql.SQL(", ").join(map(sql.Literal, WATCHED_KINDS)))


def _stage_favorites(batch: Batch, parsed: ParsedExport) -> None:
    """_lb_favorites: the profile's Favorite Films that are among the member's watched films."""
    common.create_stage(batch.conn, "_lb_favorites", [("code", "text")])
    warehouse.copy_rows(batch.conn, "_lb_favorites", ["code", "line_no", "raw_line"], parsed.favorites)
    with _quarantine_file(batch, PROFILE_FILE):
        batch.reject_from_stage(
            "_lb_favorites",
            sql.SQL("code not in (select code from _lb_marks where {})").format(_watched_marks()),
            "favorite film is in none of watched.csv, ratings.csv, likes/films.csv",
        )


def _stage_diary(batch: Batch, parsed: ParsedExport, user_id: int) -> None:
    """_lb_diary_rows: diary lines joined to the member's watched films by (Name, Year), numbered per day."""
    conn = batch.conn
    common.create_stage(conn, "_lb_diary", DIARY_COLUMNS)
    warehouse.copy_rows(conn, "_lb_diary", [c for c, _ in DIARY_COLUMNS] + ["line_no", "raw_line"], parsed.diary)
    conn.execute(
        sql.SQL(
            "create temporary table _lb_titles on commit drop as select title, coalesce(year, 0) as year_key, "
            "count(*) as n, min(film_id) as film_id from _lb_films "
            "where code in (select code from _lb_marks where {}) group by title, coalesce(year, 0)"
        ).format(_watched_marks())
    )
    key = "(title, coalesce(year, 0))"
    with _quarantine_file(batch, DIARY_FILE):
        common.reject_duplicate_keys(batch, "_lb_diary", ["entry_code"])
        batch.reject_from_stage(
            "_lb_diary",
            sql.SQL(f"{key} not in (select title, year_key from _lb_titles)"),
            "no film with this Name and Year in watched.csv, ratings.csv or likes/films.csv",
        )
        batch.reject_from_stage(
            "_lb_diary",
            sql.SQL(f"{key} in (select title, year_key from _lb_titles where n > 1)"),
            "ambiguous Name and Year: several films of this export match",
        )
    _temp_as(
        conn,
        "_lb_diary_rows",
        "select %(u)s::bigint as user_id, t.film_id, d.watched_on, "
        "(row_number() over (partition by t.film_id, d.watched_on order by d.line_no))::integer as entry_no, "
        "d.rating, d.rewatch, d.logged_on::timestamp at time zone 'UTC' as logged_at, false as deleted, d.logged_on "
        "from _lb_diary d join _lb_titles t on t.title = d.title and t.year_key = coalesce(d.year, 0)",
        {"u": user_id},
    )


RATINGS_QUERY = """
with per_film as (
    select
        code,
        max(rating) filter (where kind = 'rating') as rating,
        min(on_date) filter (where kind = 'rating') as rated_on,
        min(on_date) filter (where kind = 'watched') as watched_on,
        min(on_date) filter (where kind = 'like') as liked_on,
        bool_or(kind = 'like') as liked,
        max(on_date) as last_on
    from _lb_marks
    where kind in ('watched', 'rating', 'like')
    group by code
),
diary as (
    select film_id, max(greatest(logged_on, watched_on)) as last_on from _lb_diary_rows group by film_id
)
select
    %(u)s::bigint as user_id,
    f.film_id,
    p.rating,
    case when %(has_likes)s then p.liked end as liked,
    case when %(has_profile)s then p.code in (select code from _lb_favorites) end as favorite,
    coalesce(p.rated_on, p.watched_on, p.liked_on)::timestamp at time zone 'UTC' as rated_at,
    greatest(p.last_on, d.last_on)::timestamp at time zone 'UTC' as updated_at,
    false as deleted
from per_film as p
inner join _lb_films as f on f.code = p.code
left join diary as d on d.film_id = f.film_id
"""


def _merge_ratings(batch: Batch, parsed: ParsedExport, user_id: int) -> tuple[int, int]:
    """One raw.ratings row per watched/rated/liked film; returns (rows staged, rows tombstoned)."""
    conn = batch.conn
    present = parsed.present
    _temp_as(
        conn,
        "_lb_ratings",
        RATINGS_QUERY,
        {"u": user_id, "has_likes": "likes/films.csv" in present, "has_profile": PROFILE_FILE in present},
    )
    kept = [
        column
        for column, file in (
            ("rating", "ratings.csv"),
            ("rated_at", "ratings.csv"),
            ("liked", "likes/films.csv"),
            ("favorite", PROFILE_FILE),
        )
        if file not in present
    ]
    _keep_stored(conn, "_lb_ratings", "raw.ratings", ["user_id", "film_id"], kept)
    columns = ["rating", "liked", "favorite", "rated_at", "updated_at", "deleted"]
    common.upsert_from_stage(batch, "_lb_ratings", "raw.ratings", ["user_id", "film_id"], columns)
    gone = 0
    if "watched.csv" in present:
        gone = _tombstone_user_rows(batch, "_lb_ratings", "raw.ratings", ["user_id", "film_id"], user_id)
    return conn.execute("select count(*) from _lb_ratings").fetchone()[0], gone


def _tombstone_user_rows(batch: Batch, stage: str, target: str, keys: Sequence[str], user_id: int) -> int:
    n = common.tombstone_missing(batch, stage, target, keys, sql.SQL("user_id = %s"), (user_id,))
    batch.rows_loaded += n
    return n


def _merge_diary(batch: Batch, parsed: ParsedExport, user_id: int) -> tuple[int, int]:
    keys = ["user_id", "film_id", "watched_on", "entry_no"]
    common.upsert_from_stage(
        batch, "_lb_diary_rows", "raw.diary_entries", keys, ["rating", "rewatch", "logged_at", "deleted"]
    )
    gone = (
        _tombstone_user_rows(batch, "_lb_diary_rows", "raw.diary_entries", keys, user_id)
        if DIARY_FILE in parsed.present
        else 0
    )
    return batch.conn.execute("select count(*) from _lb_diary_rows").fetchone()[0], gone


def list_id(username: str, key: str) -> str:
    """raw.lists id of a member's list: lb:<username>:<list slug>."""
    return f"lb:{username}:{key}"


def _merge_lists(batch: Batch, parsed: ParsedExport, user_id: int) -> int:
    """raw.lists and raw.list_items from watchlist.csv and lists/*.csv; a list's items are what its file says."""
    conn = batch.conn
    common.create_stage(
        conn,
        "_lb_lists",
        [
            ("list_id", "text"),
            ("name", "text"),
            ("kind", "text"),
            ("owner_user_id", "bigint"),
            ("description", "text"),
            ("list_key", "text"),
        ],
    )
    rows = [(list_id(parsed.username, m.key), m.name, m.kind, user_id, m.description, m.key) for m in parsed.lists]
    warehouse.copy_rows(
        conn, "_lb_lists", ["list_id", "name", "kind", "owner_user_id", "description", "list_key"], rows
    )
    _temp_as(
        conn,
        "_lb_list_items",
        "select l.list_id, f.film_id, m.position from _lb_marks m join _lb_lists l on l.list_key = m.list_key "
        "join _lb_films f on f.code = m.code where m.kind in ('list', %(w)s)",
        {"w": WATCHLIST_KIND},
    )
    common.upsert_from_stage(
        batch, "_lb_lists", "raw.lists", ["list_id"], ["name", "kind", "owner_user_id", "description"]
    )
    common.upsert_from_stage(batch, "_lb_list_items", "raw.list_items", ["list_id", "film_id"], ["position"])
    # raw.list_items has no tombstone column: a film taken off a list is deleted (see the module notes)
    removed = conn.execute(
        "delete from raw.list_items i where i.list_id in (select list_id from _lb_lists) "
        "and (i.list_id, i.film_id) not in (select list_id, film_id from _lb_list_items)"
    ).rowcount
    batch.rows_loaded += removed
    return len(rows)


@dataclass
class ExportLoad:
    """What loading one export did; batch_id is None when this exact export had been loaded before."""

    path: Path
    username: str
    user_id: int
    batch_id: int | None


def load_export(
    conn: psycopg.Connection, export: ExportFiles | Path, *, force: bool = False, parsed: ParsedExport | None = None
) -> ExportLoad:
    """Load one member's export as one batch (skipped when the same export was loaded already).

    The batch's counts cover every line of the export's files after their headers (and each favorite
    film of profile.csv): rows_read = rows_loaded (lines now in raw) + rows_rejected (in quarantine).
    """
    if not isinstance(export, ExportFiles):
        export = read_export(export)
    parsed = parsed or parse_export(export)
    label = common.describe_path(export.path)
    for name, encoding in sorted(parsed.encodings.items()):
        log(f"{label}/{name}: not UTF-8; read as {encoding} (re-save it as UTF-8 to silence this)")
    if parsed.username_from != PROFILE_FILE:
        log(f"{label}: no username in a profile.csv; using '{parsed.username}' from {parsed.username_from}")
    if export.skipped:
        log(
            f"{label}: ignored {len(export.skipped)} file(s) that are not root export files: "
            f"{', '.join(export.skipped[:5])}{' ...' if len(export.skipped) > 5 else ''}"
        )
    with common.load_batch(
        conn, source=SOURCE, entity=EXPORT_ENTITY, file=label, sha256=parsed.digest, force=force
    ) as batch:
        if batch is None:
            row = conn.execute("select min(user_id) from raw.users where username = %s", (parsed.username,)).fetchone()
            return ExportLoad(export.path, parsed.username, row[0], None)
        batch.rows_read = parsed.rows_read
        _write_rejects(batch, parsed)
        if parsed.n_good == 0:
            common.require_rows(0, label)
        user_id = _stage_users(batch, parsed)
        _stage_marks(batch, parsed)
        _stage_films(batch)
        _stage_favorites(batch, parsed)
        _stage_diary(batch, parsed, user_id)
        n_ratings, gone_ratings = _merge_ratings(batch, parsed, user_id)
        n_diary, gone_diary = _merge_diary(batch, parsed, user_id)
        n_lists = _merge_lists(batch, parsed, user_id)
        changed, batch.rows_loaded = batch.rows_loaded, _lines_kept(batch, parsed)
        log(
            f"{label}: {parsed.username} (user {user_id}), batch {batch.batch_id}: {n_ratings} films, "
            f"{n_diary} diary entries, {n_lists} lists; {changed} raw rows changed "
            f"({gone_ratings} ratings and {gone_diary} diary entries tombstoned), {batch.rows_rejected} quarantined"
        )
        return ExportLoad(export.path, parsed.username, user_id, batch.batch_id)


def _lines_kept(batch: Batch, parsed: ParsedExport) -> int:
    """The export's lines (and favorite films) that made it through every check into raw."""
    staged = batch.conn.execute(
        "select (select count(*) from _lb_marks) + (select count(*) from _lb_diary) "
        "+ (select count(*) from _lb_favorites)"
    ).fetchone()[0]
    return staged + parsed.side_lines


def cohort_identity(cohort: str, kind: str) -> tuple[str, str]:
    """(cohort_id, name): 'friends' becomes 'saved:friends'; a name with a ':' is taken as the id itself."""
    if ":" in cohort:
        return cohort, cohort.split(":", 1)[1]
    return f"{kind}:{cohort}", cohort


def load_cohort(conn: psycopg.Connection, cohort: str, kind: str, user_ids: Iterable[int]) -> int | None:
    """Make exactly these users the live members of the cohort; members no longer in it get tombstones.

    Returns the batch id, or None when the cohort already had exactly these members (no batch is opened).
    """
    cohort_id, name = cohort_identity(cohort, kind)
    members = sorted(set(user_ids))
    with conn.transaction():
        current = conn.execute("select name, kind from raw.cohorts where cohort_id = %s", (cohort_id,)).fetchone()
        live = [
            r[0]
            for r in conn.execute(
                "select user_id from raw.cohort_members where cohort_id = %s and not deleted order by user_id",
                (cohort_id,),
            )
        ]
    if current == (name, kind) and live == members:
        log(f"cohort {cohort_id}: {len(members)} members, unchanged")
        return None
    with common.load_batch(conn, source=SOURCE, entity=COHORT_ENTITY, file=cohort_id, sha256=None) as batch:
        assert batch is not None
        batch.rows_read = len(members)
        _temp_as(
            conn,
            "_lb_cohort",
            "select %s::text as cohort_id, %s::text as name, %s::text as kind",
            (cohort_id, name, kind),
        )
        common.upsert_from_stage(batch, "_lb_cohort", "raw.cohorts", ["cohort_id"], ["name", "kind"])
        common.create_stage(conn, "_lb_members", [("cohort_id", "text"), ("user_id", "bigint"), ("deleted", "boolean")])
        warehouse.copy_rows(
            conn, "_lb_members", ["cohort_id", "user_id", "deleted"], [(cohort_id, u, False) for u in members]
        )
        common.upsert_from_stage(batch, "_lb_members", "raw.cohort_members", ["cohort_id", "user_id"], ["deleted"])
        gone = common.tombstone_missing(
            batch,
            "_lb_members",
            "raw.cohort_members",
            ["cohort_id", "user_id"],
            sql.SQL("cohort_id = %s"),
            (cohort_id,),
        )
        batch.rows_loaded += gone
        log(f"cohort {cohort_id}: {len(members)} members, {gone} left (tombstoned), batch {batch.batch_id}")
        return batch.batch_id


def add_to_everyone(conn: psycopg.Connection, user_ids: Iterable[int]) -> int | None:
    """Add these members to the cohort `everyone` (kind 'all'), creating it; nobody is ever removed from it.

    Letterboxd exports carry no site-wide figures (raw.films.global_avg_rating stays NULL), so a cohort of exports
    had no baseline: cohort_divergence compares a cohort with raw.films' global average where the source has one,
    else with the cohort of kind 'all'. Every load adds its members here, so that baseline is everyone loaded,
    and cohort_divergence.global_source says 'everyone'. A member who leaves a saved cohort is still loaded, so
    stays. A cohort `everyone` of another kind (made by hand) is left alone. Returns the batch id, or None when
    nothing changed (no batch is opened).
    """
    members = set(user_ids)
    with conn.transaction():
        current = conn.execute("select kind from raw.cohorts where cohort_id = 'everyone'").fetchone()
        live = {
            r[0]
            for r in conn.execute("select user_id from raw.cohort_members where cohort_id = 'everyone' and not deleted")
        }
    if current is not None and current[0] != "all":
        log(f"cohort everyone is of kind {current[0]!r}, not 'all': members not added to it")
        return None
    joining = sorted(members - live)
    if current is not None and not joining:
        return None
    with common.load_batch(conn, source=SOURCE, entity=COHORT_ENTITY, file="everyone", sha256=None) as batch:
        assert batch is not None
        batch.rows_read = len(joining)
        conn.execute(
            "insert into raw.cohorts (cohort_id, name, kind, batch_id) values ('everyone', 'Everyone', 'all', %s) "
            "on conflict (cohort_id) do nothing",
            (batch.batch_id,),
        )
        columns = [("cohort_id", "text"), ("user_id", "bigint"), ("deleted", "boolean")]
        common.create_stage(conn, "_lb_everyone", columns)
        warehouse.copy_rows(
            conn, "_lb_everyone", ["cohort_id", "user_id", "deleted"], [("everyone", u, False) for u in joining]
        )
        common.upsert_from_stage(batch, "_lb_everyone", "raw.cohort_members", ["cohort_id", "user_id"], ["deleted"])
        log(f"cohort everyone: {len(joining)} joined ({len(live) + len(joining)} members), batch {batch.batch_id}")
        return batch.batch_id


def load_exports(
    conn: psycopg.Connection, paths: Sequence[Path], *, cohort: str, cohort_kind: str = "saved", force: bool = False
) -> list[ExportLoad]:
    """Load each member's export, then make the members the cohort (only when every export loaded) and add
    them to `everyone`, the baseline of a site with no site-wide figures (add_to_everyone).

    Every export is read and parsed first: a damaged zip, an empty file or a header that does not match
    refuses the whole command before anything is loaded.
    """
    check_cohort_id(cohort_identity(cohort, cohort_kind)[0], "--cohort")
    exports = [read_export(Path(p)) for p in paths]
    parsed = [parse_export(export) for export in exports]
    for one in parsed:
        if one.n_good == 0 and one.n_rejected == 0:
            raise WarehouseError(f"{one.path}: no rows in any file (headers only); nothing to load")
    loads: list[ExportLoad] = []
    failures: list[str] = []
    for export, one in zip(exports, parsed, strict=True):
        try:
            loads.append(load_export(conn, export, force=force, parsed=one))
        except WarehouseError as exc:
            log(f"error: {exc}")
            failures.append(str(exc))
    if failures:
        raise WarehouseError(
            f"{len(failures)} of {len(exports)} exports failed, cohort {cohort} left unchanged; first: {failures[0]}"
        )
    load_cohort(conn, cohort, cohort_kind, [x.user_id for x in loads])
    add_to_everyone(conn, [x.user_id for x in loads])
    return loads


def cmd_load_letterboxd(args: argparse.Namespace) -> int:
    check_cohort_id(cohort_identity(args.cohort, args.cohort_kind)[0], "--cohort")
    warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        with warehouse.job_run("load letterboxd", {"paths": [str(p) for p in args.paths], "cohort": args.cohort}):
            load_exports(conn, args.paths, cohort=args.cohort, cohort_kind=args.cohort_kind, force=args.force)
    return 0


def register_load(load_subparsers: argparse._SubParsersAction) -> None:
    p = load_subparsers.add_parser(
        "letterboxd",
        help="load Letterboxd data exports (one zip or unpacked folder per member) and make them a cohort",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a member's export .zip or its folder")
    p.add_argument(
        "--cohort",
        required=True,
        metavar="NAME",
        help="the cohort the members form: NAME becomes <kind>:NAME; a NAME with ':' is the cohort_id",
    )
    p.add_argument("--cohort-kind", default="saved", metavar="KIND", help="raw.cohorts.kind (default: saved)")
    p.add_argument("--force", action="store_true", help="load exports even when the same export was loaded before")
    p.set_defaults(func=cmd_load_letterboxd)
