"""models/_exposures.yml names what the front door and the analyses read: checked against the code, so a new
query of a mart that the exposures do not list (or a listed mart nothing reads any more) fails here."""

from __future__ import annotations

import re

import yaml
from conftest import ROOT


def exposures() -> dict[str, set[str]]:
    doc = yaml.safe_load((ROOT / "models" / "_exposures.yml").read_text())
    return {e["name"]: {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in e["depends_on"]} for e in doc["exposures"]}


def marts_named_in(*folders: str) -> set[str]:
    names = set()
    for folder in folders:
        for path in (ROOT / "python_jobs" / folder).rglob("*.py"):
            text = path.read_text()
            names |= set(re.findall(r"\bmarts\.(\w+)", text))
            # queries.py names some relations as ("marts", "<table>") pairs
            names |= set(re.findall(r'\("marts", "(\w+)"\)', text))
    models = {p.stem for p in (ROOT / "models").rglob("*.sql")}
    return names & models


def test_the_app_and_the_api_list_every_mart_their_queries_read():
    front_door = marts_named_in("serve", "app", "api")
    assert len(front_door) >= 10
    listed = exposures()
    assert listed["app"] == front_door
    assert listed["api"] == front_door


def test_the_analyses_exposure_lists_every_ref_of_analyses():
    refs = set()
    for path in (ROOT / "analyses").glob("*.sql"):
        refs |= set(re.findall(r"ref\('(\w+)'\)", path.read_text()))
    assert exposures()["example_analyses"] == refs
