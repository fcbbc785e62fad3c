"""Bilingual supervision (the paper's first phase): teacher-translated pairs, judged mined pairs, and the
translator's training set. `FLOWS` maps a recipe's `flow:` to (pydantic recipe model, runner) for `hala run`."""

from __future__ import annotations

from hala.pipelines.bilingual.mining import MineRecipe, run_mine
from hala.pipelines.bilingual.teacher_pairs import TeacherPairsRecipe, run_teacher_pairs
from hala.pipelines.bilingual.translator_set import TranslatorSetRecipe, build_translator_set

FLOWS = {
    "teacher_pairs": (TeacherPairsRecipe, run_teacher_pairs),
    "mine": (MineRecipe, run_mine),
    "translator_set": (TranslatorSetRecipe, build_translator_set),
}

__all__ = ["FLOWS", "MineRecipe", "run_mine", "TeacherPairsRecipe", "run_teacher_pairs", "TranslatorSetRecipe",
           "build_translator_set"]
