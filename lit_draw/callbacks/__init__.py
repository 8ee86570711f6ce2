"""Analysis callbacks: each reads the common :class:`~lit_draw.models.trace.Trace` and logs to W&B.

Switch them on in YAML under ``trainer.callbacks`` (``configs/callbacks/analysis.yaml`` lists them all).
"""

from lit_draw.callbacks.attention_pictures import AttentionPictures
from lit_draw.callbacks.cell_drift import CellStateDrift
from lit_draw.callbacks.confusion import ConfusionMatrix
from lit_draw.callbacks.digit_hit import DigitHitRate
from lit_draw.callbacks.early_exit import EarlyExit
from lit_draw.callbacks.gates import GateActivity
from lit_draw.callbacks.glimpse_accuracy import GlimpseAccuracyPlot
from lit_draw.callbacks.halting import HaltingDistribution
from lit_draw.callbacks.halting_thresholds import HaltingThresholds
from lit_draw.callbacks.periodic_test import PeriodicTest
from lit_draw.callbacks.policy_collapse import PolicyCollapse
from lit_draw.callbacks.trailing_mean import TrailingMean
from lit_draw.callbacks.weight_update import WeightUpdateNorm

__all__ = [
    "AttentionPictures",
    "CellStateDrift",
    "ConfusionMatrix",
    "DigitHitRate",
    "EarlyExit",
    "GateActivity",
    "GlimpseAccuracyPlot",
    "HaltingDistribution",
    "HaltingThresholds",
    "PeriodicTest",
    "PolicyCollapse",
    "TrailingMean",
    "WeightUpdateNorm",
]
