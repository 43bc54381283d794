"""What people read: charts (plot.py) and text, Markdown, LaTeX, CSV and JSON tables
(render.py)."""
