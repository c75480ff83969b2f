"""The recipe's `advise:` stage (issue 17): stored once, reused, reported against the sweep, bad settings refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from adaptermix.advice import STRATEGIES
from adaptermix.advice.partition import best_partition, random_partition_mean
from adaptermix.advice.tables import cell, mask_of, table_from_rows
from adaptermix.pipeline import load_recipe, run_recipe
from adaptermix.pipeline.advise_stage import AdviseSection, advise_study, ensemble_requests, key_settings
from adaptermix.pipeline.ensemble import ensemble_accuracy
from adaptermix.pipeline.plan import Throughput, plan_recipe
from adaptermix.reporting.advice import ADVICE_VERSION, advice_section, advice_sentence
from adaptermix.reporting.report import write_html_report
from adaptermix.reporting.study import ADVICE_KIND, load_study
from adaptermix.reporting.sweep_tables import greedy_members
from adaptermix.store import Store
from adaptermix.store.synthetic import write_synthetic_store
from conftest import one_line_error, run_cli, toy_domain_files
from test_advice_cli import _Poisoned, no_test_split  # noqa: F401 - the leak rule's fixture
from test_report_fixtures import store_advice

ADVISE = {"sizes": [1, 2], "groups": [2], "budget": 1.0}


def _recipe(tmp_path: Path, encoder: Path, cache: Path, advise: Any = ADVISE) -> Path:
    recipe = {
        "name": "tiny-advise", "out": str(tmp_path / "run"), "encoder": str(encoder), "method": "pfeiffer",
        "preset": "quickstart", "domains": toy_domain_files(tmp_path, 3), "cache_dir": str(cache),
        "train": {"max_steps": 8, "adapter_size": 8, "max_length": 32},
        "eval": {"max_length": 32, "precision": "fp32"}, "sweep": {"mode": "exhaustive", "chunk_size": 3},
        "advise": advise,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, tiny_encoders: dict[str, Path], cache_dir: Path) -> Any:
    path = _recipe(tmp_path_factory.mktemp("advise"), tiny_encoders["bert"], cache_dir)
    return path, run_recipe(load_recipe(path), progress=False)


def _stored(store: Path) -> list[dict[str, Any]]:
    with Store.read(store) as s:
        return [a.json() for a in s.artifacts(ADVICE_KIND)]


def _adapters(ran: Any) -> tuple[list[Any], list[str]]:
    """The module run's trained checkpoints and their names."""
    from adaptermix.checkpoints import read_mixable

    folder = ran[1].store.parent / "adapters"
    ckpts = read_mixable(sorted(str(p) for p in folder.iterdir()))
    return ckpts, [c.name for c in ckpts]


def test_the_stage_stores_one_artifact_with_advice_and_ensembles(ran: Any) -> None:
    _, result = ran
    assert result.advised
    (advice,) = _stored(result.store)
    assert advice["version"] == ADVICE_VERSION and advice["strategy"] == "combined" and advice["mixer"] == "average"
    with Store.read(result.store) as s:
        rows = s.rows()
        domains = s.meta.domains
    assert [a["target"] for a in advice["partners"]] == list(domains)
    for a in advice["partners"]:
        assert [r["k"] for r in a["recommendations"]] == [1, 2]
        assert all(a["target"] in r["members"] and r["predicted_accuracy"] is not None for r in a["recommendations"])
    (part,) = advice["partitions"]
    assert part["groups"] == 2 and sorted(m for r in part["recommendations"] for m in r["members"]) == sorted(domains)
    assert 0 < advice["cost"]["fraction"] <= 1.0 and advice["cost"]["evaluations"] == 12
    # One ensemble per recommended (target, set), on the sweep's test examples; a single member's ensemble is
    # that adapter's own prediction, so it reproduces the stored k = 1 row.
    ens = {(e["target"], tuple(e["members"])): e for e in advice["ensembles"]}
    assert len(ens) == len(advice["ensembles"])
    by_key = {(r.target, r.members): r for r in rows}
    for t in domains:
        alone = ens[(t, (t,))]
        assert alone["accuracy"] == pytest.approx(by_key[(t, (t,))].accuracy, abs=1e-12)
        assert alone["n_examples"] == by_key[(t, (t,))].n_examples


def test_a_rerun_reuses_the_stored_advice(ran: Any) -> None:
    path, result = ran
    stages, _ = plan_recipe(load_recipe(path), Throughput(20_000.0, "minilm", "cpu", 1))
    (advise,) = [s for s in stages if s.stage == "advise"]
    assert "stored, nothing to do" in advise.note and advise.seconds == 0.0
    before = _stored(result.store)
    again = run_recipe(load_recipe(path), progress=False)
    assert not again.advised and again.sweep.evaluated == 0
    assert _stored(result.store) == before


def test_the_report_shows_the_advice_and_the_summary_says_what_to_mix(ran: Any) -> None:
    _, result = ran
    page = (result.store.parent / "report" / "index.html").read_text(encoding="utf-8")
    assert "Which adapters to mix" in page and "What to mix (advisor <code>combined</code>)" in page
    assert (result.store.parent / "report" / "advice_partners.csv").is_file()
    # The benchmark's table from the signals the stage stored: one row per registered strategy it can score.
    rows = (result.store.parent / "report" / "advice_strategies.csv").read_text().splitlines()
    assert rows[0].startswith("strategy,reads,regret") and len(rows) - 1 == len(STRATEGIES.names())
    assert "Every strategy&#x27;s partners" in page or "Every strategy's partners" in page


def test_dry_run_plans_the_advise_stage(tmp_path: Path, tiny_encoders: dict[str, Path], cache_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir)
    code, out, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err
    # The default strategy races the partners (3 targets × 2 sizes × 2 candidates) and the partitions
    # (1 G × 4 partition candidates × 3 domains, an upper bound).
    assert "| advise | 36 evaluations" in out and "ensemble member passes" in out
    assert "≤ 12 race evaluations × ≤ 256 examples" in out
    assert "≤ 12 partition race evaluations × ≤ 4096 examples" in out
    assert not (tmp_path / "run").exists()
    (tmp_path / "plain").mkdir()
    plain = _recipe(tmp_path / "plain", tiny_encoders["bert"], cache_dir, {**ADVISE, "race": False})
    code, out, err = run_cli(["run", str(plain), "--dry-run"], capsys)
    assert code == 0, err
    assert "| advise | 12 evaluations" in out and "race" not in out
    # A strategy that does not race by default: nothing raced unless race: true, then both.
    for name, race, evaluations in (("quiet", None, 12), ("raced", True, 36)):
        (tmp_path / name).mkdir()
        recipe = _recipe(tmp_path / name, tiny_encoders["bert"], cache_dir,
                         {**ADVISE, "strategy": "surrogate", "race": race})
        code, out, err = run_cli(["run", str(recipe), "--dry-run"], capsys)
        assert code == 0, err
        assert f"| advise | {evaluations} evaluations" in out
        assert ("≤ 12 partition race evaluations × ≤ 4096 examples" in out) == bool(race)


def test_the_advisor_part_of_the_stage_never_reads_the_test_split(ran: Any, cache_dir: Path,
                                                                  no_test_split: None) -> None:  # noqa: F811
    from adaptermix.mixing.spec import MixSpec

    ckpts, names = _adapters(ran)
    partners, partitions, cost, signals = advise_study(AdviseSection(**ADVISE), ckpts, names, MixSpec(), 12, None,
                                                       cache_dir, 32)
    assert len(partners) == 3 and len(partitions) == 1 and cost.evaluations == 12
    # The report's baselines get the weights and train-text signals too; the advice's cost is the surrogate's alone.
    assert {"weights", "text", "validation", "unlabeled"} <= set(signals.tokens) and signals.text is not None
    assert signals.tokens["text"] > 0 and cost.forward_tokens == signals.tokens["validation"]
    assert ensemble_requests(partners, partitions)  # what the ensemble scorer (which reads test) is then asked


def test_partition_strategies_and_racing_in_the_stage_read_no_test(ran: Any, cache_dir: Path,
                                                                    no_test_split: None) -> None:  # noqa: F811
    from adaptermix.mixing.spec import MixSpec

    ckpts, names = _adapters(ran)
    for by in ("kmeans_text", "fsd_clustering"):  # a partitioner's own clusters; partners keep the surrogate
        section = AdviseSection(**{**ADVISE, "partition_strategy": by})
        partners, (partition,), _, _ = advise_study(section, ckpts, names, MixSpec(), 12, None, cache_dir, 32)
        assert partition.strategy == by and partners[0].strategy == "combined+race"
        assert sorted(m for r in partition.recommendations for m in r.members) == sorted(names)
    section = AdviseSection(**{**ADVISE, "race": True, "race_candidates": 3, "race_examples": 32,
                               "partition_candidates": 3, "partition_examples": 64})
    partners, (partition,), cost, _ = advise_study(section, ckpts, names, MixSpec(), 12, None, cache_dir, 32)
    assert partition.strategy == "combined+race" and partition.partition_race is not None
    assert len(partition.partition_race.candidates) == 3  # S(3, 2) = 3 partitions, all raced
    assert partition.cost.forward_tokens == cost.forward_tokens + partition.partition_race.forward_tokens
    assert all(a.strategy == "combined+race" and a.recommendations[-1].race is not None for a in partners)
    # One ledger: each partner race within its share (3 targets × 2 sizes + 1 G); the partition race within
    # what they left; the signals and every race together within the budget.
    from adaptermix.advice.api import race_share

    share = race_share(cost, section.budget, 3 * 2 + 1)
    spent = [r.race.forward_tokens for a in partners for r in a.recommendations if r.race is not None]
    assert all(x <= share for x in spent)
    left = section.budget * cost.exhaustive_forward_tokens - cost.forward_tokens - sum(spent)
    assert partition.partition_race.forward_tokens <= left
    assert cost.forward_tokens + sum(spent) + partition.partition_race.forward_tokens \
        <= section.budget * cost.exhaustive_forward_tokens


def test_grown_partners_in_the_stage_read_no_test_and_share_the_budget(ran: Any, cache_dir: Path,
                                                                       no_test_split: None) -> None:  # noqa: F811
    from adaptermix.advice.api import GROW_STRATEGY
    from adaptermix.advice.soup import soup_evaluations
    from adaptermix.mixing.spec import MixSpec

    ckpts, names = _adapters(ran)
    section = AdviseSection(sizes=(1, 2), groups=(), budget=1.0, grow=True)
    assert not section.races_partners and section.partners_by == GROW_STRATEGY
    partners, partitions, cost, _ = advise_study(section, ckpts, names, MixSpec(), 12, None, cache_dir, 32)
    assert partitions == []
    assert cost.evaluations == 3 * soup_evaluations(3, 2)  # no pairs gathered: growth is the partners' signal
    for advice, t in zip(partners, names, strict=True):
        assert advice.target == t and advice.strategy == GROW_STRATEGY and advice.cost == cost
        one, two = advice.recommendations
        assert one.members == (t,) and t in two.members and len(two.members) == 2 and two.grown is not None
    assert 0 < cost.forward_tokens <= section.budget * cost.exhaustive_forward_tokens


def test_a_recipe_grows_partners_stores_them_and_plans_the_growth(tmp_path: Path, tiny_encoders: dict[str, Path],
                                                                  cache_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    advise = {"sizes": [1, 2], "groups": [], "budget": 1.0, "grow": True, "ensemble": False}
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, advise)
    code, out, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err
    assert "| advise | 6 evaluations" in out and "greedy growth: 6 evaluations" in out and "race" not in out
    result = run_recipe(load_recipe(path), progress=False)
    (advice,) = _stored(result.store)
    assert advice["strategy"] == "greedy_soup" and advice["settings"]["grow"] is True
    assert all(a["strategy"] == "greedy_soup" for a in advice["partners"]) and advice["partitions"] == []
    page = (result.store.parent / "report" / "index.html").read_text(encoding="utf-8")
    assert "What to mix (advisor <code>greedy_soup</code>)" in page
    assert not run_recipe(load_recipe(path), progress=False).advised  # stored under its own key, reused


def test_growth_without_budget_left_is_refused_when_the_recipe_loads(tmp_path: Path, tiny_encoders: dict[str, Path],
                                                                     cache_dir: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # 3 domains at budget 1: the partitions' validation pairs are the whole sweep's cost, nothing is left to grow on.
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, {**ADVISE, "grow": True})
    recipe = yaml.safe_load(path.read_text())
    recipe["eval"]["max_examples"] = 40  # what the load-time budget checks are computed from
    path.write_text(yaml.safe_dump(recipe))
    code, _, err = run_cli(["run", str(path)], capsys)
    one_line_error(code, err, "spent by the partitions' validation signals")
    assert not (tmp_path / "run").exists()
    recipe["advise"]["groups"] = []  # without partitions the growth has the whole budget
    path.write_text(yaml.safe_dump(recipe))
    code, _, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err


def test_new_stage_knobs_at_their_defaults_keep_the_stored_advice_key() -> None:
    before = {"strategy", "budget", "sizes", "groups", "mixer", "runners_up", "ensemble"}
    assert set(key_settings(AdviseSection(strategy="surrogate"))) == before  # stored earlier: still found
    # The default strategy's partitions are raced now, where unset `race` raced its partners only: keyed apart.
    assert set(key_settings(AdviseSection())) == before | {"race_partitions"}
    assert set(key_settings(AdviseSection(groups=()))) == before
    assert key_settings(AdviseSection(race=True))["race"] is True
    assert key_settings(AdviseSection(strategy="surrogate", race=True))["race_partitions"] is True
    # race: false under a strategy that does not race is what unset gives (the old default): the same key.
    assert key_settings(AdviseSection(strategy="surrogate", race=False)) == key_settings(
        AdviseSection(strategy="surrogate"))
    assert key_settings(AdviseSection(race=False))["race"] is False  # combined races by default: false differs
    assert AdviseSection(partition_strategy="kmeans_text").partitions_by == "kmeans_text"
    assert key_settings(AdviseSection(grow=True))["grow"] is True


@pytest.mark.parametrize(("advise", "needle"), [
    ({"strategy": "surogate"}, "surogate"),
    ({"sizes": [2, 5]}, "k=5"),
    ({"groups": [4]}, "G=4"),
    ({"budget": 0}, "--budget"),
    ({"budget": 1.5}, "--budget"),
    ({"mixer": "ties"}, "eval.mixers"),
    ({"partition_strategy": "kmeans_txt"}, "kmeans_txt"),
    ({"race": True, "partition_strategy": "fsd_clustering"}, "fsd_clustering"),
    ({"race_candidates": 0}, "race_candidates"),
    ({"race_examples": 8}, "race_examples"),
    ({"partition_candidates": 0}, "partition_candidates"),
    ({"partition_examples": 8}, "partition_examples"),
    ({"grow": True, "race": True}, "nothing to race"),
])
def test_bad_advise_settings_are_one_line_and_write_nothing(tmp_path: Path, tiny_encoders: dict[str, Path],
                                                            cache_dir: Path, capsys: pytest.CaptureFixture[str],
                                                            advise: dict[str, Any], needle: str) -> None:
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, advise)
    code, _, err = run_cli(["run", str(path)], capsys)
    one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_ensemble_is_the_argmax_of_the_mean_probability() -> None:
    a = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    b = np.array([[0.3, 0.7], [0.45, 0.55], [0.9, 0.1]])
    labels = np.array([0, 1, 0])
    assert ensemble_accuracy([a], labels) == pytest.approx(2 / 3)
    assert ensemble_accuracy([a, b], labels) == pytest.approx(1.0)  # means: (.6,.4), (.425,.575), (.55,.45)
    with pytest.raises(ValueError, match="at least one"):
        ensemble_accuracy([], labels)


# -- the report section on a synthetic store whose answer is known -------------------------------------------

DOMAINS = ("sst2", "imdb", "ag", "rte")


def _synthetic(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    path = write_synthetic_store(tmp_path / "syn.sqlite", DOMAINS)
    with Store.read(path) as s:
        truth = table_from_rows(DOMAINS, ((r.target, r.members, r.accuracy) for r in s.rows()))
        _, S = s.fsd_matrix()  # type: ignore[misc]
    return path, truth, S


@pytest.mark.parametrize("pick", ["best", "worst"])
def test_report_section_on_a_synthetic_store_with_a_known_answer(tmp_path: Path, pick: str) -> None:
    path, truth, S = _synthetic(tmp_path)
    store_advice(path, pick)
    study = load_study(path)
    sec = advice_section(study)
    assert not sec.not_run
    partners = sec.table("advice_partners")
    assert partners is not None and len(partners.rows) == len(DOMAINS)
    col = {c: i for i, c in enumerate(partners.columns)}
    for row in partners.rows:
        t = DOMAINS.index(row[col["target"]])
        _, acc = cell(truth, t, 2)
        assert row[col["oracle_pct"]] == pytest.approx(100 * acc.max())
        assert row[col["random_pct"]] == pytest.approx(100 * acc.mean())  # the exact expectation
        want = 0.0 if pick == "best" else 100 * (acc.max() - acc.min())
        assert row[col["regret_advisor"]] == pytest.approx(want, abs=1e-9)
        assert row[col["regret_random"]] == pytest.approx(100 * (acc.max() - acc.mean()))
        alg1 = greedy_members(DOMAINS[t], list(DOMAINS), S, 2, maximize=False)
        assert row[col["alg1_members"]] == "+".join(alg1)
        assert row[col["regret_alg1"]] == pytest.approx(
            100 * (acc.max() - truth[t, mask_of(DOMAINS.index(m) for m in alg1)]))
        assert row[col["ensemble_pct"]] == pytest.approx(99.0)
    parts = sec.table("advice_partitions")
    assert parts is not None
    ((g, *_rest),) = parts.rows
    pc = {c: i for i, c in enumerate(parts.columns)}
    (prow,) = parts.rows
    assert g == 2 and prow[pc["regret_advisor"]] == pytest.approx(0.0, abs=1e-9)
    assert prow[pc["optimum_pct"]] == pytest.approx(100 * best_partition(truth, 2).value)
    assert prow[pc["random_pct"]] == pytest.approx(100 * random_partition_mean(truth, 2))
    regret = sec.table("advice_regret")
    assert regret is not None and regret.rows[0][0] == 2
    sentence = advice_sentence(study)
    assert sentence is not None and "What to mix" in sentence and "2 models" in sentence
    page = write_html_report(path, tmp_path / "report").read_text(encoding="utf-8")
    assert "Which adapters to mix" in page and "What to mix (advisor" in page


def test_every_strategy_table_scores_the_stored_signals_against_the_stored_sweep(tmp_path: Path) -> None:
    """The benchmark's table in the report: every strategy the stored signals allow, random's exact expectation."""
    from adaptermix.advice import Signals
    from adaptermix.store.schema import canonical_json

    path, truth, S = _synthetic(tmp_path)
    store_advice(path, "best")
    n = len(DOMAINS)
    full = np.array([truth[t, (1 << n) - 1] for t in range(n)])
    pair = np.array([[truth[t, (1 << t) | (1 << j)] for j in range(n)] for t in range(n)])
    signals = Signals(DOMAINS, fsd=S, cosine=1 - S, single=np.diag(pair).copy(), pair=pair, full=full,
                      n_validation={d: 500 for d in DOMAINS}, tokens={"weights": 0, "validation": 1000})
    with Store.read(path) as s:
        meta, (art,) = s.meta, list(s.artifacts(ADVICE_KIND))
    with Store.open(path, meta) as s:
        s.put_artifact(ADVICE_KIND, art.key, canonical_json({**art.json(), "signals": signals.to_json()}))
    sec = advice_section(load_study(path))
    table = sec.table("advice_strategies")
    assert table is not None
    col = {c: i for i, c in enumerate(table.columns)}
    rows = {r[col["strategy"]]: r for r in table.rows}
    # No text and no label-free signals were stored: those strategies are left out; every other has its row.
    assert set(rows) == set(STRATEGIES.names()) - {"text_similarity", "agreement", "entropy"}
    want = np.mean([100 * (acc.max() - acc.mean()) for t in range(n) for k in (2, 3) for _, acc in [cell(truth, t, k)]])
    assert rows["random"][col["regret"]] == pytest.approx(want)
    assert rows["uniform_all"][col["regret"]] == pytest.approx(want)
    # Costs are the stored tokens of what each strategy reads; only the surrogate predicts (and so has a coverage).
    assert rows["surrogate"][col["cost_pct"]] > 0 and rows["task_cosine"][col["cost_pct"]] == 0
    assert rows["surrogate"][col["coverage_pct"]] is not None and rows["task_cosine"][col["coverage_pct"]] is None
    parts = sec.table("advice_strategy_partitions")
    assert parts is not None
    pc = {c: i for i, c in enumerate(parts.columns)}
    prow = {r[pc["strategy"]]: r for r in parts.rows}
    assert "kmeans_text" not in prow and "fsd_clustering" in prow
    assert prow["random"][pc["G=2"]] == pytest.approx(100 * (best_partition(truth, 2).value
                                                              - random_partition_mean(truth, 2)))


def test_a_store_without_advice_says_how_to_run_the_stage(tmp_path: Path) -> None:
    path, _, _ = _synthetic(tmp_path)
    study = load_study(path)
    sec = advice_section(study)
    assert "advise:" in sec.not_run and advice_sentence(study) is None
    assert json.loads(json.dumps(sec.not_run))  # a plain line
