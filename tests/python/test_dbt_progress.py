"""A quiet dbt command (the demo's, `python -m python_jobs build`'s bootstrap) says where it is while it runs."""

from __future__ import annotations

import re

from conftest import ROOT

from python_jobs import pipeline


def test_a_quiet_dbt_run_reports_nodes_done_of_total_while_it_runs(db, monkeypatch, capsys):
    monkeypatch.setenv("PGDATABASE", db)
    monkeypatch.setenv("FILM_COHORTS_PROGRESS_SECONDS", "0.2")
    pipeline.dbt("run", "--select", "path:models/staging", quiet=True)
    err = capsys.readouterr().err
    progress = re.findall(r"dbt run: (\d+) of (\d+) done(?:; running longest: (\S+) \(\d+ s\))?", err)
    assert len(progress) >= 2, err[-2000:]
    models = {p.stem for p in (ROOT / "models" / "staging").rglob("*.sql")}
    # totals are the models', never the on-run-start hooks' own "1 of 5" numbering
    assert {int(total) for _, total, _ in progress} == {len(models)}
    done = [int(n) for n, _, _ in progress]
    assert done == sorted(done) and done[-1] <= len(models)
    running = {name.split(".")[-1] for *_, name in progress if name}
    assert running and running <= models
    assert re.search(r"dbt run: PASS=\d+ WARN=0 ERROR=0", err)
