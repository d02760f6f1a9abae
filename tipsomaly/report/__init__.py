"""Reports from results folders: `build_report` (HTML + Markdown, no W&B) and `publish` (a W&B Report)."""

from tipsomaly.report.build import Report, build_report, collect
from tipsomaly.report.main import report_main
from tipsomaly.report.paper import compare_with_paper, paper_name, paper_table
from tipsomaly.report.runs import RunResults, load_run, load_runs

__all__ = ["Report", "RunResults", "build_report", "collect", "compare_with_paper", "load_run", "load_runs", "paper_name",
           "paper_table", "report_main"]
