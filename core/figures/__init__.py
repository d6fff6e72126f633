"""Plotly figure builders, one module per subject, all in the house style of `style`.

Builders take the result objects `core` computes (a `TemperatureStudy`, a `Comparison`,
`TrainingCurves`) and return a `go.Figure`; pages only place them.
"""
