"""distnet.analysis.published: the paper's numbers as transcribed."""
from __future__ import annotations

from distnet.nn import models
from distnet.analysis.published import PUBLISHED


def test_published_numbers_cover_every_variant_and_match_the_paper():
    assert set(PUBLISHED) == set(models.PAPER)      # the distance heads are not in the paper
    assert PUBLISHED["ReLU2"]["Table 1"] == (56.31, 19.31, 5000)
    assert PUBLISHED["ReLU2"]["discussion text and notes"] == (47.20, 12.00, 5000)
    assert PUBLISHED["ReLU2-Bias"]["Table 2"] == (39.94, 18.84, 5000)
    assert PUBLISHED["Abs-L2"]["Table 3"] == (97.61, 0.07, 50000)
    assert len(PUBLISHED["Abs2-Neg"]) == 3
