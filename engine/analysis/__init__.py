"""One analysis: a template, canary and baseline scopes and a window -> verdicts with evidence.

* :mod:`.analysis` -- :class:`Analysis`: render the queries, fetch them, replay the judges;
* :mod:`.align` -- lining up series into one value per look;
* :mod:`.judges` -- one judge per metric kind, over :mod:`auspice.stats`;
* :mod:`.templates` -- finding a template by name (given, directory, library);
* :mod:`.report` -- verdicts as text for people.
"""

from auspice.analysis.align import AnalysisError, LookData
from auspice.analysis.analysis import SCOPES, Analysis, FailedLook, analysis_from, summarize

__all__ = ["SCOPES", "Analysis", "AnalysisError", "FailedLook", "LookData", "analysis_from",
           "summarize"]
