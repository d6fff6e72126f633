"""How work runs on this machine: one job lifecycle (`jobs`), the server's run slots and the line
in front of them (`slots`), background jobs on a thread (`background`), the torch thread policy
(`threads`), the devices and precisions a model can use (`device`), and a Ray cluster simulated
on this machine for tests and benchmarks (`ray_cluster`)."""
