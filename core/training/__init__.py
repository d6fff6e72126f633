"""The training engine, one module a job: `config` (what a run is asked to do), `loop` (the
step loop as events), `losses` (a step's batch means), `backprop` (the relaxed step's backward
pass by hand), `adam` (Adam over one flat buffer), `run` (a run in its own process and
its snapshots), `record` (what a run writes into the run store), `curves` (metrics made ready
to draw) and `__main__` (the command line, `python -m core.training`).

Nothing is imported here, so the command line's `--help` answers before torch is loaded."""
