"""Measuring real models (bench.py), choosing from the measurements (pick.py) and the
measured report (report.py)."""
