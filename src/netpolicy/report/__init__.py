"""Rendering the engine's answers for people and programs: text, JSON, CSV, Markdown
and Graphviz. Pure functions from results to strings; sorted, stable output so that
diffs of reports are meaningful."""
