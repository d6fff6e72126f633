"""How work runs on this machine: one job lifecycle (`jobs`), the server's run slots and the line
in front of them (`slots`), background jobs on a thread (`background`), the torch thread policy
(`threads`), the devices a model can use and the CPU's description (`device`), and the precision
a run's matrix products use, measured where it matters (`precision`)."""
