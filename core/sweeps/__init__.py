"""Sweeps: a grid of training runs on Ray, one module a job: `grid` (the settings a sweep varies,
expanded into trials), `ray_backend` (Ray's start-up and the board trials report to), `trial`
(the body one trial runs in a Ray worker), `driver` (`SweepRun`, the sweep as a job) and
`__main__` (the command line, `python -m core.sweeps`). Nothing is imported here: callers name
the module they use."""
