"""Cohort and rating edits that are not file loads: define a saved group, add or remove members,
retract ratings. Each edit is one batch in ops.load_batches, so incremental marts see it.

`python -m python_jobs cohort define saved:friends --name "Friday club" --members 12,40,77`
`python -m python_jobs cohort follows USER_ID` (me + the people I follow, from raw.follows)
`python -m python_jobs cohort remove saved:friends --members 40`
`python -m python_jobs ratings retract --user 12 --film 50`
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Sequence

import pandas as pd
import psycopg
from psycopg import sql

from python_jobs import warehouse
from python_jobs.loaders import common
from python_jobs.warehouse import WarehouseError, log

COHORT_KINDS = ("all", "demographic", "region", "follow_graph", "saved", "taste_cluster")
COHORT_ID_MAX = 200  # characters: far below what a b-tree entry holds (about 2,700 bytes)
BIGINT_MAX = 2**63 - 1


def check_cohort_id(cohort_id: str, what: str = "COHORT_ID") -> str:
    """A cohort id a person can type and every tool can pass on: 1-200 characters, no backslash, no control
    characters, no surrounding spaces (so `\\N`, an empty id or a 10,000-character id are refused)."""
    shown = cohort_id if len(cohort_id) <= 40 else cohort_id[:40] + "..."
    if not cohort_id.strip():
        raise WarehouseError(f"{what} is empty; give an id such as saved:friends")
    if len(cohort_id) > COHORT_ID_MAX:
        raise WarehouseError(f"{what} {shown!r} is {len(cohort_id):,} characters long; at most {COHORT_ID_MAX}")
    if cohort_id != cohort_id.strip():
        raise WarehouseError(f"{what} {shown!r} starts or ends with a space; remove it")
    if "\\" in cohort_id or any(unicodedata.category(c).startswith("C") for c in cohort_id):
        raise WarehouseError(
            f"{what} {shown!r} holds a backslash or a control character; use letters, digits, spaces and :-_./"
        )
    return cohort_id


def parse_user_id(text: str, what: str = "user id") -> int:
    """A user id from the command line: a positive integer that fits PostgreSQL's bigint."""
    value = str(text).strip()
    if not re.fullmatch(r"[0-9]{1,19}", value) or not 0 < int(value) <= BIGINT_MAX:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise WarehouseError(f"{what} must be a positive integer up to {BIGINT_MAX}, not {shown!r}")
    return int(value)


def _edit_batch(conn: psycopg.Connection, entity: str, label: str):
    return common.load_batch(conn, source="edit", entity=entity, file=label, sha256=None)


def _known_users(conn: psycopg.Connection, user_ids: Sequence[int]) -> None:
    missing = conn.execute(
        "select u from unnest(%s::bigint[]) as u where u not in (select user_id from raw.users)", (list(user_ids),)
    ).fetchall()
    if missing:
        raise WarehouseError(f"unknown user id(s): {', '.join(str(m[0]) for m in missing[:10])}")


def define_cohort(
    conn: psycopg.Connection, cohort_id: str, user_ids: Sequence[int], *, name: str | None = None, kind: str = "saved"
) -> int:
    """Create or redefine a cohort with exactly these members (members no longer listed become tombstones)."""
    check_cohort_id(cohort_id)
    if kind not in COHORT_KINDS:
        raise WarehouseError(f"--kind must be one of {', '.join(COHORT_KINDS)}, not {kind!r}")
    if not user_ids:
        raise WarehouseError("a cohort needs at least one member (--members)")
    _known_users(conn, user_ids)
    with _edit_batch(conn, "cohort_members", f"define {cohort_id}") as batch:
        assert batch is not None
        conn.execute(
            "insert into raw.cohorts as c (cohort_id, name, kind, batch_id) values (%s, %s, %s, %s) "
            "on conflict (cohort_id) do update set name = excluded.name, kind = excluded.kind, "
            "batch_id = excluded.batch_id where (c.name, c.kind) is distinct from (excluded.name, excluded.kind)",
            (cohort_id, name or cohort_id, kind, batch.batch_id),
        )
        stage = common.create_stage(
            conn, "_stage_members", [("cohort_id", "text"), ("user_id", "bigint"), ("deleted", "boolean")]
        )
        frame = pd.DataFrame({"cohort_id": cohort_id, "user_id": sorted(set(user_ids)), "deleted": False})
        warehouse.copy_frame(conn, stage, frame.assign(line_no=None, raw_line=None))
        batch.rows_read = len(frame)
        common.upsert_from_stage(batch, stage, "raw.cohort_members", ["cohort_id", "user_id"], ["deleted"])
        gone = common.tombstone_missing(
            batch, stage, "raw.cohort_members", ["cohort_id", "user_id"], sql.SQL("cohort_id = %s"), (cohort_id,)
        )
    log(f"cohort {cohort_id}: {len(frame)} members ({gone} removed)")
    return len(frame)


def change_members(conn: psycopg.Connection, cohort_id: str, user_ids: Sequence[int], *, remove: bool) -> int:
    """Add members to, or remove them from (tombstones), an existing cohort."""
    if conn.execute("select 1 from raw.cohorts where cohort_id = %s", (cohort_id,)).fetchone() is None:
        raise WarehouseError(f"unknown cohort {cohort_id!r} (create it with `cohort define`)")
    _known_users(conn, user_ids)
    with _edit_batch(conn, "cohort_members", f"{'remove from' if remove else 'add to'} {cohort_id}") as batch:
        assert batch is not None
        n = conn.execute(
            "insert into raw.cohort_members as m (cohort_id, user_id, deleted, batch_id) "
            "select %s, u, %s, %s from unnest(%s::bigint[]) as u "
            "on conflict (cohort_id, user_id) do update set deleted = excluded.deleted, batch_id = excluded.batch_id "
            "where m.deleted is distinct from excluded.deleted",
            (cohort_id, remove, batch.batch_id, list(user_ids)),
        ).rowcount
        batch.rows_read, batch.rows_loaded = len(user_ids), n
    return n


def follow_graph_cohort(conn: psycopg.Connection, user_id: int) -> str:
    """'Me + the people I follow' as a cohort follows:<username>."""
    row = conn.execute("select coalesce(username, user_id::text) from raw.users where user_id = %s", (user_id,))
    found = row.fetchone()
    if found is None:
        raise WarehouseError(f"unknown user id {user_id}")
    followees = [r[0] for r in conn.execute("select followee_id from raw.follows where follower_id = %s", (user_id,))]
    cohort_id = f"follows:{found[0]}"
    define_cohort(
        conn, cohort_id, [user_id, *followees], name=f"{found[0]} and the people they follow", kind="follow_graph"
    )
    return cohort_id


def retract_ratings(conn: psycopg.Connection, pairs: pd.DataFrame, label: str = "retract") -> int:
    """Delete ratings (user_id, film_id) as tombstones, in one batch; unknown pairs are quarantined."""
    with _edit_batch(conn, "ratings", label) as batch:
        assert batch is not None
        stage = common.create_stage(conn, "_stage_retract", [("user_id", "bigint"), ("film_id", "bigint")])
        frame = pairs[["user_id", "film_id"]].astype("int64")
        frame = frame.assign(line_no=range(1, len(frame) + 1), raw_line=frame.astype(str).agg(",".join, axis=1))
        warehouse.copy_frame(conn, stage, frame)
        batch.rows_read = len(frame)
        batch.reject_from_stage(
            stage,
            sql.SQL(
                "not exists (select 1 from raw.ratings r where r.user_id = _stage_retract.user_id "
                "and r.film_id = _stage_retract.film_id and not r.deleted)"
            ),
            "no live rating for this (user, film)",
        )
        n = conn.execute(
            "update raw.ratings r set deleted = true, updated_at = greatest(r.updated_at, clock_timestamp()), "
            "batch_id = %s from _stage_retract s where r.user_id = s.user_id and r.film_id = s.film_id",
            (batch.batch_id,),
        ).rowcount
        batch.rows_loaded = n
    return n


def _ids(text: str) -> list[int]:
    return [parse_user_id(x, "--members takes comma-separated user ids; each") for x in text.split(",") if x.strip()]


def _user_arg(text: str) -> int:
    try:
        return parse_user_id(text)
    except WarehouseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_cohort(args: argparse.Namespace) -> int:
    if args.action == "follows":
        parse_user_id(args.cohort_id, "cohort follows takes a user id that")
    else:
        check_cohort_id(args.cohort_id)
        _ids(args.members or "")
    warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        if args.action == "define":
            define_cohort(conn, args.cohort_id, _ids(args.members or ""), name=args.name, kind=args.kind)
        elif args.action == "follows":
            print(follow_graph_cohort(conn, parse_user_id(args.cohort_id, "cohort follows takes a user id that")))
        else:
            change_members(conn, args.cohort_id, _ids(args.members or ""), remove=args.action == "remove")
    return 0


def cmd_retract(args: argparse.Namespace) -> int:
    with warehouse.connect() as conn:
        n = retract_ratings(conn, pd.DataFrame({"user_id": [args.user], "film_id": [args.film]}))
    log(f"{n} rating(s) retracted")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cohort", help="define a cohort, add or remove members, or make a follow-graph cohort")
    p.add_argument("action", choices=["define", "add", "remove", "follows"])
    p.add_argument("cohort_id", help="e.g. saved:friends (for `follows`: the user id)")
    p.add_argument("--members", help="comma-separated user ids")
    p.add_argument("--name", help="display name (define)")
    p.add_argument("--kind", default="saved", help="cohort kind (define); default saved")
    p.set_defaults(func=cmd_cohort)
    p = sub.add_parser("ratings", help="retract (delete) a rating as a tombstone")
    p.add_argument("action", choices=["retract"])
    p.add_argument("--user", type=_user_arg, required=True)
    p.add_argument("--film", type=_user_arg, required=True, help="a film id (a positive integer)")
    p.set_defaults(func=cmd_retract)
