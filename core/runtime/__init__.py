"""How work runs on this machine: one job lifecycle (`jobs`), background jobs on a thread
(`background`), the torch thread policy (`threads`) and the devices and precisions a model can
use (`device`)."""
