"""Figures and reports for people: cohort, course and uncertainty figures, the HTML and Excel report."""
