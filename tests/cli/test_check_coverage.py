"""Issue 5's acceptance, enforced: every code of the problem table has a damage case (a Case in
some test_check_matrix_*.py MATRIX, or the first matrix in test_btt_check.py) or a documented
exemption naming why and where else it is tested. A code added to problems.def without either
fails here."""

import importlib
import re
from pathlib import Path

from btt_check_lib import SRC

HERE = Path(__file__).resolve().parent
MODULES = ["test_btt_check"] + sorted(p.stem for p in HERE.glob("test_check_matrix_*.py"))


def table_codes():
    text = (SRC / "lib/include/ndtk/base/problems.def").read_text()
    return re.findall(r"^FINDING\((\w+),", text, re.M)


def collected():
    cases, exempt = {}, {}
    for name in MODULES:
        mod = importlib.import_module(name)
        for c in getattr(mod, "MATRIX", []):
            cases.setdefault(c.code, []).append(f"{name}::{c.id}")
        for code, why in getattr(mod, "EXEMPT", {}).items():
            exempt[code] = f"{name}: {why}"
    return cases, exempt


def test_every_problem_code_has_a_damage_case_or_a_reason():
    cases, exempt = collected()
    codes = table_codes()
    assert len(codes) == len(set(codes))
    missing = [c for c in codes if c not in cases and c not in exempt]
    assert not missing, f"problem codes with no damage case and no exemption: {missing}"


def test_matrices_name_only_real_codes():
    cases, exempt = collected()
    codes = set(table_codes())
    unknown = sorted((set(cases) | set(exempt)) - codes)
    assert not unknown, unknown


def test_exemptions_say_why_and_are_few():
    cases, exempt = collected()
    for code, why in exempt.items():
        assert code not in cases, f"{code} is exempt but also has a case: drop the exemption"
        assert len(why) > 40, f"{code}: an exemption must say why and where it is tested"
    assert len(exempt) <= len(table_codes()) // 10, sorted(exempt)
