"""ML-100K, read straight from the recbole wheel (independently of the loader), and written back out
as small RecBole-layout folders for replay tests."""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path

import pandas as pd

from python_jobs.loaders import movielens

PREFIX = movielens.RECBOLE_PREFIX


@cache
def files() -> dict[str, bytes]:
    with zipfile.ZipFile(movielens.recbole_wheel()) as zf:
        return {n[len(PREFIX) :]: zf.read(n) for n in zf.namelist() if n.startswith(PREFIX)}


def ratings() -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(files()["ml-100k.inter"]), sep="\t")
    frame.columns = ["user_id", "film_id", "rating", "ts"]
    return frame


def users() -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(files()["ml-100k.user"]), sep="\t", dtype={"zip_code:token": str})
    frame.columns = ["user_id", "age", "gender", "occupation", "zip_code"]
    return frame


def write_folder(folder: Path, inter: pd.DataFrame, user_frame: pd.DataFrame | None = None) -> Path:
    """A RecBole-layout copy holding these ratings (and the original films and users unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ml-100k.item").write_bytes(files()["ml-100k.item"])
    if user_frame is None:
        (folder / "ml-100k.user").write_bytes(files()["ml-100k.user"])
    else:
        out = user_frame.copy()
        out.columns = ["user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"]
        out.to_csv(folder / "ml-100k.user", sep="\t", index=False)
    out = inter[["user_id", "film_id", "rating", "ts"]].copy()
    out.columns = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    out.to_csv(folder / "ml-100k.inter", sep="\t", index=False)
    return folder
