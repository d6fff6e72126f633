"""How work runs on this machine: background jobs (`background`), the torch thread policy
(`threads`), the devices a model can use and the CPU's description (`device`), and the
precision a run's matrix products use, measured where it matters (`precision`)."""
