"""A/B experiments on live traffic: two (or more) runs serve users side by side, each user always
by the same arm, and the service logs what each arm showed and what users then did.

::

    kgrec serve runs/kgrec --consume --experiment new-model --arm A=runs/pop --arm B=runs/kgrec --split 50/50
    kgrec experiment report new-model
    kgrec experiment simulate lastfm --arm A=runs/pop --arm B=runs/kgrec

Parts, one job each:

=====================  =========================================================================
:mod:`.assign`         :class:`Assignment`: a keyed hash of the user id picks the arm (no state)
:mod:`.experiment`     :class:`Experiment` (arms → recommenders) and :class:`ExperimentLog`
                       (exposures and outcomes as events on ``kgrec:experiment:<name>``)
:mod:`.report`         :func:`report`: per-arm CTR, hit rate@k, NDCG@k, Welch's t-test, a verdict
:mod:`.simulate`       :func:`simulate`: held-out test interactions replayed as the users' clicks
                       through the live service and the stream
=====================  =========================================================================
"""

from .assign import Assignment, parse_arms, parse_split, position
from .experiment import DEFAULT_WINDOW_S, EXPERIMENT_PREFIX, Experiment, ExperimentLog
from .report import METRICS, ArmStats, Comparison, ExperimentReport, report
from .simulate import SimulationResult, held_out_pairs, simulate, without_pairs

__all__ = ["DEFAULT_WINDOW_S", "EXPERIMENT_PREFIX", "METRICS", "ArmStats", "Assignment", "Comparison", "Experiment",
           "ExperimentLog", "ExperimentReport", "SimulationResult", "held_out_pairs", "parse_arms", "parse_split", "position",
           "report", "simulate", "without_pairs"]
