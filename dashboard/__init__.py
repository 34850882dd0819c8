"""Streamlit dashboard of bmc-sim: ``streamlit run dashboard/app.py``.

Parameters are illustrative, not clinically validated."""
