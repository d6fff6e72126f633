"""The training engine, one module a job: `config` (what a run is asked to do), `loop` (the
step loop as events), `losses` (a step's batch means), `backprop` (the relaxed step's backward
pass by hand), `adam` (Adam over one flat buffer), `live` (a run as a page watches it, its
place in line and its snapshots), `reporter` (the loop a run trains and reports in), `run` (a
run in its own process), `remote` (a run on a Ray cluster), `record` (what a run writes into
the run store), `curves` (metrics made ready to draw) and `__main__` (the command line,
`python -m core.training`).

Nothing is imported here, so the command line's `--help` answers before torch is loaded."""
