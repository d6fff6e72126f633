"""How work runs on this machine: background jobs (`background`), the torch thread policy
(`threads`) and the devices and precisions a model can use (`device`)."""
